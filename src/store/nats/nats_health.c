/* nats_health: registration health shared by every node: the state record
 * in KV evkit_regs ({state, enabled_at, last_error, last_attempt}) and
 * attempt and failure counters per minute in KV evkit_health
 * ("<registration>.<minute>" = {a, f}, expired by the bucket's TTL), both
 * updated by compare-and-set so that nodes never overwrite each other. */
#include "store/nats/nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAS_TRIES 16
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
            rec = json_pack("{s:s, s:I, s:s, s:I}", "state", "ACTIVE", "enabled_at",
                            (json_int_t)now_ms(), "last_error", "", "last_attempt", (json_int_t)0);
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

typedef struct {
    const char *error;
    int64_t at_ms;
} last_arg;

static void set_last(json_t *rec, void *ud)
{
    last_arg *a = ud;
    json_object_set_new(rec, "last_attempt", json_integer(a->at_ms));
    if (a->error) json_object_set_new(rec, "last_error", json_string(a->error));
}

/* Adds one attempt to its minute: {a: attempts, f: failures, s/r/d: by
 * outcome, l: latency buckets; b: the backlog sample}. */
static void minute_count(json_t *v, const store_attempt *at)
{
    bool ok = at->outcome == DELIVERY_DONE, retry = at->outcome == DELIVERY_RETRY;
    const char *inc[] = {"a", ok ? NULL : "f", ok ? "s" : retry ? "r" : "d"};
    for (size_t i = 0; i < 3; i++)
        if (inc[i])
            json_object_set_new(v, inc[i],
                                json_integer(json_integer_value(json_object_get(v, inc[i])) + 1));
    json_t *l = json_object_get(v, "l");
    if (!json_is_array(l)) {
        l = json_array();
        for (int i = 0; i < STORE_LATENCY_BUCKETS; i++) json_array_append_new(l, json_integer(0));
        json_object_set_new(v, "l", l);
    }
    int64_t ms = at->ended_ms > at->started_ms ? at->ended_ms - at->started_ms : 0;
    size_t b = (size_t)store_latency_bucket(ms);
    json_array_set_new(l, b, json_integer(json_integer_value(json_array_get(l, b)) + 1));
}

typedef void (*minute_change)(json_t *v, const void *ud);

static void count_attempt(json_t *v, const void *ud) { minute_count(v, ud); }

static void zero_health(json_t *v, const void *ud)
{
    (void)ud;
    json_object_set_new(v, "a", json_integer(0));
    json_object_set_new(v, "f", json_integer(0));
}

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

int js_health_record(js_t *j, const char *registration, const store_attempt *at,
                     const char *error, int64_t at_ms, err_t *err)
{
    err->msg[0] = '\0';
    /* An undeliverable event says nothing about the target: not counted. */
    if (at->outcome != DELIVERY_UNDELIVERABLE &&
        minute_update(j, registration, at_ms / 60000, count_attempt, at, err) < 0)
        return -1;
    last_arg a = {.error = error, .at_ms = at_ms};
    return reg_update(j, registration, set_last, &a, NULL, err);
}

static void add_filtered(json_t *rec, void *ud)
{
    (void)ud;
    json_object_set_new(rec, "filtered",
                        json_integer(json_integer_value(json_object_get(rec, "filtered")) + 1));
}

int js_reg_count_filtered(js_t *j, const char *registration, err_t *err)
{
    err->msg[0] = '\0';
    return reg_update(j, registration, add_filtered, NULL, NULL, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- windows ---- */

int js_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                  int64_t *failures, err_t *err)
{
    js_t *j = JS(s);
    *attempts = *failures = 0;
    char *tok = js_token(registration);
    char *filter = xasprintf("%s.*", tok);
    free(tok);
    kvWatchOptions o;
    kvWatchOptions_Init(&o);
    o.IgnoreDeletes = true;
    kvWatcher *w = NULL;
    natsStatus st = kvStore_Watch(&w, j->health, filter, &o);
    free(filter);
    if (st != NATS_OK) return js_fail(err, st, "cannot read registration health");
    int64_t since_minute = since_ms / 60000;
    /* The current values come first, then a NULL entry. */
    for (;;) {
        kvEntry *e = NULL;
        st = kvWatcher_Next(&e, w, j->timeout_ms);
        if (st != NATS_OK || !e) break;
        const char *dot = strrchr(kvEntry_Key(e), '.');
        int64_t minute = dot ? strtoll(dot + 1, NULL, 10) : 0;
        if (minute >= since_minute) {
            json_error_t je;
            json_t *v = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, &je);
            *attempts += json_integer_value(json_object_get(v, "a"));
            *failures += json_integer_value(json_object_get(v, "f"));
            json_decref(v);
        }
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    if (st != NATS_OK) return js_fail(err, st, "cannot read registration health");
    return 0;
}

/* ---- info and state ---- */

/* Deliveries waiting in registration's consumer (pending and held). */
static int backlog_of(js_t *j, const char *registration, int64_t *backlog, err_t *err)
{
    *backlog = 0;
    char *tok = js_token(registration);
    char *name = xasprintf("r_%s", tok);
    free(tok);
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
    char *tok = js_token(registration);
    char *subject = xasprintf("evkit.dead.%s", tok);
    free(tok);
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Info.SubjectsFilter = subject;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, j->js, JS_DEAD, &o, &jerr);
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
    memset(out, 0, sizeof *out);
    out->state = REG_ACTIVE;
    if (!registration || !*registration)
        return err_code(err, EVK_INVALID, "registration is required");
    json_t *rec = NULL;
    err->msg[0] = '\0';
    if (reg_update(j, registration, NULL, NULL, &rec, err) < 0) return -1;
    out->state = reg_state_parse(json_string_value(json_object_get(rec, "state")));
    snprintf(out->last_error, sizeof out->last_error, "%s",
             json_string_value(json_object_get(rec, "last_error")) ?: "");
    out->last_attempt_ms = json_integer_value(json_object_get(rec, "last_attempt"));
    out->filtered = json_integer_value(json_object_get(rec, "filtered"));
    int64_t enabled = json_integer_value(json_object_get(rec, "enabled_at"));
    json_decref(rec);
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
    if (a->enable) {
        json_object_set_new(rec, "enabled_at", json_integer(now_ms()));
        json_object_set_new(rec, "last_error", json_string(""));
    }
}

int js_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err)
{
    js_t *j = JS(s);
    if (!registration || !*registration)
        return err_code(err, EVK_INVALID, "registration is required");
    state_arg a = {.st = st};
    err->msg[0] = '\0';
    if (reg_update(j, registration, set_state, &a, NULL, err) < 0) return -1;
    js_work_state_changed(j, registration);
    js_kick_all(j);
    return 0;
}

static int reset_window(js_t *j, const char *registration, err_t *err)
{
    char *tok = js_token(registration);
    char *filter = xasprintf("%s.*", tok);
    free(tok);
    kvWatchOptions o;
    kvWatchOptions_Init(&o);
    kvWatcher *w = NULL;
    o.IgnoreDeletes = true;
    natsStatus st = kvStore_Watch(&w, j->health, filter, &o);
    free(filter);
    if (st != NATS_OK) return js_fail(err, st, "cannot reset the health window");
    int rc = 0;
    for (;;) {
        kvEntry *e = NULL;
        st = kvWatcher_Next(&e, w, j->timeout_ms);
        if (st != NATS_OK || !e) break;
        const char *dot = strrchr(kvEntry_Key(e), '.');
        int64_t minute = dot ? strtoll(dot + 1, NULL, 10) : 0;
        kvEntry_Destroy(e);
        err->msg[0] = '\0';
        if (rc == 0) rc = minute_update(j, registration, minute, zero_health, NULL, err);
    }
    kvWatcher_Destroy(w);
    return rc;
}

int js_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err)
{
    js_t *j = JS(s);
    if (resumed) *resumed = 0;
    if (!registration || !*registration)
        return err_code(err, EVK_INVALID, "registration is required");
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

int js_rollup_read(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                   err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    char *tok = registration ? js_token(registration) : xstrdup("*");
    char *filter = xasprintf("%s.*", tok);
    free(tok);
    kvWatchOptions o;
    kvWatchOptions_Init(&o);
    o.IgnoreDeletes = true;
    kvWatcher *w = NULL;
    natsStatus st = kvStore_Watch(&w, j->health, filter, &o);
    free(filter);
    if (st != NATS_OK) return js_fail(err, st, "cannot read the delivery rollup");
    json_t *by_minute = json_object(); /* "<minute ms>" -> row, summed */
    for (;;) {
        kvEntry *e = NULL;
        st = kvWatcher_Next(&e, w, j->timeout_ms);
        if (st != NATS_OK || !e) break;
        const char *dot = strrchr(kvEntry_Key(e), '.');
        int64_t minute = (dot ? strtoll(dot + 1, NULL, 10) : 0) * 60000;
        json_error_t je;
        json_t *v = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, &je);
        kvEntry_Destroy(e);
        if (!v || minute < since_ms / 60000 * 60000) {
            json_decref(v);
            continue;
        }
        char mk[24];
        snprintf(mk, sizeof mk, "%020lld", (long long)minute);
        json_t *row = json_object_get(by_minute, mk);
        if (!row) {
            json_t *lat = json_array();
            for (int i = 0; i < STORE_LATENCY_BUCKETS; i++)
                json_array_append_new(lat, json_integer(0));
            row = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "minute", (json_int_t)minute,
                            "success", (json_int_t)0, "retry", (json_int_t)0, "dead",
                            (json_int_t)0, "backlog", (json_int_t)0, "latency", lat);
            json_object_set_new(by_minute, mk, row);
        }
        const char *pairs[][2] = {
            {"s", "success"}, {"r", "retry"}, {"d", "dead"}, {"b", "backlog"}};
        for (size_t i = 0; i < 4; i++)
            json_object_set_new(row, pairs[i][1],
                                json_integer(json_integer_value(json_object_get(row, pairs[i][1])) +
                                             json_integer_value(json_object_get(v, pairs[i][0]))));
        json_t *lat = json_object_get(row, "latency"), *l = json_object_get(v, "l");
        for (size_t i = 0; i < STORE_LATENCY_BUCKETS; i++)
            json_array_set_new(lat, i,
                               json_integer(json_integer_value(json_array_get(lat, i)) +
                                            json_integer_value(json_array_get(l, i))));
        json_decref(v);
    }
    kvWatcher_Destroy(w);
    if (st != NATS_OK) {
        json_decref(by_minute);
        return js_fail(err, st, "cannot read the delivery rollup");
    }
    /* Zero-padded keys: iterating them sorted gives the minutes in order. */
    json_t *arr = json_array();
    const char **keys = xcalloc(json_object_size(by_minute) + 1, sizeof *keys);
    size_t n = 0;
    const char *k;
    json_t *row;
    json_object_foreach(by_minute, k, row) keys[n++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < n; i++) json_array_append(arr, json_object_get(by_minute, keys[i]));
    free(keys);
    json_decref(by_minute);
    *out = arr;
    return 0;
}
