/* cron: parsing cron expressions into bit sets, and finding the next fire
 * by walking the calendar field by field (months, then days, hours, minutes,
 * seconds), each step jumping to the start of the next unit. */
#include "core/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/util.h"

typedef struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is the value lo + i */
} field_t;

static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                     "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const DAYS[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_t FIELDS[] = {
    {"seconds", 0, 59, NULL}, {"minutes", 0, 59, NULL},      {"hours", 0, 23, NULL},
    {"day of month", 1, 31, NULL}, {"month", 1, 12, MONTHS}, {"day of week", 0, 7, DAYS},
};

/* A number or a name of f at *p; advances *p. */
static int value_of(const field_t *f, const char **p, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
        if (isdigit((unsigned char)*s) || v < f->lo || v > f->hi) return -1;
        *out = (int)v;
        *p = s;
        return 0;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned char)s[3])) {
            *out = f->lo + i;
            *p = s + 3;
            return 0;
        }
    return -1;
}

/* One comma-separated part: *, a, a-b, with an optional /step. */
static int part_parse(const field_t *f, const char *s, uint64_t *bits)
{
    int lo, hi, step = 1;
    bool open_range = false;
    if (*s == '*' || *s == '?') {
        lo = f->lo, hi = f->hi;
        s++;
    } else {
        if (value_of(f, &s, &lo) < 0) return -1;
        hi = lo;
        if (*s == '-') {
            s++;
            if (value_of(f, &s, &hi) < 0 || hi < lo) return -1;
        } else if (*s == '/') {
            open_range = true; /* a/n: from a to the end */
        }
    }
    if (*s == '/') {
        s++;
        if (!isdigit((unsigned char)*s)) return -1;
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
        if (v < 1 || v > f->hi) return -1;
        step = (int)v;
        if (open_range) hi = f->hi;
    }
    if (*s) return -1;
    for (int v = lo; v <= hi; v += step) *bits |= 1ULL << v;
    return 0;
}

static int field_parse(const field_t *f, const char *text, uint64_t *bits, char *why,
                       size_t whylen)
{
    *bits = 0;
    char *copy = strdup(text), *save = NULL;
    int rc = 0;
    if (!copy) return -1;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save))
        if (part_parse(f, part, bits) < 0) {
            snprintf(why, whylen, "%s field: '%s' is not valid (%d-%d%s, *, a-b, */n, lists)",
                     f->name, part, f->lo, f->hi, f->names ? " or names" : "");
            rc = -1;
            break;
        }
    if (!rc && (!*bits || text[strlen(text) - 1] == ',' || *text == ',' || strstr(text, ",,"))) {
        snprintf(why, whylen, "%s field: '%s' is not valid", f->name, text);
        rc = -1;
    }
    free(copy);
    return rc;
}

int cron_parse(const char *expr, cron_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    char parts[6][128];
    int n = 0;
    const char *s = expr ? expr : "";
    while (*s) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        size_t len = 0;
        while (s[len] && !isspace((unsigned char)s[len])) len++;
        if (n == 6 || len >= sizeof parts[0]) {
            snprintf(why, whylen, "a cron expression has 5 fields (or 6 with seconds first)");
            return -1;
        }
        memcpy(parts[n], s, len);
        parts[n++][len] = '\0';
        s += len;
    }
    if (n != 5 && n != 6) {
        snprintf(why, whylen, "a cron expression has 5 fields (or 6 with seconds first), not %d",
                 n);
        return -1;
    }
    out->has_seconds = n == 6;
    uint64_t bits[6];
    bits[0] = 1; /* second 0 when there is no seconds field */
    for (int i = n == 6 ? 0 : 1, k = 0; i < 6; i++, k++)
        if (field_parse(&FIELDS[i], parts[k], &bits[i], why, whylen) < 0) return -1;
    out->seconds = bits[0];
    out->minutes = bits[1];
    out->hours = (uint32_t)bits[2];
    out->mdays = (uint32_t)bits[3];
    out->months = (uint16_t)bits[4];
    /* 7 is Sunday too. */
    out->wdays = (uint8_t)((bits[5] & 0x7f) | ((bits[5] >> 7) & 1));
    const char *dom = parts[n - 3], *dow = parts[n - 1];
    out->mday_any = *dom == '*' || *dom == '?';
    out->wday_any = *dow == '*' || *dow == '?';
    return 0;
}

static bool day_matches(const cron_t *c, const struct tm *tm)
{
    bool md = (c->mdays >> tm->tm_mday) & 1, wd = (c->wdays >> tm->tm_wday) & 1;
    /* Vixie cron: either field starting with '*' makes it "both", else "either". */
    return c->mday_any || c->wday_any ? md && wd : md || wd;
}

int64_t cron_next(const cron_t *c, int64_t after_ms)
{
    time_t t = (time_t)(after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000) + 1;
    time_t limit = t + (time_t)10 * 366 * 86400;
    struct tm tm;
    while (t < limit) {
        gmtime_r(&t, &tm);
        if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!((c->hours >> tm.tm_hour) & 1)) {
            tm.tm_hour++, tm.tm_min = tm.tm_sec = 0;
        } else if (!((c->minutes >> tm.tm_min) & 1)) {
            tm.tm_min++, tm.tm_sec = 0;
        } else if (!((c->seconds >> tm.tm_sec) & 1)) {
            tm.tm_sec++;
        } else {
            return (int64_t)t * 1000;
        }
        t = timegm(&tm); /* normalizes the carried field */
    }
    return INT64_MAX;
}

static const char *iso_clock(const char *s, struct tm *tm, int64_t *frac_ms)
{
    /* Each character is read only after the ones before it were digits: a
     * short string is never read past its end. */
    int h = digits_value(s, 2), mi = h >= 0 && s[2] == ':' ? digits_value(s + 3, 2) : -1, se = 0;
    if (h < 0 || h > 23 || mi < 0 || mi > 59) return NULL;
    s += 5;
    if (*s == ':') {
        se = digits_value(s + 1, 2);
        if (se < 0 || se > 60) return NULL;
        s += 3;
        if (*s == '.' || *s == ',') {
            s++;
            int64_t scale = 100;
            if (!isdigit((unsigned char)*s)) return NULL;
            for (; isdigit((unsigned char)*s); s++, scale /= 10) *frac_ms += (*s - '0') * scale;
        }
    }
    tm->tm_hour = h, tm->tm_min = mi, tm->tm_sec = se;
    return s;
}

int time_parse_iso(const char *s, int64_t *ms)
{
    if (!s) return -1;
    int y = digits_value(s, 4), mo = y >= 0 && s[4] == '-' ? digits_value(s + 5, 2) : -1,
        d = mo >= 0 && s[7] == '-' ? digits_value(s + 8, 2) : -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    int64_t frac = 0, offset_s = 0;
    s += 10;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        if (!(s = iso_clock(s + 1, &tm, &frac))) return -1;
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int oh = digits_value(s + 1, 2),
                om = oh < 0 ? -1 : s[3] == ':' ? digits_value(s + 4, 2) : digits_value(s + 3, 2);
            if (oh < 0 || oh > 23 || om < 0 || om > 59) return -1;
            offset_s = (oh * 3600 + om * 60) * (*s == '+' ? 1 : -1);
            s += s[3] == ':' ? 6 : 5;
        }
    }
    if (*s) return -1;
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d) return -1; /* 2026-02-30 */
    *ms = ((int64_t)t - offset_s) * 1000 + frac;
    return 0;
}
