/* store_sqlite: the SQLite store's machinery: opening the database (WAL,
 * synchronous=FULL, versioned schema), the writer thread that commits every
 * queued write of all threads in one transaction (group commit), the pool of
 * read connections, and the work signal the delivery dispatcher sleeps on.
 * Statements run through store_sql.c; the operations themselves live in
 * store_journal.c, store_work.c, store_kv.c, store_trace.c, store_browse.c,
 * store_meta.c, store_regdefs.c and store_size.c. */
#include "store/sqlite/sqlite_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/json_io.h"

#define SCHEMA_VERSION STORE_SCHEMA_VERSION
/* Other processes (the CLI beside the daemon) hold the write lock briefly;
 * wait for them rather than fail. */
#define BUSY_TIMEOUT_MS 30000
/* Upper bounds that keep one transaction short. */
#define MAX_BATCH_OPS 4096
#define MAX_BATCH_ACTS 2048
/* Activation records waiting beyond this make store_activation_put wait:
 * memory stays bounded when the disk cannot keep up. */
#define MAX_ACT_QUEUE 65536
/* The same for other asynchronous records (traces), by memory. */
#define MAX_AREC_BYTES (64u * 1024 * 1024)
#define MAX_BATCH_ARECS 2048
#define PRUNE_EVERY_MS 60000

static const char *const SCHEMA_V1 =
    "CREATE TABLE providers("
    "  key TEXT PRIMARY KEY, uuid TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    /* AUTOINCREMENT: a position is never reused, even after the newest
     * events are deleted, so a reader's `since` can never skip one. */
    "CREATE TABLE events("
    "  position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    "  provider TEXT NOT NULL, type TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    "  body TEXT NOT NULL);"
    "CREATE INDEX events_provider ON events(provider, position);"
    "CREATE INDEX events_time ON events(time_ms);"
    "CREATE TABLE dedup("
    "  provider TEXT NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(provider, key)) WITHOUT ROWID;"
    "CREATE INDEX dedup_created ON dedup(created_ms);"
    "CREATE TABLE registrations("
    "  name TEXT PRIMARY KEY, state TEXT NOT NULL, enabled_at_ms INTEGER NOT NULL,"
    "  last_attempt_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')"
    "  WITHOUT ROWID;"
    "CREATE TABLE deliveries("
    "  id INTEGER PRIMARY KEY, position INTEGER NOT NULL, registration TEXT NOT NULL,"
    "  order_key TEXT, state TEXT NOT NULL, due_ms INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 0, first_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    "  lease_until_ms INTEGER NOT NULL DEFAULT 0, last_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
    /* Partial indexes: claim and next_due only ever look at pending and
     * running rows, so done rows (nearly all of them) cost nothing there. */
    "CREATE INDEX deliveries_pending ON deliveries(due_ms, id) WHERE state = 'pending';"
    "CREATE INDEX deliveries_running ON deliveries(lease_until_ms, id) WHERE state = 'running';"
    "CREATE INDEX deliveries_active ON deliveries(registration, order_key, id, state)"
    "  WHERE state IN ('pending','running','parked');"
    "CREATE INDEX deliveries_position ON deliveries(position);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX deliveries_dead ON deliveries(registration, last_attempt_ms)"
    "  WHERE state IN ('dead','failed');"
    "CREATE TABLE attempts("
    "  id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL, registration TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL, ok INTEGER NOT NULL, status INTEGER NOT NULL,"
    "  error TEXT, activation_id TEXT);"
    "CREATE INDEX attempts_time ON attempts(time_ms);"
    /* Health counters per registration and minute: the 24 h window is a sum
     * of at most 1441 rows, however many attempts there were. */
    "CREATE TABLE reg_minutes("
    "  registration TEXT NOT NULL, minute INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    "  failures INTEGER NOT NULL, PRIMARY KEY(registration, minute)) WITHOUT ROWID;"
    "CREATE TABLE activations("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, action TEXT NOT NULL, namespace TEXT,"
    "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX activations_start ON activations(start_ms);"
    "CREATE INDEX activations_name ON activations(name, start_ms);"
    "CREATE INDEX activations_action ON activations(action, start_ms);"
    "CREATE TABLE state("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX state_expires ON state(expires_ms) WHERE expires_ms > 0;";

/* Tables added after schema version 1, each module's own string of
 * idempotent statements (CREATE ... IF NOT EXISTS), run at every open in
 * the schema transaction. A new subsystem appends its string here instead
 * of bumping SCHEMA_VERSION, so stores written before it simply gain the
 * new tables; a change to an existing table still needs a versioned step. */
static const char *const SCHEMA_ADDITIONS[] = {
    /* Delivery traces (store_trace.c): one row per attempt; the request and
     * response are JSON text, already redacted and cut. AUTOINCREMENT: an id
     * is never reused, so a `before` cursor stays valid across pruning. */
    "CREATE TABLE IF NOT EXISTS strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS traces("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, reg INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL, etype INTEGER NOT NULL, delivery_id INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL, start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    "  ok INTEGER NOT NULL, status INTEGER NOT NULL, retried INTEGER NOT NULL,"
    "  activation_id, error TEXT, request NOT NULL, response NOT NULL);"
    "CREATE INDEX IF NOT EXISTS traces_reg ON traces(reg, id);"
    "CREATE INDEX IF NOT EXISTS traces_reg_ok ON traces(reg, ok, id);"
    "CREATE INDEX IF NOT EXISTS traces_delivery ON traces(delivery_id, id);"
    "CREATE INDEX IF NOT EXISTS traces_start ON traces(start_ms);",
    /* Counters per registration kept beside its health: events its filter
     * turned away. */
    "CREATE TABLE IF NOT EXISTS reg_counters("
    "  registration TEXT PRIMARY KEY, filtered INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
    STORE_REGDEFS_SCHEMA,
    STORE_META_SCHEMA,
    STORE_IO_SCHEMA,
    STORE_SPANS_SCHEMA,
    STORE_FLOWS_SCHEMA,
    STORE_ZIP_SCHEMA,
    NULL,
};

/* ---- connections ---- */

static void conn_close(conn_t *c)
{
    zip_cache_free(c);
    span_cache_free(c);
    for (int i = 0; i < ST_COUNT; i++) {
        if (c->st[i]) sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        log_error("cannot close the store database",
                  json_pack("{s:s}", "error", sqlite3_errmsg(c->db)));
    c->db = NULL;
}

static int conn_exec(conn_t *c, const char *sql, const char *what, err_t *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        err_code(err, db_status(rc), "%s: %s", what, msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Opens path with the settings every connection needs. */
static int conn_open(conn_t *c, const char *path, bool writer, err_t *err)
{
    memset(c, 0, sizeof *c);
    /* NOMUTEX: a connection is used by one thread at a time (the writer, or
     * a reader that took it from the pool), so SQLite's own locking is waste. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        err_code(err, db_status(rc), "cannot open the store %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        if (c->db) sqlite3_close(c->db);
        c->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
                                   "PRAGMA cache_size=-32768;"
                                 : "PRAGMA synchronous=FULL; PRAGMA query_only=1;"
                                   "PRAGMA temp_store=MEMORY;";
    if (conn_exec(c, pragmas, "cannot configure the store database", err) < 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

conn_t *store_reader(sq_t *s, err_t *err)
{
    pthread_mutex_lock(&s->pool_mu);
    conn_t *c = s->pool_free;
    if (c) s->pool_free = c->next_free;
    pthread_mutex_unlock(&s->pool_mu);
    if (c) {
        zip_use(c);
        return c;
    }
    /* The pool grows to the number of threads reading at once. */
    c = xmalloc(sizeof *c);
    if (conn_open(c, s->path, false, err) < 0) {
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&s->pool_mu);
    c->next_all = s->pool_all;
    s->pool_all = c;
    pthread_mutex_unlock(&s->pool_mu);
    zip_use(c);
    return c;
}

void store_reader_put(sq_t *s, conn_t *c)
{
    if (!c) return;
    zip_use(NULL);
    /* A read that failed half-way may leave a transaction open. */
    if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_lock(&s->pool_mu);
    c->next_free = s->pool_free;
    s->pool_free = c;
    pthread_mutex_unlock(&s->pool_mu);
}

int store_watched_int(sq_t *s, const char *sql, int64_t *out, err_t *err)
{
    pthread_mutex_lock(&s->watch_mu);
    conn_t *c = &s->watch;
    int rc = c->db ? 0 : conn_open(c, s->path, false, err);
    int64_t dv = -1;
    /* data_version moves when any other connection commits: unchanged, no
     * commit happened since the value was read. */
    if (rc == 0 && sql_int(c, ST_DATA_VERSION, "PRAGMA data_version", NO_ARGS, &dv,
                           "cannot read the store's data version", err) < 0)
        rc = -1;
    if (rc == 0 && (!s->watch_known || dv != s->watch_dv)) {
        int64_t v = 0;
        if (sql_int(c, ST_REGDEF_GEN, sql, NO_ARGS, &v, "cannot read the store", err) < 0) {
            rc = -1;
        } else {
            s->watch_value = v;
            s->watch_dv = dv;
            s->watch_known = true;
        }
    }
    if (rc == 0) *out = s->watch_value;
    pthread_mutex_unlock(&s->watch_mu);
    return rc;
}

/* ---- schema ---- */

static bool table_exists(conn_t *c, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int schema_init(conn_t *c, err_t *err)
{
    if (conn_exec(c, "BEGIN IMMEDIATE", "cannot lock the store to check its schema", err) < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int rc = 0;
    if (version < 0) {
        rc = db_fail(err, c, "cannot read the store schema version");
    } else if (version > SCHEMA_VERSION) {
        rc = err_set(err,
                     "the store was written by a newer evkit (schema version %d, this one knows %d)",
                     version, SCHEMA_VERSION);
    } else if (version == 0) {
        if (conn_exec(c, SCHEMA_V1, "cannot create the store schema", err) < 0) rc = -1;
        version = 1;
    }
    /* Later schema versions migrate here, one step at a time (a new store
     * too: version 1, then every step, so the steps are always exercised). */
    if (rc == 0 && version < SCHEMA_VERSION) {
        if (version < 2 && (act_key_register(c->db) < 0 ||
                            conn_exec(c, STORE_ACT_V2, "cannot upgrade the store to version 2",
                                      err) < 0))
            rc = -1;
        /* Spans arrived at version 2 (in SCHEMA_ADDITIONS); a store without
         * them gets the packed table there. */
        if (rc == 0 && version < 3 && table_exists(c, "spans") &&
            (hex_pack_register(c->db) < 0 ||
             conn_exec(c, STORE_SPANS_V3, "cannot upgrade the store to version 3", err) < 0))
            rc = -1;
        /* Version 4: the attempts table, written on every attempt and never
         * read (the traces and the registration minutes keep attempts), goes. */
        if (rc == 0 && version < 4 &&
            conn_exec(c, "DROP TABLE IF EXISTS attempts", "cannot upgrade the store to version 4",
                      err) < 0)
            rc = -1;
        /* Version 5: traces with interned names and a packed activation id
         * (their indexes are made again by SCHEMA_ADDITIONS). */
        if (rc == 0 && version < 5 && table_exists(c, "traces") &&
            (hex_pack_register(c->db) < 0 ||
             conn_exec(c, STORE_TRACES_V5, "cannot upgrade the store to version 5", err) < 0))
            rc = -1;
        if (rc == 0 && schema_upgrade(c->db, version, err) < 0) rc = -1;
        char setv[64];
        snprintf(setv, sizeof setv, "PRAGMA user_version=%d", SCHEMA_VERSION);
        if (rc == 0 && conn_exec(c, setv, "cannot set the store schema version", err) < 0) rc = -1;
    }
    for (size_t i = 0; rc == 0 && SCHEMA_ADDITIONS[i]; i++)
        if (conn_exec(c, SCHEMA_ADDITIONS[i], "cannot add to the store schema", err) < 0) rc = -1;
    if (rc == 0 && conn_exec(c, "COMMIT", "cannot commit the store schema", err) < 0) rc = -1;
    if (rc < 0) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- the writer thread ---- */

static void fail_ops(wop_t *from, wop_t *to, const char *what, conn_t *c)
{
    for (wop_t *op = from; op != to; op = op->next) {
        if (op->rc == 0) {
            op->rc = -1;
            db_fail(&op->err, c, what);
        }
    }
}

static int sp_exec(conn_t *c, stmt_slot slot, const char *sql)
{
    err_t ignored; /* the caller reports the failure of its op */
    return sql_exec(c, slot, sql, NO_ARGS, "savepoint", &ignored);
}

void writer_forget(conn_t *c)
{
    span_cache_reset(c);
    c->act_max_known = false;
}

/* Starts the writer's transaction. What the writer knows of the
 * registrations' generation stays true unless another connection (another
 * process: the CLI) committed since its last transaction. */
static int writer_begin(conn_t *c, err_t *err)
{
    /* Prepared once: parsing BEGIN and COMMIT cost more than running them. */
    if (sql_exec(c, ST_BEGIN, "BEGIN IMMEDIATE", NO_ARGS, "cannot start a write transaction",
                 err) < 0) {
        c->regdef_gen_known = false;
        writer_forget(c);
        return -1;
    }
    int64_t dv = -1;
    err_t ignored;
    if (sql_int(c, ST_DATA_VERSION, "PRAGMA data_version", NO_ARGS, &dv, "data_version",
                &ignored) != 1 ||
        dv != c->data_version) {
        c->regdef_gen_known = false;
        writer_forget(c);
    }
    c->data_version = dv;
    return 0;
}

/* Runs op in the transaction under way, which began with *first (in a
 * savepoint of its own unless it is that first op). -1 when the transaction was lost and could not begin again
 * (op and every later op failed). */
static int run_op(conn_t *c, wop_t *op, wop_t **first)
{
    err_t err;
    op->rc = 0;
    /* The first op of a transaction needs no savepoint: when it fails,
     * the whole transaction (nothing else yet) is rolled back instead. */
    bool sp = op != *first;
    if (sp && sp_exec(c, ST_SAVEPOINT, "SAVEPOINT op") < 0) {
        op->rc = db_fail(&op->err, c, "cannot start a savepoint");
        return 0;
    }
    int rc = op->run(c, op);
    if (!op->keeps_regdefs) c->regdef_gen_known = false;
    if (rc < 0) {
        op->rc = -1;
        op->work = false;
        op->stand = false;
        op->events = 0;
        if (!sp && !sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        if (sqlite3_get_autocommit(c->db)) {
            /* Some errors (disk full, I/O) roll back the whole
             * transaction: the earlier ops of it are lost too. */
            fail_ops(*first, op, "the write transaction was rolled back", c);
            *first = op->next;
            c->regdef_gen_known = false;
            zip_cache_reset(c); /* its dictionaries and names are gone */
            writer_forget(c);
            if (writer_begin(c, &err) < 0) {
                for (wop_t *o = op->next; o; o = o->next) {
                    o->rc = -1;
                    o->err = err;
                }
                return -1;
            }
            return 0;
        }
        sp_exec(c, ST_ROLLBACK_TO, "ROLLBACK TO op");
        zip_cache_reset(c); /* it may have made a dictionary or a name */
        writer_forget(c);
    }
    if (sp) sp_exec(c, ST_RELEASE, "RELEASE op");
    return 0;
}

/* The standing op, taken to run again in the batch under way. */
static wop_t *standing_take(sq_t *s)
{
    pthread_mutex_lock(&s->mu);
    wop_t *st = s->standing;
    s->standing = NULL;
    pthread_mutex_unlock(&s->mu);
    if (st) {
        st->stood = true;
        st->stand = false;
        st->next = NULL;
    }
    return st;
}

/* Runs one batch: every op in its own savepoint, the activation records,
 * one COMMIT. Sets each op's rc; returns whether the batch committed. When
 * an op committed work, the standing op runs last in the same transaction,
 * so it sees that work and its own changes share the commit. */
static bool run_batch(sq_t *s, wop_t *ops, act_rec *acts, arec_t *arecs, size_t *acts_written)
{
    conn_t *c = &s->w;
    err_t err;
    *acts_written = 0;
    if (writer_begin(c, &err) < 0) {
        for (wop_t *op = ops; op; op = op->next) {
            op->rc = -1;
            op->err = err;
        }
        return false;
    }
    wop_t *first = ops; /* the ops of the transaction under way */
    wop_t *stander = NULL;
    bool work = false;
    for (wop_t *op = ops; op; op = op->next) {
        if (run_op(c, op, &first) < 0) return false;
        if (op->stand) stander = op;
        else if (op->rc == 0 && op->work) {
            work = true;
            /* It did not see this work: it answers now, and looks again. */
            if (stander) stander->stand = false;
        }
        if (!op->next && work) op->next = standing_take(s);
    }
    for (act_rec *r = acts; r; r = r->next) {
        if (act_write(c, r, &err) < 0) {
            log_error("cannot store an activation record",
                      json_pack("{s:s, s:s}", "activationId", r->id, "error", err.msg));
            if (sqlite3_get_autocommit(c->db)) {
                fail_ops(first, NULL, "the write transaction was rolled back", c);
                *acts_written = 0;
                return false;
            }
        } else {
            (*acts_written)++;
        }
    }
    for (arec_t *r = arecs; r; r = r->next) {
        if (r->write(c, r, &err) < 0) {
            log_error("cannot store a record", json_pack("{s:s}", "error", err.msg));
            if (sqlite3_get_autocommit(c->db)) {
                fail_ops(first, NULL, "the write transaction was rolled back", c);
                *acts_written = 0;
                return false;
            }
        }
    }
    if (sql_exec(c, ST_COMMIT, "COMMIT", NO_ARGS, "cannot commit a write transaction", &err) < 0) {
        for (wop_t *op = first; op; op = op->next) {
            if (op->rc == 0) {
                op->rc = -1;
                op->err = err;
            }
        }
        if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        *acts_written = 0;
        return false;
    }
    return true;
}

/* Returns true when expired rows remain (a chunk was full). */
static bool run_prune(sq_t *s)
{
    conn_t *c = &s->w;
    err_t err;
    if (conn_exec(c, "BEGIN IMMEDIATE", "cannot start a write transaction", &err) == 0) {
        int more = store_prune_expired(s, c, now_ms(), &err);
        if (more >= 0 && conn_exec(c, "COMMIT", "cannot commit the store housekeeping", &err) == 0)
            return more > 0;
        if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    log_warn("store housekeeping failed", json_pack("{s:s}", "error", err.msg));
    return false;
}

/* What one batch takes from the queues. */
typedef struct batch {
    wop_t *ops;
    act_rec *acts;
    arec_t *arecs;
    size_t nacts, narecs;
} batch;

/* Takes what is queued, within the batch bounds. Called with s->mu held. */
static void batch_take(sq_t *s, batch *b)
{
    b->ops = s->q_head;
    wop_t *last = NULL;
    size_t nops = 0;
    for (wop_t *op = b->ops; op && nops < MAX_BATCH_OPS; op = op->next) {
        last = op;
        nops++;
    }
    if (last) {
        s->q_head = last->next;
        if (!s->q_head) s->q_tail = NULL;
        last->next = NULL;
    }
    b->acts = s->act_head;
    act_rec *alast = NULL;
    b->nacts = 0;
    for (act_rec *r = b->acts; r && b->nacts < MAX_BATCH_ACTS; r = r->next) {
        alast = r;
        b->nacts++;
    }
    if (alast) {
        s->act_head = alast->next;
        if (!s->act_head) s->act_tail = NULL;
        alast->next = NULL;
        s->act_queued -= b->nacts;
    }
    b->arecs = s->arec_head;
    arec_t *rlast = NULL;
    b->narecs = 0;
    for (arec_t *r = b->arecs; r && b->narecs < MAX_BATCH_ARECS; r = r->next) {
        rlast = r;
        b->narecs++;
        s->arec_bytes -= r->bytes;
    }
    if (rlast) {
        s->arec_head = rlast->next;
        if (!s->arec_head) s->arec_tail = NULL;
        rlast->next = NULL;
    }
}

static void arec_free(arec_t *r)
{
    free(r->strs);
    free(r);
}

/* The ops that may stand (claims) moved last, in order: they then see
 * the work of every other op of the batch. */
static wop_t *standers_last(wop_t *ops)
{
    wop_t *rest = NULL, **rest_tail = &rest, *last = NULL, **last_tail = &last;
    for (wop_t *op = ops, *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        wop_t ***tail = op->may_stand ? &last_tail : &rest_tail;
        **tail = op;
        *tail = &op->next;
    }
    *rest_tail = last;
    return rest;
}

/* Writes batch b and wakes its waiters. Called without s->mu. */
static void batch_run(sq_t *s, batch *b)
{
    size_t written = 0;
    b->ops = standers_last(b->ops);
    bool committed = run_batch(s, b->ops, b->acts, b->arecs, &written);
    if (!committed) {
        zip_cache_reset(&s->w);
        writer_forget(&s->w);
        s->w.regdef_gen_known = false;
    } else {
        zip_publish(&s->w, s->zshared);
    }
    if (!committed && b->nacts)
        log_error("activation records lost: the write transaction failed",
                  json_pack("{s:I}", "records", (json_int_t)b->nacts));
    while (b->acts) {
        act_rec *next = b->acts->next;
        act_rec_free(b->acts);
        b->acts = next;
    }
    if (!committed && b->narecs)
        log_error("records lost: the write transaction failed",
                  json_pack("{s:I}", "records", (json_int_t)b->narecs));
    while (b->arecs) {
        arec_t *next = b->arecs->next;
        arec_free(b->arecs);
        b->arecs = next;
    }

    bool work = false;
    pthread_mutex_lock(&s->mu);
    if (committed) {
        s->stats.commits++;
        s->stats.activations += written;
    }
    for (wop_t **link = &b->ops; *link;) {
        wop_t *op = *link;
        if (op->rc == 0) {
            s->stats.ops++;
            s->stats.events += (uint64_t)op->events;
            if (op->work) work = true;
        }
        /* An op that found nothing stands, unless a kick or work came
         * since its caller looked (then it answers, and its caller looks
         * again). */
        if (op->rc == 0 && op->stand && committed && !s->standing && !s->stopping &&
            !op->expired && s->kicks == op->stand_gen) {
            s->standing = op;
            *link = op->next;
            op->next = NULL;
            continue;
        }
        op->stand = false;
        link = &op->next;
    }
    if (b->nacts || b->narecs) {
        s->act_seq_out += b->nacts + b->narecs;
        pthread_cond_broadcast(&s->cv_done);
        pthread_cond_broadcast(&s->cv_room);
    }
    pthread_mutex_unlock(&s->mu);
    if (work) store_signal_kick(&s->work);
    /* One semaphore per op: each waiter wakes alone, without a herd
     * fighting for the queue mutex. */
    for (wop_t *op = b->ops; op;) {
        wop_t *next = op->next; /* op belongs to its waiter once posted */
        op->done = true;
        sem_post(&op->sem);
        op = next;
    }
}

static bool queued(const sq_t *s) { return s->q_head || s->act_head || s->arec_head; }

static void *writer_main(void *arg)
{
    sq_t *s = arg;
    pthread_setname_np(pthread_self(), "evkit-store");
    zip_use(&s->w);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!queued(s) && !s->stopping) {
            int64_t wait = s->next_prune_mono - mono_ms();
            if (wait <= 0) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000LL;
            ts.tv_sec += (time_t)(wait / 1000 + ns / 1000000000LL);
            ts.tv_nsec = (long)(ns % 1000000000LL);
            if (pthread_cond_timedwait(&s->cv_queue, &s->mu, &ts) == ETIMEDOUT) break;
        }
        if (!queued(s) && s->stopping) break;

        if (mono_ms() >= s->next_prune_mono) {
            pthread_mutex_unlock(&s->mu);
            /* Housekeeping goes in chunks between batches; a backlog of
             * expired rows is worked off every second, not every minute. */
            bool more = run_prune(s);
            pthread_mutex_lock(&s->mu);
            s->next_prune_mono = mono_ms() + (more ? 1000 : PRUNE_EVERY_MS);
        }
        if (!queued(s)) continue;

        batch b;
        batch_take(s, &b);
        pthread_mutex_unlock(&s->mu);
        batch_run(s, &b);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int submit_queue(sq_t *s, wop_t *op, err_t *err)
{
    op->done = false;
    op->rc = 0;
    op->work = false;
    op->events = 0;
    op->changes = 0;
    op->more = false;
    op->stand = false;
    op->stood = false;
    op->expired = false;
    op->next = NULL;
    op->err.msg[0] = '\0';
    sem_init(&op->sem, 0, 0);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        sem_destroy(&op->sem);
        op->rc = err_code(err, EVK_UNAVAILABLE, "the store is closing");
        return -1;
    }
    if (s->q_tail) s->q_tail->next = op;
    else s->q_head = op;
    s->q_tail = op;
    op->stand_gen = s->kicks;
    pthread_cond_signal(&s->cv_queue);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int submit_end(wop_t *op, err_t *err)
{
    sem_destroy(&op->sem);
    if (op->rc < 0 && err) *err = op->err;
    return op->rc;
}

int store_submit(sq_t *s, wop_t *op, err_t *err)
{
    op->may_stand = false;
    if (submit_queue(s, op, err) < 0) return -1;
    while (sem_wait(&op->sem) < 0) {
        /* EINTR: a signal handler ran; keep waiting. */
    }
    return submit_end(op, err);
}

int store_submit_until(sq_t *s, wop_t *op, int64_t until_ms, err_t *err)
{
    op->may_stand = true;
    if (submit_queue(s, op, err) < 0) return -1;
    struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (long)(until_ms % 1000) * 1000000L};
    for (;;) {
        if (sem_timedwait(&op->sem, &ts) == 0) break;
        if (errno != ETIMEDOUT) continue; /* EINTR */
        pthread_mutex_lock(&s->mu);
        bool withdrawn = s->standing == op;
        if (withdrawn) s->standing = NULL;
        else op->expired = true;
        pthread_mutex_unlock(&s->mu);
        if (withdrawn) break; /* it found nothing, and nothing came */
        /* Queued or running: it answers when its batch ends (expired, it
         * cannot stand then, past its deadline with nobody to withdraw it). */
        while (sem_wait(&op->sem) < 0) {
        }
        break;
    }
    return submit_end(op, err);
}

/* ---- open, close ---- */

static const store_backend SQLITE_BACKEND;

int sqlite_store_open(const store_opts *o, store_t **out, err_t *err)
{
    *out = NULL;
    const char *dir = o->dir;
    if (!sqlite3_threadsafe()) return err_set(err, "the SQLite library is not thread-safe");
    if (mkdir_p(dir, err) < 0) return -1;
    sq_t *s = xcalloc(1, sizeof *s);
    s->base.be = &SQLITE_BACKEND;
    s->path = path_join(dir, "evkit.db");
    if (conn_open(&s->w, s->path, true, err) < 0) {
        free(s->path);
        free(s);
        return -1;
    }
    if (schema_init(&s->w, err) < 0) {
        conn_close(&s->w);
        free(s->path);
        free(s);
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_queue, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    pthread_cond_init(&s->cv_room, NULL);
    store_signal_init(&s->work);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->prov_mu, NULL);
    pthread_mutex_init(&s->watch_mu, NULL);
    s->zshared = zip_shared_new();
    static _Atomic uint64_t serials;
    s->serial = ++serials;
    s->next_prune_mono = mono_ms(); /* a first housekeeping pass right away */
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) abort();
    *out = &s->base;
    return 0;
}

void sq_close(store_t *base)
{
    sq_t *s = SQ(base);
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv_queue);
    pthread_mutex_unlock(&s->mu);
    /* The writer drains the queue and the activation records first. */
    pthread_join(s->writer, NULL);
    sq_kick(&s->base);
    /* Records put while closing (after the writer's last batch) are lost;
     * a caller that needs them calls store_flush first. */
    for (act_rec *r = s->act_head; r;) {
        act_rec *next = r->next;
        act_rec_free(r);
        r = next;
    }
    for (arec_t *r = s->arec_head; r;) {
        arec_t *next = r->next;
        arec_free(r);
        r = next;
    }
    conn_close(&s->w);
    zip_shared_free(s->zshared);
    if (s->watch.db) conn_close(&s->watch);
    for (conn_t *c = s->pool_all; c;) {
        conn_t *next = c->next_all;
        conn_close(c);
        free(c);
        c = next;
    }
    for (prov_cache *p = s->provs; p;) {
        prov_cache *next = p->next;
        free(p->key);
        free(p);
        p = next;
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_queue);
    pthread_cond_destroy(&s->cv_done);
    pthread_cond_destroy(&s->cv_room);
    store_signal_fini(&s->work);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->prov_mu);
    pthread_mutex_destroy(&s->watch_mu);
    free(s->path);
    free(s);
}

/* ---- activations queue ---- */

static char *dup_str(json_t *rec, const char *key)
{
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? xstrdup(v) : NULL;
}

/* Queues r (stolen) for the writer; waits while the queue is full. */
static void act_enqueue(sq_t *s, act_rec *r)
{
    if (!r->body) {
        act_rec_free(r);
        return;
    }
    act_prepare(s, r); /* compressed here, not on the writer's thread */
    pthread_mutex_lock(&s->mu);
    while (s->act_queued >= MAX_ACT_QUEUE && !s->stopping)
        pthread_cond_wait(&s->cv_room, &s->mu);
    if (s->act_tail) s->act_tail->next = r;
    else s->act_head = r;
    s->act_tail = r;
    s->act_queued++;
    s->act_seq_in++;
    pthread_cond_signal(&s->cv_queue);
    pthread_mutex_unlock(&s->mu);
}

void sq_activation_put(store_t *base, json_t *record)
{
    sq_t *s = SQ(base);
    if (!record) return;
    const char *id = json_string_value(json_object_get(record, "activationId"));
    if (!json_is_object(record) || !id || !*id) {
        log_error("activation record without activationId not stored", NULL);
        json_decref(record);
        return;
    }
    /* Serialized here, on the caller's thread, to keep the writer lean. */
    act_rec *r = xcalloc(1, sizeof *r);
    r->id = xstrdup(id);
    const char *name = json_string_value(json_object_get(record, "name"));
    const char *path = json_string_value(json_object_get(record, "path"));
    const char *pkg = json_string_value(json_object_get(record, "package"));
    if (name && strchr(name, '/')) r->name = xstrdup(name);
    else if (path && *path) r->name = xstrdup(path);
    else if (pkg && *pkg && name) r->name = xasprintf("%s/%s", pkg, name);
    else r->name = xstrdup(name ? name : "");
    const char *slash = strrchr(r->name, '/');
    r->action = xstrdup(slash ? slash + 1 : r->name);
    r->ns = dup_str(record, "namespace");
    r->start = json_integer_value(json_object_get(record, "start"));
    r->end = json_integer_value(json_object_get(record, "end"));
    r->body = json_text(record, JSON_COMPACT);
    json_decref(record);
    act_enqueue(s, r);
}

void sq_activation_put_text(store_t *base, const store_activation_text *m, char *body)
{
    if (!m->id || !*m->id) {
        log_error("activation record without activationId not stored", NULL);
        free(body);
        return;
    }
    act_rec *r = xcalloc(1, sizeof *r);
    r->id = xstrdup(m->id);
    r->name = xstrdup(m->name ? m->name : "");
    const char *slash = strrchr(r->name, '/');
    r->action = xstrdup(slash ? slash + 1 : r->name);
    r->ns = m->ns ? xstrdup(m->ns) : NULL;
    r->start = m->start_ms;
    r->end = m->end_ms;
    r->body = body;
    act_enqueue(SQ(base), r);
}

void arec_own_strings(arec_t *r, const char **const *fields, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (*fields[i]) total += strlen(*fields[i]) + 1;
    char *w = r->strs = xmalloc(total ? total : 1);
    for (size_t i = 0; i < n; i++) {
        if (!*fields[i]) continue;
        size_t len = strlen(*fields[i]) + 1;
        memcpy(w, *fields[i], len);
        *fields[i] = w;
        w += len;
    }
}

void store_async_put(sq_t *s, arec_t *r)
{
    r->next = NULL;
    pthread_mutex_lock(&s->mu);
    while (s->arec_bytes >= MAX_AREC_BYTES && !s->stopping) pthread_cond_wait(&s->cv_room, &s->mu);
    if (s->arec_tail) s->arec_tail->next = r;
    else s->arec_head = r;
    s->arec_tail = r;
    s->arec_bytes += r->bytes;
    s->act_seq_in++;
    pthread_cond_signal(&s->cv_queue);
    pthread_mutex_unlock(&s->mu);
}

void sq_flush(store_t *base)
{
    sq_t *s = SQ(base);
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->act_seq_in;
    while (s->act_seq_out < target) pthread_cond_wait(&s->cv_done, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void sq_stats_get(store_t *base, store_stats *out)
{
    sq_t *s = SQ(base);
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the work signal ---- */

/* The generation seen when this thread last started a claim: a wake-up
 * that arrives between an empty claim and store_wait_work is not lost. */
static _Thread_local uint64_t claim_serial; /* 0: none (a store's address may be reused) */
static _Thread_local uint64_t claim_gen;

void store_note_claim(sq_t *s)
{
    claim_serial = s->serial;
    claim_gen = store_signal_gen(&s->work);
}

void sq_kick(store_t *base)
{
    sq_t *s = SQ(base);
    store_signal_kick(&s->work);
    pthread_mutex_lock(&s->mu);
    s->kicks++;
    wop_t *st = s->standing;
    s->standing = NULL;
    pthread_mutex_unlock(&s->mu);
    if (st) {
        st->done = true;
        sem_post(&st->sem);
    }
}

void sq_wait_work(store_t *base, int64_t until_ms)
{
    sq_t *s = SQ(base);
    uint64_t seen = claim_serial == s->serial ? claim_gen : store_signal_gen(&s->work);
    claim_serial = 0;
    store_signal_wait(&s->work, seen, until_ms);
}

static const store_backend SQLITE_BACKEND = {
    .name = "sqlite",
    .checks_generation = true,
    .close = sq_close,
    .provider_id = sq_provider_id,
    .provider_find = sq_provider_find,
    .event_meta_put = sq_event_meta_put,
    .event_meta_list = sq_event_meta_list,
    .append = sq_append,
    .append_batch = sq_append_batch,
    .read = sq_read,
    .read_matching = sq_read_matching,
    .position_before = sq_position_before,
    .journal_prune = sq_journal_prune,
    .journal_floor = sq_journal_floor,
    .event_get = sq_event_get,
    .claim = sq_claim,
    .claim_more = sq_claim_more,
    .finish = sq_finish,
    .release_claims = sq_release_claims,
    .next_due = sq_next_due,
    .wait_work = sq_wait_work,
    .kick = sq_kick,
    .deadletter_list = sq_deadletter_list,
    .deadletter_replay = sq_deadletter_replay,
    .deadletter_replay_all = sq_deadletter_replay_all,
    .reg_info_get = sq_reg_info_get,
    .reg_set_state = sq_reg_set_state,
    .reg_enable = sq_reg_enable,
    .reg_window = sq_reg_window,
    .regdef_put = sq_regdef_put,
    .regdef_delete = sq_regdef_delete,
    .regdef_list = sq_regdef_list,
    .regdef_generation = sq_regdef_generation,
    .activation_put = sq_activation_put,
    .activation_list = sq_activation_list,
    .activation_get = sq_activation_get,
    .activation_query = sq_activation_query,
    .activation_prune = sq_activation_prune,
    .flush = sq_flush,
    .trace_put = sq_trace_put,
    .trace_list = sq_trace_list,
    .trace_get = sq_trace_get,
    .trace_prune = sq_trace_prune,
    .event_page = sq_event_page,
    .event_detail = sq_event_detail,
    .state_get = sq_state_get,
    .state_put = sq_state_put,
    .state_delete = sq_state_delete,
    .io_provider_put = sq_io_provider_put,
    .io_provider_list = sq_io_provider_list,
    .io_provider_get = sq_io_provider_get,
    .io_reg_put = sq_io_reg_put,
    .io_reg_list = sq_io_reg_list,
    .key_get = sq_key_get,
    .trigger_get = sq_trigger_get,
    .trigger_claim = sq_trigger_claim,
    .trigger_done = sq_trigger_done,
    .rollup_sample = sq_rollup_sample,
    .rollup_read = sq_rollup_read,
    .state_entry = sq_state_entry,
    .state_count = sq_state_count,
    .state_clear = sq_state_clear,
    .claim_except = sq_claim_except,
    .next_due_except = sq_next_due_except,
    .unclaim = sq_unclaim,
    .replay_range = sq_replay_range,
    .span_put = sq_span_put,
    .span_list = sq_span_list,
    .stats_get = sq_stats_get,
    .size_get = sq_size_get,
    .finish_batch = sq_finish_batch,
    .activation_put_text = sq_activation_put_text,
    .claim_wait = sq_claim_wait,
};
