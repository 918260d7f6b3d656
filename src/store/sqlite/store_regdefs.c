/* store_regdefs: registration definitions created at run time through the
 * registrations API, kept as JSON documents beside a generation number that
 * grows with every change, so that every process sharing the journal (the
 * daemon, the CLI) notices another's change with one cheap read.
 *
 * These are rare operations: statements are prepared per call, not cached. */
#include "store/sqlite/sqlite_int.h"
#include "core/json_io.h"

#include <stdlib.h>
#include <string.h>

const char STORE_REGDEFS_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS regdefs("
    "  name TEXT PRIMARY KEY, def TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL) WITHOUT ROWID;";

#define GEN_KEY "regdefs_generation"

static int bump_generation(conn_t *c, err_t *err)
{
    return sql_exec(c, ST_ONCE,
                    "INSERT INTO meta(key, value) VALUES('" GEN_KEY "', 1) ON CONFLICT(key)"
                    " DO UPDATE SET value = value + 1",
                    NO_ARGS, "cannot record the registration change", err);
}

typedef struct {
    const char *name;
    char *def;
    regdef_mode mode;
    int found;        /* out: whether the name existed before */
    int64_t now;
} regdef_put_arg;

static int run_regdef_put(conn_t *c, wop_t *op)
{
    regdef_put_arg *a = op->arg;
    const char *what = "cannot store the registration";
    sql_args name = ARGS(SQL_TEXT(a->name));
    a->found = sql_run(c, ST_ONCE, "SELECT 1 FROM regdefs WHERE name = ?1", name, NULL, NULL, what,
                       &op->err);
    if (a->found < 0) return -1;
    if ((a->mode == REGDEF_CREATE && a->found) || (a->mode == REGDEF_UPDATE && !a->found))
        return 0;   /* the caller reports the conflict */
    if (sql_exec(c, ST_ONCE,
                 "INSERT INTO regdefs(name, def, created_ms, updated_ms) VALUES(?1, ?2, ?3, ?3)"
                 " ON CONFLICT(name) DO UPDATE SET def = excluded.def, updated_ms = ?3",
                 ARGS(SQL_TEXT(a->name), SQL_TEXT(a->def), SQL_INT(a->now)), what, &op->err) < 0)
        return -1;
    if (!a->found) {
        /* A new registration starts with a clean health record, even when an
         * earlier one had the same name. */
        if (sql_exec(c, ST_ONCE, "DELETE FROM registrations WHERE name = ?1", name, what,
                     &op->err) < 0 ||
            sql_exec(c, ST_ONCE, "DELETE FROM reg_minutes WHERE registration = ?1", name, what,
                     &op->err) < 0 ||
            sql_exec(c, ST_ONCE, "DELETE FROM reg_counters WHERE registration = ?1", name, what,
                     &op->err) < 0)
            return -1;
    }
    op->work = true;
    return bump_generation(c, &op->err);
}

int sq_regdef_put(store_t *base, const char *name, const json_t *def, regdef_mode mode,
                     bool *existed, err_t *err)
{
    sq_t *s = SQ(base);
    if (!name || !*name || !json_is_object(def))
        return err_code(err, EVK_INVALID, "a registration needs a name");
    char *text = json_text(def, JSON_COMPACT | JSON_SORT_KEYS);
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

static int run_regdef_delete(conn_t *c, wop_t *op)
{
    regdef_del_arg *a = op->arg;
    const char *what = "cannot delete the registration";
    if (sql_exec(c, ST_ONCE, "DELETE FROM regdefs WHERE name = ?1", ARGS(SQL_TEXT(a->name)), what,
                 &op->err) < 0)
        return -1;
    a->found = sqlite3_changes(c->db) > 0;
    if (!a->found) return 0;
    /* Work still waiting for it is kept as dead letters (the events stay in
     * the journal): replayable if a registration of that name comes back. */
    if (sql_exec(c, ST_ONCE,
                 "UPDATE deliveries SET state = 'failed', last_status = ?2,"
                 " last_error = 'the registration was deleted', last_attempt_ms = ?3"
                 " WHERE registration = ?1 AND state IN ('pending','parked')",
                 ARGS(SQL_TEXT(a->name), SQL_INT(STORE_STATUS_REGISTRATION_GONE), SQL_INT(a->now)),
                 what, &op->err) < 0)
        return -1;
    a->parked_off = sqlite3_changes(c->db);
    op->work = true;
    return bump_generation(c, &op->err);
}

int sq_regdef_delete(store_t *base, const char *name, bool *existed, int *dropped, err_t *err)
{
    sq_t *s = SQ(base);
    regdef_del_arg a = {.name = name, .now = now_ms()};
    wop_t op = {.run = run_regdef_delete, .arg = &a};
    int rc = store_submit(s, &op, err);
    if (existed) *existed = a.found;
    if (dropped) *dropped = a.parked_off;
    return rc;
}

#define GEN_SQL "SELECT value FROM meta WHERE key = '" GEN_KEY "'"

static int row_regdef(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t *def = col_json(row, 1, 0);
    if (!json_is_object(def)) {
        json_decref(def);
        return 0;
    }
    json_object_set_new(def, "created", json_integer(sqlite3_column_int64(row, 2)));
    json_object_set_new(def, "updated", json_integer(sqlite3_column_int64(row, 3)));
    json_object_set_new(ud, (const char *)sqlite3_column_text(row, 0), def);
    return 0;
}

typedef struct {
    json_t *obj;
    int64_t *generation;
} regdef_list_arg;

static int read_regdefs(conn_t *c, void *ud, err_t *err)
{
    regdef_list_arg *a = ud;
    const char *what = "cannot read registrations";
    if (a->generation && sql_int(c, ST_ONCE, GEN_SQL, NO_ARGS, a->generation, what, err) < 0)
        return -1;
    return sql_run(c, ST_ONCE,
                   "SELECT name, def, created_ms, updated_ms FROM regdefs ORDER BY created_ms, name",
                   NO_ARGS, row_regdef, a->obj, what, err) < 0
               ? -1
               : 0;
}

int sq_regdef_list(store_t *base, json_t **out, int64_t *generation, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (generation) *generation = 0;
    regdef_list_arg a = {.obj = json_object(), .generation = generation};
    /* One read transaction: the generation belongs to the rows read. */
    if (with_reader(s, true, read_regdefs, &a, err) < 0) {
        json_decref(a.obj);
        return -1;
    }
    *out = a.obj;
    return 0;
}

int sq_regdef_generation(store_t *base, int64_t *generation, err_t *err)
{
    /* Asked on every registry_get: read only after a commit. */
    return store_watched_int(SQ(base), GEN_SQL, generation, err);
}
