/* backend: what a store backend provides, one function per operation of
 * store.h (same meaning, same contract, the "store_" prefix dropped). The
 * public functions in store.c dispatch through the table of the store they
 * are given; a backend that lacks an operation leaves it NULL and the
 * caller gets EVK_UNAVAILABLE naming it. Private to src/store/. */
#ifndef EVKIT_STORE_BACKEND_H
#define EVKIT_STORE_BACKEND_H

#include "store/store.h"

#include <pthread.h>

typedef struct store_backend store_backend;

/* What store_wait_work sleeps on and store_kick bumps, in every backend: a
 * generation counter, so that a wake-up is never lost. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;
} store_signal;
void store_signal_init(store_signal *g);
void store_signal_fini(store_signal *g);
uint64_t store_signal_gen(store_signal *g);
void store_signal_kick(store_signal *g);
/* Sleeps while the generation is still seen, until until_ms (wall clock,
 * capped at a day from now). */
void store_signal_wait(store_signal *g, uint64_t seen, int64_t until_ms);

/* The head of every backend's store: a backend's own struct starts with
 * it, so a store_t * is a pointer to that struct. */
struct store {
    const store_backend *be;
};

/* store.c checks the registration of the calls about one (claim_more,
 * replay_range, reg_info_get, reg_set_state, reg_enable) and clears what
 * they return before a backend is called. */
struct store_backend {
    const char *name;
    bool checks_generation;   /* append honours store_event_in.check_generation */
    void (*close)(store_t *s);
    int (*provider_id)(store_t *s, const char *key, char out[37], err_t *err);
    int (*provider_find)(store_t *s, const char *key, char out[37], bool *found, err_t *err);
    int (*event_meta_put)(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                          err_t *err);
    int (*event_meta_list)(store_t *s, const char *provider, json_t **out, err_t *err);
    int (*append)(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err);
    /* NULL: store.c appends one at a time (not atomic). */
    int (*append_batch)(store_t *s, const store_event_in *evs, size_t n, store_append_result *res,
                        err_t *err);
    int (*read)(store_t *s, const char *provider, int64_t since, int limit, json_t **out,
                err_t *err);
    int (*read_matching)(store_t *s, const char *const *providers, const char *const *types,
                         size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                         err_t *err);
    int (*position_before)(store_t *s, int64_t time_ms, int64_t *pos, err_t *err);
    int (*journal_prune)(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
    int (*journal_floor)(store_t *s, int64_t *floor, err_t *err);
    int (*event_get)(store_t *s, const char *id, json_t **out, err_t *err);
    int (*claim)(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n,
                 err_t *err);
    int (*claim_more)(store_t *s, const char *registration, int max, int64_t lease_ms,
                      store_delivery **out, size_t *n, err_t *err);
    int (*finish)(store_t *s, const store_attempt *a, err_t *err);
    int (*release_claims)(store_t *s, int *released, err_t *err);
    int64_t (*next_due)(store_t *s);
    void (*wait_work)(store_t *s, int64_t until_ms);
    void (*kick)(store_t *s);
    int (*deadletter_list)(store_t *s, const char *registration, int limit, json_t **out,
                           err_t *err);
    int (*deadletter_replay)(store_t *s, int64_t id, const char *registration, int *count,
                             err_t *err);
    int (*deadletter_replay_all)(store_t *s, const char *registration, store_progress_fn progress,
                                 void *ud, int *count, err_t *err);
    int (*reg_info_get)(store_t *s, const char *registration, store_reg_info *out, err_t *err);
    int (*reg_set_state)(store_t *s, const char *registration, reg_state st, err_t *err);
    int (*reg_enable)(store_t *s, const char *registration, int *resumed, err_t *err);
    int (*reg_window)(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                      int64_t *failures, err_t *err);
    int (*regdef_put)(store_t *s, const char *name, const json_t *def, regdef_mode mode,
                      bool *existed, err_t *err);
    int (*regdef_delete)(store_t *s, const char *name, bool *existed, int *dropped, err_t *err);
    int (*regdef_list)(store_t *s, json_t **out, int64_t *generation, err_t *err);
    int (*regdef_generation)(store_t *s, int64_t *generation, err_t *err);
    void (*activation_put)(store_t *s, json_t *record);
    int (*activation_list)(store_t *s, const char *name, int limit, json_t **out, err_t *err);
    int (*activation_get)(store_t *s, const char *id, json_t **out, err_t *err);
    int (*activation_query)(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms,
                            int skip, int limit, json_t **out, err_t *err);
    int (*activation_prune)(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
    void (*flush)(store_t *s);
    void (*trace_put)(store_t *s, const store_trace *t);
    int (*trace_list)(store_t *s, const store_trace_filter *f, json_t **out, bool *more,
                      err_t *err);
    int (*trace_get)(store_t *s, int64_t id, json_t **out, err_t *err);
    int (*trace_prune)(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err);
    int (*event_page)(store_t *s, const char *provider, const char *type, int64_t since,
                      int64_t before, bool latest, int limit, json_t **out, err_t *err);
    int (*event_detail)(store_t *s, const char *id, json_t **out, err_t *err);
    int (*state_get)(store_t *s, const char *key, json_t **value, err_t *err);
    int (*state_put)(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err);
    int (*state_delete)(store_t *s, const char *key, bool *existed, err_t *err);
    int (*io_provider_put)(store_t *s, const json_t *rec, bool *conflict, err_t *err);
    int (*io_provider_list)(store_t *s, json_t **out, err_t *err);
    int (*io_provider_get)(store_t *s, const char *id_or_key, json_t **rec, err_t *err);
    int (*io_reg_put)(store_t *s, const char *scope, const json_t *rec, bool *conflict, int64_t *id,
                      err_t *err);
    int (*io_reg_list)(store_t *s, const char *scope, json_t **out, err_t *err);
    int (*key_get)(store_t *s, const char *name, unsigned char *out, size_t len, err_t *err);
    int (*trigger_get)(store_t *s, const char *name, int64_t now, store_trigger_rec *out,
                       err_t *err);
    int (*trigger_claim)(store_t *s, const char *name, int64_t slot_ms, const char *activation_id,
                         bool *claimed, err_t *err);
    int (*trigger_done)(store_t *s, const char *name, const char *activation_id, err_t *err);
    int (*rollup_sample)(store_t *s, int64_t now, int64_t keep_ms, err_t *err);
    int (*rollup_read)(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                       err_t *err);
    int (*state_entry)(store_t *s, const char *key, json_t **value, int64_t *expires_ms,
                       err_t *err);
    int (*state_count)(store_t *s, int64_t *n, err_t *err);
    int (*state_clear)(store_t *s, int64_t *n, err_t *err);
    int (*claim_except)(store_t *s, int max, int64_t lease_ms, const char *const *skip,
                        size_t nskip, store_delivery **out, size_t *n, err_t *err);
    int64_t (*next_due_except)(store_t *s, const char *const *skip, size_t nskip);
    int (*unclaim)(store_t *s, const int64_t *ids, size_t n, int64_t due_ms, err_t *err);
    /* store.c has checked the registration and zeroed *count and *skipped; n > 0. */
    int (*replay_range)(store_t *s, const store_replay_opts *o, int *count, int *skipped,
                        err_t *err);
    void (*span_put)(store_t *s, const store_span *sp);
    int (*span_list)(store_t *s, const char *trace_id, json_t **out, err_t *err);
    void (*stats_get)(store_t *s, store_stats *out);
    int (*size_get)(store_t *s, store_size *out, err_t *err);
    /* NULL: store.c calls finish once per attempt. */
    int (*finish_batch)(store_t *s, const store_attempt *a, size_t n, size_t *recorded,
                        err_t *err);
    /* NULL: store.c parses the text and calls activation_put. */
    void (*activation_put_text)(store_t *s, const store_activation_text *m, char *body);
    /* NULL: store.c claims, and waits for work when it found none. */
    int (*claim_wait)(store_t *s, int max, int64_t lease_ms, const char *const *skip,
                      size_t nskip, int64_t until_ms, store_delivery **out, size_t *n,
                      err_t *err);
};

/* The backends' constructors (the options say which one store_open_with takes). */
int sqlite_store_open(const store_opts *o, store_t **out, err_t *err);
int nats_store_open(const store_opts *o, store_t **out, err_t *err);

/* ---- shared by the backends (store.c) ---- */
/* EVK_INVALID unless ev has a provider, a type and a registration for each delivery. */
int store_event_in_check(const store_event_in *ev, err_t *err);
/* The CloudEvent of ev as stored: {specversion, id (a new UUID, copied to
 * id), source urn:uuid:<provider_uuid>, type, time (time_ms), datacontenttype,
 * the extra attributes, data}, compact JSON; NULL with err. Caller frees. */
char *store_cloudevent_text(const store_event_in *ev, const char *provider_uuid, char id[37],
                            int64_t time_ms, err_t *err);
/* Whether (provider, type) is one of the n pairs (a NULL provider or type
 * in a pair matches nothing). */
bool store_pair_match(const char *provider, const char *type, const char *const *providers,
                      const char *const *types, size_t n);

/* The bucket of STORE_LATENCY_BOUNDS an attempt of ms falls in. */
int store_latency_bucket(int64_t ms);

/* "ACTIVE", "UNSTABLE", "DISABLED" back to reg_state (ACTIVE for anything else). */
reg_state reg_state_parse(const char *s);

#endif
