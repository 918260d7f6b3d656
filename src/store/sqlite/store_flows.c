/* store_flows: what scheduled triggers keep, and the per-minute delivery
 * rollup the console's charts read.
 *
 * Triggers: what scheduled triggers keep. One row per trigger: when the
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
    "  last_id TEXT, pending INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    /* Per registration and minute: attempts by outcome, attempt durations in
     * the STORE_LATENCY_BOUNDS buckets (l0..l12), the backlog sampled then. */
    "CREATE TABLE IF NOT EXISTS delivery_minutes("
    "  registration TEXT NOT NULL, minute INTEGER NOT NULL,"
    "  success INTEGER NOT NULL DEFAULT 0, retry INTEGER NOT NULL DEFAULT 0,"
    "  dead INTEGER NOT NULL DEFAULT 0, backlog INTEGER NOT NULL DEFAULT 0,"
    "  l0 INTEGER NOT NULL DEFAULT 0, l1 INTEGER NOT NULL DEFAULT 0, l2 INTEGER NOT NULL DEFAULT 0,"
    "  l3 INTEGER NOT NULL DEFAULT 0, l4 INTEGER NOT NULL DEFAULT 0, l5 INTEGER NOT NULL DEFAULT 0,"
    "  l6 INTEGER NOT NULL DEFAULT 0, l7 INTEGER NOT NULL DEFAULT 0, l8 INTEGER NOT NULL DEFAULT 0,"
    "  l9 INTEGER NOT NULL DEFAULT 0, l10 INTEGER NOT NULL DEFAULT 0,"
    "  l11 INTEGER NOT NULL DEFAULT 0, l12 INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(registration, minute)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS delivery_minutes_minute ON delivery_minutes(minute);";

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
    if (store_write(s, ST_ONCE, "INSERT OR IGNORE INTO triggers(name, since_ms) VALUES(?1, ?2)",
                    ARGS(SQL_TEXT(name), SQL_INT(now)), "cannot record the trigger", NULL,
                    err) < 0)
        return -1;
    return store_query(s, ST_ONCE, sql, ARGS(SQL_TEXT(name)), row_trigger, out,
                       "cannot read the trigger", err) < 0 ? -1 : 0;
}

int sq_trigger_claim(store_t *base, const char *name, int64_t slot_ms, const char *activation_id,
                     bool *claimed, err_t *err)
{
    sq_t *s = SQ(base);
    int64_t changed = 0;
    int rc = store_write(s, ST_ONCE,
                         "UPDATE triggers SET last_ms = ?2, last_id = ?3, pending = 1"
                         " WHERE name = ?1 AND last_ms < ?2",
                         ARGS(SQL_TEXT(name), SQL_INT(slot_ms), SQL_TEXT(activation_id)),
                         "cannot claim the trigger's fire", &changed, err);
    *claimed = rc == 0 && changed > 0;
    return rc;
}

int sq_trigger_done(store_t *base, const char *name, const char *activation_id, err_t *err)
{
    sq_t *s = SQ(base);
    return store_write(s, ST_ONCE,
                       "UPDATE triggers SET pending = 0 WHERE name = ?1 AND last_id = ?2",
                       ARGS(SQL_TEXT(name), SQL_TEXT(activation_id)),
                       "cannot finish the trigger's fire", NULL, err);
}

/* ---- the delivery rollup ---- */

int rollup_add(conn_t *c, const char *registration, int64_t minute_ms, const rollup_counts *n,
               err_t *err)
{
    _Static_assert(STORE_LATENCY_BUCKETS == 13, "delivery_minutes has l0..l12");
    const int64_t *l = n->lat;
    return sql_exec(c, ST_ROLLUP_ADD,
                    "INSERT INTO delivery_minutes(registration, minute, success, retry, dead,"
                    " l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, l12)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                    " ?16, ?17, ?18)"
                    " ON CONFLICT(registration, minute) DO UPDATE SET"
                    " success = success + excluded.success, retry = retry + excluded.retry,"
                    " dead = dead + excluded.dead, l0 = l0 + excluded.l0, l1 = l1 + excluded.l1,"
                    " l2 = l2 + excluded.l2, l3 = l3 + excluded.l3, l4 = l4 + excluded.l4,"
                    " l5 = l5 + excluded.l5, l6 = l6 + excluded.l6, l7 = l7 + excluded.l7,"
                    " l8 = l8 + excluded.l8, l9 = l9 + excluded.l9, l10 = l10 + excluded.l10,"
                    " l11 = l11 + excluded.l11, l12 = l12 + excluded.l12",
                    ARGS(SQL_TEXT(registration), SQL_INT(minute_ms), SQL_INT(n->success),
                         SQL_INT(n->retry), SQL_INT(n->dead), SQL_INT(l[0]), SQL_INT(l[1]),
                         SQL_INT(l[2]), SQL_INT(l[3]), SQL_INT(l[4]), SQL_INT(l[5]), SQL_INT(l[6]),
                         SQL_INT(l[7]), SQL_INT(l[8]), SQL_INT(l[9]), SQL_INT(l[10]),
                         SQL_INT(l[11]), SQL_INT(l[12])),
                    "cannot record the delivery rollup", err);
}

typedef struct {
    int64_t minute, keep_from;
} sample_arg;

static int run_rollup_sample(conn_t *c, wop_t *op)
{
    sample_arg *a = op->arg;
    const char *what = "cannot sample the backlog";
    /* WHERE before GROUP BY: SQLite's INSERT ... SELECT ... ON CONFLICT needs one. */
    if (sql_exec(c, ST_ONCE,
                 "INSERT INTO delivery_minutes(registration, minute, backlog)"
                 " SELECT registration, ?1, count(*) FROM deliveries"
                 " WHERE state IN ('pending', 'running', 'parked') GROUP BY registration"
                 " ON CONFLICT(registration, minute) DO UPDATE SET backlog = excluded.backlog",
                 ARGS(SQL_INT(a->minute)), what, &op->err) < 0)
        return -1;
    return sql_exec(c, ST_ONCE, "DELETE FROM delivery_minutes WHERE minute < ?1",
                    ARGS(SQL_INT(a->keep_from)), what, &op->err);
}

int sq_rollup_sample(store_t *base, int64_t now, int64_t keep_ms, err_t *err)
{
    sq_t *s = SQ(base);
    sample_arg a = {.minute = now / 60000 * 60000, .keep_from = now - keep_ms};
    wop_t op = {.run = run_rollup_sample, .arg = &a};
    return store_submit(s, &op, err);
}

static int row_rollup(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t *lat = json_array();
    for (int i = 0; i < STORE_LATENCY_BUCKETS; i++)
        json_array_append_new(lat, json_integer(sqlite3_column_int64(row, 5 + i)));
    json_array_append_new(ud, json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "minute",
                                         (json_int_t)sqlite3_column_int64(row, 0), "success",
                                         (json_int_t)sqlite3_column_int64(row, 1), "retry",
                                         (json_int_t)sqlite3_column_int64(row, 2), "dead",
                                         (json_int_t)sqlite3_column_int64(row, 3), "backlog",
                                         (json_int_t)sqlite3_column_int64(row, 4), "latency", lat));
    return 0;
}

int sq_rollup_read(store_t *base, const char *registration, int64_t since_ms, json_t **out,
                   err_t *err)
{
    sq_t *s = SQ(base);
    return store_query_array(
        s, ST_ONCE,
        "SELECT minute, sum(success), sum(retry), sum(dead), sum(backlog), sum(l0),"
        " sum(l1), sum(l2), sum(l3), sum(l4), sum(l5), sum(l6), sum(l7), sum(l8),"
        " sum(l9), sum(l10), sum(l11), sum(l12)"
        " FROM delivery_minutes WHERE minute >= ?2 AND (?1 IS NULL OR registration = ?1)"
        " GROUP BY minute ORDER BY minute",
        ARGS(SQL_TEXT(registration), SQL_INT(since_ms / 60000 * 60000)), row_rollup,
        "cannot read the delivery rollup", out, err);
}
