/* json_io: JSON in and out the way every door of evkit needs it: one
 * nesting limit for what a client sends, numbers beyond any double or
 * int64 kept exactly as their text, and output whose numbers read as they were
 * published (each real in its shortest form that reads back as the same
 * double: 99.99 stays 99.99, not jansson's 99.989999999999995). */
#ifndef EVKIT_CORE_JSON_IO_H
#define EVKIT_CORE_JSON_IO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"
#include "core/json_io.h"

/* The nesting limit of every value a client hands evkit: request bodies,
 * event data, params, state values. An object or array is one level. */
#define EVK_JSON_MAX_DEPTH 64

/* How deep v nests (0 for a scalar, 1 + the deepest member otherwise),
 * counted up to limit + 1 only. */
int json_depth(const json_t *v, int limit);

/* 0 when v nests at most EVK_JSON_MAX_DEPTH levels; else -1 with err
 * (EVK_INVALID) naming what and the limit. */
int json_check_depth(const json_t *v, const char *what, err_t *err);

/* Numbers that no int64 or double holds (integers beyond int64, reals that
 * overflow to infinity) are kept exactly: json_load_kept turns each into a
 * "kept number", a string value holding the number's text, a NUL and a
 * per-process random key; json_text writes it back as the original number.
 * Code that reads the tree (filters, schemas, ordering keys) sees a string
 * whose C text is the number's text. A client's own string can never pass
 * for one: it would need the key, which never leaves the process. */
#define JSON_KEPT_KEY_LEN 16

/* json_loadb(text, len, flags, je) keeping such numbers (see above). */
json_t *json_load_kept(const char *text, size_t len, size_t flags, json_error_t *je);

/* The number text of a kept number (its length in *len), or NULL when v is
 * anything else. */
const char *json_kept_text(const json_t *v, size_t *len);

/* Whether text (n bytes) is a JSON number that jansson refuses, i.e. one
 * that json_load_kept keeps. */
bool json_number_kept(const char *text, size_t n);

/* json_string_length(v), but a kept number's text length for a kept
 * number, so that code comparing or measuring strings sees its text. */
size_t json_str_len(const json_t *v);

/* A kept number for the number text num (n bytes); NULL unless num is a JSON
 * number. */
json_t *json_kept_new(const char *num, size_t n);

/* A copy of text with every number jansson refuses rewritten as a kept
 * number's string, or NULL when there is none (or the text holds a \u0000
 * escape and allow_nul is false, so jansson refuses it as before). */
char *json_kept_rewrite(const char *text, size_t len, bool allow_nul, size_t *out_len);

/* json_load_kept(text, len, flags), refused past max_depth levels (the limit
 * plus the levels of an envelope around what the limit is about, such as a
 * CloudEvent around its data); refusals are EVK_INVALID and start with what
 * ("the request body"). */
json_t *json_parse(const char *text, size_t len, size_t flags, int max_depth, const char *what,
                   err_t *err);

/* json_dumps(v, flags) with every real in its shortest round-trip form
 * (fixed notation from 1e-6 below 1e17, exponents beyond, a
 * trailing .0 kept so a real stays a real, -0.0 kept) and every kept number written as its original text. Caller
 * frees. */
char *json_text(const json_t *v, size_t flags);

/* json_text's writer, for text built piece by piece (a stored CloudEvent):
 * raw text, strings and values written exactly as json_text writes them
 * with o->flags (JSON_COMPACT and JSON_SORT_KEYS only). A false answer
 * means that value cannot be written so (invalid UTF-8, a NUL in a key):
 * the caller uses json_text instead. Start from {0} plus flags. */
typedef struct json_out {
    char *p;
    size_t len, cap;
    size_t flags;
} json_out;
void json_out_raw(json_out *o, const char *s, size_t n);
void json_out_int(json_out *o, long long v);
bool json_out_string(json_out *o, const char *s, size_t n);
bool json_out_value(json_out *o, const json_t *v);
/* The text written (the caller frees it); o is empty again. */
char *json_out_steal(json_out *o);

/* The shortest round-trip text of d (finite) into out (at least 32 bytes);
 * returns its length. */
size_t json_real_text(double d, char *out, size_t len);

#endif
