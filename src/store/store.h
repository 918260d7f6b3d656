/* store: the durable journal and everything evkit keeps. A narrow interface
 * that speaks of appending events, reading from a position, dedup, claiming
 * delivery work, activations and action state, never of SQL or subjects.
 * Every function dispatches through the backend the store was opened with
 * (store/backend.h): SQLite in a data folder (store/sqlite/, WAL,
 * synchronous=FULL, group commit), the default, or NATS JetStream
 * (store/nats/, docs/jetstream.md) for several nodes on one journal.
 *
 * Threads: every function is safe to call from any thread. Several
 * processes may open the same store (the CLI beside a running daemon).
 * Ownership: json_t values passed in are borrowed unless said otherwise;
 * json_t values returned are new references the caller decrefs. */
#ifndef EVKIT_STORE_H
#define EVKIT_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

typedef struct store store_t;

/* Where the store lives and how to reach it. */
typedef struct store_opts {
    const char *dir;        /* the data folder: SQLite's evkit.db */
    const char *url;        /* NULL or "": SQLite in dir; "nats://host:4222[,host2...]"
                             * (or tls://): NATS JetStream */
    const char *creds;      /* NATS credentials file (JWT + NKey), NULL: none */
    const char *token;      /* NATS token, NULL: none (a secret: never logged) */
    const char *tls_ca;     /* CA certificates file; setting it turns TLS on */
    const char *tls_cert;   /* client certificate and key files for mutual TLS */
    const char *tls_key;
    int replicas;           /* JetStream replicas; 0: 3 when the cluster has 3
                             * servers or more, else 1 */
    int64_t timeout_ms;     /* connect and request timeout; <= 0: 5 s */
} store_opts;

/* Opens (creating what is missing) the store o describes. JetStream: fails
 * with EVK_UNAVAILABLE when no server answers or JetStream is off, and with
 * EVK_CONFLICT when a stream or bucket exists with a config evkit cannot use. */
int store_open_with(const store_opts *o, store_t **out, err_t *err);
/* Opens (creating) the SQLite store in folder dir. */
int store_open(const char *dir, store_t **out, err_t *err);
/* "sqlite" or "nats". */
const char *store_backend_name(const store_t *s);
/* Flushes pending asynchronous writes (activations, traces) and closes. */
void store_close(store_t *s);

/* ---- providers ---- */
/* The stable UUID of provider key, created on first use and kept forever. */
int store_provider_id(store_t *s, const char *key, char out[37], err_t *err);

/* Looks key up without creating it: *found false (out "") when unknown. */
int store_provider_find(store_t *s, const char *key, char out[37], bool *found, err_t *err);

/* ---- event metadata (onboarding) ---- */
typedef struct store_event_meta {
    const char *provider;     /* provider key */
    const char *code;         /* event code */
    const char *label;        /* NULL: the code */
    const char *description;  /* NULL: "" */
    const json_t *sample;     /* sample payload; NULL: none */
} store_event_meta;
typedef enum { STORE_CREATED, STORE_UPDATED, STORE_UNCHANGED } store_put_outcome;
/* Creates or updates the metadata of (provider, code); *outcome (may be
 * NULL) says which, or that it was already so. */
int store_event_meta_put(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                         err_t *err);
/* Array of {provider, code, label, description, sample}, by provider and
 * code; provider NULL = every provider. */
int store_event_meta_list(store_t *s, const char *provider, json_t **out, err_t *err);

/* ---- journal ---- */
typedef struct store_delivery_spec {
    const char *registration;   /* registration name */
    const char *order_key;      /* NULL = unordered */
} store_delivery_spec;

typedef struct store_event_in {
    const char *provider;         /* provider key; its UUID makes source = urn:uuid:<id> */
    const char *type;             /* event code */
    json_t *data;                 /* borrowed; any JSON value */
    const char *idempotency_key;  /* NULL = none; dedup window 24 h per provider */
    json_t *attributes;           /* borrowed, may be NULL: more CloudEvent attributes to
                                   * keep (time, subject, dataschema, datacontenttype,
                                   * extensions); specversion, id, source, type are evkit's */
    const store_delivery_spec *deliveries; /* one delivery per matching registration */
    size_t ndeliveries;
    const char *const *filtered;  /* registrations whose filter turned the event away: */
    size_t nfiltered;             /* counted (store_reg_info.filtered), no delivery */
    /* With check_generation, the deliveries were chosen from the registrations
     * of this generation (store_regdef_generation): if the store's is another
     * one by the time the event is written, nothing is stored and res->stale
     * tells the caller to choose again. Backends that cannot check say so
     * (store_checks_generation) and ignore it. */
    bool check_generation;
    int64_t generation;
} store_event_in;

typedef struct store_append_result {
    char id[37];                  /* event id (the original one on a duplicate) */
    int64_t position;             /* journal position, monotonic from 1 */
    bool duplicate;
    bool stale;                   /* check_generation failed: nothing stored */
} store_append_result;

/* store_append of n events (n >= 1) as one write: all of them or none,
 * in one commit, with one hand-off to the writer. res has n entries. With
 * check_generation (the first event's generation counts for all), a stale
 * generation stores none and sets res[0].stale. */
int store_append_batch(store_t *s, const store_event_in *evs, size_t n, store_append_result *res,
                       err_t *err);

/* Whether store_append checks store_event_in.generation in the transaction
 * that writes the event: then a publisher may route with the registrations
 * it last saw, without reading the generation per event. */
bool store_checks_generation(const store_t *s);

/* Appends one event as a CloudEvent 1.0 {specversion, id, source, type, time,
 * datacontenttype: application/json, data} and creates its deliveries (and
 * counts the filtered registrations) in the same transaction. Returns only once durable on disk; concurrent callers
 * share one commit (group commit). Deliveries of a DISABLED registration are
 * created parked. On a duplicate idempotency key nothing is stored. */
int store_append(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err);

/* Events with position > since (0 = from the oldest), oldest first, at most
 * limit (<= 0: 100). provider NULL = every provider. Returns an array of
 * {"position": n, "event": {CloudEvent}}. */
int store_read(store_t *s, const char *provider, int64_t since, int limit, json_t **out,
               err_t *err);
/* Events with position > since whose (provider, type) is one of the n
 * pairs (a NULL provider matches any), oldest first, at most limit and at
 * most max_bytes of event JSON (always at least one event when any
 * matches). Same shape as store_read: a registration's journal. */
int store_read_matching(store_t *s, const char *const *providers, const char *const *types,
                        size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                        err_t *err);
/* The last position whose event time is before time_ms (0 when none), for seek. */
int store_position_before(store_t *s, int64_t time_ms, int64_t *pos, err_t *err);
/* Retention: deletes events older than cutoff_ms together with their
 * finished deliveries, in chunks. Events that still have a delivery pending,
 * running, parked or kept as a dead letter stay. *deleted gets how many
 * events went. */
int store_journal_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
/* The highest position retention has removed (0 when none): reading from a
 * position below it would silently skip events. */
int store_journal_floor(store_t *s, int64_t *floor, err_t *err);
/* The CloudEvent with id, or NULL (*out) when absent. */
int store_event_get(store_t *s, const char *id, json_t **out, err_t *err);

/* ---- deliveries ---- */
typedef struct store_delivery {
    int64_t id;
    char *registration;
    json_t *event;              /* the CloudEvent */
    int64_t position;
    int attempt;                /* 1 for the first attempt of this claim */
    int64_t first_attempt_ms;   /* 0 when this is the first attempt */
    char *order_key;            /* NULL when unordered */
} store_delivery;
/* Frees what d holds (not d itself: claims return an array). */
void store_delivery_free(store_delivery *d);

/* Claims up to max due deliveries (state pending, due <= now), marking them
 * running with a lease until now + lease_ms; an expired lease (a crashed
 * process) makes a delivery claimable again. Honours ordering: a delivery
 * with an order key is claimable only when no earlier delivery of the same
 * registration and key is pending, running or parked. Skips registrations
 * whose state is DISABLED. *out is an array of *n deliveries (free each with
 * store_delivery_free, then free the array). */
int store_claim(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n,
                err_t *err);

/* Claims up to max more due deliveries of one registration (as
 * store_claim does), for a webhook that takes them in one batch. */
int store_claim_more(store_t *s, const char *registration, int max, int64_t lease_ms,
                     store_delivery **out, size_t *n, err_t *err);

typedef enum {
    DELIVERY_DONE,       /* success */
    DELIVERY_RETRY,      /* failed, due again at next_due_ms */
    DELIVERY_FAILED,     /* failed with a final status: kept as dead letter (reason rejected) */
    DELIVERY_DEAD,       /* retries exhausted: kept as dead letter (reason expired) */
    DELIVERY_UNDELIVERABLE /* the event itself can never be delivered: a dead letter at once
                            * (as DELIVERY_FAILED), not counted in the registration's health */
} store_outcome;

typedef struct store_attempt {
    int64_t delivery_id;
    store_outcome outcome;
    int64_t next_due_ms;        /* DELIVERY_RETRY only */
    int64_t started_ms, ended_ms;
    int status_code;            /* HTTP-like status of the attempt (200, 500, 604 timeout...) */
    const char *error;          /* short error text or NULL */
    const char *activation_id;  /* consumer activation or NULL */
} store_attempt;
/* Records an attempt and moves the delivery on. Durable before return. */
int store_finish(store_t *s, const store_attempt *a, err_t *err);
/* store_finish of n attempts (of different deliveries) in one write: one
 * transaction where the backend has them, so a delivery pipeline pays one
 * commit for many. An attempt whose delivery no longer exists is skipped;
 * *recorded (may be NULL) gets how many were. Durable before return. */
int store_finish_batch(store_t *s, const store_attempt *a, size_t n, size_t *recorded,
                       err_t *err);

/* Makes every running delivery claimable now. Only for a process that owns
 * the journal exclusively (the daemon at start): claims it finds are
 * orphans of a process that died. *released gets how many. */
int store_release_claims(store_t *s, int *released, err_t *err);

/* Earliest due time among pending deliveries of non-disabled registrations,
 * or INT64_MAX when none. */
int64_t store_next_due(store_t *s);
/* Blocks until an append or a state change in this process, or until
 * until_ms (epoch), whichever comes first. A change since this thread's
 * last store_claim counts too: work that arrives between an empty claim
 * and the wait is not missed. */
void store_wait_work(store_t *s, int64_t until_ms);
/* Wakes every store_wait_work (shutdown, external change). */
void store_kick(store_t *s);

/* Dead letters: deliveries in state dead or failed, newest first. Array of
 * {id, registration, event_id, type, attempts, reason, last_status,
 * last_error, first_attempt, last_attempt}. registration NULL = all. */
int store_deadletter_list(store_t *s, const char *registration, int limit, json_t **out,
                          err_t *err);
/* Makes dead letter id (or all of registration's when id <= 0) pending again
 * from attempt 1, due now. *count gets how many. */
int store_deadletter_replay(store_t *s, int64_t id, const char *registration, int *count,
                            err_t *err);

/* Creates new deliveries to registration for journal events with position >
 * since whose (provider, type) is in the pairs lists (parallel arrays of n),
 * in position order. order_key_path ("data.sku") or NULL. *count gets how many. */
int store_replay(store_t *s, const char *registration, int64_t since,
                 const char *const *providers, const char *const *types, size_t n,
                 const char *order_key_path, int *count, err_t *err);

/* How far a long operation got: done of total items, called on the caller's
 * thread after each committed chunk (and once with done 0 when total is known). */
typedef void (*store_progress_fn)(void *ud, int64_t done, int64_t total);
/* store_replay reporting progress (progress may be NULL). */
int store_replay_progress(store_t *s, const char *registration, int64_t since,
                          const char *const *providers, const char *const *types, size_t n,
                          const char *order_key_path, store_progress_fn progress, void *ud,
                          int *count, err_t *err);
/* Every dead letter of registration (NULL: of every registration) pending
 * again from attempt 1, in chunks each committed on its own, reporting
 * progress (may be NULL). Only the dead letters present at the start: one
 * that fails again meanwhile is not replayed twice. */
int store_deadletter_replay_all(store_t *s, const char *registration, store_progress_fn progress,
                                void *ud, int *count, err_t *err);

/* ---- registration health ---- */
typedef enum { REG_ACTIVE, REG_UNSTABLE, REG_DISABLED } reg_state;
const char *reg_state_name(reg_state st);

typedef struct store_reg_info {
    reg_state state;
    int64_t attempts_24h, failures_24h;  /* since max(now - 24 h, enabled_at) */
    int64_t backlog;                     /* pending + running + parked deliveries */
    int64_t parked;
    int64_t dead;                        /* dead letters */
    int64_t filtered;                    /* events its filter turned away (store_event_in) */
    char last_error[256];                /* "" when none */
    int64_t last_attempt_ms;
} store_reg_info;
/* Registrations are created on first use with state ACTIVE. */
int store_reg_info_get(store_t *s, const char *registration, store_reg_info *out, err_t *err);
int store_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err);
/* ACTIVE again, health window restarts now, parked deliveries become pending. */
int store_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err);

/* Attempts and failures of registration since since_ms (minute buckets:
 * the minute containing since_ms counts whole). */
int store_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                     int64_t *failures, err_t *err);

/* ---- registration definitions (created at run time) ---- */
/* The registrations API keeps its definitions here as JSON objects (their
 * meaning is the registry's); a generation number grows with every change
 * so that every process sharing the store notices another's change. */
typedef enum { REGDEF_CREATE, REGDEF_UPDATE, REGDEF_UPSERT } regdef_mode;
/* Stores def (borrowed) under name. REGDEF_CREATE does nothing when name
 * exists, REGDEF_UPDATE nothing when it does not; *existed (may be NULL)
 * tells which. A new name starts with a clean health record. */
int store_regdef_put(store_t *s, const char *name, const json_t *def, regdef_mode mode,
                     bool *existed, err_t *err);
/* Deletes name's definition; its pending and parked deliveries become dead
 * letters (*dropped, may be NULL) with the last status below and the error
 * "the registration was deleted". *existed (may be NULL) tells whether it
 * was there. */
/* The delivery status recorded for work a deleted registration leaves
 * behind: its target is gone for good, a final outcome by delivery's
 * classification (delivery_classify_status), which the console and the
 * dead-letter API show as it is. */
#define STORE_STATUS_REGISTRATION_GONE 410
int store_regdef_delete(store_t *s, const char *name, bool *existed, int *dropped, err_t *err);
/* Every definition: an object name -> def, each def with "created" and
 * "updated" (epoch ms) added, and the generation they belong to. */
int store_regdef_list(store_t *s, json_t **out, int64_t *generation, err_t *err);
/* The current generation (0 before any change). */
int store_regdef_generation(store_t *s, int64_t *generation, err_t *err);

/* ---- activations ---- */
/* Queues an activation record (stolen) for a batched write off the hot path. */
void store_activation_put(store_t *s, json_t *record);
/* An activation record its maker wrote as compact JSON text itself
 * (starting {"activationId":"<id>",), and what the store files it by. */
typedef struct store_activation_text {
    const char *id;
    const char *name;         /* its path, "<package>/<action>" */
    const char *ns;
    int64_t start_ms, end_ms;
} store_activation_text;
/* store_activation_put of a record given as its text (body, stolen): no
 * tree is built to be written out again. */
void store_activation_put_text(store_t *s, const store_activation_text *m, char *body);
/* Newest first; name NULL = all (matches "pkg/action" or its last part). */
int store_activation_list(store_t *s, const char *name, int limit, json_t **out, err_t *err);
int store_activation_get(store_t *s, const char *id, json_t **out, err_t *err);
/* The namespaces API's list: newest first, name as for store_activation_list
 * (NULL = all), started within since_ms..upto_ms (upto_ms <= 0: no bound),
 * the first skip left out, at most limit. */
int store_activation_query(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms,
                           int skip, int limit, json_t **out, err_t *err);
/* Deletes activations that ended before cutoff_ms; *deleted gets how many. */
int store_activation_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
/* Waits until queued activation and trace records are written (tests, CLI). */
void store_flush(store_t *s);

/* ---- delivery traces ---- */
/* One delivery attempt as the trace module prepared it: request and
 * response are JSON text, already redacted and cut (see trace/trace.h). */
typedef struct store_trace {
    const char *registration;
    const char *event_id, *event_type;
    int64_t delivery_id;
    int attempt;
    int64_t start_ms, duration_ms;
    bool success;
    int status_code;
    bool retried;                /* a retry was scheduled after this attempt */
    const char *activation_id;   /* NULL when none */
    const char *error;           /* NULL when none */
    const char *request, *response;
} store_trace;
/* Copies t and queues it for a batched write off the hot path, like the
 * activation records (the writer takes it with the next batch of
 * operations: queued before the attempt's store_finish, it normally
 * commits with it or earlier). */
void store_trace_put(store_t *s, const store_trace *t);

typedef struct store_trace_filter {
    const char *registration;    /* NULL = every registration */
    int outcome;                 /* -1 any, 0 errors, 1 successes */
    int status;                  /* 0 any */
    int retried;                 /* -1 any, 0 no, 1 yes */
    int64_t delivery_id;         /* 0 any */
    int64_t before;              /* ids below it only; 0 = from the newest */
    int limit;                   /* <= 0: 50 */
    bool oldest_first;           /* default newest first */
} store_trace_filter;
/* Trace summaries matching f: {"id" (string), "registration", "eventId",
 * "eventType", "deliveryId", "attempt", "start" (ISO 8601 with ms),
 * "duration" (ms), "outcome": "success"|"error", "statusCode", "retried",
 * "activationId" (or null), "error" (or null)}. *more tells whether more
 * match beyond the limit (may be NULL). */
int store_trace_list(store_t *s, const store_trace_filter *f, json_t **out, bool *more,
                     err_t *err);
/* One trace: the summary plus "request" and "response"; NULL when absent. */
int store_trace_get(store_t *s, int64_t id, json_t **out, err_t *err);
/* Retention: deletes traces that started before cutoff_ms except, per
 * registration, the newest keep successes and the newest keep errors.
 * *deleted gets how many went. */
int store_trace_prune(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err);

/* ---- browsing the journal ---- */
/* Events of provider and type (NULL = any), at most limit, oldest first:
 * those after position since (exclusive); or with before > 0 the newest
 * ones below position before; or with latest the newest ones. Array of
 * {"position", "provider", "event"}. */
int store_event_page(store_t *s, const char *provider, const char *type, int64_t since,
                     int64_t before, bool latest, int limit, json_t **out, err_t *err);
/* An event with its deliveries: {"position", "provider", "event",
 * "deliveries": [{"id", "registration", "state", "attempt", "due" (ISO),
 * "lastStatus" (or null), "lastError" (or null)}]}; NULL when absent. */
int store_event_detail(store_t *s, const char *id, json_t **out, err_t *err);

/* ---- action state (key-value with TTL) ---- */
/* Keys: 1..1024 chars of [a-zA-Z0-9-_.]; values any JSON. ttl_ms <= 0 = no expiry. */
bool store_state_key_valid(const char *key);
int store_state_get(store_t *s, const char *key, json_t **value, err_t *err); /* NULL when absent or expired */
int store_state_put(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err);
int store_state_delete(store_t *s, const char *key, bool *existed, err_t *err);

/* ---- Adobe services evkit stands in for (store_io.c) ---- */
/* Providers made through the I/O Management API: rec is the provider as
 * that API answers it, with at least "id" (its UUID), "key" (the provider
 * key its events are journaled under) and "label". A label another
 * provider has is refused (*conflict, nothing stored); the same key again
 * replaces its record (an app provider created again under a new label). */
int store_io_provider_put(store_t *s, const json_t *rec, bool *conflict, err_t *err);
/* Every provider record, oldest first. */
int store_io_provider_list(store_t *s, json_t **out, err_t *err);
/* The record whose id or key is id_or_key; *rec NULL when none. */
int store_io_provider_get(store_t *s, const char *id_or_key, json_t **rec, err_t *err);
/* Registrations made through the I/O Management API: rec as the API
 * answers it, with at least "name"; scope is "<consumer>/<project>/<workspace>".
 * The same name in the same scope again is refused (*conflict); *id gets
 * the record's number. */
int store_io_reg_put(store_t *s, const char *scope, const json_t *rec, bool *conflict,
                     int64_t *id, err_t *err);
/* The records of scope (NULL = every scope), oldest first, each with its
 * number as "id". */
int store_io_reg_list(store_t *s, const char *scope, json_t **out, err_t *err);
/* The secret key called name, len (1..256) random bytes made on first use
 * and kept (every process sharing the store gets the same). */
int store_key_get(store_t *s, const char *name, unsigned char *out, size_t len, err_t *err);
/* Action state as @adobe/aio-lib-state sees it: a live value with its
 * expiry (0 = none; *value NULL when absent or expired), how many live
 * keys there are, and deleting every key (*n gets how many went). */
int store_state_entry(store_t *s, const char *key, json_t **value, int64_t *expires_ms, err_t *err);
int store_state_count(store_t *s, int64_t *n, err_t *err);
int store_state_clear(store_t *s, int64_t *n, err_t *err);

/* ---- scheduled triggers (store_flows.c) ---- */
typedef struct store_trigger_rec {
    int64_t since_ms;      /* when the store first saw the trigger */
    int64_t last_ms;       /* the schedule slot of the last fire claimed, 0 = none */
    char last_id[33];      /* that fire's activation id ("" none) */
    bool pending;          /* claimed and not finished: the process died while firing */
} store_trigger_rec;
/* The record of trigger name, created (since now) when the store does not
 * know it yet. */
int store_trigger_get(store_t *s, const char *name, int64_t now, store_trigger_rec *out,
                      err_t *err);
/* Claims the fire of slot_ms with activation_id: *claimed only when no fire
 * of that slot or a later one was claimed before (by any process). */
int store_trigger_claim(store_t *s, const char *name, int64_t slot_ms, const char *activation_id,
                        bool *claimed, err_t *err);
/* The fire claimed with activation_id has run. */
int store_trigger_done(store_t *s, const char *name, const char *activation_id, err_t *err);

/* ---- delivery rollup per minute (store_flows.c), for the console's charts ---- */
/* Every attempt store_finish records is counted in its registration's
 * minute: by outcome (success; retry; dead: a dead letter, expired or
 * rejected) and by duration in buckets whose upper bounds (ms) are
 * STORE_LATENCY_BOUNDS, the last bucket open. */
#define STORE_LATENCY_BUCKETS 13
extern const int64_t STORE_LATENCY_BOUNDS[STORE_LATENCY_BUCKETS - 1];
/* Records each registration's backlog (pending, running and parked
 * deliveries) in the minute of now, and drops minutes older than keep_ms. */
int store_rollup_sample(store_t *s, int64_t now, int64_t keep_ms, err_t *err);
/* The minutes from since_ms on, oldest first, of registration (NULL: summed
 * over every registration); minutes without data are absent. Array of
 * {minute (epoch ms), success, retry, dead, backlog, latency: [bucket counts]}. */
int store_rollup_read(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                      err_t *err);

/* ---- flow control and ranged replay (a registration's own pace) ---- */
/* store_claim leaving out the nskip registrations in skip (those at their
 * concurrency cap or out of rate for now). */
int store_claim_except(store_t *s, int max, int64_t lease_ms, const char *const *skip,
                       size_t nskip, store_delivery **out, size_t *n, err_t *err);
/* store_next_due leaving out the same registrations. */
int64_t store_next_due_except(store_t *s, const char *const *skip, size_t nskip);
/* store_claim_except that, when it finds nothing, waits until work arrives
 * in this process, store_kick, the next due time or until_ms, whichever
 * comes first (then *n may be 0: claim again). SQLite claims in the very
 * transaction that commits the work, so a new event's delivery is claimed
 * with the event's own commit rather than with one of its own after it. */
int store_claim_wait(store_t *s, int max, int64_t lease_ms, const char *const *skip,
                     size_t nskip, int64_t until_ms, store_delivery **out, size_t *n, err_t *err);
/* Gives n claimed deliveries back untried: pending again, due at due_ms,
 * the attempt their claim counted undone (a first attempt is first again). */
int store_unclaim(store_t *s, const int64_t *ids, size_t n, int64_t due_ms, err_t *err);

/* Whether a replay takes event (a CloudEvent): a registration's filter. */
typedef bool (*store_event_pred)(void *ud, const json_t *event);
typedef struct store_replay_opts {
    const char *registration;
    int64_t since;                 /* positions above it */
    int64_t until;                 /* and at most it; 0 = no bound */
    const char *const *providers;  /* (provider, type) pairs of the registration, n of them */
    const char *const *types;
    size_t n;
    const char *order_key_path;    /* NULL: unordered */
    store_event_pred keep;         /* NULL: every matching event */
    void *keep_ud;
    store_progress_fn progress;    /* may be NULL */
    void *progress_ud;
} store_replay_opts;
/* store_replay_progress over a position range, taking only the events
 * keep accepts (*skipped, may be NULL, gets how many it turned away). */
int store_replay_range(store_t *s, const store_replay_opts *o, int *count, int *skipped,
                       err_t *err);

/* ---- W3C trace context: the spans of a trace ---- */
/* One hop of a trace: an activation, an event, a delivery attempt, a
 * trigger fire. */
typedef struct store_span {
    const char *trace_id;   /* 32 hex */
    const char *span_id;    /* 16 hex */
    const char *parent_id;  /* 16 hex, or NULL for the trace's root */
    const char *kind;       /* "activation", "event", "delivery", "trigger" */
    const char *ref;        /* activation id, event id, ... */
    const char *name;       /* action path, event type, registration */
    int64_t start_ms, end_ms;
    bool ok;
    int status;             /* an activation's statusCode, an attempt's HTTP-like status */
} store_span;
/* Copies sp and queues it for a batched write off the hot path. */
void store_span_put(store_t *s, const store_span *sp);
/* The spans of trace_id, oldest first: array of {traceId, spanId,
 * parentSpanId (or null), kind, ref, name, start, end (epoch ms), ok, status}.
 * Spans go with the delivery traces' retention (store_trace_prune). */
int store_span_list(store_t *s, const char *trace_id, json_t **out, err_t *err);

/* ---- statistics ---- */
typedef struct store_stats {
    uint64_t commits;        /* write transactions committed by this process */
    uint64_t ops;            /* write operations committed (appends, claims, finishes...) */
    uint64_t events;         /* events appended (duplicates not counted) */
    uint64_t activations;    /* activation records written */
} store_stats;
/* Counters since store_open; commits < ops shows group commit at work. */
void store_stats_get(store_t *s, store_stats *out);

/* The journal's size for monitoring: events held, the last position ever
 * given (0 when none), and the bytes the store occupies on disk (every
 * table, as the backend keeps it). Cheap enough for every scrape. */
typedef struct store_size {
    int64_t events;
    int64_t last_position;
    int64_t bytes;
} store_size;
int store_size_get(store_t *s, store_size *out, err_t *err);

#endif
