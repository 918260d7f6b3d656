/* store_schema: the SQLite store's schema versions from 6 on, each a step
 * run once when a store of an older version is opened (schema_init in
 * store_sqlite.c runs the steps to version 5 first, then these, all in the
 * one schema transaction). */
#include "store/sqlite/sqlite_int.h"

static int step(sqlite3 *db, const char *sql, int version, err_t *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) return 0;
    err_code(err, db_status(rc), "cannot upgrade the store to version %d: %s", version,
             msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

/* Version 8: an idempotency key is its hash (dedup_arg) and the event id
 * packed, in a row keyed by the event's position: the rows are in the
 * order they expire, which needs no index of its own. */
static const char DEDUP_V8[] =
    "CREATE TABLE dedup_v8(position INTEGER PRIMARY KEY, h BLOB NOT NULL UNIQUE,"
    "  event_id NOT NULL, created_ms INTEGER NOT NULL);"
    "INSERT OR REPLACE INTO dedup_v8 SELECT position, evk_dedup_hash(provider, key),"
    "  evk_hex_pack(event_id), created_ms FROM dedup ORDER BY created_ms;"
    "DROP TABLE dedup;"
    "ALTER TABLE dedup_v8 RENAME TO dedup;";

int schema_upgrade(sqlite3 *db, int version, err_t *err)
{
    if (hex_pack_register(db) < 0 || dedup_hash_register(db) < 0)
        return err_code(err, EVK_INTERNAL, "cannot upgrade the store: %s", sqlite3_errmsg(db));
    /* Version 6: spans keep their trace id once per trace (a store without
     * spans gets the new tables from SCHEMA_ADDITIONS), event ids are
     * packed. */
    if (version < 6 && has_table(db, "spans") && step(db, STORE_SPANS_V6, 6, err) < 0) return -1;
    if (version < 6 && has_table(db, "traces") && step(db, STORE_TRACES_V6, 6, err) < 0) return -1;
    /* Version 7: activations keyed in start order (every store has the
     * table, made at version 1). */
    if (version < 7 && step(db, STORE_ACT_V7, 7, err) < 0) return -1;
    if (version < 8 && step(db, DEDUP_V8, 8, err) < 0) return -1;
    /* Version 9: the activations' key counted from 2026, 1024 a millisecond. */
    if (version < 9 && step(db, STORE_ACT_V9, 9, err) < 0) return -1;
    return 0;
}
