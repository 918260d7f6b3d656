/* store_meta: what onboarding records beside the journal: the metadata of
 * each provider's event codes (label, description, sample payload), as the
 * hosted service keeps "event metadata" per provider. Also a look-up of a
 * provider's id that never creates one (store_provider_find, beside the
 * other provider functions in store_journal.c), so onboarding can tell
 * what it created from what was there.
 *
 * Rare operations: statements are prepared per call, not cached. */
#include "store/sqlite/sqlite_int.h"
#include "core/json_io.h"

#include <stdlib.h>
#include <string.h>

const char STORE_META_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS event_metadata("
    "  provider TEXT NOT NULL, code TEXT NOT NULL, label TEXT NOT NULL,"
    "  description TEXT NOT NULL, sample TEXT, created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL, PRIMARY KEY(provider, code)) WITHOUT ROWID;";

typedef struct {
    const char *provider, *code, *label, *description;
    char *sample;
    int64_t now;
    store_put_outcome outcome;
} meta_put_arg;

static int run_meta_put(conn_t *c, wop_t *op)
{
    meta_put_arg *a = op->arg;
    const char *what = "cannot store the event metadata";
    sql_args args = ARGS(SQL_TEXT(a->provider), SQL_TEXT(a->code), SQL_TEXT(a->label),
                         SQL_TEXT(a->description), SQL_TEXT(a->sample), SQL_INT(a->now));
    int64_t same = 0;
    int found = sql_int(c, ST_ONCE,
                        "SELECT label = ?3 AND description = ?4 AND sample IS ?5"
                        " FROM event_metadata WHERE provider = ?1 AND code = ?2",
                        args, &same, what, &op->err);
    if (found < 0) return -1;
    a->outcome = !found ? STORE_CREATED : same ? STORE_UNCHANGED : STORE_UPDATED;
    if (a->outcome == STORE_UNCHANGED) return 0;
    return sql_exec(c, ST_ONCE,
                    "INSERT INTO event_metadata(provider, code, label, description, sample,"
                    " created_ms, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)"
                    " ON CONFLICT(provider, code) DO UPDATE SET label = excluded.label,"
                    " description = excluded.description, sample = excluded.sample,"
                    " updated_ms = excluded.updated_ms",
                    args, what, &op->err);
}

int sq_event_meta_put(store_t *base, const store_event_meta *m, store_put_outcome *outcome,
                         err_t *err)
{
    sq_t *s = SQ(base);
    if (!m->provider || !*m->provider || !m->code || !*m->code)
        return err_code(err, EVK_INVALID, "event metadata needs a provider and an event code");
    meta_put_arg a = {.provider = m->provider, .code = m->code,
                      .label = m->label ? m->label : m->code,
                      .description = m->description ? m->description : "",
                      .sample = m->sample ? json_text(m->sample, JSON_COMPACT | JSON_ENCODE_ANY |
                                                                      JSON_PRESERVE_ORDER)
                                          : NULL,
                      .now = now_ms()};
    wop_t op = {.run = run_meta_put, .arg = &a};
    int rc = store_submit(s, &op, err);
    free(a.sample);
    if (outcome) *outcome = a.outcome;
    return rc;
}

static int row_meta(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    json_t *sample = col_json(row, 4, JSON_DECODE_ANY);
    json_array_append_new(ud, json_pack("{s:s, s:s, s:s, s:s, s:o}", "provider",
                                        (const char *)sqlite3_column_text(row, 0), "code",
                                        (const char *)sqlite3_column_text(row, 1), "label",
                                        (const char *)sqlite3_column_text(row, 2), "description",
                                        (const char *)sqlite3_column_text(row, 3), "sample",
                                        sample ? sample : json_null()));
    return 0;
}

int sq_event_meta_list(store_t *base, const char *provider, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    return store_query_array(s, ST_ONCE,
                             "SELECT provider, code, label, description, sample FROM event_metadata"
                             " WHERE ?1 IS NULL OR provider = ?1 ORDER BY provider, code",
                             ARGS(SQL_TEXT(provider)), row_meta, "cannot read event metadata", out,
                             err);
}
