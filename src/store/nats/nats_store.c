/* nats_store: the JetStream backend's connection: connecting with the
 * options libnats takes, checking that JetStream answers, creating evkit's
 * streams and buckets when missing (and refusing ones whose config evkit
 * cannot use), the work signal shared by every node, and closing. */
#include "store/nats/nats_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/vec.h"

#define NS_PER_MS 1000000LL
#define DEDUP_TTL_MS (24LL * 3600 * 1000)
#define HEALTH_TTL_MS (25LL * 3600 * 1000)
#define POLL_MS 250
/* The id index outlives any activation retention one would set. */
#define ACTIDS_TTL_MS (30LL * 24 * 3600 * 1000)
/* Run tokens matter within the duplicate window (2 min, the default) after
 * a delivery; the stream keeps them a little longer. */
#define RUNS_AGE_MS (5LL * 60 * 1000)

static const store_backend NATS_BACKEND;

int js_fail(err_t *err, natsStatus s, const char *what)
{
    natsStatus last = NATS_OK;
    const char *detail = nats_GetLastError(&last);
    evk_status code = EVK_INTERNAL;
    if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED ||
        s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED || s == NATS_IO_ERROR ||
        s == NATS_STALE_CONNECTION)
        code = EVK_UNAVAILABLE;
    else if (s == NATS_NOT_FOUND)
        code = EVK_NOT_FOUND;
    /* A server out of disk or over its limits: a full disk, as on SQLite
     * (the server's own text names its files: not passed on). */
    if (detail && (strstr(detail, "no space left") || strstr(detail, "insufficient resources") ||
                   strstr(detail, "resources exceeded")))
        return err_code(err, EVK_UNAVAILABLE,
                        "%s: the disk is full or JetStream's limits are reached on the NATS "
                        "server", what);
    /* Also what a full disk leads to: nats-server 2.9's JetStream then answers
     * nothing until the server is restarted. */
    if (s == NATS_TIMEOUT)
        return err_code(err, code,
                        "%s: the NATS server did not answer in time (JetStream busy, electing a "
                        "leader, or stopped: nats-server 2.9 stops it on a full disk until it is "
                        "restarted)", what);
    if (detail && *detail && strcmp(detail, natsStatus_GetText(s)) != 0)
        return err_code(err, code, "%s: %s (%s)", what, natsStatus_GetText(s), detail);
    return err_code(err, code, "%s: %s", what, natsStatus_GetText(s));
}

int js_index_seq(kvStore *ids, const char *id, const char *what, uint64_t *seq, err_t *err)
{
    if (!id || !*id) return 0;
    kvEntry *e = NULL;
    natsStatus st = kvStore_Get(&e, ids, id);
    if (st == NATS_NOT_FOUND) return 0;
    if (st != NATS_OK) return js_fail(err, st, what);
    *seq = strtoull(kvEntry_ValueString(e), NULL, 10);
    kvEntry_Destroy(e);
    return 1;
}

int js_msg_at(js_t *j, const char *stream, uint64_t seq, const char *what, natsMsg **m,
              err_t *err)
{
    *m = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetMsg(m, j->js, stream, seq, NULL, &jerr);
    if (st == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) return 0;
    if (st != NATS_OK) return js_fail(err, st, what);
    return 1;
}

int js_next_msg(js_t *j, const char *stream, uint64_t seq, const char *subject, const char *what,
                natsMsg **m, err_t *err)
{
    *m = NULL;
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = seq;
    o.NextBySubject = subject;
    natsStatus st = js_DirectGetMsg(m, j->js, stream, NULL, &o);
    if (st == NATS_NOT_FOUND) return 0;
    if (st != NATS_OK) return js_fail(err, st, what);
    return 1;
}

int js_publish(js_t *j, const char *subject, const char *body, const char *msg_id,
               const char *const *headers, const char *what, uint64_t *seq, bool *dup,
               err_t *err)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, body, (int)strlen(body));
    for (int i = 0; s == NATS_OK && headers && headers[i]; i += 2)
        if (headers[i + 1]) s = natsMsgHeader_Set(m, headers[i], headers[i + 1]);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    int64_t deadline = 0;
    if (s == NATS_OK) {
        /* Deduplicated by msg_id: a retry never stores it twice, so a
         * timeout (a leader elected meanwhile) is sent again too. */
        do s = js_PublishMsg(&ack, j->js, m, &po, &jerr);
        while (msg_id ? js_retry_idem(j, s, &deadline) : js_retry_wait(j, s, &deadline));
    }
    natsMsg_Destroy(m);
    if (s != NATS_OK) {
        jsPubAck_Destroy(ack);
        return js_fail(err, s, what);
    }
    if (seq) *seq = ack->Sequence;
    if (dup) *dup = ack->Duplicate;
    jsPubAck_Destroy(ack);
    return 0;
}

int js_first_to(js_t *j, const char *subject, const char *msg_id, err_t *err)
{
    char body[64];
    snprintf(body, sizeof body, "%s.%llu", j->node_id, (unsigned long long)++j->runs);
    uint64_t at = 0;
    bool dup = false;
    if (js_publish(j, subject, body, msg_id, NULL, "cannot take the work", &at, &dup, err) < 0)
        return -1;
    if (!dup) return 1;
    /* A duplicate may be this node's own publish, sent again after a
     * timeout: the stored body says whose it is. */
    natsMsg *tok = NULL;
    int found = js_msg_at(j, JS_RUNS, at, "cannot check whose the work is", &tok, err);
    if (found <= 0) return found;
    size_t len = strlen(body);
    int mine = (size_t)natsMsg_GetDataLength(tok) == len && !memcmp(natsMsg_GetData(tok), body, len);
    natsMsg_Destroy(tok);
    return mine;
}

void js_sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    json_t **v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, cmp);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, v[i]);
    free(v);
}

/* ---- connecting ---- */

static void on_kick(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    js_t *j = closure;
    natsMsg_Destroy(msg);
    store_signal_kick(&j->work);
}

/* The servers of url, split at commas (spaces dropped), for
 * natsOptions_SetServers: *n of them, freed with free_servers. */
static char **server_list(const char *url, int *n)
{
    char *copy = xstrdup(url), *save = NULL;
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        VEC_GROW(v, cap, (size_t)*n + 1);
        v[(*n)++] = xstrdup(t);
    }
    free(copy);
    return v;
}

static void free_servers(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int set_options(natsOptions *no, const store_opts *o, int64_t timeout, err_t *err)
{
    int n = 0;
    char **servers = server_list(o->url, &n);
    natsStatus s = natsOptions_SetServers(no, (const char **)servers, n);
    free_servers(servers, n);
    if (s == NATS_OK) s = natsOptions_SetName(no, "evkit");
    if (s == NATS_OK) s = natsOptions_SetTimeout(no, timeout);
    /* Once connected, keep reconnecting: a server restart is not an outage. */
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(no, 250);
    if (s == NATS_OK && o->token) s = natsOptions_SetToken(no, o->token);
    if (s == NATS_OK && o->creds) s = natsOptions_SetUserCredentialsFromFiles(no, o->creds, NULL);
    bool tls = o->tls_ca || o->tls_cert || !strncmp(o->url, "tls://", 6);
    if (s == NATS_OK && tls) s = natsOptions_SetSecure(no, true);
    if (s == NATS_OK && o->tls_ca) s = natsOptions_LoadCATrustedCertificates(no, o->tls_ca);
    if (s == NATS_OK && (o->tls_cert || o->tls_key)) {
        if (!o->tls_cert || !o->tls_key)
            return err_code(err, EVK_INVALID,
                            "EVKIT_STORE_TLS_CERT and EVKIT_STORE_TLS_KEY go together");
        s = natsOptions_LoadCertificatesChain(no, o->tls_cert, o->tls_key);
    }
    if (s != NATS_OK) return js_fail(err, s, "NATS options (credentials or TLS files)");
    return 0;
}

static int js_connect(js_t *j, const store_opts *o, err_t *err)
{
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s != NATS_OK) return js_fail(err, s, "NATS options");
    int rc = set_options(no, o, j->timeout_ms, err);
    if (rc == 0) {
        s = natsConnection_Connect(&j->nc, no);
        if (s == NATS_NO_SERVER || s == NATS_TIMEOUT)
            rc = err_code(err, EVK_UNAVAILABLE, "no NATS server answers (%s)",
                          natsStatus_GetText(s));
        else if (s != NATS_OK)
            rc = js_fail(err, s, "cannot connect to NATS");
    }
    natsOptions_Destroy(no);
    if (rc < 0) return -1;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = j->timeout_ms;
    s = natsConnection_JetStream(&j->js, j->nc, &jo);
    if (s != NATS_OK) return js_fail(err, s, "JetStream context");
    jsAccountInfo *ai = NULL;
    jsErrCode jerr = 0;
    s = js_GetAccountInfo(&ai, j->js, NULL, &jerr);
    if (s != NATS_OK) {
        /* Nobody serves JetStream's API: it is off. */
        if (s == NATS_NO_RESPONDERS || jerr == JSNotEnabledErr ||
            jerr == JSNotEnabledForAccountErr)
            return err_code(err, EVK_UNAVAILABLE,
                            "JetStream is not enabled on the NATS server (start it with -js "
                            "or a jetstream block in its config)");
        /* Served but not answered: a clustered JetStream without a leader. */
        if (s == NATS_TIMEOUT || jerr == JSClusterNotAvailErr)
            return err_code(err, EVK_UNAVAILABLE,
                            "JetStream on the NATS server did not answer within %lld ms: a "
                            "JetStream cluster answers once most of its servers are up and "
                            "have elected a leader (are they?)",
                            (long long)j->timeout_ms);
        return js_fail(err, s, "JetStream account info");
    }
    jsAccountInfo_Destroy(ai);
    return 0;
}

/* 3 replicas when the client knows of 3 servers or more (given and
 * discovered), else 1, unless EVKIT_STORE_REPLICAS says. */
static int replicas_of(js_t *j, int asked)
{
    if (asked > 0) return asked;
    char **servers = NULL;
    int n = 0;
    if (natsConnection_GetServers(j->nc, &servers, &n) != NATS_OK) return 1;
    for (int i = 0; i < n; i++) free(servers[i]);
    free(servers);
    return n >= 3 ? 3 : 1;
}

/* ---- streams and buckets ---- */

static const char *retention_name(jsRetentionPolicy r)
{
    return r == js_WorkQueuePolicy ? "work queue" : r == js_InterestPolicy ? "interest" : "limits";
}

/* The existing stream's config against what evkit needs: the same
 * retention, storage and subjects. */
static int stream_compatible(const jsStreamConfig *have, const jsStreamConfig *want, err_t *err)
{
    if (have->Retention != want->Retention)
        return err_code(err, EVK_CONFLICT,
                        "stream %s exists with %s retention; evkit needs %s (delete the stream "
                        "or give evkit its own account)",
                        want->Name, retention_name(have->Retention),
                        retention_name(want->Retention));
    if (have->Storage != want->Storage)
        return err_code(err, EVK_CONFLICT, "stream %s exists with memory storage; evkit needs file",
                        want->Name);
    if (have->SubjectsLen != 1 || strcmp(have->Subjects[0], want->Subjects[0]) != 0)
        return err_code(err, EVK_CONFLICT, "stream %s exists with other subjects; evkit needs '%s'",
                        want->Name, want->Subjects[0]);
    return 0;
}

static int ensure_stream(js_t *j, const char *name, const char *subject, jsRetentionPolicy ret,
                         int64_t max_age_ms, err_t *err)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {subject};
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = ret;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = j->replicas;
    cfg.AllowDirect = true;
    cfg.MaxAge = max_age_ms * NS_PER_MS;
    for (int tries = 0; tries < 3; tries++) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetStreamInfo(&si, j->js, name, NULL, &jerr);
        if (s == NATS_OK) {
            int rc = stream_compatible(si->Config, &cfg, err);
            jsStreamInfo_Destroy(si);
            return rc;
        }
        if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
            return js_fail(err, s, name);
        s = js_AddStream(&si, j->js, &cfg, NULL, &jerr);
        if (s == NATS_OK) {
            jsStreamInfo_Destroy(si);
            return 0;
        }
        /* Another node created it meanwhile: look again. */
        if (jerr != JSStreamNameExistErr) return js_fail(err, s, name);
    }
    return err_code(err, EVK_UNAVAILABLE, "stream %s: created and gone again", name);
}

static int ensure_bucket(js_t *j, kvStore **out, const char *bucket, int64_t ttl_ms, err_t *err)
{
    natsStatus s = js_KeyValue(out, j->js, bucket);
    if (s == NATS_OK) return 0;
    if (s != NATS_NOT_FOUND) return js_fail(err, s, bucket);
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket;
    cfg.History = 1;
    cfg.TTL = ttl_ms * NS_PER_MS;
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = j->replicas;
    s = js_CreateKeyValue(out, j->js, &cfg);
    if (s != NATS_OK) s = js_KeyValue(out, j->js, bucket); /* another node's */
    if (s != NATS_OK) return js_fail(err, s, bucket);
    return 0;
}

static int ensure_all(js_t *j, err_t *err)
{
    if (ensure_stream(j, JS_EVENTS, "evkit.event.>", js_LimitsPolicy, 0, err) < 0 ||
        ensure_stream(j, JS_DELIVERIES, "evkit.dlv.>", js_WorkQueuePolicy, 0, err) < 0 ||
        ensure_stream(j, JS_DEAD, "evkit.dead.>", js_LimitsPolicy, 0, err) < 0 ||
        ensure_stream(j, "EVKIT_ACTIVATIONS", "evkit.act.>", js_LimitsPolicy, 0, err) < 0 ||
        ensure_stream(j, "EVKIT_TRACES", "evkit.trace.>", js_LimitsPolicy, 0, err) < 0 ||
        ensure_stream(j, JS_HEALTH, "evkit.health.>", js_LimitsPolicy, HEALTH_TTL_MS, err) < 0 ||
        ensure_stream(j, JS_SPANS, "evkit.span.>", js_LimitsPolicy, 0, err) < 0 ||
        ensure_stream(j, JS_RUNS, "evkit.run.>", js_LimitsPolicy, RUNS_AGE_MS, err) < 0 ||
        ensure_stream(j, JS_COUNTS, "evkit.count.>", js_LimitsPolicy, 0, err) < 0)
        return -1;
    if (ensure_bucket(j, &j->eventids, KV_EVENTIDS, 0, err) < 0 ||
        ensure_bucket(j, &j->dedup, KV_DEDUP, DEDUP_TTL_MS, err) < 0 ||
        ensure_bucket(j, &j->attempts, KV_ATTEMPTS, 0, err) < 0 ||
        ensure_bucket(j, &j->regs, KV_REGS, 0, err) < 0 ||
        ensure_bucket(j, &j->health, KV_HEALTH, HEALTH_TTL_MS, err) < 0 ||
        ensure_bucket(j, &j->state, KV_STATE, 0, err) < 0 ||
        ensure_bucket(j, &j->meta, KV_META, 0, err) < 0 ||
        ensure_bucket(j, &j->actids, KV_ACTIDS, ACTIDS_TTL_MS, err) < 0 ||
        ensure_bucket(j, &j->settled, KV_SETTLED, ACTIDS_TTL_MS, err) < 0)
        return -1;
    natsStatus s = natsConnection_Subscribe(&j->kick_sub, j->nc, JS_KICK_SUBJECT, on_kick, j);
    if (s != NATS_OK) return js_fail(err, s, "subscribing to " JS_KICK_SUBJECT);
    return 0;
}

int nats_store_open(const store_opts *o, store_t **out, err_t *err)
{
    *out = NULL;
    js_t *j = xcalloc(1, sizeof *j);
    j->base.be = &NATS_BACKEND;
    j->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    j->due_hint = INT64_MAX;
    uuid_v4(j->node_id);
    pthread_mutex_init(&j->mu, NULL);
    store_signal_init(&j->work);
    if (js_connect(j, o, err) < 0) {
        js_close(&j->base);
        return -1;
    }
    j->replicas = replicas_of(j, o->replicas);
    if (ensure_all(j, err) < 0) {
        js_close(&j->base);
        return -1;
    }
    js_records_start(j);
    *out = &j->base;
    return 0;
}

void js_close(store_t *s)
{
    js_t *j = JS(s);
    if (!j) return;
    js_records_stop(j);
    if (j->kick_sub) {
        natsSubscription_Unsubscribe(j->kick_sub);
        natsSubscription_Destroy(j->kick_sub);
    }
    js_work_free(j);
    kvStore *kvs[] = {j->eventids, j->dedup, j->attempts, j->regs, j->health,
                      j->state,    j->meta,  j->actids,   j->settled};
    for (size_t i = 0; i < sizeof kvs / sizeof kvs[0]; i++) kvStore_Destroy(kvs[i]);
    jsCtx_Destroy(j->js);
    if (j->nc) {
        natsConnection_Close(j->nc);
        natsConnection_Destroy(j->nc);
    }
    pthread_mutex_destroy(&j->mu);
    store_signal_fini(&j->work);
    free(j);
}

/* ---- the work signal ---- */

void js_kick(store_t *s)
{
    store_signal_kick(&JS(s)->work);
}

void js_kick_all(js_t *j)
{
    /* Core NATS, no reply: every node's on_kick (this one's too) wakes. */
    if (natsConnection_Publish(j->nc, JS_KICK_SUBJECT, NULL, 0) != NATS_OK) js_kick(&j->base);
}

void js_wait_work(store_t *s, int64_t until_ms)
{
    store_signal *g = &JS(s)->work;
    store_signal_wait(g, store_signal_gen(g), until_ms);
}

/* Retries come back through NAK delays JetStream keeps: poll at the
 * earliest this node asked for, and soon in any case (other nodes' retries
 * may come back here). */
int64_t js_next_due(store_t *s)
{
    js_t *j = JS(s);
    int64_t now = now_ms(), hint = j->due_hint;
    if (hint <= now) {
        j->due_hint = INT64_MAX;
        return now + POLL_MS;
    }
    return hint < now + POLL_MS ? hint : now + POLL_MS;
}

/* A registration left out (at its cap) has its retries polled like the rest. */
int64_t js_next_due_except(store_t *s, const char *const *skip, size_t nskip)
{
    return js_next_due(s);
}

void js_stats_get(store_t *s, store_stats *out)
{
    js_t *j = JS(s);
    pthread_mutex_lock(&j->mu);
    *out = j->stats;
    pthread_mutex_unlock(&j->mu);
}

int js_size_get(store_t *s, store_size *out, err_t *err)
{
    js_t *j = JS(s);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, j->js, JS_EVENTS, NULL, &jerr);
    if (st != NATS_OK) return js_fail(err, st, JS_EVENTS);
    out->events = (int64_t)si->State.Msgs;
    out->last_position = (int64_t)si->State.LastSeq;
    out->bytes = (int64_t)si->State.Bytes;
    jsStreamInfo_Destroy(si);
    return 0;
}

static const store_backend NATS_BACKEND = {
    .name = "nats",
    .close = js_close,
    .provider_id = js_provider_id,
    .provider_find = js_provider_find,
    .append = js_append,
    .read = js_read,
    .read_matching = js_read_matching,
    .position_before = js_position_before,
    .journal_floor = js_journal_floor,
    .journal_prune = js_journal_prune,
    .event_get = js_event_get,
    .claim = js_claim,
    .claim_more = js_claim_more,
    .claim_except = js_claim_except,
    .next_due_except = js_next_due_except,
    .unclaim = js_unclaim,
    .replay_range = js_replay_range,
    .finish = js_finish,
    .release_claims = js_release_claims,
    .next_due = js_next_due,
    .wait_work = js_wait_work,
    .kick = js_kick,
    .deadletter_list = js_deadletter_list,
    .deadletter_replay = js_deadletter_replay,
    .deadletter_replay_all = js_deadletter_replay_all,
    .reg_info_get = js_reg_info_get,
    .reg_set_state = js_reg_set_state,
    .reg_enable = js_reg_enable,
    .reg_window = js_reg_window,
    .regdef_put = js_regdef_put,
    .activation_put = js_activation_put,
    .activation_list = js_activation_list,
    .activation_get = js_activation_get,
    .activation_query = js_activation_query,
    .activation_prune = js_activation_prune,
    .trace_put = js_trace_put,
    .trace_list = js_trace_list,
    .trace_get = js_trace_get,
    .trace_prune = js_trace_prune,
    .span_put = js_span_put,
    .span_list = js_span_list,
    .regdef_delete = js_regdef_delete,
    .regdef_list = js_regdef_list,
    .regdef_generation = js_regdef_generation,
    .flush = js_flush,
    .state_get = js_state_get,
    .state_put = js_state_put,
    .state_delete = js_state_delete,
    .key_get = js_key_get,
    .state_entry = js_state_entry,
    .state_count = js_state_count,
    .state_clear = js_state_clear,
    .event_meta_put = js_event_meta_put,
    .event_meta_list = js_event_meta_list,
    .io_provider_put = js_io_provider_put,
    .io_provider_list = js_io_provider_list,
    .io_provider_get = js_io_provider_get,
    .io_reg_put = js_io_reg_put,
    .io_reg_list = js_io_reg_list,
    .event_page = js_event_page,
    .event_detail = js_event_detail,
    .rollup_sample = js_rollup_sample,
    .rollup_read = js_rollup_read,
    .trigger_get = js_trigger_get,
    .trigger_claim = js_trigger_claim,
    .trigger_done = js_trigger_done,
    .stats_get = js_stats_get,
    .size_get = js_size_get,
};
