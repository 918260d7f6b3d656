/* nats_journal: the journal on JetStream: provider ids, appending an event
 * with its deliveries (the 200 after JetStream's acks), idempotency keys,
 * reading by position, events by id, replay. docs/jetstream.md says why. */
#include "store/nats/nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonpath.h"
#include "core/vec.h"

#define DEFAULT_LIMIT 100
#define REPLAY_PAGE 256

/* ---- providers ---- */

int js_provider_find(store_t *s, const char *key, char out[37], bool *found, err_t *err)
{
    js_t *j = JS(s);
    out[0] = '\0';
    *found = false;
    if (!key || !*key) return err_code(err, EVK_INVALID, "provider key is required");
    char *k = js_token_in("provider.", key, "");
    json_t *v = NULL;
    int rc = js_kv_get_json(j, j->meta, k, &v, NULL, err);
    free(k);
    const char *id = json_string_value(json_object_get(v, "id"));
    if (rc == 0 && id && strlen(id) == 36) {
        memcpy(out, id, 37);
        *found = true;
    }
    json_decref(v);
    return rc;
}

int js_provider_id(store_t *s, const char *key, char out[37], err_t *err)
{
    js_t *j = JS(s);
    bool found;
    for (int tries = 0; tries < 3; tries++) {
        if (js_provider_find(s, key, out, &found, err) < 0) return -1;
        if (found) return 0;
        /* Create-if-absent: of two nodes creating it at once, one wins and
         * the other reads the winner's id on its next turn. */
        char uuid[37];
        uuid_v4(uuid);
        char *k = js_token_in("provider.", key, "");
        json_t *v = json_pack("{s:s, s:s}", "id", uuid, "key", key);
        bool lost = false;
        int rc = js_kv_put_json(j, j->meta, k, v, 0, true, &lost, err);
        json_decref(v);
        free(k);
        if (rc < 0) return -1;
        if (!lost) {
            memcpy(out, uuid, 37);
            return 0;
        }
    }
    return err_code(err, EVK_UNAVAILABLE, "provider '%s': its id keeps changing", key);
}

/* ---- reading one event ---- */

static json_t *msg_json(natsMsg *m)
{
    json_error_t je;
    return json_load_kept(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je);
}

int js_event_at(js_t *j, uint64_t seq, json_t **out, err_t *err)
{
    *out = NULL;
    natsMsg *m = NULL;
    int found = js_msg_at(j, JS_EVENTS, seq, "cannot read the journal", &m, err);
    if (found <= 0) return found;
    *out = msg_json(m);
    natsMsg_Destroy(m);
    return 0;
}

/* The next event message with a sequence >= from on subject (a filter with
 * wildcards), NULL in *m at the end. */
static int next_event(js_t *j, uint64_t from, const char *subject, natsMsg **m, err_t *err)
{
    int found = js_next_msg(j, JS_EVENTS, from, subject, "cannot read the journal", m, err);
    return found < 0 ? -1 : 0;
}

/* ---- append ---- */

static char *event_subject(const char *provider, const char *type)
{
    char *p = js_token(provider), *t = js_token(type);
    char *subject = xasprintf("evkit.event.%s.%s", p, t);
    free(p);
    free(t);
    return subject;
}

/* The deliveries of the event at position, each deduplicated by
 * "<position>.<registration>" (a retried append publishes them again). */
static int publish_deliveries(js_t *j, const store_event_in *ev, const json_t *ce,
                              int64_t position, err_t *err)
{
    for (size_t i = 0; i < ev->ndeliveries; i++) {
        const store_delivery_spec *d = &ev->deliveries[i];
        char *msg_id = xasprintf("%lld.%s", (long long)position, d->registration);
        int rc =
            js_publish_delivery(j, d->registration, d->order_key, ce, position, msg_id, 0, err);
        free(msg_id);
        if (rc < 0) return -1;
    }
    return 0;
}

/* What a key stored before, from the bucket (the 24 h promise). */
static int dedup_lookup(js_t *j, const char *hash, store_append_result *res, err_t *err)
{
    json_t *v = NULL;
    if (js_kv_get_json(j, j->dedup, hash, &v, NULL, err) < 0) return -1;
    const char *id = json_string_value(json_object_get(v, "id"));
    if (id) {
        snprintf(res->id, sizeof res->id, "%s", id);
        res->position = json_integer_value(json_object_get(v, "position"));
        res->duplicate = true;
    }
    json_decref(v);
    return 0;
}

/* After the publish: the deliveries, the id index, the key (in that order:
 * a key in the bucket means everything before it is stored). */
static int append_rest(js_t *j, const store_event_in *ev, const char *hash,
                       store_append_result *res, const json_t *ce, err_t *err)
{
    if (publish_deliveries(j, ev, ce, res->position, err) < 0) return -1;
    char pos[24];
    snprintf(pos, sizeof pos, "%lld", (long long)res->position);
    natsStatus s;
    int64_t deadline = 0;
    /* Through an election too: a client answered 503 here would publish
     * an event without a key a second time. */
    do s = kvStore_PutString(NULL, j->eventids, res->id, pos);
    while (js_retry_idem(j, s, &deadline));
    if (s != NATS_OK) return js_fail(err, s, "cannot index the event id");
    for (size_t i = 0; i < ev->nfiltered; i++)
        if (js_reg_count_filtered(j, ev->filtered[i], err) < 0) return -1;
    if (hash) {
        json_t *v = json_pack("{s:s, s:I}", "id", res->id, "position", (json_int_t)res->position);
        int rc = js_kv_put_json(j, j->dedup, hash, v, 0, false, NULL, err);
        json_decref(v);
        if (rc < 0) return -1;
    }
    return 0;
}

int js_append(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err)
{
    js_t *j = JS(s);
    memset(res, 0, sizeof *res);
    if (store_event_in_check(ev, err) < 0) return -1;
    char uuid[37], id[37], hash[65];
    if (js_provider_id(s, ev->provider, uuid, err) < 0) return -1;
    if (ev->idempotency_key) {
        js_hash2(ev->provider, ev->idempotency_key, hash);
        if (dedup_lookup(j, hash, res, err) < 0) return -1;
        if (res->duplicate) return 0;
    }
    char *body = store_cloudevent_text(ev, uuid, id, now_ms(), err);
    if (!body) return -1;
    char *subject = event_subject(ev->provider, ev->type);
    const char *headers[] = {"Evkit-Provider", ev->provider, NULL};
    uint64_t seq = 0;
    bool dup = false;
    int rc = js_publish(j, subject, body, ev->idempotency_key ? hash : id, headers,
                        "JetStream did not take the message", &seq, &dup, err);
    free(subject);
    json_t *ce = NULL;
    if (rc == 0 && dup) {
        /* The stream's window caught the key: the original event, whose
         * deliveries are published again in case its node died before. */
        rc = js_event_at(j, seq, &ce, err);
        if (rc == 0 && !ce) rc = err_code(err, EVK_INTERNAL, "a duplicate of a pruned event");
        if (rc == 0) snprintf(id, sizeof id, "%s", json_string_value(json_object_get(ce, "id")));
    } else if (rc == 0) {
        json_error_t je;
        ce = json_load_kept(body, strlen(body), 0, &je);
    }
    free(body);
    if (rc == 0) {
        snprintf(res->id, sizeof res->id, "%s", id);
        res->position = (int64_t)seq;
        res->duplicate = dup;
        rc = append_rest(j, ev, ev->idempotency_key ? hash : NULL, res, ce, err);
    }
    json_decref(ce);
    if (rc < 0) {
        memset(res, 0, sizeof *res);
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    j->stats.ops++;
    j->stats.commits++;
    if (!dup) j->stats.events++;
    pthread_mutex_unlock(&j->mu);
    if (ev->ndeliveries) js_kick_all(j);
    return 0;
}

/* ---- reading ---- */

typedef struct {
    const char *const *providers, *const *types;
    size_t n;                    /* 0: every event */
    int limit;
    size_t max_bytes;            /* 0: no bound */
} read_filter;

/* The provider of an event message (its header), and whether f takes it. */
static bool filter_takes(const read_filter *f, natsMsg *m, const json_t *ev)
{
    if (f->n == 0) return true;
    const char *provider = NULL;
    if (natsMsgHeader_Get(m, "Evkit-Provider", &provider) != NATS_OK) return false;
    const char *type = json_string_value(json_object_get(ev, "type"));
    return type && store_pair_match(provider, type, f->providers, f->types, f->n);
}

static int read_page(js_t *j, const char *subject, int64_t since, const read_filter *f,
                     json_t **out, err_t *err)
{
    json_t *arr = json_array();
    size_t bytes = 0;
    uint64_t from = (uint64_t)(since < 0 ? 0 : since) + 1;
    while ((int)json_array_size(arr) < f->limit) {
        natsMsg *m = NULL;
        if (next_event(j, from, subject, &m, err) < 0) {
            json_decref(arr);
            return -1;
        }
        if (!m) break;
        uint64_t seq = natsMsg_GetSequence(m);
        json_t *ev = msg_json(m);
        int len = natsMsg_GetDataLength(m);
        bool take = ev && filter_takes(f, m, ev);
        natsMsg_Destroy(m);
        if (seq < from) { /* a server that ignored the sequence: stop, never loop */
            json_decref(ev);
            break;
        }
        from = seq + 1;
        if (!take) {
            json_decref(ev);
            continue;
        }
        if (f->max_bytes && json_array_size(arr) > 0 && bytes + (size_t)len > f->max_bytes) {
            json_decref(ev);
            break;
        }
        bytes += (size_t)len;
        json_array_append_new(arr,
                              json_pack("{s:I, s:o}", "position", (json_int_t)seq, "event", ev));
    }
    *out = arr;
    return 0;
}

int js_read(store_t *s, const char *provider, int64_t since, int limit, json_t **out, err_t *err)
{
    *out = NULL;
    char *subject =
        provider ? js_token_in("evkit.event.", provider, ".*") : xstrdup("evkit.event.>");
    read_filter f = {.limit = limit > 0 ? limit : DEFAULT_LIMIT};
    int rc = read_page(JS(s), subject, since, &f, out, err);
    free(subject);
    return rc;
}

int js_read_matching(store_t *s, const char *const *providers, const char *const *types,
                     size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                     err_t *err)
{
    *out = NULL;
    if (n == 0) {
        *out = json_array();
        return 0;
    }
    /* One pair reads one subject; one provider its subjects; else all. */
    bool one_provider = providers[0] != NULL;
    for (size_t i = 1; i < n && one_provider; i++)
        one_provider = providers[i] && !strcmp(providers[i], providers[0]);
    char *subject;
    if (n == 1 && providers[0] && types[0]) subject = event_subject(providers[0], types[0]);
    else if (one_provider) subject = js_token_in("evkit.event.", providers[0], ".*");
    else subject = xstrdup("evkit.event.>");
    read_filter f = {.providers = providers, .types = types, .n = n,
                     .limit = limit > 0 ? limit : DEFAULT_LIMIT, .max_bytes = max_bytes};
    int rc = read_page(JS(s), subject, since, &f, out, err);
    free(subject);
    return rc;
}

static int stream_state(js_t *j, const char *stream, jsStreamState *st, err_t *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, j->js, stream, NULL, &jerr);
    if (s != NATS_OK) return js_fail(err, s, stream);
    st->FirstSeq = si->State.FirstSeq;
    st->LastSeq = si->State.LastSeq;
    st->Msgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return 0;
}

int js_journal_floor(store_t *s, int64_t *floor, err_t *err)
{
    js_t *j = JS(s);
    jsStreamState st = {0};
    if (stream_state(j, JS_EVENTS, &st, err) < 0) return -1;
    /* An empty stream reports first = last + 1. */
    *floor = st.FirstSeq > 0 ? (int64_t)st.FirstSeq - 1 : 0;
    /* Retention may keep an event with unsettled deliveries below what it
     * removed: the floor it recorded counts then. */
    json_t *v = NULL;
    if (js_kv_get_json(j, j->meta, "journal_floor", &v, NULL, err) < 0) return -1;
    int64_t kept = json_integer_value(v);
    json_decref(v);
    if (kept > *floor) *floor = kept;
    return 0;
}

/* ---- retention ---- */

/* Positions that unsettled deliveries and dead letters still refer to,
 * sorted, from every message of those two streams. */
typedef VEC(int64_t) pos_vec;

static int referenced(js_t *j, const char *stream, bool header, pos_vec *out, err_t *err)
{
    jsStreamState st = {0};
    if (stream_state(j, stream, &st, err) < 0) return -1;
    for (uint64_t seq = st.FirstSeq; seq > 0 && seq <= st.LastSeq;) {
        natsMsg *m = NULL;
        int found = js_next_msg(j, stream, seq, ">", stream, &m, err);
        if (found < 0) return -1;
        if (found == 0) break;
        int64_t pos = 0;
        const char *h = NULL;
        if (header && natsMsgHeader_Get(m, "Evkit-Position", &h) == NATS_OK) {
            pos = strtoll(h, NULL, 10);
        } else if (!header) {
            json_t *rec = msg_json(m);
            pos = json_integer_value(json_object_get(rec, "position"));
            json_decref(rec);
        }
        if (pos > 0) VEC_PUSH(out, pos);
        uint64_t at = natsMsg_GetSequence(m);
        natsMsg_Destroy(m);
        if (at < seq) break;
        seq = at + 1;
    }
    return 0;
}

static int cmp_pos(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Removes events below upto except those in keep (sorted); *gone counts. */
static int remove_events(js_t *j, uint64_t first, uint64_t upto, const pos_vec *keep,
                         int64_t *gone, err_t *err)
{
    size_t k = 0;
    for (uint64_t seq = first; seq < upto; seq++) {
        while (k < keep->n && keep->v[k] < (int64_t)seq) k++;
        if (k < keep->n && keep->v[k] == (int64_t)seq) continue;
        json_t *ev = NULL;
        if (js_event_at(j, seq, &ev, err) < 0) return -1;
        if (!ev) continue;
        const char *id = json_string_value(json_object_get(ev, "id"));
        if (id) kvStore_Delete(j->eventids, id);
        json_decref(ev);
        jsErrCode jerr = 0;
        natsStatus s = js_DeleteMsg(j->js, JS_EVENTS, seq, NULL, &jerr);
        if (s != NATS_OK && s != NATS_NOT_FOUND) return js_fail(err, s, "cannot remove an event");
        if (s == NATS_OK) (*gone)++;
    }
    return 0;
}

int js_journal_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    js_t *j = JS(s);
    int64_t gone = 0;
    if (deleted) *deleted = 0;
    int64_t before = 0;
    if (js_position_before(s, cutoff_ms, &before, err) < 0) return -1;
    jsStreamState st = {0};
    if (stream_state(j, JS_EVENTS, &st, err) < 0) return -1;
    if (before <= 0 || (uint64_t)before < st.FirstSeq) return 0;
    pos_vec keep = {0};
    int rc = referenced(j, JS_DELIVERIES, true, &keep, err);
    if (rc == 0) rc = referenced(j, JS_DEAD, false, &keep, err);
    if (rc == 0) {
        if (keep.n) qsort(keep.v, keep.n, sizeof *keep.v, cmp_pos);
        rc = remove_events(j, st.FirstSeq, (uint64_t)before + 1, &keep, &gone, err);
    }
    free(keep.v);
    if (rc == 0) {
        json_t *v = json_integer(before);
        rc = js_kv_put_json(j, j->meta, "journal_floor", v, 0, false, NULL, err);
        json_decref(v);
    }
    if (deleted) *deleted = gone;
    return rc;
}

int js_position_before(store_t *s, int64_t time_ms, int64_t *pos, err_t *err)
{
    js_t *j = JS(s);
    *pos = 0;
    jsStreamState st = {0};
    if (stream_state(j, JS_EVENTS, &st, err) < 0) return -1;
    /* Binary search over sequences by the stored time (monotonic enough:
     * the server stamps messages as it stores them). */
    uint64_t lo = st.FirstSeq, hi = st.LastSeq;
    int64_t found = 0;
    while (lo <= hi && lo > 0) {
        uint64_t mid = lo + (hi - lo) / 2;
        natsMsg *m = NULL;
        if (next_event(j, mid, "evkit.event.>", &m, err) < 0) return -1;
        if (!m) {
            if (mid == 0) break;
            hi = mid - 1;
            continue;
        }
        uint64_t seq = natsMsg_GetSequence(m);
        int64_t t = natsMsg_GetTime(m) / 1000000;
        natsMsg_Destroy(m);
        if (t < time_ms) {
            found = (int64_t)seq;
            lo = seq + 1;
        } else {
            if (mid == 0) break;
            hi = mid - 1;
        }
    }
    *pos = found;
    return 0;
}

int js_event_get(store_t *s, const char *id, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    uint64_t seq = 0;
    int found = js_index_seq(j->eventids, id, "cannot look the event up", &seq, err);
    if (found <= 0) return found;
    return js_event_at(j, seq, out, err);
}

/* ---- replay ---- */

/* One page of the replay: its events in the range that keep takes become
 * deliveries (with dry, are only counted); *at moves to the last position
 * read, *done when the range or the journal ends. */
static int replay_page(js_t *j, const store_replay_opts *o, bool dry, int64_t *at, bool *done,
                       int *count, int *skipped, err_t *err)
{
    json_t *page = NULL;
    if (js_read_matching(&j->base, o->providers, o->types, o->n, *at, REPLAY_PAGE, 0, &page,
                         err) < 0)
        return -1;
    const char *path = o->order_key_path && *o->order_key_path ? o->order_key_path : NULL;
    int64_t until = o->until > 0 ? o->until : INT64_MAX;
    *done = json_array_size(page) < REPLAY_PAGE;
    size_t i;
    json_t *row;
    int rc = 0;
    json_array_foreach(page, i, row) {
        json_t *ev = json_object_get(row, "event");
        int64_t pos = json_integer_value(json_object_get(row, "position"));
        if (pos > until) {
            *done = true;
            break;
        }
        *at = pos;
        if (o->keep && !o->keep(o->keep_ud, ev)) {
            if (skipped && !dry) (*skipped)++;
            continue;
        }
        char *key = path && !dry ? json_path_string(ev, path) : NULL;
        if (!dry) rc = js_publish_delivery(j, o->registration, key, ev, pos, NULL, 0, err);
        free(key);
        if (rc < 0) break;
        (*count)++;
    }
    json_decref(page);
    return rc;
}

int js_replay_range(store_t *s, const store_replay_opts *o, int *count, int *skipped,
                    err_t *err)
{
    js_t *j = JS(s);
    int64_t since = o->since < 0 ? 0 : o->since, at = since;
    store_replay_opts range = *o;
    int total = -1;
    bool none = false;            /* the count read nothing: nothing to replay */
    if (o->progress) {
        /* A first pass counts, as the SQLite store scans first: the progress
         * has its total, and the replay ends where the count did. */
        total = 0;
        for (bool done = false; !done;)
            if (replay_page(j, o, true, &at, &done, &total, NULL, err) < 0) return -1;
        none = at == since;
        range.until = at;
        at = since;
        o->progress(o->progress_ud, 0, total);
    }
    for (bool done = none; !done;) {
        if (replay_page(j, &range, false, &at, &done, count, skipped, err) < 0) return -1;
        if (o->progress) o->progress(o->progress_ud, *count, total);
    }
    if (*count) js_kick_all(j);
    return 0;
}
