/* store_journal: providers, appending events (with dedup and their
 * deliveries, in one transaction), reading the journal, and replay, which
 * creates deliveries for events already in the journal. */
#include "core/jsonpath.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* Deliveries a replay writes per transaction: the writer (and so every
 * publish) is never held for long by a large replay. */
#define REPLAY_CHUNK 1000

/* ---- registrations (used by every op that creates deliveries) ---- */

int reg_ensure(store_t *s, conn_t *c, const char *name, bool *disabled, err_t *err)
{
    (void)s;
    const char *what = "cannot look up registration";
    sqlite3_stmt *st = conn_stmt(c, ST_REG_STATE, "SELECT state FROM registrations WHERE name = ?1");
    if (!st) return db_fail(err, c, what);
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        *disabled = state && !strcmp(state, "DISABLED");
        stmt_reset(st);
        return 0;
    }
    stmt_reset(st);
    if (rc != SQLITE_DONE) return db_fail(err, c, what);
    *disabled = false;
    st = conn_stmt(c, ST_REG_CREATE,
                   "INSERT INTO registrations(name, state, enabled_at_ms) VALUES(?1, 'ACTIVE', ?2)");
    if (!st) return db_fail(err, c, "cannot create registration");
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now_ms());
    return stmt_exec(c, st, "cannot create registration", err);
}

static int delivery_insert(conn_t *c, int64_t position, const char *registration,
                           const char *order_key, bool parked, int64_t now, err_t *err)
{
    const char *what = "cannot create delivery";
    sqlite3_stmt *st = conn_stmt(c, ST_DELIVERY_INSERT,
                                 "INSERT INTO deliveries(position, registration, order_key, state, due_ms)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st) return db_fail(err, c, what);
    sqlite3_bind_int64(st, 1, position);
    bind_text(st, 2, registration);
    bind_text(st, 3, order_key);
    bind_text(st, 4, parked ? "parked" : "pending");
    sqlite3_bind_int64(st, 5, now);
    return stmt_exec(c, st, what, err);
}

/* ---- providers ---- */

typedef struct {
    const char *key;
    char *uuid;   /* 37 bytes: proposed, then the stored one */
} provider_arg;

static int run_provider(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    provider_arg *a = op->arg;
    sqlite3_stmt *st = conn_stmt(c, ST_PROVIDER_INSERT,
                                 "INSERT INTO providers(key, uuid, created_ms) VALUES(?1, ?2, ?3)"
                                 " ON CONFLICT(key) DO NOTHING");
    if (!st) return db_fail(&op->err, c, "cannot create provider");
    bind_text(st, 1, a->key);
    bind_text(st, 2, a->uuid);
    sqlite3_bind_int64(st, 3, now_ms());
    if (stmt_exec(c, st, "cannot create provider", &op->err) < 0) return -1;
    /* Another process may have created it first: its uuid wins. */
    st = conn_stmt(c, ST_PROVIDER_GET, "SELECT uuid FROM providers WHERE key = ?1");
    if (!st) return db_fail(&op->err, c, "cannot read provider");
    bind_text(st, 1, a->key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(a->uuid, 37, "%s", (const char *)sqlite3_column_text(st, 0));
    stmt_reset(st);
    if (rc != SQLITE_ROW) return db_fail(&op->err, c, "cannot read provider");
    return 0;
}

int store_provider_id(store_t *s, const char *key, char out[37], err_t *err)
{
    if (!key || !*key) return err_set(err, "provider key is required");
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
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = conn_stmt(c, ST_PROVIDER_GET, "SELECT uuid FROM providers WHERE key = ?1");
    if (!st) {
        db_fail(err, c, "cannot read provider");
        store_reader_put(s, c);
        return -1;
    }
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(uuid, sizeof uuid, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE) db_fail(err, c, "cannot read provider");
    stmt_reset(st);
    store_reader_put(s, c);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;

    if (rc == SQLITE_DONE) {
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
    store_append_result *res;
} append_arg;

static int run_append(store_t *s, conn_t *c, wop_t *op)
{
    append_arg *a = op->arg;
    const store_event_in *ev = a->ev;
    const char *what = "cannot append event";
    int64_t now = now_ms();
    sqlite3_stmt *st;
    if (ev->idempotency_key) {
        /* Checked here, inside the transaction, so that two concurrent
         * publishes with one key store one event. */
        st = conn_stmt(c, ST_DEDUP_GET,
                       "SELECT event_id, position FROM dedup"
                       " WHERE provider = ?1 AND key = ?2 AND created_ms > ?3");
        if (!st) return db_fail(&op->err, c, "cannot check idempotency key");
        bind_text(st, 1, ev->provider);
        bind_text(st, 2, ev->idempotency_key);
        sqlite3_bind_int64(st, 3, now - 24LL * 3600 * 1000);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(a->res->id, sizeof a->res->id, "%s", (const char *)sqlite3_column_text(st, 0));
            a->res->position = sqlite3_column_int64(st, 1);
            a->res->duplicate = true;
            stmt_reset(st);
            return 0;
        }
        stmt_reset(st);
        if (rc != SQLITE_DONE) return db_fail(&op->err, c, "cannot check idempotency key");
    }
    st = conn_stmt(c, ST_EVENT_INSERT,
                   "INSERT INTO events(id, provider, type, time_ms, body) VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st) return db_fail(&op->err, c, what);
    bind_text(st, 1, a->id);
    bind_text(st, 2, ev->provider);
    bind_text(st, 3, ev->type);
    sqlite3_bind_int64(st, 4, a->time_ms);
    bind_text(st, 5, a->body);
    if (stmt_exec(c, st, what, &op->err) < 0) return -1;
    int64_t position = sqlite3_last_insert_rowid(c->db);
    if (ev->idempotency_key) {
        st = conn_stmt(c, ST_DEDUP_PUT,
                       "INSERT OR REPLACE INTO dedup(provider, key, event_id, position, created_ms)"
                       " VALUES(?1, ?2, ?3, ?4, ?5)");
        if (!st) return db_fail(&op->err, c, "cannot record idempotency key");
        bind_text(st, 1, ev->provider);
        bind_text(st, 2, ev->idempotency_key);
        bind_text(st, 3, a->id);
        sqlite3_bind_int64(st, 4, position);
        sqlite3_bind_int64(st, 5, now);
        if (stmt_exec(c, st, "cannot record idempotency key", &op->err) < 0) return -1;
    }
    for (size_t i = 0; i < ev->ndeliveries; i++) {
        bool disabled;
        if (reg_ensure(s, c, ev->deliveries[i].registration, &disabled, &op->err) < 0) return -1;
        if (delivery_insert(c, position, ev->deliveries[i].registration,
                            ev->deliveries[i].order_key, disabled, now, &op->err) < 0)
            return -1;
        if (!disabled) op->work = true;
    }
    snprintf(a->res->id, sizeof a->res->id, "%s", a->id);
    a->res->position = position;
    a->res->duplicate = false;
    op->events = 1;
    return 0;
}

int store_append(store_t *s, const store_event_in *ev, store_append_result *res, err_t *err)
{
    memset(res, 0, sizeof *res);
    if (!ev || !ev->provider || !*ev->provider) return err_set(err, "event provider is required");
    if (!ev->type || !*ev->type) return err_set(err, "event type is required");
    for (size_t i = 0; i < ev->ndeliveries; i++) {
        if (!ev->deliveries[i].registration || !*ev->deliveries[i].registration)
            return err_set(err, "delivery %zu has no registration", i);
    }
    char uuid[37];
    if (store_provider_id(s, ev->provider, uuid, err) < 0) return -1;

    /* The CloudEvent is built here, on the caller's thread: the writer only
     * binds text. Keys in the order CloudEvents documents them. */
    char id[37], iso[32], source[48];
    uuid_v4(id);
    int64_t t = now_ms();
    time_iso(t, iso, sizeof iso);
    snprintf(source, sizeof source, "urn:uuid:%s", uuid);
    json_t *ce = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", id,
                           "source", source, "type", ev->type, "time", iso, "datacontenttype",
                           "application/json");
    if (!ce) return err_set(err, "cannot build the CloudEvent (type not valid UTF-8?)");
    const char *k;
    json_t *v;
    json_object_foreach(ev->attributes, k, v) {
        if (!strcmp(k, "specversion") || !strcmp(k, "id") || !strcmp(k, "source") ||
            !strcmp(k, "type") || !strcmp(k, "data"))
            continue;
        json_object_set(ce, k, v);
    }
    if (ev->data) json_object_set(ce, "data", ev->data);
    char *body = json_dumps(ce, JSON_COMPACT);
    json_decref(ce);
    if (!body) return err_set(err, "cannot serialize the event data");

    append_arg a = {.ev = ev, .id = id, .time_ms = t, .body = body, .res = res};
    wop_t op = {.run = run_append, .arg = &a};
    int rc = store_submit(s, &op, err);
    free(body);
    if (rc < 0) memset(res, 0, sizeof *res);
    return rc;
}

/* ---- reading ---- */

static json_t *parse_body(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    if (!text) return NULL;
    return json_loadb(text, (size_t)sqlite3_column_bytes(st, col), 0, NULL);
}

int store_read(store_t *s, const char *provider, int64_t since, int limit, json_t **out,
               err_t *err)
{
    *out = NULL;
    if (limit <= 0) limit = 100;
    if (since < 0) since = 0;
    const char *what = "cannot read the journal";
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st;
    if (provider) {
        st = conn_stmt(c, ST_READ_PROVIDER,
                       "SELECT position, body FROM events WHERE provider = ?1 AND position > ?2"
                       " ORDER BY position LIMIT ?3");
        if (st) {
            bind_text(st, 1, provider);
            sqlite3_bind_int64(st, 2, since);
            sqlite3_bind_int(st, 3, limit);
        }
    } else {
        st = conn_stmt(c, ST_READ_ALL,
                       "SELECT position, body FROM events WHERE position > ?1 ORDER BY position"
                       " LIMIT ?2");
        if (st) {
            sqlite3_bind_int64(st, 1, since);
            sqlite3_bind_int(st, 2, limit);
        }
    }
    if (!st) {
        db_fail(err, c, what);
        store_reader_put(s, c);
        return -1;
    }
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pos = sqlite3_column_int64(st, 0);
        json_t *ev = parse_body(st, 1);
        if (!ev) {
            err_set(err, "%s: the event at position %lld is not valid JSON", what, (long long)pos);
            rc = -1;
            break;
        }
        json_array_append_new(arr, json_pack("{s:I, s:o}", "position", (json_int_t)pos, "event", ev));
    }
    if (rc != SQLITE_DONE && rc != -1) db_fail(err, c, what);
    stmt_reset(st);
    store_reader_put(s, c);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

int store_position_before(store_t *s, int64_t time_ms, int64_t *pos, err_t *err)
{
    *pos = 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = conn_stmt(c, ST_POSITION_BEFORE,
                                 "SELECT position FROM events WHERE time_ms < ?1"
                                 " ORDER BY time_ms DESC, position DESC LIMIT 1");
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, time_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *pos = sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) db_fail(err, c, "cannot seek in the journal");
    stmt_reset(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_event_get(store_t *s, const char *id, json_t **out, err_t *err)
{
    *out = NULL;
    if (!id) return 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = conn_stmt(c, ST_EVENT_BY_ID, "SELECT body FROM events WHERE id = ?1");
    int rc = SQLITE_ERROR;
    if (st) {
        bind_text(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = parse_body(st, 0);
            if (!*out) {
                err_set(err, "the stored event %s is not valid JSON", id);
                rc = -1;
            }
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != -1) db_fail(err, c, "cannot read event");
    stmt_reset(st);
    store_reader_put(s, c);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- replay ---- */

typedef struct {
    const char *registration;
    const int64_t *positions;
    char *const *keys;
    size_t n;
} replay_arg;

static int run_replay_chunk(store_t *s, conn_t *c, wop_t *op)
{
    replay_arg *a = op->arg;
    bool disabled;
    if (reg_ensure(s, c, a->registration, &disabled, &op->err) < 0) return -1;
    int64_t now = now_ms();
    for (size_t i = 0; i < a->n; i++) {
        if (delivery_insert(c, a->positions[i], a->registration, a->keys[i], disabled, now,
                            &op->err) < 0)
            return -1;
    }
    op->work = !disabled && a->n > 0;
    return 0;
}

static bool pair_match(const char *provider, const char *type, const char *const *providers,
                       const char *const *types, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (providers[i] && types[i] && !strcmp(providers[i], provider) && !strcmp(types[i], type))
            return true;
    }
    return false;
}

int store_replay(store_t *s, const char *registration, int64_t since,
                 const char *const *providers, const char *const *types, size_t n,
                 const char *order_key_path, int *count, err_t *err)
{
    return store_replay_progress(s, registration, since, providers, types, n, order_key_path,
                                 NULL, NULL, count, err);
}

int store_replay_progress(store_t *s, const char *registration, int64_t since,
                          const char *const *providers, const char *const *types, size_t n,
                          const char *order_key_path, store_progress_fn progress, void *ud,
                          int *count, err_t *err)
{
    *count = 0;
    if (!registration || !*registration) return err_set(err, "registration is required");
    if (n == 0) return 0;
    if (since < 0) since = 0;
    const char *what = "cannot scan the journal for replay";

    /* Scan on a read connection; only the inserts go through the writer. */
    bool one_provider = providers[0] != NULL;
    for (size_t i = 1; i < n && one_provider; i++)
        one_provider = providers[i] && !strcmp(providers[i], providers[0]);
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st;
    if (one_provider) {
        st = conn_stmt(c, ST_REPLAY_SCAN_PROVIDER,
                       "SELECT position, provider, type, body FROM events"
                       " WHERE provider = ?1 AND position > ?2 ORDER BY position");
        if (st) {
            bind_text(st, 1, providers[0]);
            sqlite3_bind_int64(st, 2, since);
        }
    } else {
        st = conn_stmt(c, ST_REPLAY_SCAN_ALL,
                       "SELECT position, provider, type, body FROM events"
                       " WHERE position > ?1 ORDER BY position");
        if (st) sqlite3_bind_int64(st, 1, since);
    }
    if (!st) {
        db_fail(err, c, what);
        store_reader_put(s, c);
        return -1;
    }
    size_t len = 0, cap = 0;
    int64_t *positions = NULL;
    char **keys = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *prov = (const char *)sqlite3_column_text(st, 1);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        if (!prov || !type || !pair_match(prov, type, providers, types, n)) continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 256;
            positions = xrealloc(positions, cap * sizeof *positions);
            keys = xrealloc(keys, cap * sizeof *keys);
        }
        positions[len] = sqlite3_column_int64(st, 0);
        keys[len] = NULL;
        if (order_key_path && *order_key_path) {
            json_t *ev = parse_body(st, 3);
            if (ev) keys[len] = json_path_string(ev, order_key_path);
            json_decref(ev);
        }
        len++;
    }
    if (rc != SQLITE_DONE) db_fail(err, c, what);
    stmt_reset(st);
    store_reader_put(s, c);

    int result = rc == SQLITE_DONE ? 0 : -1;
    if (result == 0 && progress) progress(ud, 0, (int64_t)len);
    for (size_t off = 0; result == 0 && off < len; off += REPLAY_CHUNK) {
        replay_arg a = {.registration = registration,
                        .positions = positions + off,
                        .keys = keys + off,
                        .n = len - off < REPLAY_CHUNK ? len - off : REPLAY_CHUNK};
        wop_t op = {.run = run_replay_chunk, .arg = &a};
        if (store_submit(s, &op, err) < 0) result = -1;
        else *count += (int)a.n;
        if (result == 0 && progress) progress(ud, *count, (int64_t)len);
    }
    for (size_t i = 0; i < len; i++) free(keys[i]);
    free(keys);
    free(positions);
    return result;
}

/* ---- retention ---- */

#define JOURNAL_PRUNE_CHUNK 2000

typedef struct prune_arg {
    int64_t cutoff;
    int64_t deleted;
    bool more;
} prune_arg;

static int exec_sql(conn_t *c, const char *sql, int64_t a, int64_t b, err_t *err, int *changes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(err, c, "cannot apply journal retention");
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(err, c, "cannot apply journal retention");
    if (changes) *changes = sqlite3_changes(c->db);
    return 0;
}

static int query_int(conn_t *c, const char *sql, int64_t arg, int64_t *out, err_t *err)
{
    *out = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(err, c, "cannot apply journal retention");
    sqlite3_bind_int64(st, 1, arg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(err, c, "cannot apply journal retention");
    return 0;
}

/* One chunk of positions above the floor, up to the last event older than
 * the cutoff. The floor then rises to the chunk's end: positions at or below
 * it have been through retention. */
static int run_journal_prune(store_t *s, conn_t *c, wop_t *op)
{
    (void)s;
    prune_arg *a = op->arg;
    int64_t cutpos, floor;
    if (query_int(c, "SELECT position FROM events WHERE time_ms < ?1 ORDER BY time_ms DESC LIMIT 1",
                  a->cutoff, &cutpos, &op->err) < 0 ||
        query_int(c, "SELECT value FROM meta WHERE key = 'journal_floor'", 0, &floor,
                  &op->err) < 0)
        return -1;
    if (cutpos <= floor) return 0;
    int64_t lo = floor + 1;
    int64_t hi = floor + JOURNAL_PRUNE_CHUNK < cutpos ? floor + JOURNAL_PRUNE_CHUNK : cutpos;
    if (exec_sql(c, "DELETE FROM deliveries WHERE position BETWEEN ?1 AND ?2 AND state = 'done'",
                 lo, hi, &op->err, NULL) < 0)
        return -1;
    int gone = 0;
    if (exec_sql(c,
                 "DELETE FROM events WHERE position BETWEEN ?1 AND ?2 AND NOT EXISTS"
                 " (SELECT 1 FROM deliveries d WHERE d.position = events.position)",
                 lo, hi, &op->err, &gone) < 0)
        return -1;
    if (exec_sql(c,
                 "INSERT INTO meta(key, value) VALUES('journal_floor', ?1) ON CONFLICT(key)"
                 " DO UPDATE SET value = max(value, excluded.value)",
                 hi, 0, &op->err, NULL) < 0)
        return -1;
    a->deleted = gone;
    a->more = hi < cutpos;
    return 0;
}

int store_journal_prune(store_t *s, int64_t cutoff_ms, int64_t *deleted, err_t *err)
{
    if (deleted) *deleted = 0;
    /* Chunk by chunk, each its own transaction, so publishes are not held up. */
    for (;;) {
        prune_arg a = {.cutoff = cutoff_ms};
        wop_t op = {.run = run_journal_prune, .arg = &a};
        if (store_submit(s, &op, err) < 0) return -1;
        if (deleted) *deleted += a.deleted;
        if (!a.more) return 0;
    }
}

int store_journal_floor(store_t *s, int64_t *floor, err_t *err)
{
    *floor = 0;
    conn_t *c = store_reader(s, err);
    if (!c) return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'journal_floor'", -1, &st,
                                NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *floor = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    int out = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : db_fail(err, c, "cannot read the journal floor");
    store_reader_put(s, c);
    return out;
}
