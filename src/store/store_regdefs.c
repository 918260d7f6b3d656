/* store_regdefs: registration definitions created at run time through the
 * registrations API, kept as JSON documents beside a generation number that
 * grows with every change, so that every process sharing the journal (the
 * daemon, the CLI) notices another's change with one cheap read. Also the
 * short-window health counts the registrations API reports.
 *
 * These are rare operations: statements are prepared per call, not cached. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

const char STORE_REGDEFS_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS regdefs("
    "  name TEXT PRIMARY KEY, def TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL) WITHOUT ROWID;";

#define GEN_KEY "regdefs_generation"

static int exec_sql(conn_t *c, const char *sql, const char *what, err_t *err,
                    const char *t1, const char *t2, int64_t i3)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) return db_fail(err, c, what);
    int np = sqlite3_bind_parameter_count(st);
    if (np >= 1) bind_text(st, 1, t1);
    if (np >= 2) bind_text(st, 2, t2);
    if (np >= 3) sqlite3_bind_int64(st, 3, i3);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_fail(err, c, what);
    return 0;
}

static int bump_generation(conn_t *c, err_t *err)
{
    return exec_sql(c,
                    "INSERT INTO meta(key, value) VALUES('" GEN_KEY "', 1) ON CONFLICT(key)"
                    " DO UPDATE SET value = value + 1",
                    "cannot record the registration change", err, NULL, NULL, 0);
}

typedef struct {
    const char *name;
    char *def;
    regdef_mode mode;
    int found;        /* out: whether the name existed before */
    int64_t now;
} regdef_put_arg;

static int run_regdef_put(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    regdef_put_arg *a = op->arg;
    const char *what = "cannot store the registration";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM regdefs WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(&op->err, c, what);
    bind_text(st, 1, a->name);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(&op->err, c, what);
    a->found = rc == SQLITE_ROW;
    if ((a->mode == REGDEF_CREATE && a->found) || (a->mode == REGDEF_UPDATE && !a->found))
        return 0;   /* the caller reports the conflict */
    if (exec_sql(c,
                 "INSERT INTO regdefs(name, def, created_ms, updated_ms) VALUES(?1, ?2, ?3, ?3)"
                 " ON CONFLICT(name) DO UPDATE SET def = excluded.def, updated_ms = ?3",
                 what, &op->err, a->name, a->def, a->now) < 0)
        return -1;
    if (!a->found) {
        /* A new registration starts with a clean health record, even when an
         * earlier one had the same name. */
        if (exec_sql(c, "DELETE FROM registrations WHERE name = ?1", what, &op->err, a->name, NULL,
                     0) < 0 ||
            exec_sql(c, "DELETE FROM reg_minutes WHERE registration = ?1", what, &op->err, a->name,
                     NULL, 0) < 0)
            return -1;
    }
    op->work = true;
    return bump_generation(c, &op->err);
}

int store_regdef_put(store_t *s, const char *name, const json_t *def, regdef_mode mode,
                     bool *existed, err_t *err)
{
    if (!name || !*name || !json_is_object(def)) return err_set(err, "a registration needs a name");
    char *text = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
    regdef_put_arg a = {.name = name, .def = text, .mode = mode, .now = now_ms()};
    wop_t op = {.run = run_regdef_put, .arg = &a};
    int rc = store_submit(s, &op, err);
    /* The text holds webhook secrets. */
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (existed) *existed = a.found;
    return rc;
}

typedef struct {
    const char *name;
    int found;
    int64_t now;
    int parked_off;
} regdef_del_arg;

static int run_regdef_delete(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    regdef_del_arg *a = op->arg;
    const char *what = "cannot delete the registration";
    if (exec_sql(c, "DELETE FROM regdefs WHERE name = ?1", what, &op->err, a->name, NULL, 0) < 0)
        return -1;
    a->found = sqlite3_changes(c->db) > 0;
    if (!a->found) return 0;
    /* Work still waiting for it is kept as dead letters (the events stay in
     * the journal): replayable if a registration of that name comes back. */
    if (exec_sql(c,
                 "UPDATE deliveries SET state = 'failed', last_status = 410,"
                 " last_error = 'the registration was deleted', last_attempt_ms = ?3"
                 " WHERE registration = ?1 AND state IN ('pending','parked')",
                 what, &op->err, a->name, NULL, a->now) < 0)
        return -1;
    a->parked_off = sqlite3_changes(c->db);
    op->work = true;
    return bump_generation(c, &op->err);
}

int store_regdef_delete(store_t *s, const char *name, bool *existed, int *dropped, err_t *err)
{
    regdef_del_arg a = {.name = name, .now = now_ms()};
    wop_t op = {.run = run_regdef_delete, .arg = &a};
    int rc = store_submit(s, &op, err);
    if (existed) *existed = a.found;
    if (dropped) *dropped = a.parked_off;
    return rc;
}

int store_regdef_list(store_t *s, json_t **out, int64_t *generation, err_t *err)
{
    *out = NULL;
    const char *what = "cannot read registrations";
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    json_t *obj = json_object();
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ERROR;
    /* One read transaction: the generation belongs to the rows read. */
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) goto done;
    if (generation) {
        *generation = 0;
        if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = '" GEN_KEY "'", -1, &st,
                               NULL) != SQLITE_OK)
            goto done;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *generation = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto done;
    }
    if (sqlite3_prepare_v2(c->db, "SELECT name, def, created_ms, updated_ms FROM regdefs"
                           " ORDER BY created_ms, name", -1, &st, NULL) != SQLITE_OK) {
        rc = SQLITE_ERROR;
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *def = json_loadb((const char *)sqlite3_column_text(st, 1),
                                 (size_t)sqlite3_column_bytes(st, 1), 0, NULL);
        if (!json_is_object(def)) {
            json_decref(def);
            continue;
        }
        json_object_set_new(def, "created", json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(def, "updated", json_integer(sqlite3_column_int64(st, 3)));
        json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0), def);
    }
done:
    if (rc != SQLITE_DONE) db_fail(err, c, what);
    sqlite3_finalize(st);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    store_reader_put(s, c);
    if (rc != SQLITE_DONE) {
        json_decref(obj);
        return -1;
    }
    *out = obj;
    return 0;
}

int store_regdef_generation(store_t *s, int64_t *generation, err_t *err)
{
    *generation = 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ERROR;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = '" GEN_KEY "'", -1, &st,
                           NULL) == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *generation = sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) db_fail(err, c, "cannot read registrations");
    sqlite3_finalize(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_reg_window(store_t *s, const char *registration, int64_t since_ms, int64_t *attempts,
                     int64_t *failures, err_t *err)
{
    *attempts = *failures = 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ERROR;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT coalesce(sum(attempts), 0), coalesce(sum(failures), 0)"
                           " FROM reg_minutes WHERE registration = ?1 AND minute >= ?2",
                           -1, &st, NULL) == SQLITE_OK) {
        bind_text(st, 1, registration);
        sqlite3_bind_int64(st, 2, since_ms / 60000);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *attempts = sqlite3_column_int64(st, 0);
            *failures = sqlite3_column_int64(st, 1);
        }
    }
    if (rc != SQLITE_ROW) db_fail(err, c, "cannot read registration counts");
    sqlite3_finalize(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- batches: more due deliveries of one registration ---- */

typedef struct {
    const char *registration;
    int max;
    int64_t lease_ms;
    store_delivery *out;
    char **bodies;
    size_t n;
} claim_more_arg;

static int run_claim_more(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    claim_more_arg *a = op->arg;
    const char *what = "cannot claim deliveries";
    int64_t now = now_ms();
    sqlite3_stmt *st = NULL;
    /* The same rules as store_claim: not DISABLED, per-key order kept. */
    if (sqlite3_prepare_v2(
            c->db,
            "SELECT d.id, d.position, d.order_key, d.attempt, d.first_attempt_ms, e.body"
            " FROM deliveries d CROSS JOIN events e ON e.position = d.position"
            " WHERE d.state = 'pending' AND d.due_ms <= ?1 AND d.registration = ?3"
            " AND NOT EXISTS (SELECT 1 FROM registrations r"
            "   WHERE r.name = d.registration AND r.state = 'DISABLED')"
            " AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries b"
            "   WHERE b.registration = d.registration AND b.order_key = d.order_key"
            "   AND b.id < d.id AND b.state IN ('pending','running','parked')))"
            " ORDER BY d.due_ms, d.id LIMIT ?2",
            -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, what);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, a->max);
    bind_text(st, 3, a->registration);
    a->out = xcalloc((size_t)a->max + 1, sizeof *a->out);
    a->bodies = xcalloc((size_t)a->max + 1, sizeof *a->bodies);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_delivery *d = &a->out[a->n];
        d->id = sqlite3_column_int64(st, 0);
        d->position = sqlite3_column_int64(st, 1);
        d->registration = xstrdup(a->registration);
        d->order_key = col_strdup(st, 2);
        d->attempt = sqlite3_column_int(st, 3) + 1;
        d->first_attempt_ms = sqlite3_column_int64(st, 4);
        a->bodies[a->n] = col_strdup(st, 5);
        a->n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(&op->err, c, what);
    if (sqlite3_prepare_v2(c->db,
                           "UPDATE deliveries SET state = 'running', lease_until_ms = ?2,"
                           " attempt = attempt + 1, first_attempt_ms = CASE WHEN"
                           " first_attempt_ms = 0 THEN ?3 ELSE first_attempt_ms END WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, what);
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_bind_int64(st, 1, a->out[i].id);
        sqlite3_bind_int64(st, 2, now + a->lease_ms);
        sqlite3_bind_int64(st, 3, now);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return db_fail(&op->err, c, what);
        }
    }
    sqlite3_finalize(st);
    return 0;
}

int store_claim_more(store_t *s, const char *registration, int max, int64_t lease_ms,
                     store_delivery **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    if (max <= 0) return 0;
    claim_more_arg a = {.registration = registration, .max = max, .lease_ms = lease_ms};
    wop_t op = {.run = run_claim_more, .arg = &a};
    int rc = store_submit(s, &op, err);
    if (rc == 0) {
        for (size_t i = 0; i < a.n; i++) {
            a.out[i].event = json_loads(a.bodies[i] ? a.bodies[i] : "null", 0, NULL);
            free(a.bodies[i]);
        }
        *out = a.out;
        *n = a.n;
    } else {
        for (size_t i = 0; i < a.n; i++) {
            store_delivery_free(&a.out[i]);
            free(a.bodies[i]);
        }
        free(a.out);
    }
    free(a.bodies);
    return rc;
}

/* ---- a registration's journal ---- */

int store_read_matching(store_t *s, const char *const *providers, const char *const *types,
                        size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                        err_t *err)
{
    *out = NULL;
    if (limit <= 0) limit = 100;
    if (since < 0) since = 0;
    json_t *pairs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(pairs, json_pack("[s?, s]", providers[i], types[i]));
    char *ptext = json_dumps(pairs, JSON_COMPACT);
    json_decref(pairs);
    const char *what = "cannot read the journal";
    conn_t *c = store_reader(s, err);
    if (!c) {
        free(ptext);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    /* A provider of null matches any provider (registration_matches). */
    int rc = sqlite3_prepare_v2(
        c->db,
        "SELECT position, body FROM events WHERE position > ?1 AND EXISTS (SELECT 1 FROM"
        " json_each(?2) p WHERE json_extract(p.value, '$[1]') = events.type AND"
        " (json_extract(p.value, '$[0]') IS NULL OR json_extract(p.value, '$[0]') = events.provider))"
        " ORDER BY position LIMIT ?3",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        db_fail(err, c, what);
        store_reader_put(s, c);
        free(ptext);
        return -1;
    }
    sqlite3_bind_int64(st, 1, since);
    bind_text(st, 2, ptext);
    sqlite3_bind_int(st, 3, limit);
    json_t *arr = json_array();
    size_t bytes = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        /* A page holds at least one event, then only what fits. */
        if (json_array_size(arr) && bytes + len > max_bytes) {
            rc = SQLITE_DONE;
            break;
        }
        int64_t pos = sqlite3_column_int64(st, 0);
        json_t *ev = json_loadb((const char *)sqlite3_column_text(st, 1), len, 0, NULL);
        if (!ev) {
            err_set(err, "%s: the event at position %lld is not valid JSON", what, (long long)pos);
            rc = -1;
            break;
        }
        bytes += len;
        json_array_append_new(arr, json_pack("{s:I, s:o}", "position", (json_int_t)pos, "event", ev));
    }
    if (rc != SQLITE_DONE && rc != -1) db_fail(err, c, what);
    sqlite3_finalize(st);
    store_reader_put(s, c);
    free(ptext);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

/* ---- activations for the namespaces API's list ---- */

int store_activation_query(store_t *s, const char *name, int64_t since_ms, int64_t upto_ms,
                           int skip, int limit, json_t **out, err_t *err)
{
    *out = NULL;
    if (limit <= 0) limit = 30;
    if (skip < 0) skip = 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    const char *col = name && strchr(name, '/') ? "name" : "action";
    char *sql = xasprintf("SELECT body FROM activations WHERE (?1 IS NULL OR %s = ?1)"
                          " AND start_ms >= ?2 AND start_ms <= ?3"
                          " ORDER BY start_ms DESC, rowid DESC LIMIT ?4 OFFSET ?5",
                          col);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    free(sql);
    json_t *arr = json_array();
    if (rc == SQLITE_OK) {
        bind_text(st, 1, name && *name ? name : NULL);
        sqlite3_bind_int64(st, 2, since_ms);
        sqlite3_bind_int64(st, 3, upto_ms > 0 ? upto_ms : INT64_MAX);
        sqlite3_bind_int(st, 4, limit);
        sqlite3_bind_int(st, 5, skip);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *rec = json_loadb((const char *)sqlite3_column_text(st, 0),
                                     (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
            if (rec) json_array_append_new(arr, rec);
        }
    }
    if (rc != SQLITE_DONE) db_fail(err, c, "cannot list activations");
    sqlite3_finalize(st);
    store_reader_put(s, c);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}
