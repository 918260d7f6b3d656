/* store_browse: reading the journal the way a person looks at it (the web
 * console, `evkit event show`): pages by provider, type and position, and
 * one event with every delivery it caused. Reads only. */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define BROWSE_MAX_LIMIT 1000

static json_t *event_item(sqlite3_stmt *st)
{
    json_t *ev = col_json(st, 2, 0);
    return json_pack("{s:I, s:s, s:o}", "position", (json_int_t)sqlite3_column_int64(st, 0),
                     "provider", (const char *)sqlite3_column_text(st, 1), "event",
                     ev ? ev : json_object());
}

typedef struct {
    json_t *arr;
    bool backwards;
} page_rows;

static int row_page(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    page_rows *p = ud;
    if (p->backwards) json_array_insert_new(p->arr, 0, event_item(row));
    else json_array_append_new(p->arr, event_item(row));
    return 0;
}

int sq_event_page(store_t *base, const char *provider, const char *type, int64_t since,
                     int64_t before, bool latest, int limit, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    bool backwards = latest || before > 0;
    if (limit <= 0) limit = 100;
    if (limit > BROWSE_MAX_LIMIT) limit = BROWSE_MAX_LIMIT;
    buf_t sql;
    buf_init(&sql, 0);
    buf_printf(&sql, "SELECT position, provider, body FROM events WHERE %s",
               backwards ? "position < ?1" : "position > ?1");
    if (provider) buf_printf(&sql, " AND provider = ?2");
    if (type) buf_printf(&sql, " AND type = ?3");
    /* A page before a position is read backwards and turned around below. */
    buf_printf(&sql, " ORDER BY position %s LIMIT ?4", backwards ? "DESC" : "ASC");
    int64_t from = backwards ? (before > 0 && !latest ? before : INT64_MAX) : (since > 0 ? since : 0);
    page_rows p = {.arr = json_array(), .backwards = backwards};
    int rc = store_query(s, ST_ONCE, sql.data,
                         ARGS(SQL_INT(from), SQL_TEXT(provider), SQL_TEXT(type), SQL_INT(limit)),
                         row_page, &p, "cannot read events", err);
    buf_free(&sql);
    if (rc < 0) {
        json_decref(p.arr);
        return -1;
    }
    *out = p.arr;
    return 0;
}

static int row_event_item(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t **res = ud;
    *res = event_item(row);
    json_object_set_new(*res, "deliveries", json_array());
    return 1;
}

static int row_delivery(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    char due[32];
    time_iso(sqlite3_column_int64(row, 4), due, sizeof due);
    bool attempted = sqlite3_column_int64(row, 7) > 0;
    const char *le = (const char *)sqlite3_column_text(row, 6);
    json_t *d = json_pack("{s:I, s:s, s:s, s:i, s:s}", "id", (json_int_t)sqlite3_column_int64(row, 0),
                          "registration", (const char *)sqlite3_column_text(row, 1), "state",
                          (const char *)sqlite3_column_text(row, 2), "attempt",
                          sqlite3_column_int(row, 3), "due", due);
    json_object_set_new(d, "lastStatus",
                        attempted ? json_integer(sqlite3_column_int(row, 5)) : json_null());
    json_object_set_new(d, "lastError", attempted && le ? json_string(le) : json_null());
    json_array_append_new(ud, d);
    return 0;
}

typedef struct {
    const char *id;
    json_t *res;
} detail_arg;

static int read_detail(conn_t *c, void *ud, err_t *err)
{
    detail_arg *a = ud;
    const char *what = "cannot read the event";
    unsigned char idb[32];
    int found = sql_run(c, ST_ONCE,
                        "SELECT position, provider, body FROM events WHERE " EVENT_BY_ID,
                        ARGS(hex_arg(a->id, idb), SQL_TEXT(a->id)), row_event_item, &a->res, what,
                        err);
    if (found <= 0) return found;
    int64_t position = json_integer_value(json_object_get(a->res, "position"));
    return sql_run(c, ST_ONCE,
                   "SELECT id, registration, state, attempt, due_ms, last_status, last_error,"
                   " last_attempt_ms FROM deliveries WHERE position = ?1 ORDER BY id",
                   ARGS(SQL_INT(position)), row_delivery,
                   json_object_get(a->res, "deliveries"), what, err) < 0
               ? -1
               : 0;
}

int sq_event_detail(store_t *base, const char *id, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (!id || !*id) return 0;
    detail_arg a = {.id = id};
    /* One read transaction: the event and its deliveries agree. */
    if (with_reader(s, true, read_detail, &a, err) < 0) {
        json_decref(a.res);
        return -1;
    }
    *out = a.res;
    return 0;
}
