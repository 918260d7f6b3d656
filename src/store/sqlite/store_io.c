/* store_io: what evkit keeps for the Adobe services it stands in for: the
 * providers and registrations made through the I/O Management API (their
 * records as that API answers them; the registrations themselves live in
 * the registry's definitions), named secret keys (the IMS token signing
 * key), and the collection view of action state that @adobe/aio-lib-state
 * needs (a value with its expiry, count, clear).
 *
 * Rare operations: statements are prepared per call, not cached. */
#include "store/sqlite/sqlite_int.h"
#include "core/json_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char STORE_IO_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS io_providers("
    "  id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, label TEXT NOT NULL UNIQUE,"
    "  rec TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS io_registrations("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, name TEXT NOT NULL,"
    "  rec TEXT NOT NULL, created_ms INTEGER NOT NULL, UNIQUE(scope, name));"
    "CREATE TABLE IF NOT EXISTS io_keys(name TEXT PRIMARY KEY, value TEXT NOT NULL)"
    "  WITHOUT ROWID;";

/* ---- one statement through the writer ---- */

typedef struct {
    const char *sql, *what;
    const char *t[4];     /* ?1..?4, text (NULL binds NULL) */
    int64_t i5;           /* ?5 */
    bool constraint;      /* a UNIQUE constraint refused it */
    int64_t changes, rowid;
} io_write_arg;

static int run_io_write(conn_t *c, wop_t *op)
{
    io_write_arg *a = op->arg;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, a->sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, a->what);
    int np = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < 4 && i < np; i++) bind_text(st, i + 1, a->t[i]);
    if (np >= 5) sqlite3_bind_int64(st, 5, a->i5);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) { /* extended codes may be on */
        a->constraint = true;
        return 0;
    }
    if (rc != SQLITE_DONE) return db_fail(&op->err, c, a->what);
    a->changes = sqlite3_changes(c->db);
    a->rowid = sqlite3_last_insert_rowid(c->db);
    return 0;
}

static int io_write(sq_t *s, io_write_arg *a, err_t *err)
{
    wop_t op = {.run = run_io_write, .arg = a};
    return store_submit(s, &op, err);
}

/* ---- reads: rows of (rec text, number) ---- */

/* An array of the JSON objects in column 0; column 1, when the query has
 * it, is set in each as "id" (a number). */
static int io_read(sq_t *s, const char *sql, const char *t1, int64_t i2, const char *what,
                   json_t **out, err_t *err)
{
    *out = NULL;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(err, c, what);
        store_reader_put(s, c);
        return -1;
    }
    int np = sqlite3_bind_parameter_count(st);
    if (np >= 1) bind_text(st, 1, t1);
    if (np >= 2) sqlite3_bind_int64(st, 2, i2);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_load_kept((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), JSON_DECODE_ANY, NULL);
        if (!o) continue;
        if (sqlite3_column_count(st) > 1 && json_is_object(o))
            json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 1)));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_fail(err, c, what);
        json_decref(arr);
        arr = NULL;
    }
    store_reader_put(s, c);
    *out = arr;
    return arr ? 0 : -1;
}

/* ---- providers ---- */

int sq_io_provider_put(store_t *base, const json_t *rec, bool *conflict, err_t *err)
{
    sq_t *s = SQ(base);
    *conflict = false;
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    const char *label = json_string_value(json_object_get(rec, "label"));
    if (!id || !key || !label) return err_set(err, "a provider record needs id, key and label");
    char *text = json_text(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    io_write_arg a = {
        .sql = "INSERT INTO io_providers(id, key, label, rec, created_ms)"
               " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(key) DO UPDATE SET"
               " label = excluded.label, rec = excluded.rec",
        .what = "cannot store the provider",
        .t = {id, key, label, text},
        .i5 = now_ms(),
    };
    int rc = io_write(s, &a, err);
    free(text);
    if (rc == 0) *conflict = a.constraint;
    return rc;
}

int sq_io_provider_list(store_t *base, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    return io_read(s, "SELECT rec FROM io_providers ORDER BY created_ms, id", NULL, 0,
                   "cannot read providers", out, err);
}

int sq_io_provider_get(store_t *base, const char *id_or_key, json_t **rec, err_t *err)
{
    sq_t *s = SQ(base);
    *rec = NULL;
    json_t *rows = NULL;
    if (io_read(s, "SELECT rec FROM io_providers WHERE id = ?1 OR key = ?1", id_or_key, 0,
                "cannot read providers", &rows, err) < 0)
        return -1;
    *rec = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

/* ---- registrations ---- */

int sq_io_reg_put(store_t *base, const char *scope, const json_t *rec, bool *conflict,
                     int64_t *id, err_t *err)
{
    sq_t *s = SQ(base);
    *conflict = false;
    *id = 0;
    const char *name = json_string_value(json_object_get(rec, "name"));
    if (!scope || !name) return err_set(err, "a registration record needs a scope and a name");
    char *text = json_text(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    io_write_arg a = {
        .sql = "INSERT INTO io_registrations(scope, name, rec, created_ms) VALUES(?1, ?2, ?3, ?5)",
        .what = "cannot store the registration",
        .t = {scope, name, text},
        .i5 = now_ms(),
    };
    int rc = io_write(s, &a, err);
    free(text);
    if (rc == 0) {
        *conflict = a.constraint;
        if (!a.constraint) *id = a.rowid;
    }
    return rc;
}

int sq_io_reg_list(store_t *base, const char *scope, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    return io_read(s, "SELECT rec, id FROM io_registrations WHERE ?1 IS NULL OR scope = ?1"
                      " ORDER BY id",
                   scope, 0, "cannot read registrations", out, err);
}

/* ---- named keys ---- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

int sq_key_get(store_t *base, const char *name, unsigned char *out, size_t len, err_t *err)
{
    sq_t *s = SQ(base);
    if (len == 0 || len > 256) return err_set(err, "a key is 1 to 256 bytes");
    unsigned char raw[256];
    char hex[513];
    if (random_bytes(raw, len) < 0) return err_set(err, "cannot make a random key");
    for (size_t i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    /* Two processes may race for the first key: the first one kept wins. */
    io_write_arg a = {
        .sql = "INSERT OR IGNORE INTO io_keys(name, value) VALUES(?1, ?2)",
        .what = "cannot store the key",
        .t = {name, hex},
    };
    int rc = io_write(s, &a, err);
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc < 0) return -1;
    json_t *rows = NULL;
    if (io_read(s, "SELECT json_quote(value) FROM io_keys WHERE name = ?1", name, 0,
                "cannot read the key", &rows, err) < 0)
        return -1;
    const char *v = json_string_value(json_array_get(rows, 0));
    rc = v && strlen(v) == 2 * len ? 0 : err_set(err, "the stored key '%s' is malformed", name);
    for (size_t i = 0; rc == 0 && i < len; i++) {
        int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
        if (hi < 0 || lo < 0) rc = err_set(err, "the stored key '%s' is malformed", name);
        else out[i] = (unsigned char)(hi * 16 + lo);
    }
    if (v) OPENSSL_cleanse((char *)v, strlen(v));
    json_decref(rows);
    return rc;
}

/* ---- action state as a collection ---- */

int sq_state_entry(store_t *base, const char *key, json_t **value, int64_t *expires_ms, err_t *err)
{
    sq_t *s = SQ(base);
    *value = NULL;
    *expires_ms = 0;
    if (!store_state_key_valid(key))
        return err_code(err, EVK_INVALID,
                        "invalid state key (1..1024 characters of a-z A-Z 0-9 - _ .)");
    json_t *rows = NULL;
    /* The value as JSON text in an array beside its expiry. */
    if (io_read(s, "SELECT json_array(json(value), expires_ms) FROM state WHERE key = ?1"
                   " AND (expires_ms <= 0 OR expires_ms > ?2)",
                key, now_ms(), "cannot read state", &rows, err) < 0)
        return -1;
    json_t *row = json_array_get(rows, 0);
    if (row) {
        *value = json_incref(json_array_get(row, 0));
        *expires_ms = json_integer_value(json_array_get(row, 1));
    }
    json_decref(rows);
    return 0;
}

int sq_state_count(store_t *base, int64_t *n, err_t *err)
{
    sq_t *s = SQ(base);
    *n = 0;
    json_t *rows = NULL;
    if (io_read(s, "SELECT count(*) FROM state WHERE expires_ms <= 0 OR expires_ms > ?2", NULL,
                now_ms(), "cannot count state", &rows, err) < 0)
        return -1;
    *n = json_integer_value(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

int sq_state_clear(store_t *base, int64_t *n, err_t *err)
{
    sq_t *s = SQ(base);
    *n = 0;
    io_write_arg a = {.sql = "DELETE FROM state", .what = "cannot delete state"};
    if (io_write(s, &a, err) < 0) return -1;
    *n = a.changes;
    return 0;
}
