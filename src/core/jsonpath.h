/* jsonpath: the value at a dotted path of a JSON document as a string, for
 * ordering keys. One function used by publishing and by replay, so that both
 * give an event the same key. */
#ifndef EVKIT_CORE_JSONPATH_H
#define EVKIT_CORE_JSONPATH_H

#include <jansson.h>

/* The value at path ("data.sku") of root: strings as they are, integral
 * numbers without a fraction, other values JSON-encoded with sorted keys.
 * NULL when absent or null. Caller frees. */
char *json_path_string(const json_t *root, const char *path);

#endif
