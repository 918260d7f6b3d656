/* store_work: delivery work: claiming due deliveries (with per-key
 * ordering and crash recovery through leases), recording attempts,
 * dead letters, registration health and state, and the housekeeping that
 * keeps the dedup, attempt and state tables bounded. */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/vec.h"

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

/* Registrations left out of a claim: ?3 is a JSON array of their names. */
#define NOT_SKIPPED " AND d.registration NOT IN (SELECT value FROM json_each(?3))"
#define NOT_SKIPPED1 " AND d.registration NOT IN (SELECT value FROM json_each(?1))"

/* ---- claim ---- */

typedef struct {
    const char *registration;   /* store_claim_more: only this one's */
    const char *skip;           /* store_claim_except: a JSON array of names, else NULL */
    int64_t until_ms;           /* store_claim_wait: stand when nothing is due before */
    int64_t due_ms;             /* store_claim_wait: set when it found nothing */
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

#define CLAIM_COLS                                                                             \
    "SELECT d.id, d.position, d.registration, d.order_key, d.attempt, d.first_attempt_ms,"     \
    " e.body FROM deliveries d CROSS JOIN events e ON e.position = d.position"

static int row_claim(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    claim_arg *a = ud;
    store_delivery *d = &a->out[a->n];
    d->id = sqlite3_column_int64(row, 0);
    d->position = sqlite3_column_int64(row, 1);
    d->registration = col_strdup(row, 2);
    d->order_key = col_strdup(row, 3);
    d->attempt = sqlite3_column_int(row, 4) + 1;
    d->first_attempt_ms = sqlite3_column_int64(row, 5);
    a->bodies[a->n] = col_strdup(row, 6);
    a->n++;
    return 0;
}

/* Marks the claimed deliveries running under a lease. */
static int claim_mark(conn_t *c, claim_arg *a, int64_t now, err_t *err)
{
    for (size_t i = 0; i < a->n; i++) {
        if (sql_exec(c, ST_CLAIM_MARK,
                     "UPDATE deliveries SET state = 'running', lease_until_ms = ?2,"
                     " attempt = attempt + 1,"
                     " first_attempt_ms = CASE WHEN first_attempt_ms = 0 THEN ?3"
                     "   ELSE first_attempt_ms END"
                     " WHERE id = ?1",
                     ARGS(SQL_INT(a->out[i].id), SQL_INT(now + a->lease_ms), SQL_INT(now)),
                     "cannot claim deliveries", err) < 0)
            return -1;
    }
    return 0;
}

static int64_t next_due_on(conn_t *c, const char *skip);

static int run_claim(conn_t *c, wop_t *op)
{
    claim_arg *a = op->arg;
    const char *what = "cannot claim deliveries";
    int64_t now = now_ms();
    claim_arg_clear(a); /* a run after standing starts afresh */
    a->out = xcalloc((size_t)a->max, sizeof *a->out);
    a->bodies = xcalloc((size_t)a->max, sizeof *a->bodies);
    int rc;
    if (a->registration) {
        rc = sql_run(c, ST_CLAIM_REG,
                     CLAIM_COLS " WHERE d.state = 'pending' AND d.due_ms <= ?1"
                                " AND d.registration = ?3" CLAIMABLE
                                " ORDER BY d.due_ms, d.id LIMIT ?2",
                     ARGS(SQL_INT(now), SQL_INT(a->max), SQL_TEXT(a->registration)), row_claim, a,
                     what, &op->err);
    } else if (a->skip) {
        rc = sql_run(c, ST_CLAIM_EXPIRED_SKIP,
                     CLAIM_COLS " WHERE d.state = 'running' AND d.lease_until_ms <= ?1" CLAIMABLE
                                NOT_SKIPPED " ORDER BY d.lease_until_ms, d.id LIMIT ?2",
                     ARGS(SQL_INT(now), SQL_INT(a->max), SQL_TEXT(a->skip)), row_claim, a, what,
                     &op->err);
        if (rc >= 0 && (int)a->n < a->max)
            rc = sql_run(c, ST_CLAIM_PENDING_SKIP,
                         CLAIM_COLS " WHERE d.state = 'pending' AND d.due_ms <= ?1" CLAIMABLE
                                    NOT_SKIPPED " ORDER BY d.due_ms, d.id LIMIT ?2",
                         ARGS(SQL_INT(now), SQL_INT(a->max - (int)a->n), SQL_TEXT(a->skip)),
                         row_claim, a, what, &op->err);
    } else {
        /* Running deliveries whose lease ran out belong to a process that
         * died (or hung): they go again first. */
        rc = sql_run(c, ST_CLAIM_EXPIRED,
                     CLAIM_COLS " WHERE d.state = 'running' AND d.lease_until_ms <= ?1" CLAIMABLE
                                " ORDER BY d.lease_until_ms, d.id LIMIT ?2",
                     ARGS(SQL_INT(now), SQL_INT(a->max)), row_claim, a, what, &op->err);
        if (rc >= 0 && (int)a->n < a->max)
            rc = sql_run(c, ST_CLAIM_PENDING,
                         CLAIM_COLS " WHERE d.state = 'pending' AND d.due_ms <= ?1" CLAIMABLE
                                    " ORDER BY d.due_ms, d.id LIMIT ?2",
                         ARGS(SQL_INT(now), SQL_INT(a->max - (int)a->n)), row_claim, a, what,
                         &op->err);
    }
    if (rc < 0 || claim_mark(c, a, now, &op->err) < 0) {
        claim_arg_clear(a);
        return -1;
    }
    /* Nothing due before the caller's deadline: wait for the batch that
     * brings work, and claim in it. */
    if (a->n == 0 && op->may_stand && !op->stood) {
        a->due_ms = next_due_on(c, a->skip);
        op->stand = a->due_ms >= a->until_ms;
    }
    return 0;
}

/* A claim; with until_ms later than now one that may stand when it finds
 * nothing (store_submit_until); *due_ms then gets the next due time it saw
 * (INT64_MAX: none). */
static int claim(sq_t *s, const char *registration, const char *skip, int max, int64_t lease_ms,
                 int64_t until_ms, int64_t *due_ms, store_delivery **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    if (max <= 0) return 0;
    claim_arg a = {.registration = registration, .skip = skip, .max = max, .lease_ms = lease_ms,
                   .until_ms = until_ms, .due_ms = INT64_MAX};
    wop_t op = {.run = run_claim, .arg = &a};
    int rc = until_ms > now_ms() ? store_submit_until(s, &op, until_ms, err)
                                 : store_submit(s, &op, err);
    if (due_ms) *due_ms = a.due_ms;
    if (rc < 0) {
        claim_arg_clear(&a);
        return -1;
    }
    /* Parsing happens here, off the writer thread. */
    for (size_t i = 0; i < a.n; i++) {
        const char *b = a.bodies[i];
        a.out[i].event = b ? json_load_kept(b, strlen(b), 0, NULL) : NULL;
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

int sq_claim(store_t *base, int max, int64_t lease_ms, store_delivery **out, size_t *n,
                err_t *err)
{
    sq_t *s = SQ(base);
    store_note_claim(s);
    return claim(s, NULL, NULL, max, lease_ms > 0 ? lease_ms : 60000, 0, NULL, out, n, err);
}

/* The names as one JSON array (caller frees). */
static char *names_json(const char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(names[i]));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

int sq_claim_except(store_t *base, int max, int64_t lease_ms, const char *const *skip,
                    size_t nskip, store_delivery **out, size_t *n, err_t *err)
{
    sq_t *s = SQ(base);
    store_note_claim(s);
    char *text = names_json(skip, nskip);
    int rc = claim(s, NULL, text, max, lease_ms > 0 ? lease_ms : 60000, 0, NULL, out, n, err);
    free(text);
    return rc;
}

int sq_claim_more(store_t *base, const char *registration, int max, int64_t lease_ms,
                     store_delivery **out, size_t *n, err_t *err)
{
    sq_t *s = SQ(base);
    return claim(s, registration, NULL, max, lease_ms, 0, NULL, out, n, err);
}

int sq_claim_wait(store_t *base, int max, int64_t lease_ms, const char *const *skip,
                  size_t nskip, int64_t until_ms, store_delivery **out, size_t *n, err_t *err)
{
    sq_t *s = SQ(base);
    char *text = nskip ? names_json(skip, nskip) : NULL;
    int rc;
    bool at_due = false;
    for (;;) {
        /* It stands when nothing is due before until_ms; when something
         * is due sooner, it waits for that instead, then claims it. */
        int64_t due = INT64_MAX;
        bool waits = until_ms > now_ms();
        rc = claim(s, NULL, text, max, lease_ms > 0 ? lease_ms : 60000, until_ms, &due, out, n,
                   err);
        if (rc < 0 || *n > 0) break;
        if (due < until_ms) {
            until_ms = due;
            at_due = true;
            continue;
        }
        /* Woken by work or a kick: the caller looks again. */
        if (!waits || !at_due || now_ms() < until_ms) break;
        until_ms = 0;
    }
    free(text);
    return rc;
}

/* ---- finish ---- */

static const char *outcome_state(store_outcome o)
{
    switch (o) {
    case DELIVERY_DONE: return "done";
    case DELIVERY_RETRY: return "pending";
    case DELIVERY_FAILED:
    case DELIVERY_UNDELIVERABLE: return "failed";
    default: return "dead";
    }
}

/* What the attempts of one write add to a registration's minute: its
 * health counts (reg_minutes) and the charts' rollup. */
typedef struct minute_sum {
    char *reg;
    int64_t minute;                   /* t / 60000 */
    int64_t attempts, failures;       /* health: undeliverable attempts not counted */
    rollup_counts roll;
} minute_sum;

/* A registration's last attempt in one write, as the attempts in order
 * would leave it: its time, and the last error when any failed. */
typedef struct reg_last {
    char *reg;
    int64_t t;
    char *error;
} reg_last;

typedef struct finish_arg {
    const store_attempt *a;
    size_t n;
    bool strict;             /* store_finish: a missing delivery fails the write */
    size_t recorded;
    minute_sum *mins;
    size_t nmins, capmins;
    reg_last *lasts;
    size_t nlasts, caplasts;
} finish_arg;

static void finish_arg_clear(finish_arg *f)
{
    for (size_t i = 0; i < f->nmins; i++) free(f->mins[i].reg);
    for (size_t i = 0; i < f->nlasts; i++) {
        free(f->lasts[i].reg);
        free(f->lasts[i].error);
    }
    free(f->mins);
    free(f->lasts);
    f->mins = NULL;
    f->lasts = NULL;
    f->nmins = f->nlasts = 0;
    f->capmins = f->caplasts = 0;
}

static void sum_attempt(finish_arg *f, const char *reg, const store_attempt *a, int64_t t,
                        const char *error)
{
    int64_t minute = t / 60000;
    minute_sum *m = NULL;
    for (size_t i = 0; i < f->nmins && !m; i++)
        if (f->mins[i].minute == minute && !strcmp(f->mins[i].reg, reg)) m = &f->mins[i];
    if (!m) {
        VEC_GROW(f->mins, f->capmins, f->nmins + 1);
        m = &f->mins[f->nmins++];
        memset(m, 0, sizeof *m);
        m->reg = xstrdup(reg);
        m->minute = minute;
    }
    bool ok = a->outcome == DELIVERY_DONE, retry = a->outcome == DELIVERY_RETRY;
    /* The health counts what the target did; an undeliverable event says
     * nothing about it. */
    if (a->outcome != DELIVERY_UNDELIVERABLE) {
        m->attempts++;
        m->failures += !ok;
    }
    m->roll.success += ok;
    m->roll.retry += retry;
    m->roll.dead += !ok && !retry;
    int64_t ms = a->ended_ms > a->started_ms ? a->ended_ms - a->started_ms : 0;
    m->roll.lat[store_latency_bucket(ms)]++;

    reg_last *l = NULL;
    for (size_t i = 0; i < f->nlasts && !l; i++)
        if (!strcmp(f->lasts[i].reg, reg)) l = &f->lasts[i];
    if (!l) {
        VEC_GROW(f->lasts, f->caplasts, f->nlasts + 1);
        l = &f->lasts[f->nlasts++];
        memset(l, 0, sizeof *l);
        l->reg = xstrdup(reg);
    }
    l->t = t;
    if (error) {
        free(l->error);
        l->error = xstrdup(error);
    }
}

/* Moves one delivery on by its attempt; *reg gets its registration (NULL
 * when the delivery does not exist). A retry of a registration disabled
 * meanwhile waits parked. */
static int finish_row(conn_t *c, const store_attempt *a, int64_t t, int64_t now, const char *error,
                      char **reg, err_t *err)
{
    *reg = NULL;
    int rc = sql_run(c, ST_DELIVERY_FINISH,
                     "UPDATE deliveries SET"
                     " state = CASE WHEN ?2 = 'pending' AND EXISTS (SELECT 1 FROM registrations r"
                     "   WHERE r.name = deliveries.registration AND r.state = 'DISABLED')"
                     "   THEN 'parked' ELSE ?2 END,"
                     " due_ms = CASE WHEN ?2 = 'pending' THEN ?3 ELSE due_ms END,"
                     " lease_until_ms = 0, last_attempt_ms = ?4, last_status = ?5, last_error = ?6"
                     " WHERE id = ?1 RETURNING registration",
                     ARGS(SQL_INT(a->delivery_id), SQL_TEXT(outcome_state(a->outcome)),
                          SQL_INT(a->next_due_ms > 0 ? a->next_due_ms : now), SQL_INT(t),
                          SQL_INT(a->status_code), SQL_TEXT(error)),
                     row_strdup, reg, "cannot record delivery attempt", err);
    return rc < 0 ? -1 : 0;
}

/* The sums of one write, one statement per registration and minute. */
static int finish_sums(conn_t *c, const finish_arg *f, err_t *err)
{
    const char *what = "cannot record delivery attempt";
    for (size_t i = 0; i < f->nmins; i++) {
        const minute_sum *m = &f->mins[i];
        if (m->attempts &&
            sql_exec(c, ST_MINUTE_ADD,
                     "INSERT INTO reg_minutes(registration, minute, attempts, failures)"
                     " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(registration, minute) DO UPDATE SET"
                     " attempts = attempts + excluded.attempts,"
                     " failures = failures + excluded.failures",
                     ARGS(SQL_TEXT(m->reg), SQL_INT(m->minute), SQL_INT(m->attempts),
                          SQL_INT(m->failures)),
                     what, err) < 0)
            return -1;
        if (rollup_add(c, m->reg, m->minute * 60000, &m->roll, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < f->nlasts; i++) {
        const reg_last *r = &f->lasts[i];
        if (sql_exec(c, ST_REG_LAST,
                     "INSERT INTO registrations(name, state, enabled_at_ms, last_attempt_ms,"
                     " last_error) VALUES(?1, 'ACTIVE', ?2, ?2, coalesce(?3, ''))"
                     " ON CONFLICT(name) DO UPDATE SET"
                     " last_attempt_ms = excluded.last_attempt_ms,"
                     " last_error = CASE WHEN ?3 IS NULL THEN last_error ELSE ?3 END",
                     ARGS(SQL_TEXT(r->reg), SQL_INT(r->t), SQL_TEXT(r->error)), what, err) < 0)
            return -1;
    }
    return 0;
}

/* Each attempt is kept as its trace (store_trace.c) and counted in its
 * registration's minutes; the counts of one write are summed first, so a
 * batch pays one statement per registration and minute, not per attempt. */
static int run_finish(conn_t *c, wop_t *op)
{
    finish_arg *f = op->arg;
    int64_t now = now_ms();
    f->recorded = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n && rc == 0; i++) {
        const store_attempt *a = &f->a[i];
        int64_t t = a->ended_ms > 0 ? a->ended_ms : now;
        char fallback[48];
        const char *error = a->error;
        if (a->outcome == DELIVERY_DONE) error = NULL;
        else if (!error || !*error) {
            snprintf(fallback, sizeof fallback, "status %d", a->status_code);
            error = fallback;
        }
        char *reg = NULL;
        rc = finish_row(c, a, t, now, error, &reg, &op->err);
        if (rc == 0 && !reg && f->strict)
            rc = err_code(&op->err, EVK_NOT_FOUND,
                          "cannot record delivery attempt: delivery %lld does not exist",
                          (long long)a->delivery_id);
        if (rc == 0 && reg) {
            sum_attempt(f, reg, a, t, error);
            f->recorded++;
        }
        free(reg);
    }
    if (rc == 0) rc = finish_sums(c, f, &op->err);
    finish_arg_clear(f);
    /* A finished delivery may unblock the next one of its order key, and a
     * retry changes the next due time: the dispatcher should look again. */
    if (rc == 0 && f->recorded) op->work = true;
    return rc;
}

int sq_finish(store_t *base, const store_attempt *a, err_t *err)
{
    sq_t *s = SQ(base);
    if (!a) return err_code(err, EVK_INVALID, "no attempt to record");
    finish_arg f = {.a = a, .n = 1, .strict = true};
    wop_t op = {.run = run_finish, .arg = &f};
    return store_submit(s, &op, err);
}

int sq_finish_batch(store_t *base, const store_attempt *a, size_t n, size_t *recorded,
                    err_t *err)
{
    sq_t *s = SQ(base);
    finish_arg f = {.a = a, .n = n};
    wop_t op = {.run = run_finish, .arg = &f};
    int rc = store_submit(s, &op, err);
    if (recorded) *recorded = rc == 0 ? f.recorded : 0;
    return rc;
}

/* ---- next due ---- */

static int read_next_due(conn_t *c, void *ud, err_t *err)
{
    int64_t *best = ud, lease = INT64_MAX;
    /* The same predicate as the claim: a delivery blocked behind its order
     * key is not work, or the dispatcher would spin on it. */
    if (sql_int(c, ST_NEXT_DUE_PENDING,
                "SELECT d.due_ms FROM deliveries d WHERE d.state = 'pending'" CLAIMABLE
                " ORDER BY d.due_ms LIMIT 1",
                NO_ARGS, best, "cannot find due work", err) < 0 ||
        sql_int(c, ST_NEXT_DUE_LEASE,
                "SELECT d.lease_until_ms FROM deliveries d WHERE d.state = 'running'" CLAIMABLE
                " ORDER BY d.lease_until_ms LIMIT 1",
                NO_ARGS, &lease, "cannot find due work", err) < 0)
        return -1;
    if (lease < *best) *best = lease;
    return 0;
}

int64_t sq_next_due(store_t *base)
{
    sq_t *s = SQ(base);
    err_t err;
    int64_t best = INT64_MAX;
    /* A failed look is no work now: the dispatcher looks again on the next kick. */
    with_reader(s, false, read_next_due, &best, &err);
    return best;
}

typedef struct {
    const char *skip;
    int64_t best;
} due_except_arg;

static int read_next_due_except(conn_t *c, void *ud, err_t *err)
{
    due_except_arg *a = ud;
    int64_t lease = INT64_MAX;
    if (sql_int(c, ST_NEXT_DUE_PENDING_SKIP,
                "SELECT d.due_ms FROM deliveries d WHERE d.state = 'pending'" CLAIMABLE NOT_SKIPPED1
                " ORDER BY d.due_ms LIMIT 1",
                ARGS(SQL_TEXT(a->skip)), &a->best, "cannot find due work", err) < 0 ||
        sql_int(c, ST_NEXT_DUE_LEASE_SKIP,
                "SELECT d.lease_until_ms FROM deliveries d WHERE d.state = 'running'" CLAIMABLE
                NOT_SKIPPED1 " ORDER BY d.lease_until_ms LIMIT 1",
                ARGS(SQL_TEXT(a->skip)), &lease, "cannot find due work", err) < 0)
        return -1;
    if (lease < a->best) a->best = lease;
    return 0;
}

/* The next due time on c, leaving out the registrations of skip (a JSON
 * array, or NULL); INT64_MAX when none or when the look failed. */
static int64_t next_due_on(conn_t *c, const char *skip)
{
    err_t err;
    if (!skip) {
        int64_t best = INT64_MAX;
        return read_next_due(c, &best, &err) < 0 ? INT64_MAX : best;
    }
    due_except_arg a = {.skip = skip, .best = INT64_MAX};
    return read_next_due_except(c, &a, &err) < 0 ? INT64_MAX : a.best;
}

int64_t sq_next_due_except(store_t *base, const char *const *skip, size_t nskip)
{
    sq_t *s = SQ(base);
    err_t err;
    char *text = names_json(skip, nskip);
    due_except_arg a = {.skip = text, .best = INT64_MAX};
    with_reader(s, false, read_next_due_except, &a, &err);
    free(text);
    return a.best;
}

/* ---- giving claims back ---- */

typedef struct {
    const int64_t *ids;
    size_t n;
    int64_t due_ms;
} unclaim_arg;

static int run_unclaim(conn_t *c, wop_t *op)
{
    unclaim_arg *a = op->arg;
    for (size_t i = 0; i < a->n; i++) {
        /* Only a delivery still running: one finished meanwhile stays finished. */
        if (sql_exec(c, ST_UNCLAIM,
                     "UPDATE deliveries SET state = 'pending', due_ms = ?2, lease_until_ms = 0,"
                     " first_attempt_ms = CASE WHEN attempt <= 1 THEN 0 ELSE first_attempt_ms END,"
                     " attempt = max(attempt - 1, 0)"
                     " WHERE id = ?1 AND state = 'running'",
                     ARGS(SQL_INT(a->ids[i]), SQL_INT(a->due_ms)), "cannot give deliveries back",
                     &op->err) < 0)
            return -1;
    }
    op->work = true;
    return 0;
}

int sq_unclaim(store_t *base, const int64_t *ids, size_t n, int64_t due_ms, err_t *err)
{
    unclaim_arg a = {.ids = ids, .n = n, .due_ms = due_ms};
    wop_t op = {.run = run_unclaim, .arg = &a};
    return store_submit(SQ(base), &op, err);
}

/* ---- dead letters ---- */

static int row_dead(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    char hex[65];
    const char *state = (const char *)sqlite3_column_text(row, 5);
    const char *last_error = (const char *)sqlite3_column_text(row, 7);
    json_array_append_new(
        ud, json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:i, s:s?, s:I, s:I}", "id",
                      (json_int_t)sqlite3_column_int64(row, 0), "registration",
                      (const char *)sqlite3_column_text(row, 1), "event_id",
                      col_hex(row, 2, hex), "type",
                      (const char *)sqlite3_column_text(row, 3), "attempts",
                      sqlite3_column_int(row, 4), "reason",
                      state && !strcmp(state, "failed") ? "rejected" : "expired", "last_status",
                      sqlite3_column_int(row, 6), "last_error", last_error, "first_attempt",
                      (json_int_t)sqlite3_column_int64(row, 8), "last_attempt",
                      (json_int_t)sqlite3_column_int64(row, 9)));
    return 0;
}

int sq_deadletter_list(store_t *base, const char *registration, int limit, json_t **out,
                          err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (limit <= 0) limit = 100;
    const char *what = "cannot list dead letters";
#define DEAD_COLS                                                                              \
    "SELECT d.id, d.registration, e.id, e.type, d.attempt, d.state, d.last_status,"           \
    " d.last_error, d.first_attempt_ms, d.last_attempt_ms"                                     \
    " FROM deliveries d JOIN events e ON e.position = d.position"
    int rc = registration
                 ? store_query_array(
                       s, ST_DEAD_LIST_REG,
                       DEAD_COLS " WHERE d.registration = ?1 AND d.state IN ('dead','failed')"
                                 " ORDER BY d.last_attempt_ms DESC, d.id DESC LIMIT ?2",
                       ARGS(SQL_TEXT(registration), SQL_INT(limit)), row_dead, what, out, err)
                 : store_query_array(
                       s, ST_DEAD_LIST_ALL,
                       DEAD_COLS " WHERE d.state IN ('dead','failed')"
                                 " ORDER BY d.last_attempt_ms DESC, d.id DESC LIMIT ?1",
                       ARGS(SQL_INT(limit)), row_dead, what, out, err);
#undef DEAD_COLS
    return rc;
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

static int run_dead_replay(conn_t *c, wop_t *op)
{
    dead_replay_arg *a = op->arg;
    const char *what = "cannot replay dead letters";
    sql_args args = ARGS(SQL_INT(now_ms()), SQL_INT(a->id), SQL_TEXT(a->registration));
    int rc;
    if (a->id > 0)
        rc = sql_exec(c, ST_DEAD_REPLAY_ONE,
                      DEAD_REPLAY_SET " WHERE id = ?2 AND state IN ('dead','failed')"
                                      " AND (?3 IS NULL OR registration = ?3)",
                      args, what, &op->err);
    else if (a->registration)
        rc = sql_exec(c, ST_DEAD_REPLAY_REG,
                      DEAD_REPLAY_SET " WHERE registration = ?3 AND state IN ('dead','failed')",
                      args, what, &op->err);
    else
        rc = sql_exec(c, ST_DEAD_REPLAY_ALL, DEAD_REPLAY_SET " WHERE state IN ('dead','failed')",
                      args, what, &op->err);
    if (rc < 0) return -1;
    a->count = sqlite3_changes(c->db);
    op->work = a->count > 0;
    return 0;
}

int sq_deadletter_replay(store_t *base, int64_t id, const char *registration, int *count,
                            err_t *err)
{
    sq_t *s = SQ(base);
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

static int run_dead_replay_chunk(conn_t *c, wop_t *op)
{
    dead_chunk_arg *a = op->arg;
    const char *what = "cannot replay dead letters";
    int64_t last = 0;
    /* The chunk's last id first, so the UPDATE is a plain id range. */
    if (sql_int(c, ST_ONCE,
                "SELECT coalesce(max(id), 0) FROM (SELECT id FROM deliveries"
                " WHERE state IN ('dead','failed') AND id > ?1 AND id <= ?2"
                " AND (?3 IS NULL OR registration = ?3) ORDER BY id LIMIT ?4)",
                ARGS(SQL_INT(a->after), SQL_INT(a->upto), SQL_TEXT(a->registration),
                     SQL_INT(DEAD_REPLAY_CHUNK)),
                &last, what, &op->err) < 0)
        return -1;
    a->count = 0;
    a->more = false;
    if (last == 0) return 0;
    if (sql_exec(c, ST_ONCE,
                 DEAD_REPLAY_SET " WHERE id > ?2 AND id <= ?3 AND state IN ('dead','failed')"
                                 " AND (?4 IS NULL OR registration = ?4)",
                 ARGS(SQL_INT(now_ms()), SQL_INT(a->after), SQL_INT(last),
                      SQL_TEXT(a->registration)),
                 what, &op->err) < 0)
        return -1;
    a->count = sqlite3_changes(c->db);
    a->after = last;
    a->more = last < a->upto;
    op->work = a->count > 0;
    return 0;
}

/* A row_fn keeping the first row's two integer columns in (int64_t *)ud. */
static int row_int_pair(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    int64_t *v = ud;
    v[0] = sqlite3_column_int64(row, 0);
    v[1] = sqlite3_column_int64(row, 1);
    return 1;
}

int sq_deadletter_replay_all(store_t *base, const char *registration, store_progress_fn progress,
                                void *ud, int *count, err_t *err)
{
    sq_t *s = SQ(base);
    *count = 0;
    int64_t v[2] = {0, 0}; /* how many, the last id */
    if (store_query(s, ST_ONCE,
                    "SELECT count(*), coalesce(max(id), 0) FROM deliveries"
                    " WHERE state IN ('dead','failed') AND (?1 IS NULL OR registration = ?1)",
                    ARGS(SQL_TEXT(registration)), row_int_pair, v, "cannot count dead letters",
                    err) < 0)
        return -1;
    int64_t total = v[0];
    if (progress) progress(ud, 0, total);
    dead_chunk_arg a = {.registration = registration, .after = 0, .upto = v[1], .more = total > 0};
    while (a.more) {
        wop_t op = {.run = run_dead_replay_chunk, .arg = &a};
        if (store_submit(s, &op, err) < 0) return -1;
        *count += a.count;
        if (progress) progress(ud, *count, total);
    }
    return 0;
}

/* ---- registration health ---- */

typedef struct {
    const char *name;
    store_reg_info *out;
    int64_t enabled_at;
} reg_read;

static int row_reg(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    reg_read *r = ud;
    store_reg_info *out = r->out;
    r->enabled_at = sqlite3_column_int64(row, 1);
    out->state = reg_state_parse((const char *)sqlite3_column_text(row, 0));
    const char *le = (const char *)sqlite3_column_text(row, 2);
    snprintf(out->last_error, sizeof out->last_error, "%s", le ? le : "");
    out->last_attempt_ms = sqlite3_column_int64(row, 3);
    return 1;
}

static int row_backlog(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    store_reg_info *out = ud;
    int64_t k = sqlite3_column_int64(row, 1);
    out->backlog += k;
    const char *state = (const char *)sqlite3_column_text(row, 0);
    if (state && !strcmp(state, "parked")) out->parked = k;
    return 0;
}
/* Attempts and failures of registration in the minute buckets from the one
 * of since_ms on. */
static int reg_window(conn_t *c, const char *registration, int64_t since_ms, int64_t v[2],
                      err_t *err)
{
    v[0] = v[1] = 0;
    return sql_run(c, ST_REG_COUNTS,
                   "SELECT coalesce(sum(attempts), 0), coalesce(sum(failures), 0)"
                   " FROM reg_minutes WHERE registration = ?1 AND minute >= ?2",
                   ARGS(SQL_TEXT(registration), SQL_INT(since_ms / 60000)), row_int_pair, v,
                   "cannot read registration counts", err) < 0
               ? -1
               : 0;
}

static int read_reg_info(conn_t *c, void *ud, err_t *err)
{
    reg_read *r = ud;
    store_reg_info *out = r->out;
    const char *what = "cannot read registration health";
    sql_args name = ARGS(SQL_TEXT(r->name));
    if (sql_run(c, ST_REG_GET,
                "SELECT state, enabled_at_ms, last_error, last_attempt_ms"
                " FROM registrations WHERE name = ?1",
                name, row_reg, r, what, err) < 0)
        return -1;
    /* Minute buckets: the window starts at the minute of max(now - 24 h,
     * enabled_at); enabling also clears the buckets, so nothing from
     * before it counts. */
    int64_t now = now_ms();
    int64_t from = now - DAY_MS > r->enabled_at ? now - DAY_MS : r->enabled_at;
    int64_t v[2];
    if (reg_window(c, r->name, from, v, err) < 0) return -1;
    out->attempts_24h = v[0];
    out->failures_24h = v[1];
    if (sql_run(c, ST_REG_BACKLOG,
                "SELECT state, count(*) FROM deliveries WHERE registration = ?1"
                " AND state IN ('pending','running','parked') GROUP BY state",
                name, row_backlog, out, what, err) < 0)
        return -1;
    if (sql_int(c, ST_REG_DEAD,
                "SELECT count(*) FROM deliveries WHERE registration = ?1"
                " AND state IN ('dead','failed')",
                name, &out->dead, what, err) < 0)
        return -1;
    return sql_int(c, ST_REG_FILTERED, "SELECT filtered FROM reg_counters WHERE registration = ?1",
                   name, &out->filtered, what, err) < 0
               ? -1
               : 0;
}

int sq_reg_info_get(store_t *base, const char *registration, store_reg_info *out, err_t *err)
{
    sq_t *s = SQ(base);
    reg_read r = {.name = registration, .out = out};
    /* One read transaction: the numbers agree with each other. */
    return with_reader(s, true, read_reg_info, &r, err);
}

typedef struct {
    const char *name;
    int64_t since_ms;
    int64_t v[2];
} window_arg;

static int read_window(conn_t *c, void *ud, err_t *err)
{
    window_arg *a = ud;
    return reg_window(c, a->name, a->since_ms, a->v, err);
}

int sq_reg_window(store_t *base, const char *registration, int64_t since_ms, int64_t *attempts,
                     int64_t *failures, err_t *err)
{
    sq_t *s = SQ(base);
    window_arg a = {.name = registration, .since_ms = since_ms};
    int rc = with_reader(s, false, read_window, &a, err);
    *attempts = a.v[0];
    *failures = a.v[1];
    return rc;
}

/* Parked deliveries of name become pending, due now; *n gets how many. */
static int reg_unpark(conn_t *c, const char *name, int64_t now, int *n, err_t *err)
{
    const char *what = "cannot resume parked deliveries";
    if (sql_exec(c, ST_REG_UNPARK,
                 "UPDATE deliveries SET state = 'pending', due_ms = ?2"
                 " WHERE registration = ?1 AND state IN ('pending','running','parked')"
                 " AND state = 'parked'",
                 ARGS(SQL_TEXT(name), SQL_INT(now)), what, err) < 0)
        return -1;
    *n = sqlite3_changes(c->db);
    return 0;
}

typedef struct {
    const char *name;
    reg_state state;
    int resumed;
} reg_arg;

static int run_reg_set_state(conn_t *c, wop_t *op)
{
    reg_arg *a = op->arg;
    const char *what = "cannot set registration state";
    int64_t now = now_ms();
    if (sql_exec(c, ST_REG_PUT_STATE,
                 "INSERT INTO registrations(name, state, enabled_at_ms)"
                 " VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET state = excluded.state",
                 ARGS(SQL_TEXT(a->name), SQL_TEXT(reg_state_name(a->state)), SQL_INT(now)), what,
                 &op->err) < 0)
        return -1;
    if (a->state == REG_DISABLED) {
        /* Its waiting deliveries stay, parked, until it is enabled: claims
         * and next_due then never look at them. */
        return sql_exec(c, ST_REG_PARK,
                        "UPDATE deliveries SET state = 'parked'"
                        " WHERE registration = ?1 AND state IN ('pending','running','parked')"
                        " AND state = 'pending'",
                        ARGS(SQL_TEXT(a->name)), what, &op->err);
    }
    if (reg_unpark(c, a->name, now, &a->resumed, &op->err) < 0) return -1;
    op->work = a->resumed > 0;
    return 0;
}

int sq_reg_set_state(store_t *base, const char *registration, reg_state st, err_t *err)
{
    sq_t *s = SQ(base);
    reg_arg a = {.name = registration, .state = st};
    wop_t op = {.run = run_reg_set_state, .arg = &a};
    return store_submit(s, &op, err);
}

static int run_reg_enable(conn_t *c, wop_t *op)
{
    reg_arg *a = op->arg;
    const char *what = "cannot enable registration";
    int64_t now = now_ms();
    if (sql_exec(c, ST_REG_ENABLE,
                 "INSERT INTO registrations(name, state, enabled_at_ms)"
                 " VALUES(?1, 'ACTIVE', ?2) ON CONFLICT(name) DO UPDATE SET"
                 " state = 'ACTIVE', enabled_at_ms = excluded.enabled_at_ms",
                 ARGS(SQL_TEXT(a->name), SQL_INT(now)), what, &op->err) < 0 ||
        /* The health window restarts now. */
        sql_exec(c, ST_REG_RESET_MINUTES, "DELETE FROM reg_minutes WHERE registration = ?1",
                 ARGS(SQL_TEXT(a->name)), what, &op->err) < 0)
        return -1;
    if (reg_unpark(c, a->name, now, &a->resumed, &op->err) < 0) return -1;
    op->work = true;
    return 0;
}

int sq_reg_enable(store_t *base, const char *registration, int *resumed, err_t *err)
{
    sq_t *s = SQ(base);
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

static int run_release(conn_t *c, wop_t *op)
{
    release_arg *a = op->arg;
    if (sql_exec(c, ST_ONCE, "UPDATE deliveries SET lease_until_ms = 0 WHERE state = 'running'",
                 NO_ARGS, "cannot release claims", &op->err) < 0)
        return -1;
    a->released = sqlite3_changes(c->db);
    if (a->released > 0) op->work = true;
    return 0;
}

int sq_release_claims(store_t *base, int *released, err_t *err)
{
    sq_t *s = SQ(base);
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
    if (sql_exec(c, slot, sql, ARGS(SQL_INT(bound)), "cannot prune the store", err) < 0) return -1;
    if (sqlite3_changes(c->db) >= PRUNE_CHUNK) *more = true;
    return 0;
}

int store_prune_expired(sq_t *s, conn_t *c, int64_t now, err_t *err)
{
    (void)s;
    bool more = false;
#define CHUNK_STR "20000"
    _Static_assert(PRUNE_CHUNK == 20000, "CHUNK_STR must match PRUNE_CHUNK");
    /* dedup rows are in position order, the order they expire in. */
    if (prune_one(c, ST_PRUNE_DEDUP,
                  "DELETE FROM dedup WHERE position IN (SELECT position FROM (SELECT position,"
                  " created_ms FROM dedup ORDER BY position LIMIT " CHUNK_STR ")"
                  " WHERE created_ms < ?1)",
                  now - DAY_MS, &more, err) < 0 ||
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
