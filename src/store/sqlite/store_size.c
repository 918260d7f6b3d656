/* store_size: how big the journal is, for /metrics. Statements are prepared
 * per call: a scrape is rare next to the hot paths the statement cache serves. */
#include "store/sqlite/sqlite_int.h"

#include <string.h>

static int read_size(conn_t *c, void *ud, err_t *err)
{
    store_size *out = ud;
    const char *what = "cannot measure the journal";
    int64_t pages = 0, page_size = 0, free_pages = 0;
    /* count(*) walks the smallest index of events, not their bodies. */
    if (sql_int(c, ST_ONCE, "SELECT count(*) FROM events", NO_ARGS, &out->events, what, err) < 0 ||
        sql_int(c, ST_ONCE, "SELECT seq FROM sqlite_sequence WHERE name = 'events'", NO_ARGS,
                &out->last_position, what, err) < 0 ||
        sql_int(c, ST_ONCE, "PRAGMA page_count", NO_ARGS, &pages, what, err) < 0 ||
        sql_int(c, ST_ONCE, "PRAGMA page_size", NO_ARGS, &page_size, what, err) < 0 ||
        sql_int(c, ST_ONCE, "PRAGMA freelist_count", NO_ARGS, &free_pages, what, err) < 0)
        return -1;
    out->bytes = (pages - free_pages) * page_size;
    return 0;
}

int sq_size_get(store_t *base, store_size *out, err_t *err)
{
    sq_t *s = SQ(base);
    memset(out, 0, sizeof *out);
    /* One read transaction: the figures describe the same moment. */
    return with_reader(s, true, read_size, out, err);
}
