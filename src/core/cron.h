/* cron: the schedules of scheduled triggers. A cron expression of 5 fields
 * (minute hour day-of-month month day-of-week) or 6 (a seconds field first),
 * as the OpenWhisk alarms feed takes them, always in UTC; and the ISO 8601
 * dates of startDate, stopDate and the once feed.
 *
 * Fields take `*`, numbers, ranges `a-b`, lists `a,b`, steps `*`/n, `a-b/n`
 * and `a/n`; month and day names (JAN..DEC, SUN..SAT, any case); day of week
 * 0..7 (0 and 7 are Sunday); `?` in a day field means `*`. When both day
 * fields are restricted a day matching either one fires (Vixie cron). */
#ifndef EVKIT_CORE_CRON_H
#define EVKIT_CORE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cron {
    uint64_t seconds;  /* bit s: second s fires (bit 0 only for 5 fields) */
    uint64_t minutes;
    uint32_t hours;
    uint32_t mdays;    /* bits 1..31 */
    uint16_t months;   /* bits 1..12 */
    uint8_t wdays;     /* bits 0..6, Sunday 0 */
    bool mday_any, wday_any;
    bool has_seconds;
} cron_t;

/* Parses expr. -1 with a message in why (naming the field and the part)
 * when it is not a valid expression. */
int cron_parse(const char *expr, cron_t *out, char *why, size_t whylen);

/* The first time the schedule fires strictly after after_ms (epoch ms; fires
 * fall on whole seconds), or INT64_MAX when it never fires within the next
 * ten years (a February 30th). */
int64_t cron_next(const cron_t *c, int64_t after_ms);

/* An ISO 8601 date-time (2026-12-06T10:00:00Z, with fractions and a +hh:mm
 * offset) or date (2026-12-06, midnight UTC) as epoch ms; -1 when malformed. */
int time_parse_iso(const char *s, int64_t *ms);

#endif
