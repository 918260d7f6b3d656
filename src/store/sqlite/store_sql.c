/* store_sql: the one way the store's files run a statement: prepare (cached
 * per connection, or for one call), bind, step through the rows, reset or
 * finalize, and SQLite's failures turned into an err_t with a status. Also
 * the read connection borrowed for one function (with_reader). */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>

sqlite3_stmt *conn_stmt(conn_t *c, stmt_slot slot, const char *sql)
{
    if (!c->st[slot] &&
        sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[slot], NULL) !=
            SQLITE_OK) {
        c->st[slot] = NULL;
    }
    return c->st[slot];
}

void stmt_reset(sqlite3_stmt *st)
{
    if (!st) return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

evk_status db_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:       /* the disk is full */
    case SQLITE_BUSY:       /* another process holds the lock past the timeout */
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
        return EVK_UNAVAILABLE;
    case SQLITE_CONSTRAINT: return EVK_CONFLICT;
    case SQLITE_TOOBIG: return EVK_TOO_LARGE;
    default: return EVK_INTERNAL;
    }
}

int db_fail(err_t *err, conn_t *c, const char *what)
{
    return err_code(err, db_status(sqlite3_extended_errcode(c->db)), "%s: %s", what,
                    sqlite3_errmsg(c->db));
}

int stmt_exec(conn_t *c, sqlite3_stmt *st, const char *what, err_t *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) db_fail(err, c, what);
    stmt_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

char *col_strdup(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_BLOB) {
        size_t len;
        return col_text_copy(st, i, &len);
    }
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return NULL;
    return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

json_t *col_json(sqlite3_stmt *st, int i, size_t flags)
{
    if (sqlite3_column_type(st, i) == SQLITE_BLOB) {
        size_t len;
        char *t = col_text_copy(st, i, &len);
        json_t *v = t ? json_load_kept(t, len, flags, NULL) : NULL;
        free(t);
        return v;
    }
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t) return NULL;
    return json_load_kept(t, (size_t)sqlite3_column_bytes(st, i), flags, NULL);
}

static void bind_args(sqlite3_stmt *st, sql_args args)
{
    /* A parameter the text does not use (a filter left out) is skipped. */
    int np = sqlite3_bind_parameter_count(st);
    for (size_t i = 0; i < args.n && (int)i < np; i++) {
        if (args.v[i].blob)
            sqlite3_bind_blob(st, (int)i + 1, args.v[i].t, (int)args.v[i].i, SQLITE_STATIC);
        else if (args.v[i].text) bind_text(st, (int)i + 1, args.v[i].t);
        else sqlite3_bind_int64(st, (int)i + 1, args.v[i].i);
    }
}

int sql_run(conn_t *c, stmt_slot slot, const char *sql, sql_args args, row_fn row, void *ud,
            const char *what, err_t *err)
{
    sqlite3_stmt *st = NULL;
    if (slot == ST_ONCE) {
        if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) st = NULL;
    } else {
        st = conn_stmt(c, slot, sql);
    }
    if (!st) return db_fail(err, c, what);
    bind_args(st, args);
    int rc, rows = 0, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (row) stop = row(ud, st, err);
    }
    if (stop == 0 && rc != SQLITE_DONE) stop = db_fail(err, c, what);
    if (slot == ST_ONCE) sqlite3_finalize(st);
    else stmt_reset(st);
    return stop < 0 ? -1 : rows;
}

int sql_exec(conn_t *c, stmt_slot slot, const char *sql, sql_args args, const char *what,
             err_t *err)
{
    return sql_run(c, slot, sql, args, NULL, NULL, what, err) < 0 ? -1 : 0;
}

static int first_int(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    *(int64_t *)ud = sqlite3_column_int64(row, 0);
    return 1;
}

int sql_int(conn_t *c, stmt_slot slot, const char *sql, sql_args args, int64_t *out,
            const char *what, err_t *err)
{
    return sql_run(c, slot, sql, args, first_int, out, what, err);
}

int with_reader(sq_t *s, bool txn, reader_fn fn, void *ud, err_t *err)
{
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    int rc;
    if (txn && sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(err, c, "cannot start a read transaction");
    else
        rc = fn(c, ud, err);
    /* store_reader_put ends the read transaction (or a half-done read). */
    store_reader_put(s, c);
    return rc;
}

typedef struct {
    stmt_slot slot;
    const char *sql;
    sql_args args;
    row_fn row;
    void *ud;
    const char *what;
} one_query;

static int run_one(conn_t *c, void *ud, err_t *err)
{
    one_query *q = ud;
    return sql_run(c, q->slot, q->sql, q->args, q->row, q->ud, q->what, err) < 0 ? -1 : 0;
}

int store_query(sq_t *s, stmt_slot slot, const char *sql, sql_args args, row_fn row, void *ud,
                const char *what, err_t *err)
{
    one_query q = {slot, sql, args, row, ud, what};
    return with_reader(s, false, run_one, &q, err);
}

int store_query_int(sq_t *s, stmt_slot slot, const char *sql, sql_args args, int64_t *out,
                    const char *what, err_t *err)
{
    *out = 0;
    return store_query(s, slot, sql, args, first_int, out, what, err);
}

int store_query_array(sq_t *s, stmt_slot slot, const char *sql, sql_args args, row_fn row,
                      const char *what, json_t **out, err_t *err)
{
    json_t *arr = json_array();
    if (store_query(s, slot, sql, args, row, arr, what, err) < 0) {
        json_decref(arr);
        *out = NULL;
        return -1;
    }
    *out = arr;
    return 0;
}

typedef struct {
    stmt_slot slot;
    const char *sql;
    sql_args args;
    const char *what;
} one_write;

static int run_one_write(conn_t *c, wop_t *op)
{
    one_write *w = op->arg;
    if (sql_exec(c, w->slot, w->sql, w->args, w->what, &op->err) < 0) return -1;
    op->changes = sqlite3_changes(c->db);
    return 0;
}

int store_write(sq_t *s, stmt_slot slot, const char *sql, sql_args args, const char *what,
                int64_t *changes, err_t *err)
{
    one_write w = {slot, sql, args, what};
    wop_t op = {.run = run_one_write, .arg = &w};
    if (store_submit(s, &op, err) < 0) return -1;
    if (changes) *changes = op.changes;
    return 0;
}

int store_submit_chunks(sq_t *s, wop_t *op, int64_t *total, err_t *err)
{
    if (total) *total = 0;
    do {
        if (store_submit(s, op, err) < 0) return -1;
        if (total) *total += op->changes;
    } while (op->more);
    return 0;
}

int rows_json_array(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t *v = col_json(row, 0, 0);
    if (v) json_array_append_new(ud, v);
    return 0;
}

int row_strdup(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    *(char **)ud = col_strdup(row, 0);
    return 1;
}
