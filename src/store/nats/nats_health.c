/* nats_health: registration health shared by every node: the state record
 * in KV evkit_regs ({state, enabled_at}, changed by compare-and-set; the
 * last attempt and error beside it, put plainly), filtered events counted
 * as messages on EVKIT_COUNTS, one message per finished attempt on the stream
 * EVKIT_HEALTH (subject by registration, minute, outcome and latency
 * bucket; the stream's per-subject counts are the windows and the charts;
 * 25 h max age), and the backlog samples in KV evkit_health. */
#include "store/nats/nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAS_TRIES 16
#define COUNT_RETRY_MS 30000
#define DAY_MS (24LL * 3600 * 1000)

/* Applies change to the record of registration (created ACTIVE when
 * absent), compare-and-set; *out (may be NULL) gets the record as stored. */
typedef void (*reg_change)(json_t *rec, void *ud);

static int reg_update(js_t *j, const char *registration, reg_change change, void *ud,
                      json_t **out, err_t *err)
{
    char *key = js_token(registration);
    int rc = -1;
    for (int tries = 0; tries < CAS_TRIES; tries++) {
        json_t *rec = NULL;
        uint64_t rev = 0;
        if (js_kv_get_json(j, j->regs, key, &rec, &rev, err) < 0) break;
        bool create = !rec;
        if (!rec)
            rec = json_pack("{s:s, s:I}", "state", "ACTIVE", "enabled_at", (json_int_t)now_ms());
        if (change) change(rec, ud);
        bool lost = false;
        /* Nothing to change on a present record: no write. */
        if (!change && !create) {
            rc = 0;
        } else if (js_kv_put_json(j, j->regs, key, rec, create ? 0 : rev, create, &lost, err) < 0) {
            json_decref(rec);
            break;
        }
        if (!lost) {
            rc = 0;
            if (out) *out = rec;
            else json_decref(rec);
            break;
        }
        json_decref(rec);
    }
    if (rc < 0 && err->msg[0] == '\0')
        err_code(err, EVK_UNAVAILABLE, "registration %s: its record keeps changing", registration);
    free(key);
    return rc;
}

int js_reg_disabled(js_t *j, const char *registration, bool *disabled, err_t *err)
{
    json_t *rec = NULL;
    err->msg[0] = '\0';
    if (reg_update(j, registration, NULL, NULL, &rec, err) < 0) return -1;
    *disabled = reg_state_parse(json_string_value(json_object_get(rec, "state"))) == REG_DISABLED;
    json_decref(rec);
    return 0;
}

/* ---- per attempt ---- */

/* The last attempt and the last error are not in the record: each is its
 * own key, "<registration>.last" {at} and "<registration>.error" {at,
 * error}, written by a plain put. The newest write wins, which is what
 * "last" means, and no compare-and-set on the record can lose a state
 * change to an attempt's write (or the other way round), as JetStream
 * 2.9's clustered compare-and-set may let both pass. */
static char *reg_key(const char *registration, const char *suffix)
{
    return js_token_in("", registration, suffix);
}

static int put_last(js_t *j, const char *registration, const char *error, int64_t at_ms,
                    err_t *err)
{
    char *k = reg_key(registration, ".last");
    json_t *v = json_pack("{s:I}", "at", (json_int_t)at_ms);
    int rc = js_kv_put_json(j, j->regs, k, v, 0, false, NULL, err);
    json_decref(v);
    free(k);
    if (rc < 0 || !error) return rc;
    k = reg_key(registration, ".error");
    v = json_pack("{s:I, s:s}", "at", (json_int_t)at_ms, "error", error);
    rc = js_kv_put_json(j, j->regs, k, v, 0, false, NULL, err);
    json_decref(v);
    free(k);
    return rc;
}

/* The last attempt's time and the last error since enabled_ms (an
 * enable clears it) into out. */
static int get_last(js_t *j, const char *registration, int64_t enabled_ms, store_reg_info *out,
                    err_t *err)
{
    json_t *last = NULL, *error = NULL;
    char *k = reg_key(registration, ".last");
    int rc = js_kv_get_json(j, j->regs, k, &last, NULL, err);
    free(k);
    k = reg_key(registration, ".error");
    if (rc == 0) rc = js_kv_get_json(j, j->regs, k, &error, NULL, err);
    free(k);
    int64_t at = json_integer_value(json_object_get(last, "at"));
    if (at > out->last_attempt_ms) out->last_attempt_ms = at;
    const char *text = json_string_value(json_object_get(error, "error"));
    if (text && json_integer_value(json_object_get(error, "at")) > enabled_ms)
        snprintf(out->last_error, sizeof out->last_error, "%s", text);
    json_decref(last);
    json_decref(error);
    return rc;
}

/* Publishes an empty message to subject (taken: freed here), one count.
 * Retried longer than other requests: a count given up is lost for good,
 * and a stream's election after a server died can take several seconds. */
static int publish_count(js_t *j, char *subject, const char *what, err_t *err)
{
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    int64_t deadline = now_ms() + COUNT_RETRY_MS;
    do s = js_Publish(&ack, j->js, subject, "", 0, NULL, &jerr);
    while (js_retry_wait(j, s, &deadline));
    jsPubAck_Destroy(ack);
    free(subject);
    if (s != NATS_OK) return js_fail(err, s, what);
    return 0;
}

/* Filtered events are counted as one empty message each on
 * evkit.count.<registration>.filtered (EVKIT_COUNTS): the stream's
 * per-subject count is the number, and appending loses nothing when nodes
 * count at once. */
int js_reg_count_filtered(js_t *j, const char *registration, err_t *err)
{
    err->msg[0] = '\0';
    return publish_count(j, js_token_in("evkit.count.", registration, ".filtered"),
                         "cannot count the filtered event", err);
}

static int filtered_count(js_t *j, const char *registration, int64_t *n, err_t *err)
{
    *n = 0;
    char *subject = js_token_in("evkit.count.", registration, ".filtered");
    jsStreamInfo *si = NULL;
    natsStatus s = js_subject_counts(j, JS_COUNTS, subject, &si);
    for (int i = 0; s == NATS_OK && si->State.Subjects && i < si->State.Subjects->Count; i++)
        if (!strcmp(si->State.Subjects->List[i].Subject, subject))
            *n = (int64_t)si->State.Subjects->List[i].Msgs;
    jsStreamInfo_Destroy(si);
    free(subject);
    if (s != NATS_OK) return js_fail(err, s, "cannot read the filtered count");
    return 0;
}

void js_reg_forget(js_t *j, const char *registration)
{
    const char *suffixes[] = {"", ".last", ".error"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *k = reg_key(registration, suffixes[i]);
        kvStore_Delete(j->regs, k);
        free(k);
    }
    char *subject = js_token_in("evkit.count.", registration, ".>");
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subject;
    jsErrCode jerr = 0;
    js_PurgeStream(j->js, JS_COUNTS, &o, &jerr);
    free(subject);
}

typedef void (*minute_change)(json_t *v, const void *ud);

static void set_backlog(json_t *v, const void *ud)
{
    json_object_set_new(v, "b", json_integer(*(const int64_t *)ud));
}

static int minute_update(js_t *j, const char *registration, int64_t minute, minute_change change,
                         const void *ud, err_t *err)
{
    char *tok = js_token(registration);
    char *key = xasprintf("%s.%lld", tok, (long long)minute);
    free(tok);
    int rc = -1;
    for (int tries = 0; tries < CAS_TRIES; tries++) {
        json_t *v = NULL;
        uint64_t rev = 0;
        if (js_kv_get_json(j, j->health, key, &v, &rev, err) < 0) break;
        json_t *nv = v ? v : json_object();
        change(nv, ud);
        bool lost = false;
        int put = js_kv_put_json(j, j->health, key, nv, rev, rev == 0, &lost, err);
        json_decref(nv);
        if (put < 0) break;
        if (!lost) {
            rc = 0;
            break;
        }
    }
    if (rc < 0 && err->msg[0] == '\0')
        err_code(err, EVK_UNAVAILABLE, "registration %s: its health keeps changing", registration);
    free(key);
    return rc;
}

/* One attempt is one empty message on
 * evkit.health.<registration>.<minute>.<outcome s|r|d>.<latency bucket>:
 * the stream counts them per subject. Appending, unlike a compare-and-set
 * counter, loses nothing when nodes count at once (JetStream 2.9's
 * clustered compare-and-set races). */
static char *health_subject(const char *registration, int64_t minute, char outcome, int bucket)
{
    char *tok = js_token(registration);
    char *s = xasprintf("evkit.health.%s.%lld.%c.%d", tok, (long long)minute, outcome, bucket);
    free(tok);
    return s;
}

static int count_attempt(js_t *j, const char *registration, const store_attempt *at,
                         int64_t at_ms, err_t *err)
{
    char outcome = at->outcome == DELIVERY_DONE ? 's' : at->outcome == DELIVERY_RETRY ? 'r' : 'd';
    int64_t ms = at->ended_ms > at->started_ms ? at->ended_ms - at->started_ms : 0;
    return publish_count(j, health_subject(registration, at_ms / 60000, outcome,
                                           store_latency_bucket(ms)),
                         "cannot count the attempt", err);
}

int js_health_record(js_t *j, const char *registration, const store_attempt *at,
                     const char *error, int64_t at_ms, err_t *err)
{
    err->msg[0] = '\0';
    /* An undeliverable event says nothing about the target: not counted. */
    if (at->outcome != DELIVERY_UNDELIVERABLE && count_attempt(j, registration, at, at_ms, err) < 0)
        return -1;
    return put_last(j, registration, error, at_ms, err);
}

/* The per-subject counts of the health stream under filter, to fn
 * (minute, outcome, latency bucket, count). */
typedef void (*count_fn)(void *ud, const char *reg_token, int64_t minute, char outcome, int bucket,
                         int64_t n);

static int health_counts(js_t *j, const char *filter, count_fn fn, void *ud, err_t *err)
{
    jsStreamInfo *si = NULL;
    natsStatus st = js_subject_counts(j, JS_HEALTH, filter, &si);
    if (st != NATS_OK) return js_fail(err, st, "cannot read registration health");
    for (int i = 0; si->State.Subjects && i < si->State.Subjects->Count; i++) {
        const jsStreamStateSubject *sub = &si->State.Subjects->List[i];
        char reg[256];
        long long minute = 0;
        char outcome = 0;
        int bucket = 0;
        if (sscanf(sub->Subject, "evkit.health.%255[^.].%lld.%c.%d", reg, &minute, &outcome,
                   &bucket) == 4)
            fn(ud, reg, (int64_t)minute, outcome, bucket, (int64_t)sub->Msgs);
    }
    jsStreamInfo_Destroy(si);
    return 0;
}

/* ---- windows ---- */

typedef struct {
    int64_t since_minute, attempts, failures;
} window_sum;

static void add_window(void *ud, const char *reg, int64_t minute, char outcome, int bucket,
                       int64_t n)
{
    window_sum *w = ud;
    if (minute < w->since_minute) return;
    w->attempts += n;
    if (outcome != 's') w->failures += n;
}

int js_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                  int64_t *failures, err_t *err)
{
    js_t *j = JS(s);
    *attempts = *failures = 0;
    char *filter = js_token_in("evkit.health.", registration, ".>");
    window_sum w = {.since_minute = since_ms / 60000};
    int rc = health_counts(j, filter, add_window, &w, err);
    free(filter);
    *attempts = w.attempts;
    *failures = w.failures;
    return rc;
}

/* ---- info and state ---- */

/* Deliveries waiting in registration's consumer (pending and held). */
static int backlog_of(js_t *j, const char *registration, int64_t *backlog, err_t *err)
{
    *backlog = 0;
    char *name = js_token_in("r_", registration, "");
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, j->js, JS_DELIVERIES, name, NULL, &jerr);
    free(name);
    if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) return 0;
    if (s != NATS_OK) return js_fail(err, s, "cannot read the registration's backlog");
    *backlog = (int64_t)ci->NumPending + ci->NumAckPending;
    jsConsumerInfo_Destroy(ci);
    return 0;
}

static int dead_count(js_t *j, const char *registration, int64_t *dead, err_t *err)
{
    *dead = 0;
    char *subject = js_token_in("evkit.dead.", registration, "");
    jsStreamInfo *si = NULL;
    natsStatus s = js_subject_counts(j, JS_DEAD, subject, &si);
    if (s == NATS_OK && si->State.Subjects) {
        for (int i = 0; i < si->State.Subjects->Count; i++)
            if (!strcmp(si->State.Subjects->List[i].Subject, subject))
                *dead = (int64_t)si->State.Subjects->List[i].Msgs;
    }
    jsStreamInfo_Destroy(si);
    free(subject);
    if (s != NATS_OK) return js_fail(err, s, JS_DEAD);
    return 0;
}

int js_reg_info_get(store_t *s, const char *registration, store_reg_info *out, err_t *err)
{
    js_t *j = JS(s);
    json_t *rec = NULL;
    err->msg[0] = '\0';
    if (reg_update(j, registration, NULL, NULL, &rec, err) < 0) return -1;
    out->state = reg_state_parse(json_string_value(json_object_get(rec, "state")));
    int64_t enabled = json_integer_value(json_object_get(rec, "enabled_at"));
    json_decref(rec);
    out->last_error[0] = '\0';
    out->last_attempt_ms = 0;
    if (get_last(j, registration, enabled, out, err) < 0 ||
        filtered_count(j, registration, &out->filtered, err) < 0)
        return -1;
    int64_t since = now_ms() - DAY_MS;
    if (enabled > since) since = enabled;
    if (js_reg_window(s, registration, since, &out->attempts_24h, &out->failures_24h, err) < 0 ||
        backlog_of(j, registration, &out->backlog, err) < 0 ||
        dead_count(j, registration, &out->dead, err) < 0)
        return -1;
    if (out->state == REG_DISABLED) out->parked = out->backlog;
    return 0;
}

typedef struct {
    reg_state st;
    bool enable;
} state_arg;

static void set_state(json_t *rec, void *ud)
{
    state_arg *a = ud;
    json_object_set_new(rec, "state", json_string(reg_state_name(a->st)));
    /* The last error before it no longer shows (get_last). */
    if (a->enable) json_object_set_new(rec, "enabled_at", json_integer(now_ms()));
}

int js_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err)
{
    js_t *j = JS(s);
    state_arg a = {.st = st};
    err->msg[0] = '\0';
    if (reg_update(j, registration, set_state, &a, NULL, err) < 0) return -1;
    js_work_state_changed(j, registration);
    js_kick_all(j);
    return 0;
}

/* The counts so far go (the charts' minutes of the registration with
 * them): the health window restarts. */
static int reset_window(js_t *j, const char *registration, err_t *err)
{
    char *filter = js_token_in("evkit.health.", registration, ".>");
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = filter;
    jsErrCode jerr = 0;
    natsStatus st = js_PurgeStream(j->js, JS_HEALTH, &o, &jerr);
    free(filter);
    if (st != NATS_OK) return js_fail(err, st, "cannot reset the health window");
    return 0;
}

int js_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err)
{
    js_t *j = JS(s);
    int64_t backlog = 0;
    if (backlog_of(j, registration, &backlog, err) < 0) return -1;
    json_t *before = NULL;
    err->msg[0] = '\0';
    if (reg_update(j, registration, NULL, NULL, &before, err) < 0) return -1;
    bool was_disabled =
        reg_state_parse(json_string_value(json_object_get(before, "state"))) == REG_DISABLED;
    json_decref(before);
    state_arg a = {.st = REG_ACTIVE, .enable = true};
    if (reg_update(j, registration, set_state, &a, NULL, err) < 0) return -1;
    /* The health window restarts now: the minutes before count no more
     * (the rollup's counts in them stay). */
    if (reset_window(j, registration, err) < 0) return -1;
    if (resumed && was_disabled) *resumed = (int)backlog;
    js_work_state_changed(j, registration);
    js_kick_all(j);
    return 0;
}

/* ---- the delivery rollup (the console's charts) ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Minutes live as long as the health bucket keeps them (25 h): keep_ms
 * beyond that is not honoured on JetStream. */
int js_rollup_sample(store_t *s, int64_t now, int64_t keep_ms, err_t *err)
{
    js_t *j = JS(s);
    jsConsumerInfoList *list = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_Consumers(&list, j->js, JS_DELIVERIES, NULL, &jerr);
    if (st == NATS_NOT_FOUND) return 0;
    if (st != NATS_OK) return js_fail(err, st, "cannot sample the backlog");
    int rc = 0;
    for (int i = 0; rc == 0 && i < list->Count; i++) {
        jsConsumerInfo *ci = list->List[i];
        const char *reg = ci->Config ? ci->Config->Description : NULL;
        if (!reg || !*reg) continue;
        int64_t backlog = (int64_t)ci->NumPending + ci->NumAckPending;
        err->msg[0] = '\0';
        rc = minute_update(j, reg, now / 60000, set_backlog, &backlog, err);
    }
    jsConsumerInfoList_Destroy(list);
    return rc;
}

typedef struct {
    int64_t since_minute;
    json_t *by_minute;           /* "<minute, zero-padded>" -> row */
} rollup_sum;

static json_t *rollup_row(json_t *by_minute, int64_t minute)
{
    char mk[24];
    snprintf(mk, sizeof mk, "%020lld", (long long)minute);
    json_t *row = json_object_get(by_minute, mk);
    if (row) return row;
    json_t *lat = json_array();
    for (int i = 0; i < STORE_LATENCY_BUCKETS; i++) json_array_append_new(lat, json_integer(0));
    row = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "minute", (json_int_t)(minute * 60000),
                    "success", (json_int_t)0, "retry", (json_int_t)0, "dead", (json_int_t)0,
                    "backlog", (json_int_t)0, "latency", lat);
    json_object_set_new(by_minute, mk, row);
    return row;
}

static void add_int(json_t *o, const char *k, int64_t n)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + n));
}

static void add_rollup(void *ud, const char *reg, int64_t minute, char outcome, int bucket,
                       int64_t n)
{
    rollup_sum *r = ud;
    if (minute < r->since_minute) return;
    json_t *row = rollup_row(r->by_minute, minute);
    add_int(row, outcome == 's' ? "success" : outcome == 'r' ? "retry" : "dead", n);
    json_t *lat = json_object_get(row, "latency");
    if (bucket >= 0 && bucket < STORE_LATENCY_BUCKETS)
        json_array_set_new(
            lat, (size_t)bucket,
            json_integer(json_integer_value(json_array_get(lat, (size_t)bucket)) + n));
}

/* The backlog samples (KV evkit_health "<registration>.<minute>" = {b}). */
static int add_backlogs(js_t *j, const char *registration, rollup_sum *r, err_t *err)
{
    char *tok = registration ? js_token(registration) : xstrdup("*");
    char *filter = xasprintf("%s.*", tok);
    free(tok);
    kvWatchOptions o;
    kvWatchOptions_Init(&o);
    o.IgnoreDeletes = true;
    kvWatcher *w = NULL;
    natsStatus st = js_kv_watch(j, &w, j->health, filter, &o);
    free(filter);
    for (; st == NATS_OK;) {
        kvEntry *e = NULL;
        st = js_kv_next(j, w, &e);
        if (st != NATS_OK || !e) break;
        const char *dot = strrchr(kvEntry_Key(e), '.');
        int64_t minute = dot ? strtoll(dot + 1, NULL, 10) : 0;
        json_error_t je;
        json_t *v = json_load_kept(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, &je);
        if (v && minute >= r->since_minute)
            add_int(rollup_row(r->by_minute, minute), "backlog",
                    json_integer_value(json_object_get(v, "b")));
        json_decref(v);
        kvEntry_Destroy(e);
    }
    if (w) kvWatcher_Destroy(w);
    return st == NATS_OK ? 0 : js_fail(err, st, "cannot read the backlog samples");
}

int js_rollup_read(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                   err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    char *tok = registration ? js_token(registration) : xstrdup("*");
    char *filter = xasprintf("evkit.health.%s.>", tok);
    free(tok);
    rollup_sum r = {.since_minute = since_ms / 60000, .by_minute = json_object()};
    int rc = health_counts(j, filter, add_rollup, &r, err);
    free(filter);
    if (rc == 0) rc = add_backlogs(j, registration, &r, err);
    if (rc < 0) {
        json_decref(r.by_minute);
        return -1;
    }
    /* Zero-padded keys: sorted, they give the minutes in order. */
    size_t n = json_object_size(r.by_minute);
    const char **keys = xcalloc(n + 1, sizeof *keys);
    size_t k = 0;
    const char *key;
    json_t *row;
    json_object_foreach(r.by_minute, key, row) keys[k++] = key;
    qsort(keys, k, sizeof *keys, cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; i < k; i++) json_array_append(arr, json_object_get(r.by_minute, keys[i]));
    free(keys);
    json_decref(r.by_minute);
    *out = arr;
    return 0;
}
