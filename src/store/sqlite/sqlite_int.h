/* sqlite_int: what the SQLite backend's files share and nothing else sees: the
 * store struct, connections with their cached prepared statements, the one
 * way to run a statement (sql_run and its wrappers, with_reader), and the
 * operation queue of the writer thread (group commit).
 *
 * Every write goes through the one writer thread, which owns the write
 * connection: a caller fills a wop_t, store_submit queues it and waits; the
 * writer runs everything queued in one transaction (a savepoint per
 * operation) and wakes the callers after COMMIT. Reads take a connection
 * from a pool and never wait for the writer (WAL). */
#ifndef EVKIT_STORE_SQLITE_INT_H
#define EVKIT_STORE_SQLITE_INT_H

#include <pthread.h>
#include <semaphore.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "core/json_io.h"
#include "store/backend.h"

typedef struct sq_store sq_t;

/* Slots of the per-connection statement cache. The SQL text sits at the
 * call site; the slot only says where its prepared form is kept. */
typedef enum {
    ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
    ST_PROVIDER_GET, ST_PROVIDER_INSERT,
    ST_EVENT_INSERT, ST_DEDUP_GET, ST_DEDUP_PUT,
    ST_REG_STATE, ST_REG_CREATE, ST_DELIVERY_INSERT,
    ST_READ_ALL, ST_READ_PROVIDER, ST_EVENT_BY_ID, ST_POSITION_BEFORE,
    ST_REPLAY_SCAN_ALL, ST_REPLAY_SCAN_PROVIDER,
    ST_CLAIM_EXPIRED, ST_CLAIM_PENDING, ST_CLAIM_REG, ST_CLAIM_MARK,
    ST_DELIVERY_REG, ST_DELIVERY_FINISH, ST_MINUTE_ADD, ST_REG_LAST,
    ST_ROLLUP_ADD,
    ST_NEXT_DUE_PENDING, ST_NEXT_DUE_LEASE,
    ST_CLAIM_EXPIRED_SKIP, ST_CLAIM_PENDING_SKIP, ST_NEXT_DUE_PENDING_SKIP,
    ST_NEXT_DUE_LEASE_SKIP, ST_UNCLAIM, ST_REPLAY_SCAN_RANGE, ST_SPAN_INSERT, ST_SPAN_LIST,
    ST_DEAD_LIST_ALL, ST_DEAD_LIST_REG,
    ST_DEAD_REPLAY_ONE, ST_DEAD_REPLAY_REG, ST_DEAD_REPLAY_ALL,
    ST_REG_GET, ST_REG_COUNTS, ST_REG_BACKLOG, ST_REG_DEAD,
    ST_REG_PUT_STATE, ST_REG_PARK, ST_REG_UNPARK, ST_REG_ENABLE, ST_REG_RESET_MINUTES,
    ST_ACT_INSERT, ST_ACT_LIST_ALL, ST_ACT_LIST_NAME, ST_ACT_LIST_ACTION, ST_ACT_GET,
    ST_ACT_PRUNE,
    ST_STATE_GET, ST_STATE_PUT, ST_STATE_DEL_LIVE, ST_STATE_DEL,
    ST_PRUNE_DEDUP, ST_PRUNE_MINUTES, ST_PRUNE_STATE,
    ST_TRACE_INSERT,
    ST_FILTERED_ADD, ST_REG_FILTERED,
    ST_ZDICT_NEWEST, ST_ZDICT_INSERT, ST_STRING_INSERT, ST_STRING_ID,
    ST_DATA_VERSION, ST_REGDEF_GEN, ST_BEGIN, ST_COMMIT,
    ST_SPAN_TRACE_GET, ST_SPAN_TRACE_PUT, ST_SPAN_TRACE_LAST, ST_SPAN_LAST, ST_ACT_LAST,
    ST_ACT_DELETE, ST_ACT_MAX,
    ST_COUNT
} stmt_slot;

typedef struct zip_cache zip_cache;
typedef struct zip_shared zip_shared;

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    zip_cache *zip;           /* the writer's compression dictionaries (store_zip.c) */
    struct conn *next_free;   /* read pool free list */
    struct conn *next_all;    /* every read connection, closed by store_close */
    /* The writer's knowledge of the registrations' generation (store_journal.c):
     * kept across batches while no other connection committed (data_version)
     * and only appends ran; re-read when unknown. */
    int64_t data_version;
    int64_t regdef_gen;
    bool regdef_gen_known;
    /* The writer's knowledge of rows it wrote, so that a span or an
     * activation record is one INSERT: the recent traces of spans
     * (store_spans.c) and a bound on the activations' keys (store_kv.c).
     * Forgotten (writer_forget) when another connection committed or a
     * write of the writer rolled back. */
    struct span_cache *spans;
    int64_t act_max_k;        /* no activation's key is above it */
    bool act_max_known;
} conn_t;

/* One queued write. run executes on the writer thread inside a savepoint of
 * the batch transaction; returning -1 rolls back only this operation. */
typedef struct wop wop_t;
struct wop {
    int (*run)(conn_t *c, wop_t *op);
    void *arg;
    int rc;
    bool done;
    bool work;           /* set by run: the commit should wake store_wait_work */
    int events;          /* set by run: events appended (statistics) */
    int64_t changes;     /* set by run: rows it changed (store_submit_chunks sums them) */
    bool more;           /* set by run: another chunk remains (store_submit_chunks) */
    bool keeps_regdefs;  /* set by the caller: run never changes the registrations'
                          * generation (appends), so the writer's copy stays valid */
    uint64_t stand_gen;  /* the store's kicks when queued: it may stand only
                          * while no store_kick came since */
    bool may_stand;      /* set by store_submit_until */
    bool stand;          /* set by run: found nothing; keep the op until a later
                          * batch commits work, and run it again in that batch */
    bool stood;          /* set by the writer: this run is the one after standing */
    bool expired;        /* set by the waiter (under mu): its deadline passed while
                          * the op was queued or running, so it must not stand */
    err_t err;
    sem_t sem;           /* posted by the writer once done: a waiter wakes alone */
    wop_t *next;
};

/* An activation record serialized by the caller, waiting for the writer. */
typedef struct act_rec {
    char *id, *name, *action, *ns, *body; /* body: as stored (act_prepare) */
    int64_t start, end;
    void *pre;           /* body compressed by the caller (zip_pre), or NULL */
    size_t pre_len;
    struct act_rec *next;
} act_rec;

/* Any other record written in batches off the hot path (delivery traces):
 * embedded as the first member of the record, which the caller built. */
typedef struct arec arec_t;
struct arec {
    int (*write)(conn_t *c, const arec_t *r, err_t *err); /* writer thread */
    char *strs;          /* the record's strings, one block (arec_own_strings) */
    size_t bytes;        /* memory it holds, for the queue bound */
    arec_t *next;
};
/* Copies the strings the n fields point at (NULL stays NULL) into one block
 * that r owns, and points the fields at the copies: a record is then freed
 * with its block, whatever strings it has. */
void arec_own_strings(arec_t *r, const char **const *fields, size_t n);

typedef struct prov_cache {
    char *key;
    char uuid[37];
    struct prov_cache *next;
} prov_cache;

struct sq_store {
    store_t base;               /* first: a store_t * is an sq_t * */
    char *path;                 /* <dir>/evkit.db */
    conn_t w;                   /* write connection, used by the writer thread only */
    pthread_t writer;

    pthread_mutex_t mu;         /* queue, activations, statistics */
    pthread_cond_t cv_queue;    /* something to write, or stopping */
    pthread_cond_t cv_done;     /* activation records written (store_flush) */
    pthread_cond_t cv_room;     /* the activation queue has room again */
    wop_t *q_head, *q_tail;
    act_rec *act_head, *act_tail;
    size_t act_queued;          /* records waiting */
    arec_t *arec_head, *arec_tail;
    size_t arec_bytes;          /* memory of the arecs waiting */
    uint64_t act_seq_in, act_seq_out; /* records (activations and arecs) queued /
                                       * written (or dropped) ever */
    bool stopping;
    store_stats stats;
    int64_t next_prune_mono;

    uint64_t serial;            /* unique per store_open in this process */
    store_signal work;          /* store_wait_work */
    wop_t *standing;            /* an op waiting for work (store_submit_until) */
    uint64_t kicks;             /* store_kick calls, for ops about to stand */

    pthread_mutex_t pool_mu;    /* read connections */
    conn_t *pool_free, *pool_all;

    zip_shared *zshared;        /* committed dictionaries, for zip_pre */

    pthread_mutex_t prov_mu;    /* provider key -> uuid, stable forever */
    prov_cache *provs;

    /* The registrations' generation for readers (store_watched_int): one read
     * connection whose data_version tells whether anything committed since. */
    pthread_mutex_t watch_mu;
    conn_t watch;
    int64_t watch_dv, watch_value;
    bool watch_known;
};

/* ---- store_sql.c: running statements ---- */
/* Not a cache slot: the statement is prepared for this one call (built at
 * run time, or rare enough not to keep). */
#define ST_ONCE ST_COUNT

/* The prepared statement for slot on c (prepared on first use), or NULL. */
sqlite3_stmt *conn_stmt(conn_t *c, stmt_slot slot, const char *sql);
/* Resets st for the next use (bindings cleared). */
void stmt_reset(sqlite3_stmt *st);
/* The status of a SQLite result code: a full disk or a busy database is
 * EVK_UNAVAILABLE, a constraint EVK_CONFLICT, the rest EVK_INTERNAL. */
evk_status db_status(int rc);
/* Fills err with "what: <SQLite message>" and its status; returns -1. */
int db_fail(err_t *err, conn_t *c, const char *what);
/* Steps st to the end (an INSERT/UPDATE/DELETE), resets it; -1 with err. */
int stmt_exec(conn_t *c, sqlite3_stmt *st, const char *what, err_t *err);
/* Binds text or NULL. */
void bind_text(sqlite3_stmt *st, int i, const char *v);
/* A copy of column i as text, NULL for SQL NULL. */
char *col_strdup(sqlite3_stmt *st, int i);
/* Column i parsed as JSON (jansson decode flags), NULL for SQL NULL or bad JSON. */
json_t *col_json(sqlite3_stmt *st, int i, size_t flags);

/* The parameters ?1, ?2, ... of a statement, in order:
 *     ARGS(SQL_TEXT(name), SQL_INT(now))    NO_ARGS for none.
 * SQL_TEXT(NULL) binds NULL; text is bound without a copy. */
typedef struct sql_arg {
    bool text, blob;
    const char *t;
    int64_t i;                /* the value, or the blob's length */
} sql_arg;
typedef struct sql_args {
    const sql_arg *v;
    size_t n;
} sql_args;
#define SQL_TEXT(x) ((sql_arg){.text = true, .t = (x)})
#define SQL_INT(x) ((sql_arg){.i = (int64_t)(x)})
#define SQL_BLOB(p, n) ((sql_arg){.blob = true, .t = (const char *)(p), .i = (int64_t)(n)})
#define ARGS(...)                                                                              \
    ((sql_args){(const sql_arg[]){__VA_ARGS__},                                                \
                sizeof((const sql_arg[]){__VA_ARGS__}) / sizeof(sql_arg)})
#define NO_ARGS ((sql_args){NULL, 0})

/* Called for each row: 0 goes on, 1 stops there (success), -1 fails
 * (having filled err). */
typedef int (*row_fn)(void *ud, sqlite3_stmt *row, err_t *err);

/* Runs sql on c: prepares it (kept in slot, or for this call with
 * ST_ONCE), binds args, steps through the rows calling row (NULL: none
 * expected, an INSERT/UPDATE/DELETE), then resets or finalizes it. Returns
 * the rows seen, or -1 with "what: <SQLite message>" in err. */
int sql_run(conn_t *c, stmt_slot slot, const char *sql, sql_args args, row_fn row, void *ud,
            const char *what, err_t *err);
/* sql_run for a statement without rows: 0 or -1. */
int sql_exec(conn_t *c, stmt_slot slot, const char *sql, sql_args args, const char *what,
             err_t *err);
/* The first column of the first row as an integer into *out: 1, or 0 when
 * there is no row (*out untouched), or -1. */
int sql_int(conn_t *c, stmt_slot slot, const char *sql, sql_args args, int64_t *out,
            const char *what, err_t *err);

/* Runs fn on a read connection from the pool, inside one read transaction
 * when txn (so that what it reads agrees), and gives the connection back;
 * returns what fn returned. */
typedef int (*reader_fn)(conn_t *c, void *ud, err_t *err);
int with_reader(sq_t *s, bool txn, reader_fn fn, void *ud, err_t *err);
/* One statement on a read connection: with_reader around sql_run; 0 or
 * -1. store_query_int sets *out to 0 when there is no row. */
int store_query(sq_t *s, stmt_slot slot, const char *sql, sql_args args, row_fn row, void *ud,
                const char *what, err_t *err);
int store_query_int(sq_t *s, stmt_slot slot, const char *sql, sql_args args, int64_t *out,
                    const char *what, err_t *err);
/* store_query collecting into a new JSON array, which row appends to (ud);
 * *out is the array, or NULL on -1. */
int store_query_array(sq_t *s, stmt_slot slot, const char *sql, sql_args args, row_fn row,
                      const char *what, json_t **out, err_t *err);
/* One statement without rows as a write operation of its own; *changes
 * (may be NULL) is the rows it changed. 0 or -1. */
int store_write(sq_t *s, stmt_slot slot, const char *sql, sql_args args, const char *what,
                int64_t *changes, err_t *err);
/* Submits op again and again, each time its own transaction so that other
 * writes are not held up, while run sets op->more; *total (may be NULL) is
 * the sum of op->changes. 0 or -1. */
int store_submit_chunks(sq_t *s, wop_t *op, int64_t *total, err_t *err);
/* A row_fn appending column 0, parsed as JSON, to the array ud (bad JSON skipped). */
int rows_json_array(void *ud, sqlite3_stmt *row, err_t *err);
/* A row_fn keeping a copy of column 0 of the first row in *(char **)ud. */
int row_strdup(void *ud, sqlite3_stmt *row, err_t *err);

/* ---- store_sqlite.c ---- */
/* Read connections: take one, give it back (an open read transaction ends). */
conn_t *store_reader(sq_t *s, err_t *err);
void store_reader_put(sq_t *s, conn_t *c);

/* The value of sql (one integer, 0 without a row) as a reader sees it,
 * read again only when another connection (the writer, another process)
 * committed since the last read: for a value that rarely changes and is
 * asked for often (the registrations' generation). 0 or -1. */
int store_watched_int(sq_t *s, const char *sql, int64_t *out, err_t *err);

/* Forgets what the writer knows of the rows it wrote (conn_t.spans,
 * act_max_k): after a rollback, or a commit of another connection. */
void writer_forget(conn_t *c);
/* store_spans.c: forgets the recent traces; frees them. */
void span_cache_reset(conn_t *c);
void span_cache_free(conn_t *c);

/* Queues op and waits for its commit; returns op->rc (err filled on -1). */
int store_submit(sq_t *s, wop_t *op, err_t *err);
/* store_submit for an op that may stand (its run sets op->stand when it
 * found nothing and nothing is due before until_ms): it then waits,
 * without a transaction, until a batch commits work (and runs it again in
 * that same transaction), store_kick, or until_ms (realtime). Returns as
 * store_submit; a run that stood and was not run again found nothing. */
int store_submit_until(sq_t *s, wop_t *op, int64_t until_ms, err_t *err);

/* Queues r (stolen) for the writer's next batch, beside the activation
 * records; waits while too much memory is queued. store_flush waits for it. */
void store_async_put(sq_t *s, arec_t *r);

/* Records the work generation before a claim, so that store_wait_work on
 * the same thread wakes for anything that happened since. */
void store_note_claim(sq_t *s);

/* ---- store_journal.c ---- */
/* The stored state of registration name ("ACTIVE"...), creating it ACTIVE
 * when absent. Writer thread only. *disabled tells whether it is DISABLED. */
int reg_ensure(conn_t *c, const char *name, bool *disabled, err_t *err);
/* The SQL of the registrations' generation (store_regdefs.c bumps it). */
#define REGDEF_GEN_SQL "SELECT value FROM meta WHERE key = 'regdefs_generation'"


/* ---- store_work.c ---- */
/* Writer-thread housekeeping: drops expired dedup keys, old attempts and
 * health buckets, expired action state, a bounded chunk of each per call,
 * inside the caller's transaction. 1 when more remain, 0 when done, -1. */
int store_prune_expired(sq_t *s, conn_t *c, int64_t now, err_t *err);

/* ---- store_regdefs.c ---- */
extern const char STORE_REGDEFS_SCHEMA[];
/* store_meta.c: event metadata (onboarding). */
extern const char STORE_META_SCHEMA[];
/* store_io.c: the Adobe services' records. */
extern const char STORE_IO_SCHEMA[];
extern const char STORE_SPANS_SCHEMA[];
/* store_flows.c: scheduled triggers and the per-minute delivery rollup. */
extern const char STORE_FLOWS_SCHEMA[];

/* ---- store_zip.c: compressed columns ---- */
extern const char STORE_ZIP_SCHEMA[];
typedef struct zip_buf {
    void *data;
    size_t len;
} zip_buf;
/* Writer thread: the argument to bind for text (NUL-terminated) in a
 * compressed column, compressed against the dictionary of group key (made
 * of text when the group has none yet, inside the caller's transaction);
 * plain text when compressing does not pay. free(out->data) after the
 * statement ran. */
sql_arg zip_arg(conn_t *c, const char *key, const char *text, zip_buf *out);
/* Writer thread: the id of str in the strings table (added when new) as an
 * argument to bind; NULL binds NULL. On failure *failed is set and err filled. */
sql_arg intern_arg(conn_t *c, const char *str, err_t *err, bool *failed);
/* Compressing on the caller's thread, before the hand-off to the writer:
 * the dictionaries the writer committed, shared (store_zip.c). */
zip_shared *zip_shared_new(void);
void zip_shared_free(zip_shared *z);
/* Any thread: text compressed against the newest committed dictionary of
 * group key into out, as the writer would store it; false when there is
 * none yet (or every context is busy): the writer compresses it then. */
bool zip_pre(zip_shared *z, const char *key, const char *text, zip_buf *out);
/* Writer: zip_arg, taking pre (from zip_pre; may be empty, stolen when
 * used) instead of compressing text again when it can. */
sql_arg zip_arg_pre(conn_t *c, const char *key, const char *text, zip_buf *pre, zip_buf *out);
/* Writer, after a commit: the dictionaries it made or read become known
 * to zip_pre. */
void zip_publish(conn_t *c, zip_shared *z);
/* After a transaction of the writer that did not commit: the dictionaries
 * and strings it added are gone, forget them. */
void zip_cache_reset(conn_t *c);
void zip_cache_free(conn_t *c);
/* This thread reads on c now: decompression uses c's cache. */
void zip_use(conn_t *c);
/* A NUL-terminated copy of column i, text or compressed (*len its length);
 * NULL for SQL NULL or a value that cannot be decompressed. */
char *col_text_copy(sqlite3_stmt *st, int i, size_t *len);

/* Lower-case hex of even length (ids: 32 digits of a trace, 16 of a span)
 * as its bytes, to bind (buf holds them); a canonical lower-case UUID as
 * its 16 bytes and UUID_TAG (17 bytes, a length 34 digits would have, so
 * those stay text); any other text as text. In SQLite a blob never equals
 * a text, so the forms cannot collide. */
#define UUID_TAG 0x75
sql_arg hex_arg(const char *text, unsigned char buf[32]);
/* Column i as hex_arg stored it, as text (out holds the digits). */
const char *col_hex(sqlite3_stmt *st, int i, char out[65]);
/* evk_hex_pack(text): hex_arg in SQL, for the migrations. */
int hex_pack_register(sqlite3 *db);
/* store_trace.c: schema version 5, traces with interned names; 6, event
 * ids packed. */
extern const char STORE_TRACES_V5[];
extern const char STORE_TRACES_V6[];
/* store_spans.c: schema version 3, spans packed; version 6, a trace id
 * once per trace. */
extern const char STORE_SPANS_V3[];
extern const char STORE_SPANS_V6[];

/* Events by id (bound as hex_arg(id), then id as text): since version 8
 * an event id is packed (hex_arg), before it was text. */
#define EVENT_BY_ID "id IN (?1, ?2)"

/* The key of a publisher's idempotency key in dedup: 16 bytes of
 * SHA-256(provider, NUL, key) in buf, to bind. At 16 bytes two keys meet
 * by chance once in about 2^64 keys. */
#define DEDUP_HASH_LEN 16
sql_arg dedup_arg(const char *provider, const char *key, unsigned char buf[32]);
/* evk_dedup_hash(provider, key): dedup_arg in SQL, for the migrations. */
int dedup_hash_register(sqlite3 *db);

/* ---- store_schema.c ---- */
/* The schema version this build writes. */
#define STORE_SCHEMA_VERSION 9
/* Writer connection, inside the schema transaction: the steps from
 * version (at least 5) to STORE_SCHEMA_VERSION. */
int schema_upgrade(sqlite3 *db, int version, err_t *err);

/* ---- store_kv.c ---- */
/* Caller's thread, before the hand-off: r's body in its stored form,
 * compressed against its action's dictionary when callers know one. */
void act_prepare(sq_t *s, act_rec *r);
/* Writer thread: writes one activation record. */
int act_write(conn_t *c, act_rec *r, err_t *err);
/* Schema version 2: activations refer to their action by interned name
 * and key on a packed id. Needs act_key_register on the connection. */
extern const char STORE_ACT_V2[];
/* Version 7: activations keyed in start order, stored without their id;
 * version 9: the key counted from 2026, in 6 bytes. */
extern const char STORE_ACT_V7[];
extern const char STORE_ACT_V9[];
int act_key_register(sqlite3 *db);
void act_rec_free(act_rec *r);

/* The SQLite store behind a store_t of this backend. */
#define SQ(st) ((sq_t *)(st))

/* ---- the operations of store.h (backend.h's table), by file ---- */
void sq_close(store_t *s);
int sq_provider_id(store_t *s, const char *key, char out[37], err_t *err);
int sq_provider_find(store_t *s, const char *key, char out[37], bool *found, err_t *err);
int sq_event_meta_put(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                      err_t *err);
int sq_event_meta_list(store_t *s, const char *provider, json_t **out, err_t *err);
int sq_append(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err);
int sq_append_batch(store_t *s, const store_event_in *evs, size_t n, store_append_result *res,
                    err_t *err);
int sq_read(store_t *s, const char *provider, int64_t since, int limit, json_t **out, err_t *err);
int sq_read_matching(store_t *s, const char *const *providers, const char *const *types, size_t n,
                     int64_t since, int limit, size_t max_bytes, json_t **out, err_t *err);
int sq_position_before(store_t *s, int64_t time_ms, int64_t *pos, err_t *err);
int sq_journal_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
int sq_journal_floor(store_t *s, int64_t *floor, err_t *err);
int sq_event_get(store_t *s, const char *id, json_t **out, err_t *err);
int sq_claim(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n, err_t *err);
int sq_claim_more(store_t *s, const char *registration, int max, int64_t lease_ms,
                  store_delivery **out, size_t *n, err_t *err);
int sq_finish(store_t *s, const store_attempt *a, err_t *err);
int sq_finish_batch(store_t *s, const store_attempt *a, size_t n, size_t *recorded,
                    err_t *err);
int sq_release_claims(store_t *s, int *released, err_t *err);
int64_t sq_next_due(store_t *s);
int sq_claim_except(store_t *s, int max, int64_t lease_ms, const char *const *skip, size_t nskip,
                    store_delivery **out, size_t *n, err_t *err);
int64_t sq_next_due_except(store_t *s, const char *const *skip, size_t nskip);
int sq_unclaim(store_t *s, const int64_t *ids, size_t n, int64_t due_ms, err_t *err);
int sq_replay_range(store_t *s, const store_replay_opts *o, int *count, int *skipped, err_t *err);
void sq_wait_work(store_t *s, int64_t until_ms);
int sq_claim_wait(store_t *s, int max, int64_t lease_ms, const char *const *skip, size_t nskip,
                  int64_t until_ms, store_delivery **out, size_t *n, err_t *err);
void sq_kick(store_t *s);
int sq_deadletter_list(store_t *s, const char *registration, int limit, json_t **out, err_t *err);
int sq_deadletter_replay(store_t *s, int64_t id, const char *registration, int *count, err_t *err);
int sq_deadletter_replay_all(store_t *s, const char *registration, store_progress_fn progress,
                             void *ud, int *count, err_t *err);
int sq_reg_info_get(store_t *s, const char *registration, store_reg_info *out, err_t *err);
int sq_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err);
int sq_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err);
int sq_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                  int64_t *failures, err_t *err);
int sq_regdef_put(store_t *s, const char *name, const json_t *def, regdef_mode mode, bool *existed,
                  err_t *err);
int sq_regdef_delete(store_t *s, const char *name, bool *existed, int *dropped, err_t *err);
int sq_regdef_list(store_t *s, json_t **out, int64_t *generation, err_t *err);
int sq_regdef_generation(store_t *s, int64_t *generation, err_t *err);
void sq_activation_put(store_t *s, json_t *record);
void sq_activation_put_text(store_t *s, const store_activation_text *m, char *body);
int sq_activation_list(store_t *s, const char *name, int limit, json_t **out, err_t *err);
int sq_activation_get(store_t *s, const char *id, json_t **out, err_t *err);
int sq_activation_query(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms, int skip,
                        int limit, json_t **out, err_t *err);
int sq_activation_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err);
void sq_flush(store_t *s);
void sq_trace_put(store_t *s, const store_trace *t);
int sq_trace_list(store_t *s, const store_trace_filter *f, json_t **out, bool *more, err_t *err);
int sq_trace_get(store_t *s, int64_t id, json_t **out, err_t *err);
int sq_trace_prune(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err);
void sq_span_put(store_t *s, const store_span *sp);
int sq_span_list(store_t *s, const char *trace_id, json_t **out, err_t *err);
/* Deletes spans that ended before cutoff_ms, in one chunk; *n how many. */
int store_spans_prune(sq_t *s, int64_t cutoff_ms, int64_t *n, err_t *err);
int sq_event_page(store_t *s, const char *provider, const char *type, int64_t since, int64_t before,
                  bool latest, int limit, json_t **out, err_t *err);
int sq_event_detail(store_t *s, const char *id, json_t **out, err_t *err);
int sq_state_get(store_t *s, const char *key, json_t **value, err_t *err);
int sq_state_put(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err);
int sq_state_delete(store_t *s, const char *key, bool *existed, err_t *err);
int sq_io_provider_put(store_t *s, const json_t *rec, bool *conflict, err_t *err);
int sq_io_provider_list(store_t *s, json_t **out, err_t *err);
int sq_io_provider_get(store_t *s, const char *id_or_key, json_t **rec, err_t *err);
int sq_io_reg_put(store_t *s, const char *scope, const json_t *rec, bool *conflict, int64_t *id,
                  err_t *err);
int sq_io_reg_list(store_t *s, const char *scope, json_t **out, err_t *err);
int sq_key_get(store_t *s, const char *name, unsigned char *out, size_t len, err_t *err);
int sq_trigger_get(store_t *s, const char *name, int64_t now, store_trigger_rec *out, err_t *err);
int sq_trigger_claim(store_t *s, const char *name, int64_t slot_ms, const char *activation_id,
                     bool *claimed, err_t *err);
int sq_trigger_done(store_t *s, const char *name, const char *activation_id, err_t *err);
int sq_rollup_sample(store_t *s, int64_t now, int64_t keep_ms, err_t *err);
int sq_rollup_read(store_t *s, const char *registration, int64_t since_ms, json_t **out,
                   err_t *err);
/* What attempts add to a registration's minute of the rollup: by outcome,
 * and their durations in the latency buckets. */
typedef struct rollup_counts {
    int64_t success, retry, dead;
    int64_t lat[STORE_LATENCY_BUCKETS];
} rollup_counts;
/* Writer thread, inside store_finish's transaction: n added to registration's
 * minute (minute_ms, a multiple of 60000) of the rollup. */
int rollup_add(conn_t *c, const char *registration, int64_t minute_ms, const rollup_counts *n,
               err_t *err);
int sq_state_entry(store_t *s, const char *key, json_t **value, int64_t *expires_ms, err_t *err);
int sq_state_count(store_t *s, int64_t *n, err_t *err);
int sq_state_clear(store_t *s, int64_t *n, err_t *err);
void sq_stats_get(store_t *s, store_stats *out);
int sq_size_get(store_t *s, store_size *out, err_t *err);

#endif
