/* store_meta: what onboarding records beside the journal: the metadata of
 * each provider's event codes (label, description, sample payload), as the
 * hosted service keeps "event metadata" per provider. Also a look-up of a
 * provider's id that never creates one, so onboarding can tell what it
 * created from what was there.
 *
 * Rare operations: statements are prepared per call, not cached. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

const char STORE_META_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS event_metadata("
    "  provider TEXT NOT NULL, code TEXT NOT NULL, label TEXT NOT NULL,"
    "  description TEXT NOT NULL, sample TEXT, created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL, PRIMARY KEY(provider, code)) WITHOUT ROWID;";

int store_provider_find(store_t *s, const char *key, char out[37], bool *found, err_t *err)
{
    *found = false;
    out[0] = '\0';
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT uuid FROM providers WHERE key = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        bind_text(st, 1, key);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            snprintf(out, 37, "%s", (const char *)sqlite3_column_text(st, 0));
            *found = true;
        }
        if (step == SQLITE_ROW || step == SQLITE_DONE) rc = 0;
    }
    if (rc < 0) db_fail(err, c, "cannot read provider");
    sqlite3_finalize(st);
    store_reader_put(s, c);
    return rc;
}

typedef struct {
    const char *provider, *code, *label, *description;
    char *sample;
    int64_t now;
    store_put_outcome outcome;
} meta_put_arg;

static int run_meta_put(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    meta_put_arg *a = op->arg;
    const char *what = "cannot store the event metadata";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT label = ?3 AND description = ?4 AND sample IS ?5"
                           " FROM event_metadata WHERE provider = ?1 AND code = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, what);
    bind_text(st, 1, a->provider);
    bind_text(st, 2, a->code);
    bind_text(st, 3, a->label);
    bind_text(st, 4, a->description);
    bind_text(st, 5, a->sample);
    int rc = sqlite3_step(st);
    bool same = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(&op->err, c, what);
    a->outcome = rc == SQLITE_DONE ? STORE_CREATED : same ? STORE_UNCHANGED : STORE_UPDATED;
    if (a->outcome == STORE_UNCHANGED) return 0;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO event_metadata(provider, code, label, description, sample,"
                           " created_ms, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)"
                           " ON CONFLICT(provider, code) DO UPDATE SET label = excluded.label,"
                           " description = excluded.description, sample = excluded.sample,"
                           " updated_ms = excluded.updated_ms",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(&op->err, c, what);
    bind_text(st, 1, a->provider);
    bind_text(st, 2, a->code);
    bind_text(st, 3, a->label);
    bind_text(st, 4, a->description);
    bind_text(st, 5, a->sample);
    sqlite3_bind_int64(st, 6, a->now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(&op->err, c, what);
    return 0;
}

int store_event_meta_put(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                         err_t *err)
{
    if (!m->provider || !*m->provider || !m->code || !*m->code)
        return err_set(err, "event metadata needs a provider and an event code");
    meta_put_arg a = {.provider = m->provider, .code = m->code,
                      .label = m->label ? m->label : m->code,
                      .description = m->description ? m->description : "",
                      .sample = m->sample ? json_dumps(m->sample, JSON_COMPACT | JSON_ENCODE_ANY |
                                                                      JSON_PRESERVE_ORDER)
                                          : NULL,
                      .now = now_ms()};
    wop_t op = {.run = run_meta_put, .arg = &a};
    int rc = store_submit(s, &op, err);
    free(a.sample);
    if (outcome) *outcome = a.outcome;
    return rc;
}

int store_event_meta_list(store_t *s, const char *provider, json_t **out, err_t *err)
{
    *out = NULL;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT provider, code, label, description, sample FROM event_metadata"
                           " WHERE ?1 IS NULL OR provider = ?1 ORDER BY provider, code",
                           -1, &st, NULL) != SQLITE_OK) {
        db_fail(err, c, "cannot read event metadata");
        store_reader_put(s, c);
        return -1;
    }
    bind_text(st, 1, provider);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sample = (const char *)sqlite3_column_text(st, 4);
        json_t *sj = sample ? json_loads(sample, JSON_DECODE_ANY, NULL) : NULL;
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "provider",
                           (const char *)sqlite3_column_text(st, 0), "code",
                           (const char *)sqlite3_column_text(st, 1), "label",
                           (const char *)sqlite3_column_text(st, 2), "description",
                           (const char *)sqlite3_column_text(st, 3), "sample",
                           sj ? sj : json_null()));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_fail(err, c, "cannot read event metadata");
        store_reader_put(s, c);
        json_decref(arr);
        return -1;
    }
    store_reader_put(s, c);
    *out = arr;
    return 0;
}
