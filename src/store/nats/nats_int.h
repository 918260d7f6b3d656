/* nats_int: what the JetStream backend's files share and nothing else sees:
 * its store struct, the names of its streams and buckets, and the small
 * helpers every file uses (subject tokens, error mapping, KV as JSON).
 * The mapping and its reasons: docs/jetstream.md. */
#ifndef EVKIT_STORE_NATS_INT_H
#define EVKIT_STORE_NATS_INT_H

#include <nats/nats.h>
#include <pthread.h>

#include "core/json_io.h"
#include "store/backend.h"

#define JS_EVENTS "EVKIT_EVENTS"
#define JS_DELIVERIES "EVKIT_DELIVERIES"
#define JS_DEAD "EVKIT_DEAD"
#define JS_HEALTH "EVKIT_HEALTH"
#define JS_SPANS "EVKIT_SPANS"
#define JS_RUNS "EVKIT_RUNS"
#define JS_COUNTS "EVKIT_COUNTS"
#define KV_EVENTIDS "evkit_eventids"
#define KV_DEDUP "evkit_dedup"
#define KV_ATTEMPTS "evkit_attempts"
#define KV_REGS "evkit_regs"
#define KV_HEALTH "evkit_health"
#define KV_STATE "evkit_state"
#define KV_META "evkit_meta"
#define KV_ACTIDS "evkit_actids"
#define KV_SETTLED "evkit_settled"
#define JS_KICK_SUBJECT "evkit.kick"

typedef struct js_store js_t;

/* A delivery message this node pulled and has not settled yet (its ack,
 * NAK or dead letter is store_finish's). */
typedef struct js_held {
    int64_t id;                 /* the delivery's id: the sequence of its first message in
                                 * EVKIT_DELIVERIES, kept through dead letter and replay */
    int64_t seq;                /* this message's sequence (its attempts record) */
    natsMsg *msg;
    char *registration;
    char *order_key;
    int attempt;
    int64_t first_attempt_ms;
    struct js_held *next;
} js_held;

/* This node's pull subscription on one registration's durable consumer. */
typedef struct js_sub {
    char *registration;
    natsSubscription *sub;
    pthread_mutex_t fetch_mu;   /* libnats refuses a second fetch while one runs */
    _Atomic int64_t ack_wait_ms;
    _Atomic bool disabled;      /* the registration's state, as last read */
    _Atomic int64_t checked_ms; /* when (0: read it again) */
    _Atomic bool gone;          /* its registration was deleted: on j->gone_subs */
    struct js_sub *next;
} js_sub;

struct js_store {
    store_t base;               /* first: a store_t * is a js_t * */
    natsConnection *nc;
    jsCtx *js;
    kvStore *eventids, *dedup, *attempts, *regs, *health, *state, *meta, *actids, *settled;
    natsSubscription *kick_sub;
    int replicas;
    int64_t timeout_ms;

    pthread_mutex_t mu;         /* claims, subs, statistics */
    js_held *claims;
    js_sub *subs;
    js_sub *gone_subs;          /* of deleted registrations: a claim may still hold one, so
                                 * they are freed at close */
    store_stats stats;

    /* activation and trace records waiting for the writer (nats_records.c) */
    pthread_mutex_t rec_mu;
    pthread_cond_t rec_cv;
    pthread_t rec_writer;
    struct js_rec *rec_head, *rec_tail;
    size_t rec_queued;
    uint64_t rec_in, rec_done;
    bool rec_stopping, rec_running;

    char node_id[37];           /* this open store's own id: whose run a claim is */
    _Atomic uint64_t runs;      /* claims taken, for the run tokens' bodies */

    _Atomic int64_t due_hint;   /* the earliest retry this node NAKed (INT64_MAX: none) */

    store_signal work;          /* store_wait_work */
};

#define JS(st) ((js_t *)(st))

/* ---- nats_store.c ---- */
/* Fills err from a libnats status (and its last error text), with what in
 * front; a server that cannot be reached or a timeout is EVK_UNAVAILABLE.
 * Returns -1. */
int js_fail(err_t *err, natsStatus s, const char *what);
/* The sequence an index bucket (event or activation ids) keeps under id:
 * 1 with *seq, 0 when id is empty or unknown, -1 (what in front). */
int js_index_seq(kvStore *ids, const char *id, const char *what, uint64_t *seq, err_t *err);
/* The message at seq in stream: 1 with *m (caller destroys), 0 when it is
 * gone, -1 (what in front). */
int js_msg_at(js_t *j, const char *stream, uint64_t seq, const char *what, natsMsg **m,
              err_t *err);
/* The first message of stream at or after seq on subject (a filter with
 * wildcards): 1 with *m (caller destroys), 0 when there is none, -1 (what
 * in front). */
int js_next_msg(js_t *j, const char *stream, uint64_t seq, const char *subject, const char *what,
                natsMsg **m, err_t *err);
/* Publishes body to subject with msg_id (JetStream's deduplication) and
 * headers (name, value pairs, a NULL value skipped, a NULL name ends them),
 * synchronously: 0 once JetStream acked it (*seq, *dup: may be NULL), -1
 * with err (what in front). */
int js_publish(js_t *j, const char *subject, const char *body, const char *msg_id,
               const char *const *headers, const char *what, uint64_t *seq, bool *dup,
               err_t *err);
/* Whether this node is the one to do what msg_id names (a delivery's
 * attempt, a trigger's slot): the first publish of msg_id on subject of
 * EVKIT_RUNS wins, through JetStream's duplicate window (2 min), which
 * holds where a compare-and-set does not (JetStream 2.9 checks a KV
 * revision before its raft round, so two nodes may both pass). 1: this
 * node, 0: another, -1: unknown (err). */
int js_first_to(js_t *j, const char *subject, const char *msg_id, err_t *err);
/* Sorts the JSON array arr in place with cmp (over json_t **). */
void js_sort_array(json_t *arr, int (*cmp)(const void *, const void *));
/* Wakes this node's store_wait_work and, through evkit.kick, every node's. */
void js_kick_all(js_t *j);

/* ---- nats_names.c ---- */
/* s as one subject token or KV key part, which both take: bytes outside
 * A-Z a-z 0-9 - _ as =XX, "" as "=". Caller frees. */
char *js_token(const char *s);
/* prefix, js_token(s) and suffix joined. Caller frees. */
char *js_token_in(const char *prefix, const char *s, const char *suffix);
/* The subject of a delivery of registration with order_key (NULL: unordered). */
char *js_delivery_subject(const char *registration, const char *order_key);
/* The hex SHA-256 of a and b joined by a NUL (65 bytes with the NUL). */
void js_hash2(const char *a, const char *b, char out[65]);

/* Whether a request that found no responder (a stream electing its
 * leader, a server failing over) should be sent again: true after a pause
 * growing from 100 ms to 1 s, until 20 s (or j->timeout_ms if longer) from
 * the first try (*deadline 0 at first). Only that status: a timeout may
 * have been applied, and a compare-and-set sent again would count twice. */
bool js_retry_wait(js_t *j, natsStatus s, int64_t *deadline);
/* The same for a request that may be applied twice (a read, a plain put,
 * a publish JetStream deduplicates by its message id): also a first
 * timeout (one more try, not more: each costs the whole timeout). */
bool js_retry_idem(js_t *j, natsStatus s, int64_t *deadline);
/* The info of stream with its per-subject counts under filter in *si
 * (caller destroys), a request that found no responder sent again. */
natsStatus js_subject_counts(js_t *j, const char *stream, const char *filter, jsStreamInfo **si);

/* kvStore_Watch and kvWatcher_Next, but with no key matching filter
 * *w is NULL and js_kv_next ends at once (a NULL entry). */
natsStatus js_kv_watch(js_t *j, kvWatcher **w, kvStore *kv, const char *filter,
                       kvWatchOptions *o);
natsStatus js_kv_next(js_t *j, kvWatcher *w, kvEntry **e);
/* Every current value under the keys filter matches, parsed, in an array
 * (in no promised order); what (NULL: the bucket's name) in front of an
 * error. */
int js_kv_values(js_t *j, kvStore *kv, const char *filter, const char *what, json_t **out,
                 err_t *err);

/* KV values as JSON: *out NULL (and 0) when absent or deleted; *rev the
 * revision (0 when absent), for a compare-and-set. */
int js_kv_get_json(js_t *j, kvStore *kv, const char *key, json_t **out, uint64_t *rev,
                   err_t *err);
/* Puts v; with rev > 0 only if the key is still at that revision, with rev
 * == 0 and create only if absent (*lost true when another writer won). */
int js_kv_put_json(js_t *j, kvStore *kv, const char *key, const json_t *v, uint64_t rev,
                   bool create, bool *lost, err_t *err);

/* ---- nats_journal.c ---- */
/* The CloudEvent at position seq of the events stream (NULL when gone). */
int js_event_at(js_t *j, uint64_t seq, json_t **out, err_t *err);

/* ---- nats_work.c ---- */
/* Publishes one delivery message of event (the CloudEvent) at position to
 * registration; msg_id dedups (NULL: none); delivery_id > 0 keeps the id of
 * a delivery published again (a replayed dead letter). */
int js_publish_delivery(js_t *j, const char *registration, const char *order_key,
                        const json_t *event, int64_t position, const char *msg_id,
                        int64_t delivery_id, err_t *err);
/* The id of the delivery a message carries. */
int64_t js_delivery_id(natsMsg *m);
/* Drops this node's claims and subscriptions (close). */
void js_work_free(js_t *j);
/* registration's waiting deliveries become dead letters (status
 * STORE_STATUS_REGISTRATION_GONE), its consumer goes; *dropped (may be
 * NULL) gets how many. Deliveries another node holds settle there. */
int js_drop_deliveries(js_t *j, const char *registration, int *dropped, err_t *err);
/* Makes this node read registration's state again at its next claim. */
void js_work_state_changed(js_t *j, const char *registration);

/* ---- nats_records.c ---- */
/* Messages of stream on filter with a sequence below before (0: any),
 * newest first, to fn until it returns false. */
typedef bool (*js_scan_fn)(natsMsg *m, void *ud);
int js_scan_back(js_t *j, const char *stream, const char *filter, uint64_t before, js_scan_fn fn,
                 void *ud, err_t *err);
/* The records' writer thread: started once the streams exist, stopped
 * (after writing what is queued) before the connection closes. */
void js_records_start(js_t *j);
void js_records_stop(js_t *j);

/* ---- the operations of store.h (backend.h's table), by file ---- */
/* nats_store.c */
void js_close(store_t *s);
void js_stats_get(store_t *s, store_stats *out);
void js_kick(store_t *s);
void js_wait_work(store_t *s, int64_t until_ms);
int64_t js_next_due(store_t *s);
int64_t js_next_due_except(store_t *s, const char *const *skip, size_t nskip);
void js_flush(store_t *s);
int js_size_get(store_t *s, store_size *out, err_t *err);
/* nats_journal.c */
int js_provider_id(store_t *s, const char *key, char out[37], err_t *err);
int js_provider_find(store_t *s, const char *key, char out[37], bool *found, err_t *err);
int js_append(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err);
int js_read(store_t *s, const char *provider, int64_t since, int limit, json_t **out, err_t *err);
int js_read_matching(store_t *s, const char *const *providers, const char *const *types,
                     size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                     err_t *err);
int js_position_before(store_t *s, int64_t time_ms, int64_t *pos, err_t *err);
int js_journal_floor(store_t *s, int64_t *floor, err_t *err);
int js_journal_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
int js_event_get(store_t *s, const char *id, json_t **out, err_t *err);
int js_replay_range(store_t *s, const store_replay_opts *o, int *count, int *skipped,
                    err_t *err);
/* nats_work.c */
int js_claim(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n,
             err_t *err);
int js_claim_more(store_t *s, const char *registration, int max, int64_t lease_ms,
                  store_delivery **out, size_t *n, err_t *err);
int js_claim_except(store_t *s, int max, int64_t lease_ms, const char *const *skip, size_t nskip,
                    store_delivery **out, size_t *n, err_t *err);
int js_unclaim(store_t *s, const int64_t *ids, size_t n, int64_t due_ms, err_t *err);
int js_finish(store_t *s, const store_attempt *a, err_t *err);
int js_release_claims(store_t *s, int *released, err_t *err);
/* nats_dead.c */
int js_deadletter_list(store_t *s, const char *registration, int limit, json_t **out,
                       err_t *err);
int js_deadletter_replay(store_t *s, int64_t id, const char *registration, int *count,
                         err_t *err);
int js_deadletter_replay_all(store_t *s, const char *registration, store_progress_fn progress,
                             void *ud, int *count, err_t *err);
/* nats_health.c */
int js_reg_info_get(store_t *s, const char *registration, store_reg_info *out, err_t *err);
int js_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err);
int js_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err);
int js_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                  int64_t *failures, err_t *err);
int js_rollup_sample(store_t *s, int64_t now, int64_t keep_ms, err_t *err);
int js_rollup_read(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                   err_t *err);
/* Counts one finished attempt of registration in its health record and
 * minute (failures, outcome, latency for the rollup). */
int js_health_record(js_t *j, const char *registration, const store_attempt *at,
                     const char *error, int64_t at_ms, err_t *err);
/* Counts one event registration's filter turned away. */
int js_reg_count_filtered(js_t *j, const char *registration, err_t *err);
/* A registration's health starts over (a new one of an old name). */
void js_reg_forget(js_t *j, const char *registration);
/* Whether registration is DISABLED (creating its record ACTIVE when absent). */
int js_reg_disabled(js_t *j, const char *registration, bool *disabled, err_t *err);
/* nats_records.c */
void js_activation_put(store_t *s, json_t *record);
int js_activation_list(store_t *s, const char *name, int limit, json_t **out, err_t *err);
int js_activation_get(store_t *s, const char *id, json_t **out, err_t *err);
int js_activation_query(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms,
                        int skip, int limit, json_t **out, err_t *err);
int js_activation_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
void js_trace_put(store_t *s, const store_trace *t);
int js_trace_list(store_t *s, const store_trace_filter *f, json_t **out, bool *more, err_t *err);
int js_trace_get(store_t *s, int64_t id, json_t **out, err_t *err);
int js_trace_prune(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err);
void js_span_put(store_t *s, const store_span *sp);
int js_span_list(store_t *s, const char *trace_id, json_t **out, err_t *err);
/* nats_meta.c */
int js_event_meta_put(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                      err_t *err);
int js_event_meta_list(store_t *s, const char *provider, json_t **out, err_t *err);
int js_io_provider_put(store_t *s, const json_t *rec, bool *conflict, err_t *err);
int js_io_provider_list(store_t *s, json_t **out, err_t *err);
int js_io_provider_get(store_t *s, const char *id_or_key, json_t **rec, err_t *err);
int js_io_reg_put(store_t *s, const char *scope, const json_t *rec, bool *conflict, int64_t *id,
                  err_t *err);
int js_io_reg_list(store_t *s, const char *scope, json_t **out, err_t *err);
int js_state_count(store_t *s, int64_t *n, err_t *err);
int js_state_clear(store_t *s, int64_t *n, err_t *err);
int js_event_page(store_t *s, const char *provider, const char *type, int64_t since,
                  int64_t before, bool latest, int limit, json_t **out, err_t *err);
int js_event_detail(store_t *s, const char *id, json_t **out, err_t *err);
/* nats_kv.c */
int js_state_get(store_t *s, const char *key, json_t **value, err_t *err);
int js_state_put(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err);
int js_state_delete(store_t *s, const char *key, bool *existed, err_t *err);
int js_state_entry(store_t *s, const char *key, json_t **value, int64_t *expires_ms, err_t *err);
int js_regdef_put(store_t *s, const char *name, const json_t *def, regdef_mode mode,
                  bool *existed, err_t *err);
int js_regdef_delete(store_t *s, const char *name, bool *existed, int *dropped, err_t *err);
int js_regdef_list(store_t *s, json_t **out, int64_t *generation, err_t *err);
int js_regdef_generation(store_t *s, int64_t *generation, err_t *err);
int js_key_get(store_t *s, const char *name, unsigned char *out, size_t len, err_t *err);
int js_trigger_get(store_t *s, const char *name, int64_t now, store_trigger_rec *out,
                   err_t *err);
int js_trigger_claim(store_t *s, const char *name, int64_t slot_ms, const char *activation_id,
                     bool *claimed, err_t *err);
int js_trigger_done(store_t *s, const char *name, const char *activation_id, err_t *err);

#endif
