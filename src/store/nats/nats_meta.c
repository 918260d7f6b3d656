/* nats_meta: what the JetStream backend keeps in KV evkit_meta besides
 * registrations and triggers: event metadata ("meta.<provider>.<code>"),
 * the I/O Management providers ("ioprov.<key>") and registrations
 * ("ioreg.<number>", numbered by a compare-and-set counter), and action
 * state as a collection (count, clear); plus browsing the journal (pages
 * of events, one event with its unsettled deliveries). */
#include "store/nats/nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BROWSE_MAX_LIMIT 1000

static int cmp_fields(const json_t *a, const json_t *b, const char *k1, const char *k2)
{
    int c = strcmp(json_string_value(json_object_get(a, k1)) ?: "",
                   json_string_value(json_object_get(b, k1)) ?: "");
    if (c || !k2) return c;
    return strcmp(json_string_value(json_object_get(a, k2)) ?: "",
                  json_string_value(json_object_get(b, k2)) ?: "");
}

static int by_provider_code(const void *x, const void *y)
{
    return cmp_fields(*(json_t *const *)x, *(json_t *const *)y, "provider", "code");
}

static int by_created(const void *x, const void *y)
{
    int64_t a = json_integer_value(json_object_get(*(json_t *const *)x, "_created"));
    int64_t b = json_integer_value(json_object_get(*(json_t *const *)y, "_created"));
    return a < b ? -1 : a > b;
}


/* ---- event metadata ---- */

int js_event_meta_put(store_t *s, const store_event_meta *m, store_put_outcome *outcome,
                      err_t *err)
{
    js_t *j = JS(s);
    if (!m->provider || !*m->provider || !m->code || !*m->code)
        return err_code(err, EVK_INVALID, "event metadata needs a provider and an event code");
    char *p = js_token(m->provider), *c = js_token(m->code);
    char *key = xasprintf("meta.%s.%s", p, c);
    free(p);
    free(c);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:O}", "provider", m->provider, "code", m->code,
                            "label", m->label ? m->label : m->code, "description",
                            m->description ? m->description : "", "sample",
                            m->sample ? (json_t *)m->sample : json_null());
    json_t *old = NULL;
    int rc = js_kv_get_json(j, j->meta, key, &old, NULL, err);
    store_put_outcome o = !old ? STORE_CREATED : json_equal(old, rec) ? STORE_UNCHANGED
                                                                       : STORE_UPDATED;
    if (rc == 0 && o != STORE_UNCHANGED)
        rc = js_kv_put_json(j, j->meta, key, rec, 0, false, NULL, err);
    if (rc == 0 && outcome) *outcome = o;
    json_decref(old);
    json_decref(rec);
    free(key);
    return rc;
}

int js_event_meta_list(store_t *s, const char *provider, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    char *filter = provider ? js_token_in("meta.", provider, ".*") : xstrdup("meta.*.*");
    int rc = js_kv_values(j, j->meta, filter, NULL, out, err);
    free(filter);
    if (rc == 0) js_sort_array(*out, by_provider_code);
    return rc;
}

/* ---- I/O Management records ---- */

static int strip_created(json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) json_object_del(v, "_created");
    return 0;
}

int js_io_provider_list(store_t *s, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    if (js_kv_values(j, j->meta, "ioprov.*", NULL, out, err) < 0) return -1;
    js_sort_array(*out, by_created);
    return strip_created(*out);
}

int js_io_provider_get(store_t *s, const char *id_or_key, json_t **rec, err_t *err)
{
    *rec = NULL;
    json_t *all = NULL;
    if (js_io_provider_list(s, &all, err) < 0) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *key = json_string_value(json_object_get(v, "key"));
        if ((id && !strcmp(id, id_or_key)) || (key && !strcmp(key, id_or_key))) {
            *rec = json_incref(v);
            break;
        }
    }
    json_decref(all);
    return 0;
}

int js_io_provider_put(store_t *s, const json_t *rec, bool *conflict, err_t *err)
{
    js_t *j = JS(s);
    *conflict = false;
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    const char *label = json_string_value(json_object_get(rec, "label"));
    if (!id || !key || !label)
        return err_code(err, EVK_INTERNAL, "a provider record needs id, key and label");
    json_t *all = NULL;
    if (js_io_provider_list(s, &all, err) < 0) return -1;
    size_t i;
    json_t *v;
    int64_t created = now_ms();
    json_array_foreach(all, i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        const char *l = json_string_value(json_object_get(v, "label"));
        bool same_key = k && !strcmp(k, key);
        if (!same_key && l && !strcmp(l, label)) *conflict = true;
    }
    json_decref(all);
    if (*conflict) return 0;
    char *k = js_token_in("ioprov.", key, "");
    json_t *copy = json_deep_copy(rec);
    json_t *old = NULL;
    int rc = js_kv_get_json(j, j->meta, k, &old, NULL, err);
    if (old) created = json_integer_value(json_object_get(old, "_created"));
    json_decref(old);
    json_object_set_new(copy, "_created", json_integer(created));
    if (rc == 0) rc = js_kv_put_json(j, j->meta, k, copy, 0, false, NULL, err);
    json_decref(copy);
    free(k);
    return rc;
}

static int by_number(const void *x, const void *y)
{
    int64_t a = json_integer_value(json_object_get(*(json_t *const *)x, "id"));
    int64_t b = json_integer_value(json_object_get(*(json_t *const *)y, "id"));
    return a < b ? -1 : a > b;
}

int js_io_reg_list(store_t *s, const char *scope, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    json_t *all = NULL;
    if (js_kv_values(j, j->meta, "ioreg.*", NULL, &all, err) < 0) return -1;
    json_t *arr = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        const char *sc = json_string_value(json_object_get(v, "_scope"));
        if (scope && (!sc || strcmp(sc, scope))) continue;
        json_t *rec = json_deep_copy(v);
        json_object_del(rec, "_scope");
        json_array_append_new(arr, rec);
    }
    json_decref(all);
    js_sort_array(arr, by_number);
    *out = arr;
    return 0;
}

int js_io_reg_put(store_t *s, const char *scope, const json_t *rec, bool *conflict, int64_t *id,
                  err_t *err)
{
    js_t *j = JS(s);
    *conflict = false;
    *id = 0;
    const char *name = json_string_value(json_object_get(rec, "name"));
    if (!scope || !name)
        return err_code(err, EVK_INTERNAL, "a registration record needs a scope and a name");
    json_t *same = NULL;
    if (js_io_reg_list(s, scope, &same, err) < 0) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(same, i, v) {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && !strcmp(n, name)) *conflict = true;
    }
    json_decref(same);
    if (*conflict) return 0;
    /* The number: the counter key's new revision, unique across nodes. */
    uint64_t rev = 0;
    natsStatus st = kvStore_PutString(&rev, j->meta, "ioregseq", "{}");
    if (st != NATS_OK) return js_fail(err, st, "cannot number the registration");
    json_t *copy = json_deep_copy(rec);
    json_object_set_new(copy, "_scope", json_string(scope));
    json_object_set_new(copy, "id", json_integer((json_int_t)rev));
    char *k = xasprintf("ioreg.%llu", (unsigned long long)rev);
    int rc = js_kv_put_json(j, j->meta, k, copy, 0, true, NULL, err);
    free(k);
    json_decref(copy);
    if (rc == 0) *id = (int64_t)rev;
    return rc;
}

/* ---- action state as a collection ---- */

int js_state_count(store_t *s, int64_t *n, err_t *err)
{
    js_t *j = JS(s);
    *n = 0;
    json_t *all = NULL;
    if (js_kv_values(j, j->state, ">", NULL, &all, err) < 0) return -1;
    int64_t now = now_ms();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        int64_t exp = json_integer_value(json_object_get(v, "exp"));
        if (exp <= 0 || exp > now) (*n)++;
    }
    json_decref(all);
    return 0;
}

int js_state_clear(store_t *s, int64_t *n, err_t *err)
{
    js_t *j = JS(s);
    *n = 0;
    if (js_state_count(s, n, err) < 0) return -1;
    jsOptions o;
    jsOptions_Init(&o);
    jsErrCode jerr = 0;
    /* The bucket's stream: purging it drops every key at once. */
    natsStatus st = js_PurgeStream(j->js, "KV_" KV_STATE, &o, &jerr);
    if (st != NATS_OK) return js_fail(err, st, "cannot delete state");
    return 0;
}

/* ---- browsing ---- */

static char *page_filter(const char *provider, const char *type)
{
    char *p = provider ? js_token(provider) : xstrdup("*");
    char *t = type ? js_token(type) : xstrdup("*");
    char *f = xasprintf("evkit.event.%s.%s", p, t);
    free(p);
    free(t);
    return f;
}

static json_t *page_item(natsMsg *m)
{
    const char *provider = NULL;
    natsMsgHeader_Get(m, "Evkit-Provider", &provider);
    json_error_t je;
    json_t *ev = json_load_kept(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je);
    return json_pack("{s:I, s:s, s:o}", "position", (json_int_t)natsMsg_GetSequence(m),
                     "provider", provider ? provider : "", "event", ev ? ev : json_object());
}

typedef struct {
    json_t *arr;
    int limit;
} back_page;

static bool take_back(natsMsg *m, void *ud)
{
    back_page *p = ud;
    json_array_insert_new(p->arr, 0, page_item(m));
    return (int)json_array_size(p->arr) < p->limit;
}

int js_event_page(store_t *s, const char *provider, const char *type, int64_t since,
                  int64_t before, bool latest, int limit, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    if (limit <= 0) limit = 100;
    if (limit > BROWSE_MAX_LIMIT) limit = BROWSE_MAX_LIMIT;
    char *filter = page_filter(provider, type);
    json_t *arr = json_array();
    int rc = 0;
    if (latest || before > 0) {
        back_page p = {.arr = arr, .limit = limit};
        rc = js_scan_back(j, JS_EVENTS, filter, latest ? 0 : (uint64_t)before, take_back, &p, err);
    } else {
        for (uint64_t from = (uint64_t)(since > 0 ? since : 0) + 1;
             rc == 0 && (int)json_array_size(arr) < limit;) {
            natsMsg *m = NULL;
            int found = js_next_msg(j, JS_EVENTS, from, filter, "cannot read events", &m, err);
            if (found <= 0) {
                rc = found;
                break;
            }
            uint64_t at = natsMsg_GetSequence(m);
            json_array_append_new(arr, page_item(m));
            natsMsg_Destroy(m);
            if (at < from) break;
            from = at + 1;
        }
    }
    free(filter);
    if (rc < 0) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

/* An event's deliveries: the settled ones from KV evkit_settled, then
 * those waiting in the work queue (a replayed one is waiting again). */
typedef struct {
    js_t *j;
    int64_t position;
    json_t *by_id;               /* "<id>" -> delivery */
} detail_scan;

static json_t *settled_item(const json_t *v)
{
    char due[32];
    time_iso(json_integer_value(json_object_get(v, "due")), due, sizeof due);
    json_t *err = json_object_get(v, "lastError");
    return json_pack("{s:O, s:O, s:O, s:O, s:s, s:O, s:O}", "id", json_object_get(v, "id"),
                     "registration", json_object_get(v, "registration"), "state",
                     json_object_get(v, "state"), "attempt", json_object_get(v, "attempt"),
                     "due", due, "lastStatus", json_object_get(v, "lastStatus"), "lastError",
                     err ? err : json_null());
}

static bool take_waiting(natsMsg *m, void *ud)
{
    detail_scan *d = ud;
    const char *pos = NULL, *reg = NULL;
    if (natsMsgHeader_Get(m, "Evkit-Position", &pos) != NATS_OK ||
        strtoll(pos, NULL, 10) != d->position)
        return true;
    natsMsgHeader_Get(m, "Evkit-Registration", &reg);
    char *k = xasprintf("%llu", (unsigned long long)natsMsg_GetSequence(m));
    json_t *att = NULL;
    err_t err;
    js_kv_get_json(d->j, d->j->attempts, k, &att, NULL, &err);
    free(k);
    char due[32], id[24];
    time_iso(now_ms(), due, sizeof due);
    int64_t did = js_delivery_id(m);
    snprintf(id, sizeof id, "%lld", (long long)did);
    json_t *status = json_object_get(att, "last_status");
    json_t *error = json_object_get(att, "last_error");
    json_object_set_new(
        d->by_id, id,
        json_pack("{s:I, s:s, s:s, s:I, s:s, s:O, s:O}", "id", (json_int_t)did, "registration",
                  reg ? reg : "", "state", "pending", "attempt",
                  json_integer_value(json_object_get(att, "attempts")) + 1, "due", due,
                  "lastStatus", status ? status : json_null(), "lastError",
                  error ? error : json_null()));
    json_decref(att);
    return true;
}

static int settled_of(detail_scan *d, err_t *err)
{
    char *filter = xasprintf("%lld.*", (long long)d->position);
    kvWatchOptions o;
    kvWatchOptions_Init(&o);
    o.IgnoreDeletes = true;
    kvWatcher *w = NULL;
    natsStatus st = js_kv_watch(d->j, &w, d->j->settled, filter, &o);
    free(filter);
    if (st != NATS_OK) return js_fail(err, st, "cannot read the event's deliveries");
    for (;;) {
        kvEntry *e = NULL;
        st = js_kv_next(d->j, w, &e);
        if (st != NATS_OK || !e) break;
        json_error_t je;
        json_t *v = json_load_kept(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, &je);
        const char *dot = strrchr(kvEntry_Key(e), '.');
        if (v && dot) json_object_set_new(d->by_id, dot + 1, settled_item(v));
        json_decref(v);
        kvEntry_Destroy(e);
    }
    if (w) kvWatcher_Destroy(w);
    return st == NATS_OK ? 0 : js_fail(err, st, "cannot read the event's deliveries");
}

int js_event_detail(store_t *s, const char *id, json_t **out, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    uint64_t seq = 0;
    natsMsg *m = NULL;
    int found = js_index_seq(j->eventids, id, "cannot look the event up", &seq, err);
    if (found > 0) found = js_msg_at(j, JS_EVENTS, seq, "cannot read the event", &m, err);
    if (found <= 0) return found;
    json_t *res = page_item(m);
    natsMsg_Destroy(m);
    detail_scan d = {.j = j, .position = (int64_t)seq, .by_id = json_object()};
    if (settled_of(&d, err) < 0 ||
        js_scan_back(j, JS_DELIVERIES, ">", 0, take_waiting, &d, err) < 0) {
        json_decref(d.by_id);
        json_decref(res);
        return -1;
    }
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(d.by_id, k, v) json_array_append(arr, v);
    json_decref(d.by_id);
    js_sort_array(arr, by_number);
    json_object_set_new(res, "deliveries", arr);
    *out = res;
    return 0;
}
