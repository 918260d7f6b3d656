/* filter: subscriber-defined event filters in the JSON pattern language of
 * AWS Event Ruler / EventBridge, which Adobe I/O Events adopted. A pattern
 * is an object whose keys name fields of the event (nested objects for
 * nested fields) and whose leaves are arrays of matchers, any of which may
 * match: literal values (string, number, boolean, null), {"prefix"},
 * {"suffix"} (each also as {"prefix": {"equals-ignore-case": s}}),
 * {"equals-ignore-case"}, {"wildcard"} (* for any run, \* a star),
 * {"anything-but": value, [values] or {"prefix"|"suffix"|
 * "equals-ignore-case"|"wildcard": s}}, {"numeric": [op, n (, op, n)]} with
 * <, <=, =, >, >=, and {"exists": bool}. Every key of an object must match;
 * "$or": [pattern, ...] inside an object needs one of its patterns to.
 * Where the event holds an array, any element may match.
 *
 * It sits in core so that the manifest can check a filter where it is
 * written (file and line) and publishing can apply it. Compiled filters are
 * immutable: any thread may match with one. */
#ifndef EVKIT_CORE_FILTER_H
#define EVKIT_CORE_FILTER_H

#include <jansson.h>
#include <stdbool.h>

#include "core/util.h"

typedef struct filter filter_t;

/* Compiles pattern (borrowed). NULL with err (EVK_INVALID) naming the bad
 * part by its path in the pattern, e.g. "data.price[0]: numeric needs ...". */
filter_t *filter_compile(const json_t *pattern, err_t *err);
/* True when event (a CloudEvent as JSON) matches. */
bool filter_match(const filter_t *f, const json_t *event);
void filter_free(filter_t *f);

#endif
