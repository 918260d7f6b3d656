/* nats_kv: what JetStream keeps in KV buckets besides health: action state
 * (evkit_state: {v, exp}, an expired value reads as absent and is deleted
 * when met, since KV 2.9 has no per-key TTL), run-time registration
 * definitions and named keys (evkit_meta). */
#include "store/nats/nats_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_KEY_RULE "state keys are 1 to 1024 characters of a-z, A-Z, 0-9, -, _ and ."

/* ---- action state ---- */

static char *state_key(const char *key)
{
    return js_token(key);
}

int js_state_entry(store_t *s, const char *key, json_t **value, int64_t *expires_ms, err_t *err)
{
    js_t *j = JS(s);
    *value = NULL;
    *expires_ms = 0;
    if (!store_state_key_valid(key)) return err_code(err, EVK_INVALID, STATE_KEY_RULE);
    char *k = state_key(key);
    json_t *rec = NULL;
    int rc = js_kv_get_json(j, j->state, k, &rec, NULL, err);
    if (rc == 0 && rec) {
        int64_t exp = json_integer_value(json_object_get(rec, "exp"));
        if (exp > 0 && exp <= now_ms()) {
            kvStore_Delete(j->state, k);
        } else {
            *value = json_incref(json_object_get(rec, "v"));
            *expires_ms = exp;
        }
    }
    json_decref(rec);
    free(k);
    return rc;
}

int js_state_get(store_t *s, const char *key, json_t **value, err_t *err)
{
    int64_t exp;
    return js_state_entry(s, key, value, &exp, err);
}

int js_state_put(store_t *s, const char *key, json_t *value, int64_t ttl_ms, err_t *err)
{
    js_t *j = JS(s);
    if (!store_state_key_valid(key)) return err_code(err, EVK_INVALID, STATE_KEY_RULE);
    if (!value) return err_code(err, EVK_INVALID, "a state value is required");
    /* A value too deep for the runtime would fail every later get (as on SQLite). */
    if (json_check_depth(value, "the state value", err) < 0) return -1;
    char *k = state_key(key);
    json_t *rec = json_pack("{s:O, s:I}", "v", value,
                            "exp", (json_int_t)(ttl_ms > 0 ? now_ms() + ttl_ms : 0));
    int rc = js_kv_put_json(j, j->state, k, rec, 0, false, NULL, err);
    json_decref(rec);
    free(k);
    return rc;
}

int js_state_delete(store_t *s, const char *key, bool *existed, err_t *err)
{
    js_t *j = JS(s);
    if (existed) *existed = false;
    json_t *v = NULL;
    int64_t exp;
    if (js_state_entry(s, key, &v, &exp, err) < 0) return -1;
    if (existed) *existed = v != NULL;
    json_decref(v);
    char *k = state_key(key);
    natsStatus st = kvStore_Delete(j->state, k);
    free(k);
    if (st != NATS_OK && st != NATS_NOT_FOUND) return js_fail(err, st, "cannot delete the value");
    return 0;
}

/* ---- registration definitions ---- */

#define REGDEF_GEN_KEY "regdefgen"

static char *regdef_key(const char *name)
{
    char *k = js_token_in("regdef.", name, "");
    return k;
}

/* A change: the generation key's new revision is the new generation. */
static int bump_generation(js_t *j, err_t *err)
{
    natsStatus s;
    int64_t deadline = 0;
    /* Sent again, it is one more change: harmless. */
    do s = kvStore_PutString(NULL, j->meta, REGDEF_GEN_KEY, "{}");
    while (js_retry_idem(j, s, &deadline));
    if (s != NATS_OK) return js_fail(err, s, "cannot record the registrations' change");
    return 0;
}

int js_regdef_generation(store_t *s, int64_t *generation, err_t *err)
{
    js_t *j = JS(s);
    *generation = 0;
    json_t *v = NULL;
    uint64_t rev = 0;
    if (js_kv_get_json(j, j->meta, REGDEF_GEN_KEY, &v, &rev, err) < 0) return -1;
    json_decref(v);
    *generation = (int64_t)rev;
    return 0;
}

int js_regdef_put(store_t *s, const char *name, const json_t *def, regdef_mode mode,
                  bool *existed, err_t *err)
{
    js_t *j = JS(s);
    if (existed) *existed = false;
    if (!name || !*name || !json_is_object(def))
        return err_code(err, EVK_INVALID, "a registration needs a name and a definition");
    char *k = regdef_key(name);
    json_t *old = NULL;
    uint64_t rev = 0;
    int rc = js_kv_get_json(j, j->meta, k, &old, &rev, err);
    bool there = old != NULL;
    if (existed) *existed = there;
    bool skip = (mode == REGDEF_CREATE && there) || (mode == REGDEF_UPDATE && !there);
    if (rc == 0 && !skip) {
        int64_t now = now_ms();
        int64_t created = there ? json_integer_value(json_object_get(old, "created")) : now;
        json_t *rec = json_pack("{s:s, s:O, s:I, s:I}", "name", name, "def", def, "created",
                                (json_int_t)created, "updated", (json_int_t)now);
        bool lost = false;
        rc = js_kv_put_json(j, j->meta, k, rec, rev, !there, &lost, err);
        json_decref(rec);
        if (rc == 0 && lost)
            rc = err_code(err, EVK_CONFLICT, "registration %s changed meanwhile; try again", name);
        if (rc == 0 && !there) {
            /* A new name starts with a clean health record. */
            js_reg_forget(j, name);
        }
        if (rc == 0) rc = bump_generation(j, err);
    }
    json_decref(old);
    free(k);
    return rc;
}

int js_regdef_list(store_t *s, json_t **out, int64_t *generation, err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    /* The generation first: a change after it shows up next time. */
    int64_t gen = 0;
    if (js_regdef_generation(s, &gen, err) < 0) return -1;
    if (generation) *generation = gen;
    json_t *recs = NULL;
    if (js_kv_values(j, j->meta, "regdef.*", "cannot read the registrations", &recs, err) < 0)
        return -1;
    json_t *all = json_object();
    size_t i;
    json_t *rec;
    json_array_foreach(recs, i, rec) {
        json_t *def = json_object_get(rec, "def");
        const char *name = json_string_value(json_object_get(rec, "name"));
        if (json_is_object(def) && name) {
            json_t *copy = json_deep_copy(def);
            json_object_set(copy, "created", json_object_get(rec, "created"));
            json_object_set(copy, "updated", json_object_get(rec, "updated"));
            json_object_set_new(all, name, copy);
        }
    }
    json_decref(recs);
    *out = all;
    return 0;
}

int js_regdef_delete(store_t *s, const char *name, bool *existed, int *dropped, err_t *err)
{
    js_t *j = JS(s);
    if (existed) *existed = false;
    if (dropped) *dropped = 0;
    char *k = regdef_key(name);
    json_t *old = NULL;
    int rc = js_kv_get_json(j, j->meta, k, &old, NULL, err);
    if (rc == 0 && old) {
        if (existed) *existed = true;
        natsStatus st = kvStore_Delete(j->meta, k);
        rc = st == NATS_OK ? bump_generation(j, err) : js_fail(err, st, "cannot delete");
        if (rc == 0) rc = js_drop_deliveries(j, name, dropped, err);
    }
    json_decref(old);
    free(k);
    return rc;
}

/* ---- named keys ---- */

int js_key_get(store_t *s, const char *name, unsigned char *out, size_t len, err_t *err)
{
    js_t *j = JS(s);
    if (len == 0 || len > 256) return err_code(err, EVK_INVALID, "a key is 1 to 256 bytes");
    char *k = js_token_in("key.", name, "");
    unsigned char raw[256];
    char hex[513];
    int rc = random_bytes(raw, len) < 0 ? err_code(err, EVK_INTERNAL, "cannot make a random key")
                                        : 0;
    for (size_t i = 0; rc == 0 && i < len; i++) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    /* Two nodes may race for the first key: the first one kept wins. */
    if (rc == 0) {
        natsStatus st = kvStore_CreateString(NULL, j->meta, k, hex);
        if (st != NATS_OK && st != NATS_ERR) rc = js_fail(err, st, "cannot store the key");
    }
    OPENSSL_cleanse(hex, sizeof hex);
    kvEntry *e = NULL;
    if (rc == 0) {
        natsStatus st = kvStore_Get(&e, j->meta, k);
        if (st != NATS_OK) rc = js_fail(err, st, "cannot read the key");
    }
    free(k);
    const char *v = e ? kvEntry_ValueString(e) : NULL;
    if (rc == 0 && (!v || strlen(v) != 2 * len))
        rc = err_code(err, EVK_INTERNAL, "the stored key '%s' is malformed", name);
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned int b;
        if (sscanf(v + 2 * i, "%2x", &b) != 1)
            rc = err_code(err, EVK_INTERNAL, "the stored key '%s' is malformed", name);
        else out[i] = (unsigned char)b;
    }
    kvEntry_Destroy(e);
    return rc;
}

/* ---- scheduled triggers ---- */

/* meta "trigger.<name>" = {since, last, id, pending}, changed by
 * compare-and-set (a lost race read again and retried). */
typedef bool (*trig_change)(json_t *rec, void *ud);

static int trigger_update(js_t *j, const char *name, int64_t now, trig_change change, void *ud,
                          store_trigger_rec *out, err_t *err)
{
    char *k = js_token_in("trigger.", name, "");
    int rc = -1;
    for (int tries = 0; tries < 16 && rc < 0; tries++) {
        json_t *rec = NULL;
        uint64_t rev = 0;
        if (js_kv_get_json(j, j->meta, k, &rec, &rev, err) < 0) break;
        bool create = !rec;
        if (create) rec = json_pack("{s:I, s:I, s:s, s:b}", "since", (json_int_t)now, "last",
                                    (json_int_t)0, "id", "", "pending", 0);
        bool write = create;
        if (change && change(rec, ud)) write = true;
        bool lost = false;
        if (write && js_kv_put_json(j, j->meta, k, rec, create ? 0 : rev, create, &lost, err) < 0) {
            json_decref(rec);
            break;
        }
        if (!lost) {
            rc = 0;
            if (out) {
                out->since_ms = json_integer_value(json_object_get(rec, "since"));
                out->last_ms = json_integer_value(json_object_get(rec, "last"));
                snprintf(out->last_id, sizeof out->last_id, "%s",
                         json_string_value(json_object_get(rec, "id")) ?: "");
                out->pending = json_is_true(json_object_get(rec, "pending"));
            }
        }
        json_decref(rec);
    }
    free(k);
    if (rc < 0 && err && !err->msg[0])
        err_code(err, EVK_UNAVAILABLE, "trigger %s: its record keeps changing", name);
    return rc;
}

int js_trigger_get(store_t *s, const char *name, int64_t now, store_trigger_rec *out,
                   err_t *err)
{
    memset(out, 0, sizeof *out);
    if (err) err->msg[0] = '\0';
    return trigger_update(JS(s), name, now, NULL, NULL, out, err);
}

typedef struct {
    int64_t slot;
    const char *id;
    bool claimed;
} claim_arg;

static bool claim_slot(json_t *rec, void *ud)
{
    claim_arg *a = ud;
    a->claimed = json_integer_value(json_object_get(rec, "last")) < a->slot;
    if (!a->claimed) return false;
    json_object_set_new(rec, "last", json_integer(a->slot));
    json_object_set_new(rec, "id", json_string(a->id));
    json_object_set_new(rec, "pending", json_true());
    return true;
}

/* The record's compare-and-set alone would let two nodes claim one slot
 * (JetStream 2.9's clustered compare-and-set); the slot goes to the first
 * node to claim "trigger.<name>.<slot>" (js_first_to), which then records
 * it unless a later slot was claimed meanwhile. */
int js_trigger_claim(store_t *s, const char *name, int64_t slot_ms, const char *activation_id,
                     bool *claimed, err_t *err)
{
    js_t *j = JS(s);
    *claimed = false;
    if (err) err->msg[0] = '\0';
    store_trigger_rec rec;
    if (trigger_update(j, name, now_ms(), NULL, NULL, &rec, err) < 0) return -1;
    if (rec.last_ms >= slot_ms) return 0;
    char *msg_id = js_token_in("trigger.", name, "");
    char *slot_id = xasprintf("%s.%lld", msg_id, (long long)slot_ms);
    int first = js_first_to(j, "evkit.run.t", slot_id, err);
    free(slot_id);
    free(msg_id);
    if (first <= 0) return first;
    claim_arg a = {.slot = slot_ms, .id = activation_id};
    int rc = trigger_update(j, name, now_ms(), claim_slot, &a, NULL, err);
    *claimed = rc == 0 && a.claimed;
    return rc;
}

static bool fire_done(json_t *rec, void *ud)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (!id || strcmp(id, ud) != 0 || !json_is_true(json_object_get(rec, "pending"))) return false;
    json_object_set_new(rec, "pending", json_false());
    return true;
}

int js_trigger_done(store_t *s, const char *name, const char *activation_id, err_t *err)
{
    if (err) err->msg[0] = '\0';
    return trigger_update(JS(s), name, now_ms(), fire_done, (void *)activation_id, NULL, err);
}
