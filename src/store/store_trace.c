/* store_trace: delivery traces, one row per attempt, written in batches off
 * the delivery path; listing with filters and a `before` cursor; retention
 * that keeps, per registration, the newest successes and errors beyond the
 * time window. The table is in SCHEMA_ADDITIONS (store_sqlite.c). */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define TRACE_PRUNE_CHUNK 5000
#define TRACE_MAX_LIMIT 1000

/* ---- writing ---- */

typedef struct trace_row {
    arec_t base;                 /* first: the writer sees an arec_t */
    char *registration, *event_id, *event_type, *activation_id, *error, *request, *response;
    int64_t delivery_id, start_ms, duration_ms;
    int attempt, status;
    bool ok, retried;
} trace_row;

static int trace_write(conn_t *c, const arec_t *r, err_t *err)
{
    const trace_row *t = (const trace_row *)r;
    sqlite3_stmt *st = conn_stmt(
        c, ST_TRACE_INSERT,
        "INSERT INTO traces(registration, event_id, event_type, delivery_id, attempt, start_ms,"
        " duration_ms, ok, status, retried, activation_id, error, request, response)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
    if (!st) return db_fail(err, c, "cannot store a trace");
    bind_text(st, 1, t->registration);
    bind_text(st, 2, t->event_id);
    bind_text(st, 3, t->event_type);
    sqlite3_bind_int64(st, 4, t->delivery_id);
    sqlite3_bind_int(st, 5, t->attempt);
    sqlite3_bind_int64(st, 6, t->start_ms);
    sqlite3_bind_int64(st, 7, t->duration_ms);
    sqlite3_bind_int(st, 8, t->ok);
    sqlite3_bind_int(st, 9, t->status);
    sqlite3_bind_int(st, 10, t->retried);
    bind_text(st, 11, t->activation_id);
    bind_text(st, 12, t->error);
    bind_text(st, 13, t->request);
    bind_text(st, 14, t->response);
    return stmt_exec(c, st, "cannot store a trace", err);
}

static void trace_row_free(arec_t *r)
{
    trace_row *t = (trace_row *)r;
    free(t->registration);
    free(t->event_id);
    free(t->event_type);
    free(t->activation_id);
    free(t->error);
    free(t->request);
    free(t->response);
    free(t);
}

static char *dup_or_null(const char *s) { return s && *s ? xstrdup(s) : NULL; }

void store_trace_put(store_t *s, const store_trace *t)
{
    trace_row *r = xcalloc(1, sizeof *r);
    r->base.write = trace_write;
    r->base.free = trace_row_free;
    r->registration = xstrdup(t->registration ? t->registration : "");
    r->event_id = xstrdup(t->event_id ? t->event_id : "");
    r->event_type = xstrdup(t->event_type ? t->event_type : "");
    r->activation_id = dup_or_null(t->activation_id);
    r->error = dup_or_null(t->error);
    r->request = xstrdup(t->request ? t->request : "{}");
    r->response = xstrdup(t->response ? t->response : "{}");
    r->delivery_id = t->delivery_id;
    r->attempt = t->attempt;
    r->start_ms = t->start_ms;
    r->duration_ms = t->duration_ms;
    r->ok = t->success;
    r->status = t->status_code;
    r->retried = t->retried;
    r->base.bytes = sizeof *r + strlen(r->request) + strlen(r->response) +
                    strlen(r->registration) + strlen(r->event_id) + strlen(r->event_type) +
                    (r->error ? strlen(r->error) : 0) + 64;
    store_async_put(s, &r->base);
}

/* ---- reading ---- */

#define SUMMARY_COLS                                                                           \
    "id, registration, event_id, event_type, delivery_id, attempt, start_ms, duration_ms, ok," \
    " status, retried, activation_id, error"

static json_t *col_json_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return json_null();
    json_t *j = json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
    return j ? j : json_null();
}

/* The summary of the row at st (SUMMARY_COLS first). */
static json_t *summary_of(sqlite3_stmt *st)
{
    char id[24], start[32];
    snprintf(id, sizeof id, "%lld", (long long)sqlite3_column_int64(st, 0));
    time_iso(sqlite3_column_int64(st, 6), start, sizeof start);
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(id));
    json_object_set_new(j, "registration", col_json_text(st, 1));
    json_object_set_new(j, "eventId", col_json_text(st, 2));
    json_object_set_new(j, "eventType", col_json_text(st, 3));
    json_object_set_new(j, "deliveryId", json_integer(sqlite3_column_int64(st, 4)));
    json_object_set_new(j, "attempt", json_integer(sqlite3_column_int(st, 5)));
    json_object_set_new(j, "start", json_string(start));
    json_object_set_new(j, "duration", json_integer(sqlite3_column_int64(st, 7)));
    json_object_set_new(j, "outcome", json_string(sqlite3_column_int(st, 8) ? "success" : "error"));
    json_object_set_new(j, "statusCode", json_integer(sqlite3_column_int(st, 9)));
    json_object_set_new(j, "retried", json_boolean(sqlite3_column_int(st, 10)));
    json_object_set_new(j, "activationId", col_json_text(st, 11));
    json_object_set_new(j, "error", col_json_text(st, 12));
    return j;
}

int store_trace_list(store_t *s, const store_trace_filter *f, json_t **out, bool *more,
                     err_t *err)
{
    *out = NULL;
    if (more) *more = false;
    int limit = f->limit <= 0 ? 50 : f->limit > TRACE_MAX_LIMIT ? TRACE_MAX_LIMIT : f->limit;
    /* The filters vary, so the statement is built for this call; every
     * value is bound, never spliced. */
    buf_t sql;
    buf_init(&sql, 0);
    buf_printf(&sql, "SELECT " SUMMARY_COLS " FROM traces WHERE 1");
    if (f->registration) buf_printf(&sql, " AND registration = ?1");
    if (f->outcome >= 0) buf_printf(&sql, " AND ok = ?2");
    if (f->status > 0) buf_printf(&sql, " AND status = ?3");
    if (f->retried >= 0) buf_printf(&sql, " AND retried = ?4");
    if (f->delivery_id > 0) buf_printf(&sql, " AND delivery_id = ?5");
    if (f->before > 0) buf_printf(&sql, f->oldest_first ? " AND id > ?6" : " AND id < ?6");
    buf_printf(&sql, " ORDER BY id %s LIMIT ?7", f->oldest_first ? "ASC" : "DESC");
    conn_t *c = store_reader(s, err);
    if (!c) {
        buf_free(&sql);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql.data, -1, &st, NULL);
    buf_free(&sql);
    if (rc != SQLITE_OK) {
        db_fail(err, c, "cannot list traces");
        store_reader_put(s, c);
        return -1;
    }
    if (f->registration) bind_text(st, 1, f->registration);
    if (f->outcome >= 0) sqlite3_bind_int(st, 2, f->outcome ? 1 : 0);
    if (f->status > 0) sqlite3_bind_int(st, 3, f->status);
    if (f->retried >= 0) sqlite3_bind_int(st, 4, f->retried ? 1 : 0);
    if (f->delivery_id > 0) sqlite3_bind_int64(st, 5, f->delivery_id);
    if (f->before > 0) sqlite3_bind_int64(st, 6, f->before);
    /* One more than asked tells whether there is a next page. */
    sqlite3_bind_int(st, 7, limit + 1);
    json_t *arr = json_array();
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == limit) {
            if (more) *more = true;
            break;
        }
        json_array_append_new(arr, summary_of(st));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(err, c, "cannot list traces");
        sqlite3_finalize(st);
        store_reader_put(s, c);
        json_decref(arr);
        return -1;
    }
    sqlite3_finalize(st);
    store_reader_put(s, c);
    *out = arr;
    return 0;
}

int store_trace_get(store_t *s, int64_t id, json_t **out, err_t *err)
{
    *out = NULL;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT " SUMMARY_COLS ", request, response FROM traces WHERE id = ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            json_t *j = summary_of(st);
            for (int i = 0; i < 2; i++) {
                const char *txt = (const char *)sqlite3_column_text(st, 13 + i);
                json_t *v = txt ? json_loadb(txt, (size_t)sqlite3_column_bytes(st, 13 + i), 0, NULL)
                                : NULL;
                json_object_set_new(j, i ? "response" : "request", v ? v : json_object());
            }
            *out = j;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) db_fail(err, c, "cannot read trace");
    sqlite3_finalize(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- retention ---- */

typedef struct {
    int64_t cutoff;
    int keep;
    int deleted;
} trace_prune_arg;

static int exec_sql(conn_t *c, const char *sql, err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, "cannot prune traces: %s", msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* One chunk. Each (registration, outcome) gets a bound, the id just below
 * its keep-th newest row (none when it has fewer: it keeps everything);
 * then one pass over the rows older than the window (the start_ms index)
 * deletes those at or below their group's bound. Costs the old rows, not
 * the whole table. */
static int run_trace_prune(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    trace_prune_arg *a = op->arg;
    const char *what = "cannot prune traces";
    sqlite3_stmt *regs = NULL, *bound = NULL, *put = NULL, *del = NULL;
    int rc = -1;
    if (exec_sql(c,
                 "CREATE TEMP TABLE IF NOT EXISTS trace_bounds(registration TEXT NOT NULL,"
                 " ok INTEGER NOT NULL, bound INTEGER NOT NULL, PRIMARY KEY(registration, ok));"
                 "DELETE FROM temp.trace_bounds;",
                 &op->err) < 0)
        return -1;
    /* The registrations, one index seek each (a skip scan). */
    if (sqlite3_prepare_v2(c->db,
                           "WITH RECURSIVE r(name) AS (SELECT min(registration) FROM traces"
                           " UNION ALL SELECT (SELECT min(registration) FROM traces"
                           "   WHERE registration > r.name) FROM r WHERE r.name IS NOT NULL)"
                           " SELECT name FROM r WHERE name IS NOT NULL",
                           -1, &regs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "SELECT id FROM traces WHERE registration = ?1 AND ok = ?2"
                           " ORDER BY id DESC LIMIT 1 OFFSET ?3",
                           -1, &bound, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "INSERT INTO temp.trace_bounds VALUES(?1, ?2, ?3)", -1, &put,
                           NULL) != SQLITE_OK) {
        db_fail(&op->err, c, what);
        goto out;
    }
    /* Collected first: writing while that SELECT steps would be undefined. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(regs)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = col_strdup(regs, 0);
    }
    bool ok = step == SQLITE_DONE;
    for (size_t i = 0; ok && i < n; i++) {
        for (int outcome = 0; ok && outcome < 2; outcome++) {
            int64_t b = INT64_MAX;
            if (a->keep > 0) {
                bind_text(bound, 1, names[i]);
                sqlite3_bind_int(bound, 2, outcome);
                sqlite3_bind_int(bound, 3, a->keep - 1);
                int r = sqlite3_step(bound);
                b = r == SQLITE_ROW ? sqlite3_column_int64(bound, 0) - 1 : -1;
                ok = r == SQLITE_ROW || r == SQLITE_DONE;
                stmt_reset(bound);
                if (b < 0) continue;
            }
            bind_text(put, 1, names[i]);
            sqlite3_bind_int(put, 2, outcome);
            sqlite3_bind_int64(put, 3, b);
            if (ok && stmt_exec(c, put, what, &op->err) < 0) ok = false;
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!ok) {
        if (!op->err.msg[0]) db_fail(&op->err, c, what);
        goto out;
    }
    /* The unary + keeps the planner on the start_ms index. */
    if (sqlite3_prepare_v2(c->db,
                           "DELETE FROM traces WHERE id IN (SELECT t.id FROM traces t"
                           " JOIN temp.trace_bounds b ON b.registration = +t.registration"
                           "   AND b.ok = +t.ok"
                           " WHERE t.start_ms < ?1 AND +t.id <= b.bound LIMIT ?2)",
                           -1, &del, NULL) != SQLITE_OK) {
        db_fail(&op->err, c, what);
        goto out;
    }
    sqlite3_bind_int64(del, 1, a->cutoff);
    sqlite3_bind_int(del, 2, TRACE_PRUNE_CHUNK);
    if (stmt_exec(c, del, what, &op->err) < 0) goto out;
    a->deleted = sqlite3_changes(c->db);
    rc = 0;
out:
    sqlite3_finalize(regs);
    sqlite3_finalize(bound);
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    return rc;
}

int store_trace_prune(store_t *s, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err)
{
    if (deleted) *deleted = 0;
    /* In chunks, each its own transaction, so deliveries are not held up. */
    for (;;) {
        trace_prune_arg a = {.cutoff = cutoff_ms, .keep = keep};
        wop_t op = {.run = run_trace_prune, .arg = &a};
        if (store_submit(s, &op, err) < 0) return -1;
        if (deleted) *deleted += a.deleted;
        if (a.deleted < TRACE_PRUNE_CHUNK) return 0;
    }
}
