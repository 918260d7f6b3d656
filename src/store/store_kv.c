/* store_kv: activation records (written in batches by the writer thread,
 * queried newest first) and action state, a key-value store with TTL that
 * actions use (the consumers' loop-breaking fingerprints). */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* Activations deleted per transaction by a prune. */
#define ACT_PRUNE_CHUNK 5000

/* ---- activations ---- */

void act_rec_free(act_rec *r)
{
    if (!r) return;
    free(r->id);
    free(r->name);
    free(r->action);
    free(r->ns);
    free(r->body);
    free(r);
}

int act_write(conn_t *c, const act_rec *r, err_t *err)
{
    const char *what = "cannot store activation";
    sqlite3_stmt *st = conn_stmt(c, ST_ACT_INSERT,
                                 "INSERT OR REPLACE INTO activations(id, name, action, namespace,"
                                 " start_ms, end_ms, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) return db_fail(err, c, what);
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->name);
    bind_text(st, 3, r->action);
    bind_text(st, 4, r->ns);
    sqlite3_bind_int64(st, 5, r->start);
    sqlite3_bind_int64(st, 6, r->end);
    bind_text(st, 7, r->body);
    return stmt_exec(c, st, what, err);
}

int store_activation_list(store_t *s, const char *name, int limit, json_t **out, err_t *err)
{
    *out = NULL;
    if (limit <= 0) limit = 30;
    const char *what = "cannot list activations";
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st;
    if (!name || !*name) {
        st = conn_stmt(c, ST_ACT_LIST_ALL,
                       "SELECT body FROM activations ORDER BY start_ms DESC, rowid DESC LIMIT ?1");
        if (st) sqlite3_bind_int(st, 1, limit);
    } else {
        /* "pkg/action" matches the full name, a bare name the action part. */
        bool full = strchr(name, '/') != NULL;
        st = full ? conn_stmt(c, ST_ACT_LIST_NAME,
                              "SELECT body FROM activations WHERE name = ?1"
                              " ORDER BY start_ms DESC LIMIT ?2")
                  : conn_stmt(c, ST_ACT_LIST_ACTION,
                              "SELECT body FROM activations WHERE action = ?1"
                              " ORDER BY start_ms DESC LIMIT ?2");
        if (st) {
            bind_text(st, 1, name);
            sqlite3_bind_int(st, 2, limit);
        }
    }
    if (!st) {
        db_fail(err, c, what);
        store_reader_put(s, c);
        return -1;
    }
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *rec = json_loadb((const char *)sqlite3_column_text(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
        if (rec) json_array_append_new(arr, rec);
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

int store_activation_get(store_t *s, const char *id, json_t **out, err_t *err)
{
    *out = NULL;
    if (!id || !*id) return 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = conn_stmt(c, ST_ACT_GET, "SELECT body FROM activations WHERE id = ?1");
    int rc = SQLITE_ERROR;
    if (st) {
        bind_text(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = json_loadb((const char *)sqlite3_column_text(st, 0),
                              (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) db_fail(err, c, "cannot read activation");
    stmt_reset(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

typedef struct {
    int64_t cutoff;
    int deleted;
} act_prune_arg;

static int run_act_prune(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    act_prune_arg *a = op->arg;
    const char *what = "cannot prune activations";
    /* end >= start, so every record that ended before the cutoff also
     * started before it: the start index finds them. */
    sqlite3_stmt *st = conn_stmt(c, ST_ACT_PRUNE,
                                 "DELETE FROM activations WHERE rowid IN (SELECT rowid FROM activations"
                                 " WHERE start_ms < ?1 AND end_ms < ?1 LIMIT ?2)");
    if (!st) return db_fail(&op->err, c, what);
    sqlite3_bind_int64(st, 1, a->cutoff);
    sqlite3_bind_int(st, 2, ACT_PRUNE_CHUNK);
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    a->deleted = sqlite3_changes(c->db);
    return 0;
}

int store_activation_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    if (deleted) *deleted = 0;
    /* In chunks, each its own transaction, so publishes are not held up. */
    for (;;) {
        act_prune_arg a = {.cutoff = cutoff_ms};
        wop_t op = {.run = run_act_prune, .arg = &a};
        if (store_submit(s, &op, err) < 0) return -1;
        if (deleted) *deleted += a.deleted;
        if (a.deleted < ACT_PRUNE_CHUNK) return 0;
    }
}

/* ---- action state ---- */

bool store_state_key_valid(const char *key)
{
    if (!key) return false;
    size_t n = 0;
    for (const char *p = key; *p; p++, n++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '-' || ch == '_' || ch == '.';
        if (!ok || n >= 1024) return false;
    }
    return n >= 1;
}

int store_state_get(store_t *s, const char *key, json_t **value, err_t *err)
{
    *value = NULL;
    if (!store_state_key_valid(key))
        return err_set(err, "invalid state key (1..1024 characters of a-z A-Z 0-9 - _ .)");
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = conn_stmt(c, ST_STATE_GET, "SELECT value, expires_ms FROM state WHERE key = ?1");
    int rc = SQLITE_ERROR;
    if (st) {
        bind_text(st, 1, key);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t exp = sqlite3_column_int64(st, 1);
            /* Expired rows linger until housekeeping removes them. */
            if (exp <= 0 || exp > now_ms())
                *value = json_loadb((const char *)sqlite3_column_text(st, 0),
                                    (size_t)sqlite3_column_bytes(st, 0), JSON_DECODE_ANY, NULL);
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) db_fail(err, c, "cannot read state");
    stmt_reset(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

typedef struct {
    const char *key;
    const char *value;    /* NULL: delete */
    int64_t expires_ms;
    bool existed;
} state_arg;

static int run_state_put(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    state_arg *a = op->arg;
    sqlite3_stmt *st = conn_stmt(c, ST_STATE_PUT,
                                 "INSERT INTO state(key, value, expires_ms) VALUES(?1, ?2, ?3)"
                                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                                 " expires_ms = excluded.expires_ms");
    if (!st) return db_fail(&op->err, c, "cannot write state");
    bind_text(st, 1, a->key);
    bind_text(st, 2, a->value);
    sqlite3_bind_int64(st, 3, a->expires_ms);
    return stmt_exec(c, st, "cannot write state", &op->err);
}

int store_state_put(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err)
{
    if (!store_state_key_valid(key))
        return err_set(err, "invalid state key (1..1024 characters of a-z A-Z 0-9 - _ .)");
    if (!value) return err_set(err, "state value is required");
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return err_set(err, "cannot serialize the state value");
    state_arg a = {.key = key, .value = text, .expires_ms = ttl_ms > 0 ? now_ms() + ttl_ms : 0};
    wop_t op = {.run = run_state_put, .arg = &a};
    int rc = store_submit(s, &op, err);
    free(text);
    return rc;
}

static int run_state_delete(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    state_arg *a = op->arg;
    const char *what = "cannot delete state";
    /* An expired key did not exist as far as callers could see. */
    sqlite3_stmt *st = conn_stmt(c, ST_STATE_DEL_LIVE,
                                 "DELETE FROM state WHERE key = ?1"
                                 " AND (expires_ms <= 0 OR expires_ms > ?2)");
    if (!st) return db_fail(&op->err, c, what);
    bind_text(st, 1, a->key);
    sqlite3_bind_int64(st, 2, now_ms());
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    a->existed = sqlite3_changes(c->db) > 0;
    if (a->existed) return 0;
    st = conn_stmt(c, ST_STATE_DEL, "DELETE FROM state WHERE key = ?1");
    if (!st) return db_fail(&op->err, c, what);
    bind_text(st, 1, a->key);
    return stmt_exec(c, st, what, &op->err);
}

int store_state_delete(store_t *s, const char *key, bool *existed, err_t *err)
{
    if (existed) *existed = false;
    if (!store_state_key_valid(key))
        return err_set(err, "invalid state key (1..1024 characters of a-z A-Z 0-9 - _ .)");
    state_arg a = {.key = key};
    wop_t op = {.run = run_state_delete, .arg = &a};
    if (store_submit(s, &op, err) < 0) return -1;
    if (existed) *existed = a.existed;
    return 0;
}
