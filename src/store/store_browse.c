/* store_browse: reading the journal the way a person looks at it (the web
 * console, `evkit event show`): pages by provider, type and position, and
 * one event with every delivery it caused. Reads only. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define BROWSE_MAX_LIMIT 1000

static json_t *event_item(sqlite3_stmt *st)
{
    const char *body = (const char *)sqlite3_column_text(st, 2);
    json_t *ev = body ? json_loadb(body, (size_t)sqlite3_column_bytes(st, 2), 0, NULL) : NULL;
    return json_pack("{s:I, s:s, s:o}", "position", (json_int_t)sqlite3_column_int64(st, 0),
                     "provider", (const char *)sqlite3_column_text(st, 1), "event",
                     ev ? ev : json_object());
}

int store_event_page(store_t *s, const char *provider, const char *type, int64_t since,
                     int64_t before, bool latest, int limit, json_t **out, err_t *err)
{
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
    conn_t *c = store_reader(s, err);
    if (!c) {
        buf_free(&sql);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql.data, -1, &st, NULL);
    buf_free(&sql);
    if (rc != SQLITE_OK) {
        db_fail(err, c, "cannot read events");
        store_reader_put(s, c);
        return -1;
    }
    sqlite3_bind_int64(st, 1, backwards ? (before > 0 && !latest ? before : INT64_MAX)
                                        : (since > 0 ? since : 0));
    if (provider) bind_text(st, 2, provider);
    if (type) bind_text(st, 3, type);
    sqlite3_bind_int(st, 4, limit);
    json_t *arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (backwards) json_array_insert_new(arr, 0, event_item(st));
        else json_array_append_new(arr, event_item(st));
    }
    if (rc != SQLITE_DONE) db_fail(err, c, "cannot read events");
    sqlite3_finalize(st);
    store_reader_put(s, c);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

int store_event_detail(store_t *s, const char *id, json_t **out, err_t *err)
{
    *out = NULL;
    if (!id || !*id) return 0;
    const char *what = "cannot read the event";
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    /* One read transaction: the event and its deliveries agree. */
    sqlite3_stmt *st = NULL;
    json_t *res = NULL;
    int64_t position = 0;
    int rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(c->db, "SELECT position, provider, body FROM events WHERE id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) goto fail;
    bind_text(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        store_reader_put(s, c);
        return 0;
    }
    if (rc != SQLITE_ROW) goto fail;
    res = event_item(st);
    position = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT id, registration, state, attempt, due_ms, last_status, last_error,"
                           " last_attempt_ms FROM deliveries WHERE position = ?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, position);
    json_t *dels = json_array();
    json_object_set_new(res, "deliveries", dels);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char due[32];
        time_iso(sqlite3_column_int64(st, 4), due, sizeof due);
        bool attempted = sqlite3_column_int64(st, 7) > 0;
        const char *le = (const char *)sqlite3_column_text(st, 6);
        json_t *d = json_pack("{s:I, s:s, s:s, s:i, s:s}", "id",
                              (json_int_t)sqlite3_column_int64(st, 0), "registration",
                              (const char *)sqlite3_column_text(st, 1), "state",
                              (const char *)sqlite3_column_text(st, 2), "attempt",
                              sqlite3_column_int(st, 3), "due", due);
        json_object_set_new(d, "lastStatus",
                            attempted ? json_integer(sqlite3_column_int(st, 5)) : json_null());
        json_object_set_new(d, "lastError", attempted && le ? json_string(le) : json_null());
        json_array_append_new(dels, d);
    }
    if (rc != SQLITE_DONE) goto fail;
    sqlite3_finalize(st);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    store_reader_put(s, c);
    *out = res;
    return 0;
fail:
    db_fail(err, c, what);
    sqlite3_finalize(st);
    json_decref(res);
    store_reader_put(s, c);
    return -1;
}
