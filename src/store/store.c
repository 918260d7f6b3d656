/* store: opening a store by its options, and the public functions, each
 * dispatching to the backend the store was opened with (backend.h). */
#include "store/backend.h"

#include "core/json_io.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_open_with(const store_opts *o, store_t **out, err_t *err)
{
    *out = NULL;
    if (o->url && *o->url) {
        if (!strncmp(o->url, "nats://", 7) || !strncmp(o->url, "tls://", 6))
            return nats_store_open(o, out, err);
        return err_code(err, EVK_INVALID,
                        "the store URL must start with nats:// or tls:// (or be unset for SQLite)");
    }
    return sqlite_store_open(o, out, err);
}

int store_open(const char *dir, store_t **out, err_t *err)
{
    store_opts o = {.dir = dir};
    return store_open_with(&o, out, err);
}

const char *store_backend_name(const store_t *s) { return s->be->name; }

bool store_checks_generation(const store_t *s) { return s->be->checks_generation; }

static int unsupported(store_t *s, const char *what, err_t *err)
{
    return err_code(err, EVK_UNAVAILABLE, "%s is not available on the %s store yet", what,
                    s->be->name);
}

/* The check of every call about one registration, before any backend. */
static int need_registration(const char *registration, err_t *err)
{
    if (registration && *registration) return 0;
    return err_code(err, EVK_INVALID, "registration is required");
}

/* ---- shared by every backend ---- */

void store_signal_init(store_signal *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->gen = 0;
}

void store_signal_fini(store_signal *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

uint64_t store_signal_gen(store_signal *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t gen = g->gen;
    pthread_mutex_unlock(&g->mu);
    return gen;
}

void store_signal_kick(store_signal *g)
{
    pthread_mutex_lock(&g->mu);
    g->gen++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void store_signal_wait(store_signal *g, uint64_t seen, int64_t until_ms)
{
    int64_t cap = now_ms() + 24LL * 3600 * 1000;
    if (until_ms > cap) until_ms = cap;
    struct timespec ts = {.tv_sec = until_ms / 1000,
                          .tv_nsec = (long)(until_ms % 1000) * 1000000L};
    pthread_mutex_lock(&g->mu);
    while (g->gen == seen && now_ms() < until_ms) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&g->mu);
}

const char *reg_state_name(reg_state st)
{
    switch (st) {
    case REG_UNSTABLE: return "UNSTABLE";
    case REG_DISABLED: return "DISABLED";
    default: return "ACTIVE";
    }
}

void store_delivery_free(store_delivery *d)
{
    if (!d) return;
    free(d->registration);
    free(d->order_key);
    json_decref(d->event);
    memset(d, 0, sizeof *d);
}

bool store_state_key_valid(const char *key)
{
    if (!key) return false;
    size_t n = 0;
    for (const char *p = key; *p; p++, n++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '-' || ch == '_' || ch == '.';
        if (!ok || n >= 1024) return false;
    }
    return n >= 1;
}

reg_state reg_state_parse(const char *s)
{
    if (s && !strcmp(s, "DISABLED")) return REG_DISABLED;
    if (s && !strcmp(s, "UNSTABLE")) return REG_UNSTABLE;
    return REG_ACTIVE;
}

int store_event_in_check(const store_event_in *ev, err_t *err)
{
    if (!ev || !ev->provider || !*ev->provider)
        return err_code(err, EVK_INVALID, "event provider is required");
    if (!ev->type || !*ev->type) return err_code(err, EVK_INVALID, "event type is required");
    for (size_t i = 0; i < ev->ndeliveries; i++) {
        if (!ev->deliveries[i].registration || !*ev->deliveries[i].registration)
            return err_code(err, EVK_INVALID, "delivery %zu has no registration", i);
    }
    return 0;
}

/* The attributes evkit sets itself, and the data, written apart. */
static bool own_attribute(const char *k)
{
    return !strcmp(k, "specversion") || !strcmp(k, "id") || !strcmp(k, "source") ||
           !strcmp(k, "type") || !strcmp(k, "data") || !strcmp(k, "time") ||
           !strcmp(k, "datacontenttype");
}

/* A text attribute, or the given value's text when the attributes have it. */
static bool put_attr(json_out *o, const char *name, const json_t *given, const char *dflt)
{
    json_out_raw(o, name, strlen(name));
    return given ? json_out_value(o, given) : json_out_string(o, dflt, strlen(dflt));
}

/* The CloudEvent's text written directly, as json_text would write the
 * object the slow path builds; false when a value cannot be (the slow path
 * then says why). */
static bool cloudevent_direct(const store_event_in *ev, const char *id, const char *source,
                              const char *iso, json_out *o)
{
    json_t *a = ev->attributes;
    bool ok = put_attr(o, "{\"specversion\":", NULL, "1.0") && put_attr(o, ",\"id\":", NULL, id) &&
              put_attr(o, ",\"source\":", NULL, source) &&
              put_attr(o, ",\"type\":", NULL, ev->type) &&
              put_attr(o, ",\"time\":", json_object_get(a, "time"), iso) &&
              put_attr(o, ",\"datacontenttype\":", json_object_get(a, "datacontenttype"),
                       "application/json");
    for (void *it = json_object_iter(a); it && ok; it = json_object_iter_next(a, it)) {
        const char *k = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        if (own_attribute(k)) continue;
        json_out_raw(o, ",", 1);
        ok = !memchr(k, '\0', klen) && json_out_string(o, k, klen);
        json_out_raw(o, ":", 1);
        ok = ok && json_out_value(o, json_object_iter_value(it));
    }
    if (ok && ev->data) {
        json_out_raw(o, ",\"data\":", 8);
        ok = json_out_value(o, ev->data);
    }
    json_out_raw(o, "}", 1);
    return ok;
}

char *store_cloudevent_text(const store_event_in *ev, const char *provider_uuid, char id[37],
                            int64_t time_ms, err_t *err)
{
    /* Keys in the order CloudEvents documents them. */
    char iso[32], source[48];
    uuid_v4(id);
    time_iso(time_ms, iso, sizeof iso);
    snprintf(source, sizeof source, "urn:uuid:%s", provider_uuid);
    json_out o = {.flags = JSON_COMPACT};
    if (cloudevent_direct(ev, id, source, iso, &o)) return json_out_steal(&o);
    free(o.p);
    json_t *ce = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", id,
                           "source", source, "type", ev->type, "time", iso, "datacontenttype",
                           "application/json");
    if (!ce) {
        err_code(err, EVK_INVALID, "cannot build the CloudEvent (type not valid UTF-8?)");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(ev->attributes, k, v) {
        if (!strcmp(k, "specversion") || !strcmp(k, "id") || !strcmp(k, "source") ||
            !strcmp(k, "type") || !strcmp(k, "data"))
            continue;
        json_object_set(ce, k, v);
    }
    if (ev->data) json_object_set(ce, "data", ev->data);
    char *body = json_text(ce, JSON_COMPACT);
    json_decref(ce);
    if (!body) err_code(err, EVK_INVALID, "cannot serialize the event data");
    return body;
}

bool store_pair_match(const char *provider, const char *type, const char *const *providers,
                      const char *const *types, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (providers[i] && types[i] && !strcmp(providers[i], provider) && !strcmp(types[i], type))
            return true;
    }
    return false;
}

/* Milliseconds: a 1-2.5-5 ladder from 10 ms to a minute. */
#define LATENCY_BOUNDS_MS 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
const int64_t STORE_LATENCY_BOUNDS[STORE_LATENCY_BUCKETS - 1] = {LATENCY_BOUNDS_MS};

int store_latency_bucket(int64_t ms)
{
    int b = 0;
    while (b < STORE_LATENCY_BUCKETS - 1 && ms > STORE_LATENCY_BOUNDS[b]) b++;
    return b;
}

/* ---- dispatch ---- */

void store_close(store_t *s)
{
    s->be->close(s);
}

int store_provider_id(store_t *s, const char *key, char out[37], err_t *err)
{
    if (!s->be->provider_id) return unsupported(s, "store_provider_id", err);
    return s->be->provider_id(s, key, out, err);
}

int store_provider_find(store_t *s, const char *key, char out[37], bool *found, err_t *err)
{
    if (!s->be->provider_find) return unsupported(s, "store_provider_find", err);
    return s->be->provider_find(s, key, out, found, err);
}

int store_event_meta_put(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                         err_t *err)
{
    if (!s->be->event_meta_put) return unsupported(s, "store_event_meta_put", err);
    return s->be->event_meta_put(s, m, outcome, err);
}

int store_event_meta_list(store_t *s, const char *provider, json_t **out, err_t *err)
{
    if (!s->be->event_meta_list) return unsupported(s, "store_event_meta_list", err);
    return s->be->event_meta_list(s, provider, out, err);
}

int store_append(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err)
{
    if (!s->be->append) return unsupported(s, "store_append", err);
    return s->be->append(s, ev, res, err);
}

int store_append_batch(store_t *s, const store_event_in *evs, size_t n, store_append_result *res,
                       err_t *err)
{
    if (n == 1 || !s->be->append_batch) {
        for (size_t i = 0; i < n; i++) {
            if (store_append(s, &evs[i], &res[i], err) < 0) return -1;
            if (res[i].stale) return 0;
        }
        return 0;
    }
    return s->be->append_batch(s, evs, n, res, err);
}

int store_read(store_t *s, const char *provider, int64_t since, int limit, json_t **out, err_t *err)
{
    if (!s->be->read) return unsupported(s, "store_read", err);
    return s->be->read(s, provider, since, limit, out, err);
}

int store_read_matching(store_t *s, const char *const *providers, const char *const *types,
                        size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                        err_t *err)
{
    if (!s->be->read_matching) return unsupported(s, "store_read_matching", err);
    return s->be->read_matching(s, providers, types, n, since, limit, max_bytes, out, err);
}

int store_position_before(store_t *s, int64_t time_ms, int64_t *pos, err_t *err)
{
    if (!s->be->position_before) return unsupported(s, "store_position_before", err);
    return s->be->position_before(s, time_ms, pos, err);
}

int store_journal_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    if (!s->be->journal_prune) return unsupported(s, "store_journal_prune", err);
    return s->be->journal_prune(s, cutoff_ms, deleted, err);
}

int store_journal_floor(store_t *s, int64_t *floor, err_t *err)
{
    if (!s->be->journal_floor) return unsupported(s, "store_journal_floor", err);
    return s->be->journal_floor(s, floor, err);
}

int store_event_get(store_t *s, const char *id, json_t **out, err_t *err)
{
    if (!s->be->event_get) return unsupported(s, "store_event_get", err);
    return s->be->event_get(s, id, out, err);
}

int store_claim(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n, err_t *err)
{
    if (!s->be->claim) return unsupported(s, "store_claim", err);
    return s->be->claim(s, max, lease_ms, out, n, err);
}

int store_claim_more(store_t *s, const char *registration, int max, int64_t lease_ms,
                     store_delivery **out, size_t *n, err_t *err)
{
    if (need_registration(registration, err) < 0) return -1;
    if (!s->be->claim_more) return unsupported(s, "store_claim_more", err);
    return s->be->claim_more(s, registration, max, lease_ms, out, n, err);
}

int store_claim_except(store_t *s, int max, int64_t lease_ms, const char *const *skip,
                       size_t nskip, store_delivery **out, size_t *n, err_t *err)
{
    if (!nskip) return store_claim(s, max, lease_ms, out, n, err);
    if (!s->be->claim_except) return unsupported(s, "store_claim_except", err);
    return s->be->claim_except(s, max, lease_ms, skip, nskip, out, n, err);
}

int store_claim_wait(store_t *s, int max, int64_t lease_ms, const char *const *skip,
                     size_t nskip, int64_t until_ms, store_delivery **out, size_t *n, err_t *err)
{
    if (s->be->claim_wait)
        return s->be->claim_wait(s, max, lease_ms, skip, nskip, until_ms, out, n, err);
    if (store_claim_except(s, max, lease_ms, skip, nskip, out, n, err) < 0) return -1;
    if (*n > 0) return 0;
    int64_t due = store_next_due_except(s, skip, nskip);
    if (due < until_ms) until_ms = due;
    if (until_ms > now_ms()) store_wait_work(s, until_ms);
    return 0;
}

int64_t store_next_due_except(store_t *s, const char *const *skip, size_t nskip)
{
    if (!nskip || !s->be->next_due_except) return s->be->next_due(s);
    return s->be->next_due_except(s, skip, nskip);
}

int store_unclaim(store_t *s, const int64_t *ids, size_t n, int64_t due_ms, err_t *err)
{
    if (!n) return 0;
    if (!s->be->unclaim) return unsupported(s, "store_unclaim", err);
    return s->be->unclaim(s, ids, n, due_ms, err);
}

int store_replay_range(store_t *s, const store_replay_opts *o, int *count, int *skipped,
                       err_t *err)
{
    *count = 0;
    if (skipped) *skipped = 0;
    if (need_registration(o->registration, err) < 0) return -1;
    if (o->n == 0) return 0;
    if (!s->be->replay_range) return unsupported(s, "store_replay_range", err);
    return s->be->replay_range(s, o, count, skipped, err);
}

void store_span_put(store_t *s, const store_span *sp)
{
    if (s->be->span_put) s->be->span_put(s, sp);  /* spans are an aid: a backend may keep none */
}

int store_span_list(store_t *s, const char *trace_id, json_t **out, err_t *err)
{
    if (!s->be->span_list) return unsupported(s, "store_span_list", err);
    return s->be->span_list(s, trace_id, out, err);
}

int store_finish(store_t *s, const store_attempt *a, err_t *err)
{
    if (!s->be->finish) return unsupported(s, "store_finish", err);
    return s->be->finish(s, a, err);
}

int store_finish_batch(store_t *s, const store_attempt *a, size_t n, size_t *recorded,
                       err_t *err)
{
    size_t done = 0;
    if (recorded) *recorded = 0;
    if (!n) return 0;
    if (s->be->finish_batch) return s->be->finish_batch(s, a, n, recorded, err);
    if (!s->be->finish) return unsupported(s, "store_finish_batch", err);
    for (size_t i = 0; i < n; i++) {
        err_t e;
        if (s->be->finish(s, &a[i], &e) == 0) done++;
        else if (e.code != EVK_NOT_FOUND) {
            if (recorded) *recorded = done;
            if (err) *err = e;
            return -1;
        }
    }
    if (recorded) *recorded = done;
    return 0;
}

int store_release_claims(store_t *s, int *released, err_t *err)
{
    if (!s->be->release_claims) return unsupported(s, "store_release_claims", err);
    return s->be->release_claims(s, released, err);
}

int64_t store_next_due(store_t *s)
{
    return s->be->next_due(s);
}

void store_wait_work(store_t *s, int64_t until_ms)
{
    s->be->wait_work(s, until_ms);
}

void store_kick(store_t *s)
{
    s->be->kick(s);
}

int store_deadletter_list(store_t *s, const char *registration, int limit, json_t **out, err_t *err)
{
    if (!s->be->deadletter_list) return unsupported(s, "store_deadletter_list", err);
    return s->be->deadletter_list(s, registration, limit, out, err);
}

int store_deadletter_replay(store_t *s, int64_t id, const char *registration, int *count,
                            err_t *err)
{
    if (!s->be->deadletter_replay) return unsupported(s, "store_deadletter_replay", err);
    return s->be->deadletter_replay(s, id, registration, count, err);
}

int store_replay(store_t *s, const char *registration, int64_t since, const char *const *providers,
                 const char *const *types, size_t n, const char *order_key_path, int *count,
                 err_t *err)
{
    return store_replay_progress(s, registration, since, providers, types, n, order_key_path, NULL,
                                 NULL, count, err);
}

int store_replay_progress(store_t *s, const char *registration, int64_t since,
                          const char *const *providers, const char *const *types, size_t n,
                          const char *order_key_path, store_progress_fn progress, void *ud,
                          int *count, err_t *err)
{
    store_replay_opts o = {.registration = registration, .since = since, .providers = providers,
                           .types = types, .n = n, .order_key_path = order_key_path,
                           .progress = progress, .progress_ud = ud};
    return store_replay_range(s, &o, count, NULL, err);
}

int store_deadletter_replay_all(store_t *s, const char *registration, store_progress_fn progress,
                                void *ud, int *count, err_t *err)
{
    if (!s->be->deadletter_replay_all) return unsupported(s, "store_deadletter_replay_all", err);
    return s->be->deadletter_replay_all(s, registration, progress, ud, count, err);
}

int store_reg_info_get(store_t *s, const char *registration, store_reg_info *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    out->state = REG_ACTIVE;
    if (need_registration(registration, err) < 0) return -1;
    if (!s->be->reg_info_get) return unsupported(s, "store_reg_info_get", err);
    return s->be->reg_info_get(s, registration, out, err);
}

int store_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err)
{
    if (need_registration(registration, err) < 0) return -1;
    if (!s->be->reg_set_state) return unsupported(s, "store_reg_set_state", err);
    return s->be->reg_set_state(s, registration, st, err);
}

int store_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err)
{
    if (resumed) *resumed = 0;
    if (need_registration(registration, err) < 0) return -1;
    if (!s->be->reg_enable) return unsupported(s, "store_reg_enable", err);
    return s->be->reg_enable(s, registration, resumed, err);
}

int store_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                     int64_t *failures, err_t *err)
{
    if (!s->be->reg_window) return unsupported(s, "store_reg_window", err);
    return s->be->reg_window(s, registration, since_ms, attempts, failures, err);
}

int store_regdef_put(store_t *s, const char *name, const json_t *def, regdef_mode mode,
                     bool *existed, err_t *err)
{
    if (!s->be->regdef_put) return unsupported(s, "store_regdef_put", err);
    return s->be->regdef_put(s, name, def, mode, existed, err);
}

int store_regdef_delete(store_t *s, const char *name, bool *existed, int *dropped, err_t *err)
{
    if (!s->be->regdef_delete) return unsupported(s, "store_regdef_delete", err);
    return s->be->regdef_delete(s, name, existed, dropped, err);
}

int store_regdef_list(store_t *s, json_t **out, int64_t *generation, err_t *err)
{
    if (!s->be->regdef_list) return unsupported(s, "store_regdef_list", err);
    return s->be->regdef_list(s, out, generation, err);
}

int store_regdef_generation(store_t *s, int64_t *generation, err_t *err)
{
    if (!s->be->regdef_generation) return unsupported(s, "store_regdef_generation", err);
    return s->be->regdef_generation(s, generation, err);
}

/* A record a backend cannot keep yet is dropped with one warning, not a crash. */
static void unkept(store_t *s, const char *what)
{
    static _Atomic bool warned;
    if (!warned) {
        warned = true;
        log_warn("records are not kept on this store yet",
                 json_pack("{s:s, s:s}", "records", what, "store", s->be->name));
    }
}

void store_activation_put(store_t *s, json_t *record)
{
    if (!s->be->activation_put) {
        json_decref(record);
        unkept(s, "activations");
        return;
    }
    s->be->activation_put(s, record);
}

void store_activation_put_text(store_t *s, const store_activation_text *m, char *body)
{
    if (s->be->activation_put_text) {
        s->be->activation_put_text(s, m, body);
        return;
    }
    json_t *record = body ? json_load_kept(body, strlen(body), 0, NULL) : NULL;
    free(body);
    if (record) store_activation_put(s, record);
}

int store_activation_list(store_t *s, const char *name, int limit, json_t **out, err_t *err)
{
    if (!s->be->activation_list) return unsupported(s, "store_activation_list", err);
    return s->be->activation_list(s, name, limit, out, err);
}

int store_activation_get(store_t *s, const char *id, json_t **out, err_t *err)
{
    if (!s->be->activation_get) return unsupported(s, "store_activation_get", err);
    return s->be->activation_get(s, id, out, err);
}

int store_activation_query(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms,
                           int skip, int limit, json_t **out, err_t *err)
{
    if (!s->be->activation_query) return unsupported(s, "store_activation_query", err);
    return s->be->activation_query(s, name, since_ms, upto_ms, skip, limit, out, err);
}

int store_activation_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    if (!s->be->activation_prune) return unsupported(s, "store_activation_prune", err);
    return s->be->activation_prune(s, cutoff_ms, deleted, err);
}

void store_flush(store_t *s)
{
    s->be->flush(s);
}

void store_trace_put(store_t *s, const store_trace *t)
{
    if (!s->be->trace_put) {
        unkept(s, "delivery traces");
        return;
    }
    s->be->trace_put(s, t);
}

int store_trace_list(store_t *s, const store_trace_filter *f, json_t **out, bool *more, err_t *err)
{
    if (!s->be->trace_list) return unsupported(s, "store_trace_list", err);
    return s->be->trace_list(s, f, out, more, err);
}

int store_trace_get(store_t *s, int64_t id, json_t **out, err_t *err)
{
    if (!s->be->trace_get) return unsupported(s, "store_trace_get", err);
    return s->be->trace_get(s, id, out, err);
}

int store_trace_prune(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err)
{
    if (!s->be->trace_prune) return unsupported(s, "store_trace_prune", err);
    return s->be->trace_prune(s, cutoff_ms, keep, deleted, err);
}

int store_event_page(store_t *s, const char *provider, const char *type, int64_t since,
                     int64_t before, bool latest, int limit, json_t **out, err_t *err)
{
    if (!s->be->event_page) return unsupported(s, "store_event_page", err);
    return s->be->event_page(s, provider, type, since, before, latest, limit, out, err);
}

int store_event_detail(store_t *s, const char *id, json_t **out, err_t *err)
{
    if (!s->be->event_detail) return unsupported(s, "store_event_detail", err);
    return s->be->event_detail(s, id, out, err);
}

int store_state_get(store_t *s, const char *key, json_t **value, err_t *err)
{
    if (!s->be->state_get) return unsupported(s, "store_state_get", err);
    return s->be->state_get(s, key, value, err);
}

int store_state_put(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err)
{
    if (!s->be->state_put) return unsupported(s, "store_state_put", err);
    return s->be->state_put(s, key, value, ttl_ms, err);
}

int store_state_delete(store_t *s, const char *key, bool *existed, err_t *err)
{
    if (!s->be->state_delete) return unsupported(s, "store_state_delete", err);
    return s->be->state_delete(s, key, existed, err);
}

int store_io_provider_put(store_t *s, const json_t *rec, bool *conflict, err_t *err)
{
    if (!s->be->io_provider_put) return unsupported(s, "store_io_provider_put", err);
    return s->be->io_provider_put(s, rec, conflict, err);
}

int store_io_provider_list(store_t *s, json_t **out, err_t *err)
{
    if (!s->be->io_provider_list) return unsupported(s, "store_io_provider_list", err);
    return s->be->io_provider_list(s, out, err);
}

int store_io_provider_get(store_t *s, const char *id_or_key, json_t **rec, err_t *err)
{
    if (!s->be->io_provider_get) return unsupported(s, "store_io_provider_get", err);
    return s->be->io_provider_get(s, id_or_key, rec, err);
}

int store_io_reg_put(store_t *s, const char *scope, const json_t *rec, bool *conflict, int64_t *id,
                     err_t *err)
{
    if (!s->be->io_reg_put) return unsupported(s, "store_io_reg_put", err);
    return s->be->io_reg_put(s, scope, rec, conflict, id, err);
}

int store_io_reg_list(store_t *s, const char *scope, json_t **out, err_t *err)
{
    if (!s->be->io_reg_list) return unsupported(s, "store_io_reg_list", err);
    return s->be->io_reg_list(s, scope, out, err);
}

int store_key_get(store_t *s, const char *name, unsigned char *out, size_t len, err_t *err)
{
    if (!s->be->key_get) return unsupported(s, "store_key_get", err);
    return s->be->key_get(s, name, out, len, err);
}

int store_trigger_get(store_t *s, const char *name, int64_t now, store_trigger_rec *out,
                      err_t *err)
{
    if (!s->be->trigger_get) return unsupported(s, "store_trigger_get", err);
    return s->be->trigger_get(s, name, now, out, err);
}

int store_trigger_claim(store_t *s, const char *name, int64_t slot_ms, const char *activation_id,
                        bool *claimed, err_t *err)
{
    *claimed = false;
    if (!s->be->trigger_claim) return unsupported(s, "store_trigger_claim", err);
    return s->be->trigger_claim(s, name, slot_ms, activation_id, claimed, err);
}

int store_trigger_done(store_t *s, const char *name, const char *activation_id, err_t *err)
{
    if (!s->be->trigger_done) return unsupported(s, "store_trigger_done", err);
    return s->be->trigger_done(s, name, activation_id, err);
}

int store_rollup_sample(store_t *s, int64_t now, int64_t keep_ms, err_t *err)
{
    if (!s->be->rollup_sample) return unsupported(s, "store_rollup_sample", err);
    return s->be->rollup_sample(s, now, keep_ms, err);
}

int store_rollup_read(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                      err_t *err)
{
    *out = NULL;
    if (!s->be->rollup_read) return unsupported(s, "store_rollup_read", err);
    return s->be->rollup_read(s, registration, since_ms, out, err);
}

int store_state_entry(store_t *s, const char *key, json_t **value, int64_t *expires_ms, err_t *err)
{
    if (!s->be->state_entry) return unsupported(s, "store_state_entry", err);
    return s->be->state_entry(s, key, value, expires_ms, err);
}

int store_state_count(store_t *s, int64_t *n, err_t *err)
{
    if (!s->be->state_count) return unsupported(s, "store_state_count", err);
    return s->be->state_count(s, n, err);
}

int store_state_clear(store_t *s, int64_t *n, err_t *err)
{
    if (!s->be->state_clear) return unsupported(s, "store_state_clear", err);
    return s->be->state_clear(s, n, err);
}

void store_stats_get(store_t *s, store_stats *out)
{
    s->be->stats_get(s, out);
}

int store_size_get(store_t *s, store_size *out, err_t *err)
{
    if (!s->be->size_get) return unsupported(s, "store_size_get", err);
    return s->be->size_get(s, out, err);
}

