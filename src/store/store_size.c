/* store_size: how big the journal is, for /metrics. Statements are prepared
 * per call: a scrape is rare next to the hot paths the statement cache serves. */
#include "store/store_int.h"

#include <string.h>

static int query_one(conn_t *c, const char *sql, int64_t *out, err_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(err, c, "cannot measure the journal");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(err, c, "cannot measure the journal");
    return 0;
}

int store_size_get(store_t *s, store_size *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    int64_t pages = 0, page_size = 0, free_pages = 0;
    /* One read transaction: the figures describe the same moment. count(*)
     * walks the smallest index of events, not their bodies. */
    int rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0
             : db_fail(err, c, "cannot measure the journal");
    if (rc == 0) rc = query_one(c, "SELECT count(*) FROM events", &out->events, err);
    if (rc == 0)
        rc = query_one(c, "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
                       &out->last_position, err);
    if (rc == 0) rc = query_one(c, "PRAGMA page_count", &pages, err);
    if (rc == 0) rc = query_one(c, "PRAGMA page_size", &page_size, err);
    if (rc == 0) rc = query_one(c, "PRAGMA freelist_count", &free_pages, err);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    store_reader_put(s, c);
    if (rc == 0) out->bytes = (pages - free_pages) * page_size;
    return rc;
}
