/* metrics: the registry, lock-free series tables and the text format.
 * See metrics.h for the design. */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct series {
    char *values[METRICS_MAX_LABELS];
    uint64_t hash;
    _Atomic uint64_t value;       /* a double's bits: counter or gauge */
    _Atomic uint64_t sum;         /* a double's bits: histogram sum */
    _Atomic uint64_t *buckets;    /* histogram: nbounds + 1 per-bucket (not cumulative) counts */
} series;

struct metric {
    metric_kind kind;
    char *name, *help;
    size_t nlabels;
    char *label_names[METRICS_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    size_t max_series;
    _Atomic size_t nseries;       /* not counting the "other" series */
    size_t mask;                  /* table size - 1 (a power of two) */
    _Atomic(series *) *slots;
    series *other;
    metric *next;
};

struct metrics_registry {
    pthread_mutex_t mu;           /* declaring families only */
    metric *head, *tail;
};

/* ---- doubles in atomics ---- */

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, d2u(u2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ---- registry ---- */

metrics_registry *metrics_registry_new(void)
{
    metrics_registry *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void series_free(series *s)
{
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++) free(s->values[i]);
    free(s->buckets);
    free(s);
}

void metrics_registry_free(metrics_registry *r)
{
    if (!r) return;
    for (metric *m = r->head, *next; m; m = next) {
        next = m->next;
        for (size_t i = 0; i <= m->mask; i++) {
            series *s = atomic_load(&m->slots[i]);
            if (s) series_free(s);
        }
        free(m->slots);
        for (size_t i = 0; i < m->nlabels; i++) free(m->label_names[i]);
        free(m->name);
        free(m->help);
        free(m->bounds);
        free(m);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static uint64_t hash_values(const metric *m, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, with a separator between values */
    for (size_t i = 0; i < m->nlabels; i++) {
        for (const char *p = values[i] ? values[i] : ""; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

static bool series_matches(const metric *m, const series *s, uint64_t h, const char *const *values)
{
    if (s->hash != h) return false;
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(s->values[i], values[i] ? values[i] : "") != 0) return false;
    return true;
}

static series *series_new(const metric *m, uint64_t h, const char *const *values)
{
    series *s = xcalloc(1, sizeof *s);
    s->hash = h;
    for (size_t i = 0; i < m->nlabels; i++) s->values[i] = xstrdup(values[i] ? values[i] : "");
    if (m->kind == KIND_HISTOGRAM) s->buckets = xcalloc(m->nbounds + 1, sizeof *s->buckets);
    return s;
}

/* The series for values, created on first use; the "other" series once the
 * family is full. Lock-free: a slot, once set, never changes. */
static series *lookup(metric *m, const char *const *values, bool create)
{
    static const char *const none[METRICS_MAX_LABELS] = {0};
    if (!values || m->nlabels == 0) values = none;
    uint64_t h = hash_values(m, values);
    size_t i = (size_t)h & m->mask;
    series *fresh = NULL;
    for (size_t probes = 0; probes <= m->mask; probes++, i = (i + 1) & m->mask) {
        series *s = atomic_load_explicit(&m->slots[i], memory_order_acquire);
        if (s) {
            if (series_matches(m, s, h, values)) {
                if (fresh) series_free(fresh);
                return s;
            }
            continue;
        }
        if (!create) return NULL;
        if (!fresh) {
            if (atomic_fetch_add(&m->nseries, 1) >= m->max_series) {
                atomic_fetch_sub(&m->nseries, 1);
                return m->other;
            }
            fresh = series_new(m, h, values);
        }
        series *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&m->slots[i], &expected, fresh,
                                                    memory_order_acq_rel, memory_order_acquire))
            return fresh;
        /* Another thread took the slot; it may hold these very values. */
        if (series_matches(m, expected, h, values)) {
            series_free(fresh);
            atomic_fetch_sub(&m->nseries, 1);
            return expected;
        }
    }
    if (fresh) {
        series_free(fresh);
        atomic_fetch_sub(&m->nseries, 1);
    }
    return create ? m->other : NULL;
}

static metric *declare(metrics_registry *r, metric_kind kind, const char *name, const char *help,
                       const char *labels, const double *bounds, size_t nbounds,
                       size_t max_series)
{
    metric *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->name = xstrdup(name);
    m->help = xstrdup(help ? help : "");
    if (labels && *labels) {
        char *copy = xstrdup(labels), *save = NULL;
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (m->nlabels == METRICS_MAX_LABELS) abort(); /* a programming error */
            m->label_names[m->nlabels++] = xstrdup(t);
        }
        free(copy);
    }
    if (kind == KIND_HISTOGRAM) {
        m->bounds = xcalloc(nbounds ? nbounds : 1, sizeof *m->bounds);
        memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
        m->nbounds = nbounds;
    }
    m->max_series = m->nlabels ? (max_series ? max_series : 1) : 1;
    /* At most half full, so a probe always ends at a match or an empty slot. */
    size_t cap = 8;
    while (cap < 2 * (m->max_series + 2)) cap *= 2;
    m->mask = cap - 1;
    m->slots = xcalloc(cap, sizeof *m->slots);
    /* The overflow series sits in the table like any other. */
    const char *other[METRICS_MAX_LABELS];
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++) other[i] = METRICS_OTHER;
    if (m->nlabels) {
        uint64_t h = hash_values(m, other);
        m->other = series_new(m, h, other);
        size_t i = (size_t)h & m->mask;
        while (atomic_load(&m->slots[i])) i = (i + 1) & m->mask;
        atomic_store(&m->slots[i], m->other);
    } else {
        /* A family without labels has its one series from the start, so it renders 0. */
        m->other = lookup(m, NULL, true);
    }
    pthread_mutex_lock(&r->mu);
    if (r->tail) r->tail->next = m;
    else r->head = m;
    r->tail = m;
    pthread_mutex_unlock(&r->mu);
    return m;
}

metric *metrics_counter(metrics_registry *r, const char *name, const char *help,
                        const char *labels, size_t max_series)
{
    return declare(r, KIND_COUNTER, name, help, labels, NULL, 0, max_series);
}

metric *metrics_gauge(metrics_registry *r, const char *name, const char *help, const char *labels,
                      size_t max_series)
{
    return declare(r, KIND_GAUGE, name, help, labels, NULL, 0, max_series);
}

metric *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                          const char *labels, const double *bounds, size_t nbounds,
                          size_t max_series)
{
    return declare(r, KIND_HISTOGRAM, name, help, labels, bounds, nbounds, max_series);
}

/* ---- recording ---- */

void metric_add(metric *m, const char *const *values, double v)
{
    if (!m || m->kind == KIND_HISTOGRAM || isnan(v)) return;
    if (m->kind == KIND_COUNTER && v < 0) return;
    atomic_add_double(&lookup(m, values, true)->value, v);
}

void metric_set(metric *m, const char *const *values, double v)
{
    if (!m || m->kind != KIND_GAUGE) return;
    atomic_store_explicit(&lookup(m, values, true)->value, d2u(v), memory_order_relaxed);
}

void metric_observe(metric *m, const char *const *values, double v)
{
    if (!m || m->kind != KIND_HISTOGRAM || isnan(v)) return;
    series *s = lookup(m, values, true);
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i]) i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->sum, v);
}

double metric_value(metric *m, const char *const *values)
{
    if (!m) return 0;
    series *s = lookup(m, values, false);
    if (!s) return 0;
    if (m->kind != KIND_HISTOGRAM) return u2d(atomic_load(&s->value));
    uint64_t n = 0;
    for (size_t i = 0; i <= m->nbounds; i++) n += atomic_load(&s->buckets[i]);
    return (double)n;
}

void metric_zero_all(metric *m)
{
    if (!m || m->kind != KIND_GAUGE) return;
    for (size_t i = 0; i <= m->mask; i++) {
        series *s = atomic_load(&m->slots[i]);
        if (s) atomic_store(&s->value, d2u(0.0));
    }
}

/* ---- text format 0.0.4 ---- */

/* Go's strconv 'g' with the shortest exact form, as Prometheus prints. */
static void fmt_double(char *out, size_t len, double v)
{
    if (isnan(v)) snprintf(out, len, "NaN");
    else if (isinf(v)) snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0) snprintf(out, len, "%.0f", v);
    else {
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(out, len, "%.*g", prec, v);
            if (strtod(out, NULL) == v) break;
        }
    }
}

static void put_escaped(buf_t *b, const char *s, bool quotes)
{
    for (; *s; s++) {
        if (*s == '\\') buf_append(b, "\\\\", 2);
        else if (*s == '\n') buf_append(b, "\\n", 2);
        else if (*s == '"' && quotes) buf_append(b, "\\\"", 2);
        else buf_append(b, s, 1);
    }
}

/* {a="x",b="y"[,le="0.5"]}, nothing when there are no labels at all. */
static void put_labels(buf_t *b, const metric *m, const series *s, const char *le)
{
    if (m->nlabels == 0 && !le) return;
    buf_append(b, "{", 1);
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i) buf_append(b, ",", 1);
        buf_printf(b, "%s=\"", m->label_names[i]);
        put_escaped(b, s->values[i], true);
        buf_append(b, "\"", 1);
    }
    if (le) buf_printf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    buf_append(b, "}", 1);
}

static const metric *sort_family;
static int cmp_series(const void *a, const void *b)
{
    const series *x = *(series *const *)a, *y = *(series *const *)b;
    for (size_t i = 0; i < sort_family->nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c) return c;
    }
    return 0;
}

static bool series_used(const metric *m, const series *s)
{
    if (s != m->other || m->nlabels == 0) return true;
    /* The overflow series shows only once something folded into it. */
    if (m->kind != KIND_HISTOGRAM) return atomic_load(&s->value) != d2u(0.0);
    for (size_t i = 0; i <= m->nbounds; i++)
        if (atomic_load(&s->buckets[i])) return true;
    return false;
}

static void render_family(buf_t *b, const metric *m)
{
    static const char *kinds[] = {"counter", "gauge", "histogram"};
    buf_printf(b, "# HELP %s ", m->name);
    put_escaped(b, m->help, false);
    buf_printf(b, "\n# TYPE %s %s\n", m->name, kinds[m->kind]);
    series **list = xcalloc(m->mask + 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i <= m->mask; i++) {
        series *s = atomic_load_explicit(&m->slots[i], memory_order_acquire);
        if (s && series_used(m, s)) list[n++] = s;
    }
    static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER; /* qsort has no context */
    pthread_mutex_lock(&sort_mu);
    sort_family = m;
    qsort(list, n, sizeof *list, cmp_series);
    pthread_mutex_unlock(&sort_mu);
    char num[64];
    for (size_t k = 0; k < n; k++) {
        series *s = list[k];
        if (m->kind != KIND_HISTOGRAM) {
            buf_printf(b, "%s", m->name);
            put_labels(b, m, s, NULL);
            fmt_double(num, sizeof num, u2d(atomic_load(&s->value)));
            buf_printf(b, " %s\n", num);
            continue;
        }
        /* Buckets are read once, so +Inf and _count agree with the buckets. */
        uint64_t cum = 0;
        for (size_t i = 0; i <= m->nbounds; i++) {
            cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            char le[64];
            if (i < m->nbounds) fmt_double(le, sizeof le, m->bounds[i]);
            else snprintf(le, sizeof le, "+Inf");
            buf_printf(b, "%s_bucket", m->name);
            put_labels(b, m, s, le);
            buf_printf(b, " %llu\n", (unsigned long long)cum);
        }
        buf_printf(b, "%s_sum", m->name);
        put_labels(b, m, s, NULL);
        fmt_double(num, sizeof num, u2d(atomic_load(&s->sum)));
        buf_printf(b, " %s\n", num);
        buf_printf(b, "%s_count", m->name);
        put_labels(b, m, s, NULL);
        buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    free(list);
}

static char *render(metrics_registry *r, int kinds, size_t *len)
{
    buf_t b;
    buf_init(&b, 0);
    pthread_mutex_lock(&r->mu);
    for (const metric *m = r->head; m; m = m->next)
        if (kinds & (1 << m->kind)) render_family(&b, m);
    pthread_mutex_unlock(&r->mu);
    if (len) *len = b.len;
    if (!b.data) return xstrdup("");
    return buf_steal(&b);
}

char *metrics_render(metrics_registry *r, size_t *len)
{
    return render(r, 1 << KIND_COUNTER | 1 << KIND_GAUGE | 1 << KIND_HISTOGRAM, len);
}

char *metrics_render_part(metrics_registry *r, bool gauges, size_t *len)
{
    return render(r, gauges ? 1 << KIND_GAUGE : 1 << KIND_COUNTER | 1 << KIND_HISTOGRAM, len);
}
