/* store_kv: activation records (written in batches by the writer thread,
 * queried newest first) and action state, a key-value store with TTL that
 * actions use (the consumers' loop-breaking fingerprints). */
#include "store/sqlite/sqlite_int.h"
#include "core/json_io.h"

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
    free(r->pre);
    free(r);
}

/* The stored key of an activation id: the 16 bytes of the usual 32
 * lower-case hex digits (half the index), else the text itself (in SQLite a
 * text never equals a blob, so the two forms cannot collide). */
static sql_arg act_key(const char *id, unsigned char buf[16])
{
    static const char digits[] = "0123456789abcdef";
    if (!id || strlen(id) != 32) return SQL_TEXT(id);
    for (int i = 0; i < 32; i++) {
        const char *d = strchr(digits, id[i]);
        if (!d || !id[i]) return SQL_TEXT(id);
        int v = (int)(d - digits);
        if (i % 2 == 0) buf[i / 2] = (unsigned char)(v << 4);
        else buf[i / 2] |= (unsigned char)v;
    }
    return SQL_BLOB(buf, 16);
}

static void sql_act_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    unsigned char buf[16];
    sql_arg k = act_key((const char *)sqlite3_value_text(argv[0]), buf);
    if (k.blob) sqlite3_result_blob(ctx, buf, 16, SQLITE_TRANSIENT);
    else if (k.t) sqlite3_result_text(ctx, k.t, -1, SQLITE_TRANSIENT);
    else sqlite3_result_null(ctx);
}

int act_key_register(sqlite3 *db)
{
    return sqlite3_create_function(db, "evk_act_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                   sql_act_key, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Version 1 kept the action's full name, its bare name and namespace as
 * text on every row and in two indexes, and the 32-digit id as text in a
 * third: more than the compressed record itself. */
const char STORE_ACT_V2[] =
    "CREATE TABLE IF NOT EXISTS strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
    "INSERT OR IGNORE INTO strings(s) SELECT name FROM activations"
    "  UNION SELECT action FROM activations"
    "  UNION SELECT namespace FROM activations WHERE namespace IS NOT NULL;"
    "CREATE TABLE activations_v2("
    "  id NOT NULL UNIQUE, fn INTEGER NOT NULL, act INTEGER NOT NULL, ns INTEGER,"
    "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, body NOT NULL);"
    "INSERT INTO activations_v2(rowid, id, fn, act, ns, start_ms, end_ms, body)"
    "  SELECT a.rowid, evk_act_key(a.id), (SELECT id FROM strings WHERE s = a.name),"
    "  (SELECT id FROM strings WHERE s = a.action), (SELECT id FROM strings WHERE s = a.namespace),"
    "  a.start_ms, a.end_ms, a.body FROM activations a ORDER BY a.rowid;"
    "DROP TABLE activations;"
    "ALTER TABLE activations_v2 RENAME TO activations;"
    "CREATE INDEX activations_start ON activations(start_ms);"
    "CREATE INDEX activations_fn ON activations(fn, start_ms);"
    "CREATE INDEX activations_act ON activations(act, start_ms);";

/* Schema version 7: an activation's row key is its start (ms) times
 * 4096 plus its rank among those starting in that millisecond, so that
 * the table itself is in start order: no start index, the name indexes
 * without a start column, the end kept as a duration. */
#define ACT_ID_PART "substr(id, 1, 4)"
const char STORE_ACT_V7[] =
    "CREATE TABLE activations_v7("
    "  k INTEGER PRIMARY KEY, id NOT NULL, fn INTEGER NOT NULL, act INTEGER NOT NULL,"
    "  ns INTEGER, dur_ms INTEGER NOT NULL, body NOT NULL);"
    "INSERT INTO activations_v7(k, id, fn, act, ns, dur_ms, body)"
    "  SELECT s * 4096 + n - 1, id, fn, act, ns, end_ms - s, body FROM ("
    "    SELECT a.*, max(0, min(a.start_ms, 1125899906842623)) AS s,"
    "      row_number() OVER (PARTITION BY max(0, min(a.start_ms, 1125899906842623))"
    "        ORDER BY a.rowid) AS n FROM activations a)"
    "  WHERE n <= 4096 ORDER BY 1;"
    "DROP TABLE activations;"
    "ALTER TABLE activations_v7 RENAME TO activations;"
    "CREATE INDEX activations_fn ON activations(fn);"
    "CREATE INDEX activations_act ON activations(act);"
    "CREATE INDEX activations_id ON activations(" ACT_ID_PART ");";

/* Version 9: the key counts from 2026 (ACT_EPOCH_MS) and 1024 a
 * millisecond, so that it fits 6 bytes in the three indexes until 2030
 * (8 bytes before, in each of them). */
#define ACT_SEQ_BITS 10
#define ACT_SEQS 1024
#define ACT_EPOCH_MS INT64_C(1767225600000)
/* Starts are kept within ACT_EPOCH_MS +- 2^52 so that a key fits. */
#define ACT_START_SPAN (INT64_C(1) << 52)
#define ACT_STR(x) #x
#define ACT_XSTR(x) ACT_STR(x)
/* k's start in SQL. */
#define ACT_START_SQL "((k >> " ACT_XSTR(ACT_SEQ_BITS) ") + 1767225600000)"
const char STORE_ACT_V9[] =
    "CREATE TABLE activations_v9("
    "  k INTEGER PRIMARY KEY, id NOT NULL, fn INTEGER NOT NULL, act INTEGER NOT NULL,"
    "  ns INTEGER, dur_ms INTEGER NOT NULL, body NOT NULL);"
    "INSERT INTO activations_v9(k, id, fn, act, ns, dur_ms, body)"
    "  SELECT (s - 1767225600000) * 1024 + n - 1, id, fn, act, ns, dur_ms, body FROM ("
    "    SELECT a.*, a.k >> 12 AS s, row_number() OVER (PARTITION BY a.k >> 12 ORDER BY a.k)"
    "      AS n FROM activations a)"
    "  WHERE n <= 1024 ORDER BY 1;"
    "DROP TABLE activations;"
    "ALTER TABLE activations_v9 RENAME TO activations;"
    "CREATE INDEX activations_fn ON activations(fn);"
    "CREATE INDEX activations_act ON activations(act);"
    "CREATE INDEX activations_id ON activations(" ACT_ID_PART ");";
/* Ids are random: their first 4 bytes find a record among millions (a few
 * share them, the id itself tells), at a third of an index of whole ids. */
#define ACT_BY_ID "substr(id, 1, 4) = substr(?1, 1, 4) AND id = ?1"

static int64_t act_start_clamp(int64_t ms)
{
    return ms < ACT_EPOCH_MS - ACT_START_SPAN       ? ACT_EPOCH_MS - ACT_START_SPAN
           : ms > ACT_EPOCH_MS + ACT_START_SPAN - 1 ? ACT_EPOCH_MS + ACT_START_SPAN - 1
                                                    : ms;
}

/* The first row key of millisecond ms (clamped), for ranges. */
static int64_t act_k(int64_t ms) { return (act_start_clamp(ms) - ACT_EPOCH_MS) * ACT_SEQS; }
/* Whether ms is past every key (a bound of INT64_MAX then). */
static bool act_past(int64_t ms) { return ms > ACT_EPOCH_MS + ACT_START_SPAN - 1; }

/* A record's text begins with its activationId (the runtime writes it
 * first), which the id column already holds: stored without it, behind a
 * '#' (no JSON text starts so), and put back when read. */
#define ACT_PREFIX "{\"activationId\":\""
static const char *act_body_short(const act_rec *r)
{
    size_t p = strlen(ACT_PREFIX), n = strlen(r->id);
    if (strncmp(r->body, ACT_PREFIX, p) || strncmp(r->body + p, r->id, n) ||
        strncmp(r->body + p + n, "\",", 2))
        return NULL;
    return r->body + p + n + 1; /* the ',' becomes the '#' */
}

/* The records of one action are alike: they share a dictionary. */
static void act_zip_key(const act_rec *r, char key[256])
{
    snprintf(key, 256, "activation:%s", r->name ? r->name : "");
}

void act_prepare(sq_t *s, act_rec *r)
{
    const char *rest = act_body_short(r);
    if (rest) {
        memmove(r->body, rest, strlen(rest) + 1);
        r->body[0] = '#';
    }
    char key[256];
    act_zip_key(r, key);
    zip_buf z;
    if (zip_pre(s->zshared, key, r->body, &z)) {
        r->pre = z.data;
        r->pre_len = z.len;
    }
}

int act_write(conn_t *c, act_rec *r, err_t *err)
{
    bool f1, f2, f3;
    sql_arg fn = intern_arg(c, r->name, err, &f1), act = intern_arg(c, r->action, err, &f2),
            ns = intern_arg(c, r->ns, err, &f3);
    if (f1 || f2 || f3) return -1;
    int64_t first = act_k(r->start), last = first - 1;
    if (!c->act_max_known) {
        if (sql_int(c, ST_ACT_MAX, "SELECT coalesce(max(k), ?1) FROM activations",
                    ARGS(SQL_INT(INT64_MIN)), &c->act_max_k, "cannot store activation",
                    err) < 0)
            return -1;
        c->act_max_known = true;
    }
    /* Records come mostly in start order: a millisecond past every key has
     * none yet, the newest one goes on after the greatest key; only a
     * record of an earlier millisecond reads its millisecond's last key. */
    if (c->act_max_k > first + ACT_SEQS - 1) {
        if (sql_int(c, ST_ACT_LAST,
                    "SELECT coalesce(max(k), ?1 - 1) FROM activations WHERE k BETWEEN ?1 AND ?2",
                    ARGS(SQL_INT(first), SQL_INT(first + ACT_SEQS - 1)), &last,
                    "cannot store activation", err) < 0)
            return -1;
    } else if (c->act_max_k >= first) {
        last = c->act_max_k;
    }
    if (last == first + ACT_SEQS - 1)
        return err_code(err, EVK_TOO_LARGE,
                        "cannot store activation: %d others started in its millisecond", ACT_SEQS);
    char key[256];
    act_zip_key(r, key);
    zip_buf z, pre = {r->pre, r->pre_len};
    sql_arg body = zip_arg_pre(c, key, r->body, &pre, &z);
    r->pre = pre.data; /* NULL when taken */
    unsigned char kb[16];
    /* A record put again replaces the one of its id. */
    int rc = sql_exec(c, ST_ACT_DELETE, "DELETE FROM activations WHERE " ACT_BY_ID,
                      ARGS(act_key(r->id, kb)), "cannot store activation", err);
    if (rc == 0)
        rc = sql_exec(c, ST_ACT_INSERT,
                      "INSERT INTO activations(k, id, fn, act, ns, dur_ms, body)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      ARGS(SQL_INT(last + 1), act_key(r->id, kb), fn, act, ns,
                           SQL_INT(r->end - act_start_clamp(r->start)), body),
                      "cannot store activation", err);
    if (rc == 0 && last + 1 > c->act_max_k) c->act_max_k = last + 1;
    free(z.data);
    return rc;
}

/* The record of the row (body, id), whole again (act_body_short). */
static json_t *act_record(sqlite3_stmt *row, size_t flags)
{
    size_t len;
    char *t = col_text_copy(row, 0, &len);
    if (!t) return NULL;
    json_t *v;
    if (t[0] == '#') {
        char hex[65];
        const char *id = sqlite3_column_type(row, 1) == SQLITE_BLOB ? col_hex(row, 1, hex)
                         : (const char *)sqlite3_column_text(row, 1);
        char *whole = xasprintf(ACT_PREFIX "%s\",%s", id ? id : "", t + 1);
        v = json_load_kept(whole, strlen(whole), flags, NULL);
        free(whole);
    } else {
        v = json_load_kept(t, len, flags, NULL);
    }
    free(t);
    return v;
}

static int rows_act(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t *v = act_record(row, 0);
    if (v) json_array_append_new(ud, v);
    return 0;
}

int sq_activation_list(store_t *base, const char *name, int limit, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (limit <= 0) limit = 30;
    const char *what = "cannot list activations";
    if (!name || !*name)
        return store_query_array(s, ST_ACT_LIST_ALL,
                                 "SELECT body, id FROM activations ORDER BY k DESC LIMIT ?1",
                                 ARGS(SQL_INT(limit)), rows_act, what, out, err);
    /* "pkg/action" matches the full name, a bare name the action part. */
    bool full = strchr(name, '/') != NULL;
    return full ? store_query_array(s, ST_ACT_LIST_NAME,
                                    "SELECT body, id FROM activations"
                                    " WHERE fn = (SELECT id FROM strings WHERE s = ?1)"
                                    " ORDER BY k DESC LIMIT ?2",
                                    ARGS(SQL_TEXT(name), SQL_INT(limit)), rows_act, what, out,
                                    err)
                : store_query_array(s, ST_ACT_LIST_ACTION,
                                    "SELECT body, id FROM activations"
                                    " WHERE act = (SELECT id FROM strings WHERE s = ?1)"
                                    " ORDER BY k DESC LIMIT ?2",
                                    ARGS(SQL_TEXT(name), SQL_INT(limit)), rows_act, what, out,
                                    err);
}

/* A row_fn keeping column 0 parsed as JSON (any value) in *(json_t **)ud. */
static int row_json(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    *(json_t **)ud = col_json(row, 0, JSON_DECODE_ANY);
    return 1;
}

static int row_act(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    *(json_t **)ud = act_record(row, JSON_DECODE_ANY);
    return 1;
}

int sq_activation_get(store_t *base, const char *id, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (!id || !*id) return 0;
    unsigned char kb[16];
    return store_query(s, ST_ACT_GET, "SELECT body, id FROM activations WHERE " ACT_BY_ID,
                       ARGS(act_key(id, kb)), row_act, out, "cannot read activation", err);
}

int sq_activation_query(store_t *base, const char *name, int64_t since_ms, int64_t upto_ms,
                           int skip, int limit, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (limit <= 0) limit = 30;
    if (skip < 0) skip = 0;
    const char *col = name && strchr(name, '/') ? "fn" : "act";
    char *sql = xasprintf("SELECT body, id FROM activations"
                          " WHERE (?1 IS NULL OR %s = (SELECT id FROM strings WHERE s = ?1))"
                          " AND k >= ?2 AND k <= ?3 ORDER BY k DESC LIMIT ?4 OFFSET ?5",
                          col);
    /* Starts are clamped as act_write clamps them. */
    int64_t lo = act_past(since_ms) ? INT64_MAX : act_k(since_ms);
    int64_t hi = upto_ms <= 0 || act_past(upto_ms) ? INT64_MAX : act_k(upto_ms) + ACT_SEQS - 1;
    int rc = store_query_array(s, ST_ONCE, sql,
                               ARGS(SQL_TEXT(name && *name ? name : NULL), SQL_INT(lo),
                                    SQL_INT(hi), SQL_INT(limit), SQL_INT(skip)),
                               rows_act, "cannot list activations", out, err);
    free(sql);
    return rc;
}

static int run_act_prune(conn_t *c, wop_t *op)
{
    const int64_t *cutoff = op->arg;
    /* end >= start, so every record that ended before the cutoff also
     * started before it: the keys (in start order) find them. */
    if (sql_exec(c, ST_ACT_PRUNE,
                 "DELETE FROM activations WHERE k IN (SELECT k FROM activations"
                 " WHERE k < ?1 AND " ACT_START_SQL " + dur_ms < ?2 LIMIT ?3)",
                 ARGS(SQL_INT(act_past(*cutoff) ? INT64_MAX : act_k(*cutoff)),
                      SQL_INT(*cutoff), SQL_INT(ACT_PRUNE_CHUNK)),
                 "cannot prune activations", &op->err) < 0)
        return -1;
    op->changes = sqlite3_changes(c->db);
    op->more = op->changes >= ACT_PRUNE_CHUNK;
    return 0;
}

int sq_activation_prune(store_t *base, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    wop_t op = {.run = run_act_prune, .arg = &cutoff_ms};
    return store_submit_chunks(SQ(base), &op, deleted, err);
}

/* ---- action state ---- */

#define STATE_KEY_RULE "invalid state key (1..1024 characters of a-z A-Z 0-9 - _ .)"

static int row_live_state(void *ud, sqlite3_stmt *row, err_t *err)
{
    /* Expired rows linger until housekeeping removes them. */
    int64_t exp = sqlite3_column_int64(row, 1);
    if (exp <= 0 || exp > now_ms()) return row_json(ud, row, err);
    return 1;
}

int sq_state_get(store_t *base, const char *key, json_t **value, err_t *err)
{
    sq_t *s = SQ(base);
    *value = NULL;
    if (!store_state_key_valid(key)) return err_code(err, EVK_INVALID, STATE_KEY_RULE);
    return store_query(s, ST_STATE_GET, "SELECT value, expires_ms FROM state WHERE key = ?1",
                       ARGS(SQL_TEXT(key)), row_live_state, value, "cannot read state", err);
}

typedef struct {
    const char *key;
    bool existed;
} state_arg;

int sq_state_put(store_t *base, const char *key, json_t *value, int64_t ttl_ms, err_t *err)
{
    sq_t *s = SQ(base);
    if (!store_state_key_valid(key))
        return err_code(err, EVK_INVALID, STATE_KEY_RULE);
    if (!value) return err_code(err, EVK_INVALID, "state value is required");
    /* A value too deep for the runtime would fail every later get. */
    if (json_check_depth(value, "the state value", err) < 0) return -1;
    char *text = json_text(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return err_code(err, EVK_INVALID, "cannot serialize the state value");
    int rc = store_write(s, ST_STATE_PUT,
                         "INSERT INTO state(key, value, expires_ms) VALUES(?1, ?2, ?3)"
                         " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                         " expires_ms = excluded.expires_ms",
                         ARGS(SQL_TEXT(key), SQL_TEXT(text),
                              SQL_INT(ttl_ms > 0 ? now_ms() + ttl_ms : 0)),
                         "cannot write state", NULL, err);
    free(text);
    return rc;
}

static int run_state_delete(conn_t *c, wop_t *op)
{
    state_arg *a = op->arg;
    const char *what = "cannot delete state";
    /* An expired key did not exist as far as callers could see. */
    if (sql_exec(c, ST_STATE_DEL_LIVE,
                 "DELETE FROM state WHERE key = ?1 AND (expires_ms <= 0 OR expires_ms > ?2)",
                 ARGS(SQL_TEXT(a->key), SQL_INT(now_ms())), what, &op->err) < 0)
        return -1;
    a->existed = sqlite3_changes(c->db) > 0;
    if (a->existed) return 0;
    return sql_exec(c, ST_STATE_DEL, "DELETE FROM state WHERE key = ?1", ARGS(SQL_TEXT(a->key)),
                    what, &op->err);
}

int sq_state_delete(store_t *base, const char *key, bool *existed, err_t *err)
{
    sq_t *s = SQ(base);
    if (existed) *existed = false;
    if (!store_state_key_valid(key))
        return err_code(err, EVK_INVALID, STATE_KEY_RULE);
    state_arg a = {.key = key};
    wop_t op = {.run = run_state_delete, .arg = &a};
    if (store_submit(s, &op, err) < 0) return -1;
    if (existed) *existed = a.existed;
    return 0;
}
