/* store_journal: providers, appending events (with dedup and their
 * deliveries, in one transaction), reading the journal (from a position,
 * or what a registration matches), replay, which creates deliveries for
 * events already in the journal, and retention. */
#include "core/jsonpath.h"
#include "core/vec.h"
#include "store/sqlite/sqlite_int.h"
#include "core/json_io.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deliveries a replay writes per transaction: the writer (and so every
 * publish) is never held for long by a large replay. */
#define REPLAY_CHUNK 1000

/* ---- registrations (used by every op that creates deliveries) ---- */

int reg_ensure(conn_t *c, const char *name, bool *disabled, err_t *err)
{
    int64_t is_disabled = 0;
    int found = sql_int(c, ST_REG_STATE,
                        "SELECT state = 'DISABLED' FROM registrations WHERE name = ?1",
                        ARGS(SQL_TEXT(name)), &is_disabled, "cannot look up registration", err);
    if (found < 0) return -1;
    *disabled = is_disabled != 0;
    if (found) return 0;
    return sql_exec(c, ST_REG_CREATE,
                    "INSERT INTO registrations(name, state, enabled_at_ms) VALUES(?1, 'ACTIVE', ?2)",
                    ARGS(SQL_TEXT(name), SQL_INT(now_ms())), "cannot create registration", err);
}

static int delivery_insert(conn_t *c, int64_t position, const char *registration,
                           const char *order_key, bool parked, int64_t now, err_t *err)
{
    return sql_exec(c, ST_DELIVERY_INSERT,
                    "INSERT INTO deliveries(position, registration, order_key, state, due_ms)"
                    " VALUES(?1, ?2, ?3, ?4, ?5)",
                    ARGS(SQL_INT(position), SQL_TEXT(registration), SQL_TEXT(order_key),
                         SQL_TEXT(parked ? "parked" : "pending"), SQL_INT(now)),
                    "cannot create delivery", err);
}

/* ---- providers ---- */

typedef struct {
    const char *key;
    char *uuid;   /* 37 bytes: proposed, then the stored one */
} provider_arg;

/* A row_fn copying column 0 (a UUID) into the 37 bytes at ud. */
static int row_uuid(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    snprintf(ud, 37, "%s", (const char *)sqlite3_column_text(row, 0));
    return 1;
}

/* The stored UUID of key into uuid: 1, or 0 when unknown. */
static int provider_get(conn_t *c, const char *key, char *uuid, err_t *err)
{
    return sql_run(c, ST_PROVIDER_GET, "SELECT uuid FROM providers WHERE key = ?1",
                   ARGS(SQL_TEXT(key)), row_uuid, uuid, "cannot read provider", err);
}

static int run_provider(conn_t *c, wop_t *op)
{
    provider_arg *a = op->arg;
    if (sql_exec(c, ST_PROVIDER_INSERT,
                 "INSERT INTO providers(key, uuid, created_ms) VALUES(?1, ?2, ?3)"
                 " ON CONFLICT(key) DO NOTHING",
                 ARGS(SQL_TEXT(a->key), SQL_TEXT(a->uuid), SQL_INT(now_ms())),
                 "cannot create provider", &op->err) < 0)
        return -1;
    /* Another process may have created it first: its uuid wins. */
    int found = provider_get(c, a->key, a->uuid, &op->err);
    if (found == 0) return err_set(&op->err, "cannot read provider: it vanished");
    return found < 0 ? -1 : 0;
}

typedef struct {
    const char *key;
    char *uuid;
    int found;
} provider_find_arg;

static int read_provider(conn_t *c, void *ud, err_t *err)
{
    provider_find_arg *a = ud;
    a->found = provider_get(c, a->key, a->uuid, err);
    return a->found < 0 ? -1 : 0;
}

int sq_provider_find(store_t *base, const char *key, char out[37], bool *found, err_t *err)
{
    sq_t *s = SQ(base);
    *found = false;
    out[0] = '\0';
    provider_find_arg a = {.key = key, .uuid = out};
    if (with_reader(s, false, read_provider, &a, err) < 0) return -1;
    *found = a.found > 0;
    return 0;
}

int sq_provider_id(store_t *base, const char *key, char out[37], err_t *err)
{
    sq_t *s = SQ(base);
    if (!key || !*key) return err_code(err, EVK_INVALID, "provider key is required");
    pthread_mutex_lock(&s->prov_mu);
    for (prov_cache *p = s->provs; p; p = p->next) {
        if (!strcmp(p->key, key)) {
            memcpy(out, p->uuid, 37);
            pthread_mutex_unlock(&s->prov_mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&s->prov_mu);

    char uuid[37] = "";
    bool found;
    if (sq_provider_find(&s->base, key, uuid, &found, err) < 0) return -1;
    if (!found) {
        uuid_v4(uuid);
        provider_arg a = {.key = key, .uuid = uuid};
        wop_t op = {.run = run_provider, .arg = &a};
        if (store_submit(s, &op, err) < 0) return -1;
    }
    pthread_mutex_lock(&s->prov_mu);
    bool known = false;
    for (prov_cache *p = s->provs; p && !known; p = p->next) known = !strcmp(p->key, key);
    if (!known) {
        prov_cache *p = xcalloc(1, sizeof *p);
        p->key = xstrdup(key);
        memcpy(p->uuid, uuid, 37);
        p->next = s->provs;
        s->provs = p;
    }
    pthread_mutex_unlock(&s->prov_mu);
    memcpy(out, uuid, 37);
    return 0;
}

/* ---- append ---- */

typedef struct {
    const store_event_in *ev;
    const char *id;
    int64_t time_ms;
    const char *body;
    zip_buf pre;         /* body compressed by the caller (zip_pre), or empty */
    store_append_result *res;
} append_arg;

/* Events appended by one op: all of them or none. */
typedef struct {
    append_arg *one;
    size_t n;
} append_many;

/* The event an idempotency key already stored. */
static int row_duplicate(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    store_append_result *res = ud;
    char hex[65];
    const char *id = col_hex(row, 0, hex);
    snprintf(res->id, sizeof res->id, "%s", id ? id : "");
    res->position = sqlite3_column_int64(row, 1);
    res->duplicate = true;
    return 1;
}

/* The registrations' generation inside the writer's transaction: what the
 * writer last read, unless something may have changed it (writer_begin,
 * run_batch). */
static int writer_generation(conn_t *c, int64_t *gen, err_t *err)
{
    if (!c->regdef_gen_known) {
        int64_t g = 0;
        if (sql_int(c, ST_REGDEF_GEN, REGDEF_GEN_SQL, NO_ARGS, &g,
                    "cannot read the registrations' generation", err) < 0)
            return -1;
        c->regdef_gen = g;
        c->regdef_gen_known = true;
    }
    *gen = c->regdef_gen;
    return 0;
}

/* Events of one type are alike: they share a dictionary. */
static void event_zip_key(const store_event_in *ev, char key[300])
{
    snprintf(key, 300, "event:%s", ev->type ? ev->type : "");
}

static int append_one(conn_t *c, wop_t *op, append_arg *a)
{
    const store_event_in *ev = a->ev;
    const char *what = "cannot append event";
    int64_t now = now_ms();
    unsigned char h[32];
    sql_arg hash = SQL_TEXT(NULL);
    if (ev->idempotency_key) {
        /* Checked here, inside the transaction, so that two concurrent
         * publishes with one key store one event. */
        hash = dedup_arg(ev->provider, ev->idempotency_key, h);
        int dup = sql_run(c, ST_DEDUP_GET,
                          "SELECT event_id, position FROM dedup WHERE h = ?1 AND created_ms > ?2",
                          ARGS(hash, SQL_INT(now - 24LL * 3600 * 1000)), row_duplicate, a->res,
                          "cannot check idempotency key", &op->err);
        if (dup != 0) return dup < 0 ? -1 : 0;
    }
    char key[300];
    event_zip_key(ev, key);
    zip_buf z;
    sql_arg body = zip_arg_pre(c, key, a->body, &a->pre, &z);
    unsigned char idb[32];
    int irc = sql_exec(c, ST_EVENT_INSERT,
                       "INSERT INTO events(id, provider, type, time_ms, body)"
                       " VALUES(?1, ?2, ?3, ?4, ?5)",
                       ARGS(hex_arg(a->id, idb), SQL_TEXT(ev->provider), SQL_TEXT(ev->type),
                            SQL_INT(a->time_ms), body),
                       what, &op->err);
    free(z.data);
    if (irc < 0) return -1;
    int64_t position = sqlite3_last_insert_rowid(c->db);
    unsigned char eid[32];
    if (ev->idempotency_key &&
        sql_exec(c, ST_DEDUP_PUT,
                 "INSERT OR REPLACE INTO dedup(position, h, event_id, created_ms)"
                 " VALUES(?1, ?2, ?3, ?4)",
                 ARGS(SQL_INT(position), hash, hex_arg(a->id, eid), SQL_INT(now)),
                 "cannot record idempotency key", &op->err) < 0)
        return -1;
    for (size_t i = 0; i < ev->ndeliveries; i++) {
        bool disabled;
        if (reg_ensure(c, ev->deliveries[i].registration, &disabled, &op->err) < 0) return -1;
        if (delivery_insert(c, position, ev->deliveries[i].registration,
                            ev->deliveries[i].order_key, disabled, now, &op->err) < 0)
            return -1;
        if (!disabled) op->work = true;
    }
    for (size_t i = 0; i < ev->nfiltered; i++) {
        if (sql_exec(c, ST_FILTERED_ADD,
                     "INSERT INTO reg_counters(registration, filtered) VALUES(?1, 1)"
                     " ON CONFLICT(registration) DO UPDATE SET filtered = filtered + 1",
                     ARGS(SQL_TEXT(ev->filtered[i])), "cannot count a filtered event",
                     &op->err) < 0)
            return -1;
    }
    snprintf(a->res->id, sizeof a->res->id, "%s", a->id);
    a->res->position = position;
    a->res->duplicate = false;
    op->events++;
    return 0;
}

static int run_append(conn_t *c, wop_t *op)
{
    append_many *m = op->arg;
    const store_event_in *ev = m->one[0].ev;
    if (ev->check_generation) {
        /* Registrations changed since the publisher chose the deliveries
         * (another process, or a change racing this publish): nothing is
         * written, the publisher chooses again. */
        int64_t gen;
        if (writer_generation(c, &gen, &op->err) < 0) return -1;
        if (gen != ev->generation) {
            m->one[0].res->stale = true;
            return 0;
        }
    }
    for (size_t i = 0; i < m->n; i++)
        if (append_one(c, op, &m->one[i]) < 0) {
            op->events = 0;
            return -1;
        }
    return 0;
}

int sq_append_batch(store_t *base, const store_event_in *evs, size_t n, store_append_result *res,
                    err_t *err)
{
    sq_t *s = SQ(base);
    memset(res, 0, n * sizeof *res);
    for (size_t i = 0; i < n; i++)
        if (store_event_in_check(&evs[i], err) < 0) return -1;
    append_arg *one = xcalloc(n, sizeof *one);
    char (*ids)[37] = xcalloc(n, sizeof *ids);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char uuid[37];
        if (sq_provider_id(&s->base, evs[i].provider, uuid, err) < 0) {
            rc = -1;
            break;
        }
        /* The CloudEvent is built here, on the caller's thread: the writer
         * only binds text. */
        one[i] = (append_arg){.ev = &evs[i], .id = ids[i], .time_ms = now_ms(), .res = &res[i]};
        one[i].body = store_cloudevent_text(&evs[i], uuid, ids[i], one[i].time_ms, err);
        if (!one[i].body) rc = -1;
        char key[300];
        event_zip_key(&evs[i], key);
        if (rc == 0) zip_pre(s->zshared, key, one[i].body, &one[i].pre);
    }
    if (rc == 0) {
        append_many m = {.one = one, .n = n};
        wop_t op = {.run = run_append, .arg = &m, .keeps_regdefs = true};
        rc = store_submit(s, &op, err);
    }
    for (size_t i = 0; i < n; i++) {
        free((char *)one[i].body);
        free(one[i].pre.data);
    }
    free(one);
    free(ids);
    if (rc < 0) memset(res, 0, n * sizeof *res);
    return rc;
}

int sq_append(store_t *base, const store_event_in *ev, store_append_result *res, err_t *err)
{
    return sq_append_batch(base, ev, 1, res, err);
}

/* ---- reading ---- */

/* Rows of (position, body) into an array of {position, event}, a page of at
 * most max_bytes of bodies (but at least one event); a body that is not
 * JSON fails the read. */
typedef struct {
    json_t *arr;
    size_t max_bytes, bytes;
} page_arg;

static int row_positioned(void *ud, sqlite3_stmt *row, err_t *err)
{
    page_arg *p = ud;
    size_t len = 0;
    char *text = col_text_copy(row, 1, &len);
    if (json_array_size(p->arr) && p->bytes + len > p->max_bytes) {
        free(text);
        return 1;
    }
    int64_t pos = sqlite3_column_int64(row, 0);
    json_t *ev = text ? json_load_kept(text, len, 0, NULL) : NULL;
    free(text);
    if (!ev)
        return err_set(err, "cannot read the journal: the event at position %lld is not valid JSON",
                       (long long)pos);
    p->bytes += len;
    json_array_append_new(p->arr, json_pack("{s:I, s:o}", "position", (json_int_t)pos, "event", ev));
    return 0;
}

/* *out gets p's array when rc is 0; else it goes. */
static int page_done(int rc, page_arg *p, json_t **out)
{
    if (rc < 0) {
        json_decref(p->arr);
        return -1;
    }
    *out = p->arr;
    return 0;
}

int sq_read(store_t *base, const char *provider, int64_t since, int limit, json_t **out,
               err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (limit <= 0) limit = 100;
    if (since < 0) since = 0;
    const char *what = "cannot read the journal";
    page_arg p = {.arr = json_array(), .max_bytes = SIZE_MAX};
    int rc = provider ? store_query(s, ST_READ_PROVIDER,
                                    "SELECT position, body FROM events WHERE provider = ?1"
                                    " AND position > ?2 ORDER BY position LIMIT ?3",
                                    ARGS(SQL_TEXT(provider), SQL_INT(since), SQL_INT(limit)),
                                    row_positioned, &p, what, err)
                      : store_query(s, ST_READ_ALL,
                                    "SELECT position, body FROM events WHERE position > ?1"
                                    " ORDER BY position LIMIT ?2",
                                    ARGS(SQL_INT(since), SQL_INT(limit)), row_positioned, &p, what,
                                    err);
    return page_done(rc, &p, out);
}

int sq_read_matching(store_t *base, const char *const *providers, const char *const *types,
                        size_t n, int64_t since, int limit, size_t max_bytes, json_t **out,
                        err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (limit <= 0) limit = 100;
    if (since < 0) since = 0;
    json_t *pairs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(pairs, json_pack("[s?, s]", providers[i], types[i]));
    char *ptext = json_text(pairs, JSON_COMPACT);
    json_decref(pairs);
    page_arg p = {.arr = json_array(), .max_bytes = max_bytes};
    /* A provider of null matches any provider (registration_matches). */
    int rc = store_query(
        s, ST_ONCE,
        "SELECT position, body FROM events WHERE position > ?1 AND EXISTS (SELECT 1 FROM"
        " json_each(?2) p WHERE json_extract(p.value, '$[1]') = events.type AND"
        " (json_extract(p.value, '$[0]') IS NULL OR json_extract(p.value, '$[0]') = events.provider))"
        " ORDER BY position LIMIT ?3",
        ARGS(SQL_INT(since), SQL_TEXT(ptext), SQL_INT(limit)), row_positioned, &p,
        "cannot read the journal", err);
    free(ptext);
    return page_done(rc, &p, out);
}

int sq_position_before(store_t *base, int64_t time_ms, int64_t *pos, err_t *err)
{
    sq_t *s = SQ(base);
    return store_query_int(s, ST_POSITION_BEFORE,
                           "SELECT position FROM events WHERE time_ms < ?1"
                           " ORDER BY time_ms DESC, position DESC LIMIT 1",
                           ARGS(SQL_INT(time_ms)), pos, "cannot seek in the journal", err);
}

static int row_event(void *ud, sqlite3_stmt *row, err_t *err)
{
    json_t **out = ud;
    *out = col_json(row, 0, 0);
    char hex[65];
    if (!*out) return err_set(err, "the stored event %s is not valid JSON", col_hex(row, 1, hex));
    return 1;
}

int sq_event_get(store_t *base, const char *id, json_t **out, err_t *err)
{
    sq_t *s = SQ(base);
    *out = NULL;
    if (!id) return 0;
    unsigned char idb[32];
    return store_query(s, ST_EVENT_BY_ID, "SELECT body, id FROM events WHERE " EVENT_BY_ID,
                       ARGS(hex_arg(id, idb), SQL_TEXT(id)), row_event, out, "cannot read event",
                       err);
}

/* ---- replay ---- */

typedef struct {
    const char *registration;
    const int64_t *positions;
    char *const *keys;
    size_t n;
} replay_arg;

static int run_replay_chunk(conn_t *c, wop_t *op)
{
    replay_arg *a = op->arg;
    bool disabled;
    if (reg_ensure(c, a->registration, &disabled, &op->err) < 0) return -1;
    int64_t now = now_ms();
    for (size_t i = 0; i < a->n; i++) {
        if (delivery_insert(c, a->positions[i], a->registration, a->keys[i], disabled, now,
                            &op->err) < 0)
            return -1;
    }
    op->work = !disabled && a->n > 0;
    return 0;
}

/* The events a replay delivers, collected on a read connection. */
typedef struct {
    const store_replay_opts *o;
    int64_t *positions;
    char **keys;
    size_t len, cap_positions, cap_keys;
    int skipped;
} replay_scan;

static int row_replay(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    replay_scan *sc = ud;
    const store_replay_opts *o = sc->o;
    const char *prov = (const char *)sqlite3_column_text(row, 1);
    const char *type = (const char *)sqlite3_column_text(row, 2);
    if (!prov || !type || !store_pair_match(prov, type, o->providers, o->types, o->n)) return 0;
    const char *path = o->order_key_path && *o->order_key_path ? o->order_key_path : NULL;
    json_t *ev = path || o->keep ? col_json(row, 3, 0) : NULL;
    if (o->keep && !o->keep(o->keep_ud, ev)) {
        sc->skipped++;
        json_decref(ev);
        return 0;
    }
    VEC_GROW(sc->positions, sc->cap_positions, sc->len + 1);
    VEC_GROW(sc->keys, sc->cap_keys, sc->len + 1);
    sc->positions[sc->len] = sqlite3_column_int64(row, 0);
    sc->keys[sc->len] = path && ev ? json_path_string(ev, path) : NULL;
    json_decref(ev);
    sc->len++;
    return 0;
}

int sq_replay_range(store_t *base, const store_replay_opts *o, int *count, int *skipped,
                    err_t *err)
{
    sq_t *s = SQ(base);
    int64_t since = o->since < 0 ? 0 : o->since;
    int64_t until = o->until > 0 ? o->until : INT64_MAX;
    const char *what = "cannot scan the journal for replay";

    /* Scan on a read connection; only the inserts go through the writer. */
    replay_scan sc = {.o = o};
    bool one_provider = o->providers[0] != NULL;
    for (size_t i = 1; i < o->n && one_provider; i++)
        one_provider = o->providers[i] && !strcmp(o->providers[i], o->providers[0]);
    int rc = one_provider
                 ? store_query(s, ST_REPLAY_SCAN_PROVIDER,
                               "SELECT position, provider, type, body FROM events"
                               " WHERE provider = ?3 AND position > ?1 AND position <= ?2"
                               " ORDER BY position",
                               ARGS(SQL_INT(since), SQL_INT(until), SQL_TEXT(o->providers[0])),
                               row_replay, &sc, what, err)
                 : store_query(s, ST_REPLAY_SCAN_RANGE,
                               "SELECT position, provider, type, body FROM events"
                               " WHERE position > ?1 AND position <= ?2 ORDER BY position",
                               ARGS(SQL_INT(since), SQL_INT(until)), row_replay, &sc, what, err);
    size_t len = sc.len;
    int result = rc;
    if (result == 0 && o->progress) o->progress(o->progress_ud, 0, (int64_t)len);
    for (size_t off = 0; result == 0 && off < len; off += REPLAY_CHUNK) {
        replay_arg a = {.registration = o->registration,
                        .positions = sc.positions + off,
                        .keys = sc.keys + off,
                        .n = len - off < REPLAY_CHUNK ? len - off : REPLAY_CHUNK};
        wop_t op = {.run = run_replay_chunk, .arg = &a};
        if (store_submit(s, &op, err) < 0) result = -1;
        else *count += (int)a.n;
        if (result == 0 && o->progress) o->progress(o->progress_ud, *count, (int64_t)len);
    }
    for (size_t i = 0; i < len; i++) free(sc.keys[i]);
    free(sc.keys);
    free(sc.positions);
    if (skipped) *skipped = sc.skipped;
    return result;
}

/* ---- retention ---- */

#define JOURNAL_PRUNE_CHUNK 2000
#define FLOOR_SQL "SELECT value FROM meta WHERE key = 'journal_floor'"

/* One chunk of positions above the floor, up to the last event older than
 * the cutoff. The floor then rises to the chunk's end: positions at or below
 * it have been through retention. */
static int run_journal_prune(conn_t *c, wop_t *op)
{
    const int64_t *cutoff = op->arg;
    const char *what = "cannot apply journal retention";
    int64_t cutpos = 0, floor = 0;
    if (sql_int(c, ST_ONCE,
                "SELECT position FROM events WHERE time_ms < ?1 ORDER BY time_ms DESC LIMIT 1",
                ARGS(SQL_INT(*cutoff)), &cutpos, what, &op->err) < 0 ||
        sql_int(c, ST_ONCE, FLOOR_SQL, NO_ARGS, &floor, what, &op->err) < 0)
        return -1;
    if (cutpos <= floor) return 0;
    int64_t lo = floor + 1;
    int64_t hi = floor + JOURNAL_PRUNE_CHUNK < cutpos ? floor + JOURNAL_PRUNE_CHUNK : cutpos;
    if (sql_exec(c, ST_ONCE,
                 "DELETE FROM deliveries WHERE position BETWEEN ?1 AND ?2 AND state = 'done'",
                 ARGS(SQL_INT(lo), SQL_INT(hi)), what, &op->err) < 0 ||
        sql_exec(c, ST_ONCE,
                 "DELETE FROM events WHERE position BETWEEN ?1 AND ?2 AND NOT EXISTS"
                 " (SELECT 1 FROM deliveries d WHERE d.position = events.position)",
                 ARGS(SQL_INT(lo), SQL_INT(hi)), what, &op->err) < 0)
        return -1;
    int gone = sqlite3_changes(c->db);
    if (sql_exec(c, ST_ONCE,
                 "INSERT INTO meta(key, value) VALUES('journal_floor', ?1) ON CONFLICT(key)"
                 " DO UPDATE SET value = max(value, excluded.value)",
                 ARGS(SQL_INT(hi)), what, &op->err) < 0)
        return -1;
    op->changes = gone;
    op->more = hi < cutpos;
    return 0;
}

int sq_journal_prune(store_t *base, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    wop_t op = {.run = run_journal_prune, .arg = &cutoff_ms};
    return store_submit_chunks(SQ(base), &op, deleted, err);
}

int sq_journal_floor(store_t *base, int64_t *floor, err_t *err)
{
    sq_t *s = SQ(base);
    return store_query_int(s, ST_ONCE, FLOOR_SQL, NO_ARGS, floor, "cannot read the journal floor",
                           err);
}
