/* jsonpath: see jsonpath.h. */
#include "core/jsonpath.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/json_io.h"

char *json_path_string(const json_t *root, const char *path)
{
    const json_t *cur = root;
    char *copy = xstrdup(path), *save = NULL;
    for (char *seg = strtok_r(copy, ".", &save); seg && cur; seg = strtok_r(NULL, ".", &save))
        cur = json_is_object(cur) ? json_object_get(cur, seg) : NULL;
    free(copy);
    if (!cur || json_is_null(cur)) return NULL;
    if (json_is_string(cur)) return xstrdup(json_string_value(cur));
    if (json_is_integer(cur)) return xasprintf("%lld", (long long)json_integer_value(cur));
    if (json_is_real(cur)) {
        double d = json_real_value(cur);
        if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(long long)d)
            return xasprintf("%lld", (long long)d);
        return xasprintf("%.17g", d);
    }
    return json_text(cur, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
