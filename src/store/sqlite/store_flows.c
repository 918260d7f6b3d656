/* store_flows: what scheduled triggers keep. One row per trigger: when the
 * store first saw it, and the schedule slot of its last fire with that
 * fire's activation id, claimed before the fire runs and marked finished
 * after, so that a restart neither fires a slot twice nor loses a fire that
 * a crash interrupted. Several processes sharing the store claim through
 * the same row: only one fires a slot.
 *
 * Rare operations: statements are prepared per call, not cached. */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char STORE_FLOWS_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS triggers("
    "  name TEXT PRIMARY KEY, since_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_id TEXT, pending INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;";

typedef struct {
    const char *name;
    int64_t now, slot;
    const char *id;
    bool changed;
} trig_arg;

static int run_trigger_init(sq_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    trig_arg *a = op->arg;
    return sql_exec(c, ST_ONCE, "INSERT OR IGNORE INTO triggers(name, since_ms) VALUES(?1, ?2)",
                    ARGS(SQL_TEXT(a->name), SQL_INT(a->now)), "cannot record the trigger",
                    &op->err);
}

static int row_trigger(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    store_trigger_rec *r = ud;
    r->since_ms = sqlite3_column_int64(row, 0);
    r->last_ms = sqlite3_column_int64(row, 1);
    const unsigned char *id = sqlite3_column_text(row, 2);
    snprintf(r->last_id, sizeof r->last_id, "%s", id ? (const char *)id : "");
    r->pending = sqlite3_column_int(row, 3) != 0;
    return 1;
}

int sq_trigger_get(store_t *base, const char *name, int64_t now, store_trigger_rec *out,
                   err_t *err)
{
    sq_t *s = SQ(base);
    memset(out, 0, sizeof *out);
    const char *sql = "SELECT since_ms, last_ms, last_id, pending FROM triggers WHERE name = ?1";
    int n = store_query(s, ST_ONCE, sql, ARGS(SQL_TEXT(name)), row_trigger, out,
                        "cannot read the trigger", err);
    if (n != 0) return n < 0 ? -1 : 0;
    trig_arg a = {.name = name, .now = now};
    wop_t op = {.run = run_trigger_init, .arg = &a};
    if (store_submit(s, &op, err) < 0) return -1;
    return store_query(s, ST_ONCE, sql, ARGS(SQL_TEXT(name)), row_trigger, out,
                       "cannot read the trigger", err) < 0 ? -1 : 0;
}

static int run_trigger_claim(sq_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    trig_arg *a = op->arg;
    if (sql_exec(c, ST_ONCE,
                 "UPDATE triggers SET last_ms = ?2, last_id = ?3, pending = 1"
                 " WHERE name = ?1 AND last_ms < ?2",
                 ARGS(SQL_TEXT(a->name), SQL_INT(a->slot), SQL_TEXT(a->id)),
                 "cannot claim the trigger's fire", &op->err) < 0)
        return -1;
    a->changed = sqlite3_changes(c->db) > 0;
    return 0;
}

int sq_trigger_claim(store_t *base, const char *name, int64_t slot_ms, const char *activation_id,
                     bool *claimed, err_t *err)
{
    sq_t *s = SQ(base);
    trig_arg a = {.name = name, .slot = slot_ms, .id = activation_id};
    wop_t op = {.run = run_trigger_claim, .arg = &a};
    int rc = store_submit(s, &op, err);
    *claimed = rc == 0 && a.changed;
    return rc;
}

static int run_trigger_done(sq_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    trig_arg *a = op->arg;
    return sql_exec(c, ST_ONCE, "UPDATE triggers SET pending = 0 WHERE name = ?1 AND last_id = ?2",
                    ARGS(SQL_TEXT(a->name), SQL_TEXT(a->id)), "cannot finish the trigger's fire",
                    &op->err);
}

int sq_trigger_done(store_t *base, const char *name, const char *activation_id, err_t *err)
{
    sq_t *s = SQ(base);
    trig_arg a = {.name = name, .id = activation_id};
    wop_t op = {.run = run_trigger_done, .arg = &a};
    return store_submit(s, &op, err);
}
