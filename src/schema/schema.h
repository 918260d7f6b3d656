/* schema: JSON Schema (draft-07) validation on jansson. A schema is compiled
 * once (invalid schemas are refused with a message naming the schema
 * location), then validates any number of values, reporting every error
 * with the instance location as a JSON Pointer, the keyword and a readable
 * reason.
 *
 * Keywords: type, properties, patternProperties, additionalProperties,
 * required, propertyNames, dependencies, minProperties, maxProperties,
 * items (single and tuple), additionalItems, contains, minItems, maxItems,
 * uniqueItems, enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, multipleOf, minLength, maxLength (Unicode code points),
 * pattern (PCRE2, ECMA-like: \d \w ASCII, $ only at the end), allOf,
 * anyOf, oneOf, not, if/then/else, boolean schemas, and $ref to the same
 * document ("#", "#/definitions/x", JSON Pointers with ~0 ~1 and
 * percent-encoding). Not supported: remote $ref and $id-based resolution
 * (refused at compile time), format and content* (annotations only).
 *
 * A compiled schema is immutable: several threads may validate with it at
 * once. */
#ifndef EVKIT_SCHEMA_SCHEMA_H
#define EVKIT_SCHEMA_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

typedef struct schema schema_t;

/* One validation error. path is the instance location as a JSON Pointer
 * ("" for the root, "/items/0/sku"); for `required` and a refused
 * additional property it names the property itself. */
typedef struct schema_error {
    char *path;
    char *keyword;
    char *message;
} schema_error_t;

typedef struct schema_errors {
    schema_error_t *items;
    size_t count, cap;
} schema_errors_t;

/* Compiles doc (borrowed; the schema keeps its own reference). NULL with a
 * message in err when doc is not a valid schema. Free with schema_free. */
schema_t *schema_compile(json_t *doc, err_t *err);
/* Parses JSON text and compiles it. */
schema_t *schema_compile_text(const char *text, size_t len, err_t *err);
void schema_free(schema_t *s);

/* Validates value. With errs (zeroed, or reused after schema_errors_free)
 * every error is appended in document order; with errs NULL it stops at
 * the first. Returns true when value is valid. */
bool schema_validate(const schema_t *s, const json_t *value, schema_errors_t *errs);
void schema_errors_free(schema_errors_t *errs);

/* JSON equality as JSON Schema defines it: numbers by value (1 == 1.0),
 * objects regardless of key order. */
bool schema_json_equal(const json_t *a, const json_t *b);

#endif
