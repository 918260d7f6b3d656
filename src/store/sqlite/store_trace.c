/* store_trace: delivery traces, one row per attempt, written in batches off
 * the delivery path; listing with filters and a `before` cursor; retention
 * that keeps, per registration, the newest successes and errors beyond the
 * time window. The table is in SCHEMA_ADDITIONS (store_sqlite.c); since
 * schema version 5 the registration and event type are interned names
 * (strings) and the activation id is packed (hex_arg), since version 6 the
 * event id too. */

const char STORE_TRACES_V5[] =
    "INSERT OR IGNORE INTO strings(s) SELECT registration FROM traces"
    "  UNION SELECT event_type FROM traces;"
    "CREATE TABLE traces_v5("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, reg INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL, etype INTEGER NOT NULL, delivery_id INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL, start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    "  ok INTEGER NOT NULL, status INTEGER NOT NULL, retried INTEGER NOT NULL,"
    "  activation_id, error TEXT, request NOT NULL, response NOT NULL);"
    "INSERT INTO traces_v5 SELECT id, (SELECT id FROM strings WHERE s = registration), event_id,"
    "  (SELECT id FROM strings WHERE s = event_type), delivery_id, attempt, start_ms, duration_ms,"
    "  ok, status, retried, evk_hex_pack5(activation_id), error, request, response"
    "  FROM traces ORDER BY id;"
    "DROP TABLE traces;"
    "ALTER TABLE traces_v5 RENAME TO traces;";

/* Version 6: the event id packed (a UUID in 17 bytes); a 17-byte
 * activation id of before (34 digits) back to its digits. */
const char STORE_TRACES_V6[] =
    "UPDATE traces SET event_id = evk_hex_pack(event_id),"
    "  activation_id = CASE WHEN typeof(activation_id) = 'blob' AND length(activation_id) = 17"
    "    THEN lower(hex(activation_id)) ELSE activation_id END;";
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/vec.h"

#define TRACE_PRUNE_CHUNK 5000
#define TRACE_MAX_LIMIT 1000

/* ---- writing ---- */

typedef struct trace_row {
    arec_t base;                 /* first: the writer sees an arec_t */
    const char *registration, *event_id, *event_type, *activation_id, *error, *request, *response;
    int64_t delivery_id, start_ms, duration_ms;
    int attempt, status;
    bool ok, retried;
} trace_row;

static int trace_write(conn_t *c, const arec_t *r, err_t *err)
{
    const trace_row *t = (const trace_row *)r;
    /* One registration's requests are alike, and so are its responses. */
    char kreq[256], kres[256];
    snprintf(kreq, sizeof kreq, "trace.request:%s", t->registration);
    snprintf(kres, sizeof kres, "trace.response:%s", t->registration);
    bool f1, f2;
    sql_arg reg = intern_arg(c, t->registration, err, &f1),
            etype = intern_arg(c, t->event_type, err, &f2);
    if (f1 || f2) return -1;
    unsigned char act[32], ev[32];
    zip_buf zq, zs;
    sql_arg req = zip_arg(c, kreq, t->request, &zq);
    sql_arg res = zip_arg(c, kres, t->response, &zs);
    int rc = sql_exec(c, ST_TRACE_INSERT,
                      "INSERT INTO traces(reg, event_id, etype, delivery_id, attempt,"
                      " start_ms, duration_ms, ok, status, retried, activation_id, error, request,"
                      " response) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                      ARGS(reg, hex_arg(t->event_id, ev), etype,
                           SQL_INT(t->delivery_id), SQL_INT(t->attempt), SQL_INT(t->start_ms),
                           SQL_INT(t->duration_ms), SQL_INT(t->ok), SQL_INT(t->status),
                           SQL_INT(t->retried), hex_arg(t->activation_id, act), SQL_TEXT(t->error),
                           req, res),
                      "cannot store a trace", err);
    free(zq.data);
    free(zs.data);
    return rc;
}

void sq_trace_put(store_t *base, const store_trace *t)
{
    sq_t *s = SQ(base);
    trace_row *r = xcalloc(1, sizeof *r);
    r->base.write = trace_write;
    r->registration = t->registration ? t->registration : "";
    r->event_id = t->event_id ? t->event_id : "";
    r->event_type = t->event_type ? t->event_type : "";
    r->activation_id = t->activation_id && *t->activation_id ? t->activation_id : NULL;
    r->error = t->error && *t->error ? t->error : NULL;
    r->request = t->request ? t->request : "{}";
    r->response = t->response ? t->response : "{}";
    arec_own_strings(&r->base,
                     (const char **const[]){&r->registration, &r->event_id, &r->event_type,
                                            &r->activation_id, &r->error, &r->request,
                                            &r->response},
                     7);
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

/* The registration and event type are interned (strings). */
#define SUMMARY_COLS                                                                           \
    "t.id, r.s, t.event_id, e.s, t.delivery_id, t.attempt, t.start_ms, t.duration_ms, t.ok,"   \
    " t.status, t.retried, t.activation_id, t.error"
#define SUMMARY_FROM                                                                           \
    " FROM traces t JOIN strings r ON r.id = t.reg JOIN strings e ON e.id = t.etype"

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
    char ev[65];
    const char *eid = col_hex(st, 2, ev);
    json_object_set_new(j, "eventId", eid ? json_string(eid) : json_null());
    json_object_set_new(j, "eventType", col_json_text(st, 3));
    json_object_set_new(j, "deliveryId", json_integer(sqlite3_column_int64(st, 4)));
    json_object_set_new(j, "attempt", json_integer(sqlite3_column_int(st, 5)));
    json_object_set_new(j, "start", json_string(start));
    json_object_set_new(j, "duration", json_integer(sqlite3_column_int64(st, 7)));
    json_object_set_new(j, "outcome", json_string(sqlite3_column_int(st, 8) ? "success" : "error"));
    json_object_set_new(j, "statusCode", json_integer(sqlite3_column_int(st, 9)));
    json_object_set_new(j, "retried", json_boolean(sqlite3_column_int(st, 10)));
    char act[65];
    const char *aid = col_hex(st, 11, act);
    json_object_set_new(j, "activationId", aid ? json_string(aid) : json_null());
    json_object_set_new(j, "error", col_json_text(st, 12));
    return j;
}

typedef struct {
    json_t *arr;
    int limit, n;
    bool more;
} trace_page;

static int row_trace_summary(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    trace_page *p = ud;
    if (p->n++ == p->limit) {
        p->more = true;
        return 1;
    }
    json_array_append_new(p->arr, summary_of(row));
    return 0;
}

int sq_trace_list(store_t *base, const store_trace_filter *f, json_t **out, bool *more,
                     err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (more) *more = false;
    int limit = f->limit <= 0 ? 50 : f->limit > TRACE_MAX_LIMIT ? TRACE_MAX_LIMIT : f->limit;
    /* The filters vary, so the statement is built for this call; every
     * value is bound, never spliced. */
    buf_t sql;
    buf_init(&sql, 0);
    buf_printf(&sql, "SELECT " SUMMARY_COLS SUMMARY_FROM " WHERE 1");
    if (f->registration) buf_printf(&sql, " AND t.reg = (SELECT id FROM strings WHERE s = ?1)");
    if (f->outcome >= 0) buf_printf(&sql, " AND t.ok = ?2");
    if (f->status > 0) buf_printf(&sql, " AND t.status = ?3");
    if (f->retried >= 0) buf_printf(&sql, " AND t.retried = ?4");
    if (f->delivery_id > 0) buf_printf(&sql, " AND t.delivery_id = ?5");
    if (f->before > 0) buf_printf(&sql, f->oldest_first ? " AND t.id > ?6" : " AND t.id < ?6");
    buf_printf(&sql, " ORDER BY t.id %s LIMIT ?7", f->oldest_first ? "ASC" : "DESC");
    trace_page p = {.arr = json_array(), .limit = limit};
    /* One more than asked tells whether there is a next page. */
    int rc = store_query(s, ST_ONCE, sql.data,
                         ARGS(SQL_TEXT(f->registration), SQL_INT(f->outcome ? 1 : 0),
                              SQL_INT(f->status), SQL_INT(f->retried ? 1 : 0),
                              SQL_INT(f->delivery_id), SQL_INT(f->before), SQL_INT(limit + 1)),
                         row_trace_summary, &p, "cannot list traces", err);
    buf_free(&sql);
    if (rc < 0) {
        json_decref(p.arr);
        return -1;
    }
    if (more) *more = p.more;
    *out = p.arr;
    return 0;
}

static int row_trace(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t *j = summary_of(row);
    for (int i = 0; i < 2; i++) {
        json_t *v = col_json(row, 13 + i, 0);
        json_object_set_new(j, i ? "response" : "request", v ? v : json_object());
    }
    *(json_t **)ud = j;
    return 1;
}

int sq_trace_get(store_t *base, int64_t id, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    return store_query(s, ST_ONCE,
                       "SELECT " SUMMARY_COLS ", t.request, t.response" SUMMARY_FROM
                       " WHERE t.id = ?1",
                       ARGS(SQL_INT(id)), row_trace, out, "cannot read trace", err);
}

/* ---- retention ---- */

typedef struct {
    int64_t cutoff;
    int keep;
} trace_prune_arg;

typedef VEC(int64_t) reg_vec;

static int row_reg(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    VEC_PUSH((reg_vec *)ud, sqlite3_column_int64(row, 0));
    return 0;
}

/* The bound of (registration, outcome) into temp.trace_bounds: the id just
 * below its keep-th newest row; none when it has fewer (or keep is 0: no
 * bound, everything old goes). */
static int trace_bound(conn_t *c, int64_t reg, int outcome, int keep, err_t *err)
{
    const char *what = "cannot prune traces";
    int64_t b = INT64_MAX;
    if (keep > 0) {
        int found = sql_int(c, ST_ONCE,
                            "SELECT id FROM traces WHERE reg = ?1 AND ok = ?2"
                            " ORDER BY id DESC LIMIT 1 OFFSET ?3",
                            ARGS(SQL_INT(reg), SQL_INT(outcome), SQL_INT(keep - 1)), &b,
                            what, err);
        if (found <= 0) return found;
        b--;
    }
    return sql_exec(c, ST_ONCE, "INSERT INTO temp.trace_bounds VALUES(?1, ?2, ?3)",
                    ARGS(SQL_INT(reg), SQL_INT(outcome), SQL_INT(b)), what, err);
}

/* One chunk. Each (registration, outcome) gets a bound (trace_bound); then
 * one pass over the rows older than the window (the start_ms index)
 * deletes those at or below their group's bound. Costs the old rows, not
 * the whole table. */
static int run_trace_prune(conn_t *c, wop_t *op)
{
    trace_prune_arg *a = op->arg;
    const char *what = "cannot prune traces";
    if (sql_exec(c, ST_ONCE,
                 "CREATE TEMP TABLE IF NOT EXISTS trace_bounds(reg INTEGER NOT NULL,"
                 " ok INTEGER NOT NULL, bound INTEGER NOT NULL, PRIMARY KEY(reg, ok))",
                 NO_ARGS, what, &op->err) < 0 ||
        sql_exec(c, ST_ONCE, "DELETE FROM temp.trace_bounds", NO_ARGS, what, &op->err) < 0)
        return -1;
    /* The registrations, one index seek each (a skip scan), collected
     * first: writing while that SELECT steps would be undefined. */
    reg_vec regs = {0};
    int rc = sql_run(c, ST_ONCE,
                     "WITH RECURSIVE r(reg) AS (SELECT min(reg) FROM traces"
                     " UNION ALL SELECT (SELECT min(reg) FROM traces"
                     "   WHERE reg > r.reg) FROM r WHERE r.reg IS NOT NULL)"
                     " SELECT reg FROM r WHERE reg IS NOT NULL",
                     NO_ARGS, row_reg, &regs, what, &op->err);
    for (size_t i = 0; rc >= 0 && i < regs.n; i++)
        for (int outcome = 0; rc >= 0 && outcome < 2; outcome++)
            rc = trace_bound(c, regs.v[i], outcome, a->keep, &op->err);
    free(regs.v);
    if (rc < 0) return -1;
    /* The unary + keeps the planner on the start_ms index. */
    if (sql_exec(c, ST_ONCE,
                 "DELETE FROM traces WHERE id IN (SELECT t.id FROM traces t"
                 " JOIN temp.trace_bounds b ON b.reg = +t.reg"
                 "   AND b.ok = +t.ok"
                 " WHERE t.start_ms < ?1 AND +t.id <= b.bound LIMIT ?2)",
                 ARGS(SQL_INT(a->cutoff), SQL_INT(TRACE_PRUNE_CHUNK)), what, &op->err) < 0)
        return -1;
    op->changes = sqlite3_changes(c->db);
    op->more = op->changes >= TRACE_PRUNE_CHUNK;
    return 0;
}

int sq_trace_prune(store_t *base, int64_t cutoff_ms, int keep, int64_t *deleted, err_t *err)
{
    sq_t *s = SQ(base);
    trace_prune_arg a = {.cutoff = cutoff_ms, .keep = keep};
    wop_t op = {.run = run_trace_prune, .arg = &a};
    if (store_submit_chunks(s, &op, deleted, err) < 0) return -1;
    /* The spans of W3C traces go with the delivery traces. */
    for (;;) {
        int64_t n = 0;
        if (store_spans_prune(s, cutoff_ms, &n, err) < 0) return -1;
        if (n < TRACE_PRUNE_CHUNK) return 0;
    }
}
