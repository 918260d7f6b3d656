/* Schedules of scheduled triggers (core/cron): cron expressions of 5 or 6
 * fields and ISO 8601 dates. A parsed schedule's next fire is after the
 * time asked about, on a whole second, and fires again later or never.
 * Parts: the expression, a date. */
#include "fuzz.h"
#include "core/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    cron_t c;
    char why[256] = "";
    if (cron_parse(p.p[0], &c, why, sizeof why) == 0) {
        const int64_t at = 1765000000123; /* December 2025 */
        int64_t next = cron_next(&c, at);
        if (next != INT64_MAX) {
            if (next <= at || next % 1000) abort();
            int64_t after = cron_next(&c, next);
            if (after != INT64_MAX && after <= next) abort();
        }
    } else if (!why[0]) {
        abort(); /* a refusal always says why */
    }
    int64_t ms;
    (void)time_parse_iso(p.n > 1 ? p.p[1] : p.p[0], &ms);
    fz_parts_free(&p);
    return 0;
}
