/* Subscriber-defined filters (Event Ruler patterns, core/filter): any
 * pattern compiled (refused with a reason, or compiled), then matched
 * against any event. Parts: the pattern, the event. */
#include "fuzz.h"
#include "core/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    json_t *pattern = json_loadb(p.p[0], p.len[0], JSON_DECODE_ANY, NULL);
    if (pattern) {
        err_t err;
        err.msg[0] = '\0';
        filter_t *f = filter_compile(pattern, &err);
        if (!f && !err.msg[0]) abort(); /* a refusal always says why */
        if (f && p.n > 1) {
            json_t *ev = json_loadb(p.p[1], p.len[1], JSON_DECODE_ANY, NULL);
            if (ev) {
                bool once = filter_match(f, ev);
                if (filter_match(f, ev) != once) abort(); /* no state between matches */
                json_decref(ev);
            }
        }
        filter_free(f);
        json_decref(pattern);
    }
    fz_parts_free(&p);
    return 0;
}
