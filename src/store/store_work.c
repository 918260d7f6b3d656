/* store_work: delivery work: claiming due deliveries (with per-key
 * ordering and crash recovery through leases), recording attempts,
 * dead letters, registration health and state, and the housekeeping that
 * keeps the dedup, attempt and state tables bounded. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
/* Attempt rows are kept a little longer than the health window needs. */
#define ATTEMPT_RETENTION_MS (DAY_MS + 3600 * 1000)
#define PRUNE_CHUNK 20000

/* A delivery may go when its registration is not DISABLED and, with an
 * order key, no earlier delivery of the same registration and key is still
 * open (pending, even if not due yet, running or parked). The IN list must
 * stay literally the one of the deliveries_active partial index. */
#define CLAIMABLE                                                                              \
    " AND NOT EXISTS (SELECT 1 FROM registrations r"                                           \
    "   WHERE r.name = d.registration AND r.state = 'DISABLED')"                               \
    " AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries b"                      \
    "   WHERE b.registration = d.registration AND b.order_key = d.order_key AND b.id < d.id"   \
    "   AND b.state IN ('pending','running','parked')))"

const char *reg_state_name(reg_state st)
{
    switch (st) {
    case REG_UNSTABLE: return "UNSTABLE";
    case REG_DISABLED: return "DISABLED";
    default: return "ACTIVE";
    }
}

static reg_state reg_state_parse(const char *s)
{
    if (s && !strcmp(s, "DISABLED")) return REG_DISABLED;
    if (s && !strcmp(s, "UNSTABLE")) return REG_UNSTABLE;
    return REG_ACTIVE;
}

void store_delivery_free(store_delivery *d)
{
    if (!d) return;
    free(d->registration);
    free(d->order_key);
    json_decref(d->event);
    memset(d, 0, sizeof *d);
}

/* ---- claim ---- */

typedef struct {
    int max;
    int64_t lease_ms;
    store_delivery *out;   /* event still NULL: bodies parsed by the caller */
    char **bodies;
    size_t n;
} claim_arg;

static void claim_arg_clear(claim_arg *a)
{
    for (size_t i = 0; i < a->n; i++) {
        store_delivery_free(&a->out[i]);
        free(a->bodies[i]);
    }
    free(a->out);
    free(a->bodies);
    a->out = NULL;
    a->bodies = NULL;
    a->n = 0;
}

static int claim_collect(conn_t *c, sqlite3_stmt *st, claim_arg *a, int64_t now, err_t *err)
{
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, a->max - (int)a->n);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_delivery *d = &a->out[a->n];
        d->id = sqlite3_column_int64(st, 0);
        d->position = sqlite3_column_int64(st, 1);
        d->registration = col_strdup(st, 2);
        d->order_key = col_strdup(st, 3);
        d->attempt = sqlite3_column_int(st, 4) + 1;
        d->first_attempt_ms = sqlite3_column_int64(st, 5);
        a->bodies[a->n] = col_strdup(st, 6);
        a->n++;
    }
    stmt_reset(st);
    if (rc != SQLITE_DONE) return db_fail(err, c, "cannot claim deliveries");
    return 0;
}

static int run_claim(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    claim_arg *a = op->arg;
    const char *what = "cannot claim deliveries";
    int64_t now = now_ms();
    a->out = xcalloc((size_t)a->max, sizeof *a->out);
    a->bodies = xcalloc((size_t)a->max, sizeof *a->bodies);
    /* Running deliveries whose lease ran out belong to a process that died
     * (or hung): they go again first. */
    sqlite3_stmt *st = conn_stmt(
        c, ST_CLAIM_EXPIRED,
        "SELECT d.id, d.position, d.registration, d.order_key, d.attempt, d.first_attempt_ms,"
        " e.body FROM deliveries d CROSS JOIN events e ON e.position = d.position"
        " WHERE d.state = 'running' AND d.lease_until_ms <= ?1" CLAIMABLE
        " ORDER BY d.lease_until_ms, d.id LIMIT ?2");
    if (!st || claim_collect(c, st, a, now, &op->err) < 0) goto fail;
    if ((int)a->n < a->max) {
        st = conn_stmt(
            c, ST_CLAIM_PENDING,
            "SELECT d.id, d.position, d.registration, d.order_key, d.attempt, d.first_attempt_ms,"
            " e.body FROM deliveries d CROSS JOIN events e ON e.position = d.position"
            " WHERE d.state = 'pending' AND d.due_ms <= ?1" CLAIMABLE
            " ORDER BY d.due_ms, d.id LIMIT ?2");
        if (!st || claim_collect(c, st, a, now, &op->err) < 0) goto fail;
    }
    st = conn_stmt(c, ST_CLAIM_MARK,
                   "UPDATE deliveries SET state = 'running', lease_until_ms = ?2,"
                   " attempt = attempt + 1,"
                   " first_attempt_ms = CASE WHEN first_attempt_ms = 0 THEN ?3"
                   "   ELSE first_attempt_ms END"
                   " WHERE id = ?1");
    if (!st) goto fail;
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_bind_int64(st, 1, a->out[i].id);
        sqlite3_bind_int64(st, 2, now + a->lease_ms);
        sqlite3_bind_int64(st, 3, now);
        if (stmt_exec(c, st, what, &op->err) < 0) {
            claim_arg_clear(a);
            return -1;
        }
    }
    return 0;
fail:
    if (!op->err.msg[0]) db_fail(&op->err, c, what);
    claim_arg_clear(a);
    return -1;
}

int store_claim(store_t *s, int max, int64_t lease_ms, store_delivery **out, size_t *n,
                err_t *err)
{
    *out = NULL;
    *n = 0;
    store_note_claim(s);
    if (max <= 0) return 0;
    if (lease_ms <= 0) lease_ms = 60000;
    claim_arg a = {.max = max, .lease_ms = lease_ms};
    wop_t op = {.run = run_claim, .arg = &a};
    if (store_submit(s, &op, err) < 0) {
        claim_arg_clear(&a);
        return -1;
    }
    /* Parsing happens here, off the writer thread. */
    for (size_t i = 0; i < a.n; i++) {
        const char *b = a.bodies[i];
        a.out[i].event = b ? json_loads(b, 0, NULL) : NULL;
        if (!a.out[i].event) a.out[i].event = json_object();
        free(a.bodies[i]);
    }
    free(a.bodies);
    if (a.n == 0) {
        free(a.out);
        a.out = NULL;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

/* ---- finish ---- */

static const char *outcome_state(store_outcome o)
{
    switch (o) {
    case DELIVERY_DONE: return "done";
    case DELIVERY_RETRY: return "pending";
    case DELIVERY_FAILED: return "failed";
    default: return "dead";
    }
}

static int run_finish(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    const store_attempt *a = op->arg;
    const char *what = "cannot record delivery attempt";
    sqlite3_stmt *st = conn_stmt(c, ST_DELIVERY_REG, "SELECT registration FROM deliveries WHERE id = ?1");
    if (!st) return db_fail(&op->err, c, what);
    sqlite3_bind_int64(st, 1, a->delivery_id);
    int rc = sqlite3_step(st);
    char *reg = rc == SQLITE_ROW ? col_strdup(st, 0) : NULL;
    stmt_reset(st);
    if (rc == SQLITE_DONE)
        return err_set(&op->err, "%s: delivery %lld does not exist", what, (long long)a->delivery_id);
    if (rc != SQLITE_ROW || !reg) {
        free(reg);
        return db_fail(&op->err, c, what);
    }
    int64_t now = now_ms();
    int64_t t = a->ended_ms > 0 ? a->ended_ms : now;
    bool ok = a->outcome == DELIVERY_DONE;
    char fallback[48];
    const char *error = a->error;
    if (!ok && (!error || !*error)) {
        snprintf(fallback, sizeof fallback, "status %d", a->status_code);
        error = fallback;
    }
    if (ok) error = NULL;
    int result = -1;

    st = conn_stmt(c, ST_ATTEMPT_INSERT,
                   "INSERT INTO attempts(delivery_id, registration, time_ms, ok, status, error,"
                   " activation_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) goto out_fail;
    sqlite3_bind_int64(st, 1, a->delivery_id);
    bind_text(st, 2, reg);
    sqlite3_bind_int64(st, 3, t);
    sqlite3_bind_int(st, 4, ok);
    sqlite3_bind_int(st, 5, a->status_code);
    bind_text(st, 6, error);
    bind_text(st, 7, a->activation_id && *a->activation_id ? a->activation_id : NULL);
    if (stmt_exec(c, st, what, &op->err) < 0) goto out;

    /* A retry of a registration disabled meanwhile waits parked. */
    st = conn_stmt(c, ST_DELIVERY_FINISH,
                   "UPDATE deliveries SET"
                   " state = CASE WHEN ?2 = 'pending' AND EXISTS (SELECT 1 FROM registrations r"
                   "   WHERE r.name = deliveries.registration AND r.state = 'DISABLED')"
                   "   THEN 'parked' ELSE ?2 END,"
                   " due_ms = CASE WHEN ?2 = 'pending' THEN ?3 ELSE due_ms END,"
                   " lease_until_ms = 0, last_attempt_ms = ?4, last_status = ?5, last_error = ?6"
                   " WHERE id = ?1");
    if (!st) goto out_fail;
    sqlite3_bind_int64(st, 1, a->delivery_id);
    bind_text(st, 2, outcome_state(a->outcome));
    sqlite3_bind_int64(st, 3, a->next_due_ms > 0 ? a->next_due_ms : now);
    sqlite3_bind_int64(st, 4, t);
    sqlite3_bind_int(st, 5, a->status_code);
    bind_text(st, 6, error);
    if (stmt_exec(c, st, what, &op->err) < 0) goto out;

    st = conn_stmt(c, ST_MINUTE_ADD,
                   "INSERT INTO reg_minutes(registration, minute, attempts, failures)"
                   " VALUES(?1, ?2, 1, ?3) ON CONFLICT(registration, minute) DO UPDATE SET"
                   " attempts = attempts + 1, failures = failures + excluded.failures");
    if (!st) goto out_fail;
    bind_text(st, 1, reg);
    sqlite3_bind_int64(st, 2, t / 60000);
    sqlite3_bind_int(st, 3, !ok);
    if (stmt_exec(c, st, what, &op->err) < 0) goto out;

    st = conn_stmt(c, ST_REG_LAST,
                   "INSERT INTO registrations(name, state, enabled_at_ms, last_attempt_ms, last_error)"
                   " VALUES(?1, 'ACTIVE', ?2, ?2, coalesce(?3, '')) ON CONFLICT(name) DO UPDATE SET"
                   " last_attempt_ms = excluded.last_attempt_ms,"
                   " last_error = CASE WHEN ?3 IS NULL THEN last_error ELSE ?3 END");
    if (!st) goto out_fail;
    bind_text(st, 1, reg);
    sqlite3_bind_int64(st, 2, t);
    bind_text(st, 3, error);
    if (stmt_exec(c, st, what, &op->err) < 0) goto out;
    /* A finished delivery may unblock the next one of its order key, and a
     * retry changes the next due time: the dispatcher should look again. */
    op->work = true;
    result = 0;
    goto out;
out_fail:
    db_fail(&op->err, c, what);
out:
    free(reg);
    return result;
}

int store_finish(store_t *s, const store_attempt *a, err_t *err)
{
    if (!a) return err_set(err, "no attempt to record");
    wop_t op = {.run = run_finish, .arg = (void *)a};
    return store_submit(s, &op, err);
}

/* ---- next due ---- */

int64_t store_next_due(store_t *s)
{
    err_t err;
    conn_t *c = store_reader(s, &err);
    if (!c) return INT64_MAX;
    int64_t best = INT64_MAX;
    /* The same predicate as the claim: a delivery blocked behind its order
     * key is not work, or the dispatcher would spin on it. */
    sqlite3_stmt *st = conn_stmt(c, ST_NEXT_DUE_PENDING,
                                 "SELECT d.due_ms FROM deliveries d WHERE d.state = 'pending'" CLAIMABLE
                                 " ORDER BY d.due_ms LIMIT 1");
    if (st) {
        if (sqlite3_step(st) == SQLITE_ROW) best = sqlite3_column_int64(st, 0);
        stmt_reset(st);
    }
    st = conn_stmt(c, ST_NEXT_DUE_LEASE,
                   "SELECT d.lease_until_ms FROM deliveries d WHERE d.state = 'running'" CLAIMABLE
                   " ORDER BY d.lease_until_ms LIMIT 1");
    if (st) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) < best)
            best = sqlite3_column_int64(st, 0);
        stmt_reset(st);
    }
    store_reader_put(s, c);
    return best;
}

/* ---- dead letters ---- */

int store_deadletter_list(store_t *s, const char *registration, int limit, json_t **out,
                          err_t *err)
{
    *out = NULL;
    if (limit <= 0) limit = 100;
    const char *what = "cannot list dead letters";
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
#define DEAD_COLS                                                                              \
    "SELECT d.id, d.registration, e.id, e.type, d.attempt, d.state, d.last_status,"           \
    " d.last_error, d.first_attempt_ms, d.last_attempt_ms"                                     \
    " FROM deliveries d JOIN events e ON e.position = d.position"
    sqlite3_stmt *st;
    if (registration) {
        st = conn_stmt(c, ST_DEAD_LIST_REG,
                       DEAD_COLS " WHERE d.registration = ?1 AND d.state IN ('dead','failed')"
                                 " ORDER BY d.last_attempt_ms DESC, d.id DESC LIMIT ?2");
        if (st) {
            bind_text(st, 1, registration);
            sqlite3_bind_int(st, 2, limit);
        }
    } else {
        st = conn_stmt(c, ST_DEAD_LIST_ALL,
                       DEAD_COLS " WHERE d.state IN ('dead','failed')"
                                 " ORDER BY d.last_attempt_ms DESC, d.id DESC LIMIT ?1");
        if (st) sqlite3_bind_int(st, 1, limit);
    }
#undef DEAD_COLS
    if (!st) {
        db_fail(err, c, what);
        store_reader_put(s, c);
        return -1;
    }
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 5);
        const char *last_error = (const char *)sqlite3_column_text(st, 7);
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:i, s:s?, s:I, s:I}", "id",
                           (json_int_t)sqlite3_column_int64(st, 0), "registration",
                           (const char *)sqlite3_column_text(st, 1), "event_id",
                           (const char *)sqlite3_column_text(st, 2), "type",
                           (const char *)sqlite3_column_text(st, 3), "attempts",
                           sqlite3_column_int(st, 4), "reason",
                           state && !strcmp(state, "failed") ? "rejected" : "expired",
                           "last_status", sqlite3_column_int(st, 6), "last_error", last_error,
                           "first_attempt", (json_int_t)sqlite3_column_int64(st, 8),
                           "last_attempt", (json_int_t)sqlite3_column_int64(st, 9)));
    }
    if (rc != SQLITE_DONE) db_fail(err, c, what);
    stmt_reset(st);
    store_reader_put(s, c);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

typedef struct {
    int64_t id;
    const char *registration;
    int count;
} dead_replay_arg;

#define DEAD_REPLAY_SET                                                                        \
    "UPDATE deliveries SET"                                                                    \
    " state = CASE WHEN EXISTS (SELECT 1 FROM registrations r"                                 \
    "   WHERE r.name = deliveries.registration AND r.state = 'DISABLED')"                      \
    "   THEN 'parked' ELSE 'pending' END,"                                                     \
    " attempt = 0, first_attempt_ms = 0, lease_until_ms = 0, due_ms = ?1"

static int run_dead_replay(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    dead_replay_arg *a = op->arg;
    const char *what = "cannot replay dead letters";
    sqlite3_stmt *st;
    if (a->id > 0) {
        st = conn_stmt(c, ST_DEAD_REPLAY_ONE,
                       DEAD_REPLAY_SET " WHERE id = ?2 AND state IN ('dead','failed')"
                                       " AND (?3 IS NULL OR registration = ?3)");
        if (!st) return db_fail(&op->err, c, what);
        sqlite3_bind_int64(st, 2, a->id);
        bind_text(st, 3, a->registration);
    } else if (a->registration) {
        st = conn_stmt(c, ST_DEAD_REPLAY_REG,
                       DEAD_REPLAY_SET " WHERE registration = ?2 AND state IN ('dead','failed')");
        if (!st) return db_fail(&op->err, c, what);
        bind_text(st, 2, a->registration);
    } else {
        st = conn_stmt(c, ST_DEAD_REPLAY_ALL, DEAD_REPLAY_SET " WHERE state IN ('dead','failed')");
        if (!st) return db_fail(&op->err, c, what);
    }
    sqlite3_bind_int64(st, 1, now_ms());
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    a->count = sqlite3_changes(c->db);
    op->work = a->count > 0;
    return 0;
}

int store_deadletter_replay(store_t *s, int64_t id, const char *registration, int *count,
                            err_t *err)
{
    *count = 0;
    dead_replay_arg a = {.id = id, .registration = registration};
    wop_t op = {.run = run_dead_replay, .arg = &a};
    if (store_submit(s, &op, err) < 0) return -1;
    *count = a.count;
    return 0;
}

/* ---- dead letters in bulk, chunk by chunk ---- */

#define DEAD_REPLAY_CHUNK 500

typedef struct {
    const char *registration;
    int64_t after, upto;        /* id range still to do: (after, upto] */
    int count;
    bool more;
} dead_chunk_arg;

static int run_dead_replay_chunk(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    dead_chunk_arg *a = op->arg;
    const char *what = "cannot replay dead letters";
    sqlite3_stmt *st = NULL;
    /* The chunk's last id first, so the UPDATE is a plain id range. */
    if (sqlite3_prepare_v2(c->db,
                           "SELECT max(id) FROM (SELECT id FROM deliveries"
                           " WHERE state IN ('dead','failed') AND id > ?1 AND id <= ?2"
                           " AND (?3 IS NULL OR registration = ?3) ORDER BY id LIMIT ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, what);
    sqlite3_bind_int64(st, 1, a->after);
    sqlite3_bind_int64(st, 2, a->upto);
    bind_text(st, 3, a->registration);
    sqlite3_bind_int(st, 4, DEAD_REPLAY_CHUNK);
    int rc = sqlite3_step(st);
    bool none = rc != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL;
    int64_t last = none ? 0 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return db_fail(&op->err, c, what);
    a->count = 0;
    a->more = false;
    if (none) return 0;
    if (sqlite3_prepare_v2(c->db,
                           DEAD_REPLAY_SET " WHERE id > ?2 AND id <= ?3 AND state IN ('dead','failed')"
                                           " AND (?4 IS NULL OR registration = ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, what);
    sqlite3_bind_int64(st, 1, now_ms());
    sqlite3_bind_int64(st, 2, a->after);
    sqlite3_bind_int64(st, 3, last);
    bind_text(st, 4, a->registration);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(&op->err, c, what);
    a->count = sqlite3_changes(c->db);
    a->after = last;
    a->more = last < a->upto;
    op->work = a->count > 0;
    return 0;
}

int store_deadletter_replay_all(store_t *s, const char *registration, store_progress_fn progress,
                                void *ud, int *count, err_t *err)
{
    *count = 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    int64_t total = 0, upto = 0;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT count(*), coalesce(max(id), 0) FROM deliveries"
                                " WHERE state IN ('dead','failed') AND (?1 IS NULL OR registration = ?1)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        bind_text(st, 1, registration);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            total = sqlite3_column_int64(st, 0);
            upto = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        db_fail(err, c, "cannot count dead letters");
        store_reader_put(s, c);
        return -1;
    }
    store_reader_put(s, c);
    if (progress) progress(ud, 0, total);
    dead_chunk_arg a = {.registration = registration, .after = 0, .upto = upto, .more = total > 0};
    while (a.more) {
        wop_t op = {.run = run_dead_replay_chunk, .arg = &a};
        if (store_submit(s, &op, err) < 0) return -1;
        *count += a.count;
        if (progress) progress(ud, *count, total);
    }
    return 0;
}

/* ---- registration health ---- */

int store_reg_info_get(store_t *s, const char *registration, store_reg_info *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    out->state = REG_ACTIVE;
    if (!registration || !*registration) return err_set(err, "registration is required");
    const char *what = "cannot read registration health";
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    /* One read transaction: the numbers agree with each other. */
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    int64_t now = now_ms(), enabled_at = 0;
    sqlite3_stmt *st = conn_stmt(c, ST_REG_GET,
                                 "SELECT state, enabled_at_ms, last_error, last_attempt_ms"
                                 " FROM registrations WHERE name = ?1");
    if (!st) goto fail;
    bind_text(st, 1, registration);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->state = reg_state_parse((const char *)sqlite3_column_text(st, 0));
        enabled_at = sqlite3_column_int64(st, 1);
        const char *le = (const char *)sqlite3_column_text(st, 2);
        snprintf(out->last_error, sizeof out->last_error, "%s", le ? le : "");
        out->last_attempt_ms = sqlite3_column_int64(st, 3);
    }
    stmt_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;

    /* Minute buckets: the window starts at the minute of max(now - 24 h,
     * enabled_at); enabling also clears the buckets, so nothing from
     * before it counts. */
    int64_t from = now - DAY_MS > enabled_at ? now - DAY_MS : enabled_at;
    st = conn_stmt(c, ST_REG_COUNTS,
                   "SELECT coalesce(sum(attempts), 0), coalesce(sum(failures), 0)"
                   " FROM reg_minutes WHERE registration = ?1 AND minute >= ?2");
    if (!st) goto fail;
    bind_text(st, 1, registration);
    sqlite3_bind_int64(st, 2, from / 60000);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->attempts_24h = sqlite3_column_int64(st, 0);
        out->failures_24h = sqlite3_column_int64(st, 1);
    }
    stmt_reset(st);
    if (rc != SQLITE_ROW) goto fail;

    st = conn_stmt(c, ST_REG_BACKLOG,
                   "SELECT state, count(*) FROM deliveries WHERE registration = ?1"
                   " AND state IN ('pending','running','parked') GROUP BY state");
    if (!st) goto fail;
    bind_text(st, 1, registration);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t k = sqlite3_column_int64(st, 1);
        out->backlog += k;
        const char *state = (const char *)sqlite3_column_text(st, 0);
        if (state && !strcmp(state, "parked")) out->parked = k;
    }
    stmt_reset(st);
    if (rc != SQLITE_DONE) goto fail;

    st = conn_stmt(c, ST_REG_DEAD,
                   "SELECT count(*) FROM deliveries WHERE registration = ?1"
                   " AND state IN ('dead','failed')");
    if (!st) goto fail;
    bind_text(st, 1, registration);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) out->dead = sqlite3_column_int64(st, 0);
    stmt_reset(st);
    if (rc != SQLITE_ROW) goto fail;
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    store_reader_put(s, c);
    return 0;
fail:
    db_fail(err, c, what);
    store_reader_put(s, c);
    return -1;
}

/* Parked deliveries of name become pending, due now; *n gets how many. */
static int reg_unpark(conn_t *c, const char *name, int64_t now, int *n, err_t *err)
{
    const char *what = "cannot resume parked deliveries";
    sqlite3_stmt *st = conn_stmt(c, ST_REG_UNPARK,
                                 "UPDATE deliveries SET state = 'pending', due_ms = ?2"
                                 " WHERE registration = ?1 AND state IN ('pending','running','parked')"
                                 " AND state = 'parked'");
    if (!st) return db_fail(err, c, what);
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now);
    if (stmt_exec(c, st, what, err) < 0) return -1;
    *n = sqlite3_changes(c->db);
    return 0;
}

typedef struct {
    const char *name;
    reg_state state;
    int resumed;
} reg_arg;

static int run_reg_set_state(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    reg_arg *a = op->arg;
    const char *what = "cannot set registration state";
    int64_t now = now_ms();
    sqlite3_stmt *st = conn_stmt(c, ST_REG_PUT_STATE,
                                 "INSERT INTO registrations(name, state, enabled_at_ms)"
                                 " VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET"
                                 " state = excluded.state");
    if (!st) return db_fail(&op->err, c, what);
    bind_text(st, 1, a->name);
    bind_text(st, 2, reg_state_name(a->state));
    sqlite3_bind_int64(st, 3, now);
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    if (a->state == REG_DISABLED) {
        /* Its waiting deliveries stay, parked, until it is enabled: claims
         * and next_due then never look at them. */
        st = conn_stmt(c, ST_REG_PARK,
                       "UPDATE deliveries SET state = 'parked'"
                       " WHERE registration = ?1 AND state IN ('pending','running','parked')"
                       " AND state = 'pending'");
        if (!st) return db_fail(&op->err, c, what);
        bind_text(st, 1, a->name);
        return stmt_exec(c, st, what, &op->err);
    }
    if (reg_unpark(c, a->name, now, &a->resumed, &op->err) < 0) return -1;
    op->work = a->resumed > 0;
    return 0;
}

int store_reg_set_state(store_t *s, const char *registration, reg_state st, err_t *err)
{
    if (!registration || !*registration) return err_set(err, "registration is required");
    reg_arg a = {.name = registration, .state = st};
    wop_t op = {.run = run_reg_set_state, .arg = &a};
    return store_submit(s, &op, err);
}

static int run_reg_enable(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    reg_arg *a = op->arg;
    const char *what = "cannot enable registration";
    int64_t now = now_ms();
    sqlite3_stmt *st = conn_stmt(c, ST_REG_ENABLE,
                                 "INSERT INTO registrations(name, state, enabled_at_ms)"
                                 " VALUES(?1, 'ACTIVE', ?2) ON CONFLICT(name) DO UPDATE SET"
                                 " state = 'ACTIVE', enabled_at_ms = excluded.enabled_at_ms");
    if (!st) return db_fail(&op->err, c, what);
    bind_text(st, 1, a->name);
    sqlite3_bind_int64(st, 2, now);
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    /* The health window restarts now. */
    st = conn_stmt(c, ST_REG_RESET_MINUTES, "DELETE FROM reg_minutes WHERE registration = ?1");
    if (!st) return db_fail(&op->err, c, what);
    bind_text(st, 1, a->name);
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    if (reg_unpark(c, a->name, now, &a->resumed, &op->err) < 0) return -1;
    op->work = true;
    return 0;
}

int store_reg_enable(store_t *s, const char *registration, int *resumed, err_t *err)
{
    if (resumed) *resumed = 0;
    if (!registration || !*registration) return err_set(err, "registration is required");
    reg_arg a = {.name = registration, .state = REG_ACTIVE};
    wop_t op = {.run = run_reg_enable, .arg = &a};
    if (store_submit(s, &op, err) < 0) return -1;
    if (resumed) *resumed = a.resumed;
    return 0;
}

/* ---- crash recovery ---- */

typedef struct release_arg {
    int released;
} release_arg;

static int run_release(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    release_arg *a = op->arg;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "UPDATE deliveries SET lease_until_ms = 0 WHERE state = 'running'",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, "cannot release claims");
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(&op->err, c, "cannot release claims");
    a->released = sqlite3_changes(c->db);
    if (a->released > 0) op->work = true;
    return 0;
}

int store_release_claims(store_t *s, int *released, err_t *err)
{
    release_arg a = {0};
    wop_t op = {.run = run_release, .arg = &a};
    if (store_submit(s, &op, err) < 0) return -1;
    if (released) *released = a.released;
    return 0;
}

/* ---- housekeeping ---- */

static int prune_one(conn_t *c, stmt_slot slot, const char *sql, int64_t bound, bool *more,
                     err_t *err)
{
    sqlite3_stmt *st = conn_stmt(c, slot, sql);
    if (!st) return db_fail(err, c, "cannot prune the store");
    sqlite3_bind_int64(st, 1, bound);
    if (stmt_exec(c, st, "cannot prune the store", err) < 0) return -1;
    if (sqlite3_changes(c->db) >= PRUNE_CHUNK) *more = true;
    return 0;
}

int store_prune_expired(store_t *s, conn_t *c, int64_t now, err_t *err)
{
    (void)s;
    bool more = false;
#define CHUNK_STR "20000"
    _Static_assert(PRUNE_CHUNK == 20000, "CHUNK_STR must match PRUNE_CHUNK");
    if (prune_one(c, ST_PRUNE_DEDUP,
                  "DELETE FROM dedup WHERE (provider, key) IN (SELECT provider, key FROM dedup"
                  " WHERE created_ms < ?1 LIMIT " CHUNK_STR ")",
                  now - DAY_MS, &more, err) < 0 ||
        prune_one(c, ST_PRUNE_ATTEMPTS,
                  "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE time_ms < ?1"
                  " LIMIT " CHUNK_STR ")",
                  now - ATTEMPT_RETENTION_MS, &more, err) < 0 ||
        prune_one(c, ST_PRUNE_MINUTES, "DELETE FROM reg_minutes WHERE minute < ?1",
                  (now - ATTEMPT_RETENTION_MS) / 60000, &more, err) < 0 ||
        prune_one(c, ST_PRUNE_STATE,
                  "DELETE FROM state WHERE key IN (SELECT key FROM state"
                  " WHERE expires_ms > 0 AND expires_ms <= ?1 LIMIT " CHUNK_STR ")",
                  now, &more, err) < 0)
        return -1;
#undef CHUNK_STR
    return more ? 1 : 0;
}
