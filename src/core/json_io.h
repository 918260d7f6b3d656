/* json_io: JSON in and out the way every door of evkit needs it: one
 * nesting limit for what a client sends, clear refusals for numbers that no
 * double or int64 holds, and output whose numbers read as they were
 * published (each real in its shortest form that reads back as the same
 * double: 99.99 stays 99.99, not jansson's 99.989999999999995). */
#ifndef EVKIT_CORE_JSON_IO_H
#define EVKIT_CORE_JSON_IO_H

#include <jansson.h>
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

/* json_loadb(text, len, flags), refused past max_depth levels (the limit
 * plus the levels of an envelope around what the limit is about, such as a
 * CloudEvent around its data); refusals are EVK_INVALID, start with what
 * ("the request body"), and name the number limits when a number is beyond
 * them. */
json_t *json_parse(const char *text, size_t len, size_t flags, int max_depth, const char *what,
                   err_t *err);

/* json_dumps(v, flags) with every real in its shortest round-trip form
 * (fixed notation from 1e-6 below 1e17, exponents beyond, a
 * trailing .0 kept so a real stays a real, -0.0 kept). Caller frees. */
char *json_text(const json_t *v, size_t flags);

/* The shortest round-trip text of d (finite) into out (at least 32 bytes);
 * returns its length. */
size_t json_real_text(double d, char *out, size_t len);

#endif
