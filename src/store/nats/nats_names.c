/* nats_names: names as JetStream takes them (subject tokens, KV keys) and
 * KV values as JSON with compare-and-set. */
#include "store/nats/nats_int.h"

#include "core/json_io.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_STEP_MS 100

char *js_token(const char *s)
{
    if (!*s) return xstrdup("=");
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1), *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
        if (plain) {
            *w++ = (char)*p;
        } else {
            snprintf(w, 4, "=%02X", *p);
            w += 3;
        }
    }
    *w = '\0';
    return out;
}

char *js_token_in(const char *prefix, const char *s, const char *suffix)
{
    char *tok = js_token(s);
    char *out = xasprintf("%s%s%s", prefix, tok, suffix);
    free(tok);
    return out;
}

void js_hash2(const char *a, const char *b, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, strlen(a) + 1);
    EVP_DigestUpdate(ctx, b, strlen(b));
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

char *js_delivery_subject(const char *registration, const char *order_key)
{
    char *reg = js_token(registration);
    char *subject;
    if (order_key) {
        char h[65];
        js_hash2(registration, order_key, h);
        h[32] = '\0'; /* 16 bytes: only equality matters */
        subject = xasprintf("evkit.dlv.%s.k%s", reg, h);
    } else {
        subject = xasprintf("evkit.dlv.%s.u", reg);
    }
    free(reg);
    return subject;
}

/* A leader election after a server died takes a few seconds (up to the
 * raft election timeout and the time to catch up): requests are sent again
 * with a growing pause, for at least this long. */
#define RETRY_BOUND_MS 20000
#define RETRY_MAX_STEP_MS 1000

static bool retry_after(js_t *j, int64_t *deadline)
{
    int64_t now = now_ms();
    int64_t bound = j->timeout_ms > RETRY_BOUND_MS ? j->timeout_ms : RETRY_BOUND_MS;
    if (*deadline == 0) *deadline = now + bound;
    if (now >= *deadline) return false;
    /* The pause doubles from RETRY_STEP_MS with the time already waited. */
    int64_t waited = now - (*deadline - bound);
    int64_t step = waited < RETRY_STEP_MS ? RETRY_STEP_MS : waited;
    if (step > RETRY_MAX_STEP_MS) step = RETRY_MAX_STEP_MS;
    if (now + step > *deadline) step = *deadline - now;
    struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return true;
}

bool js_retry_wait(js_t *j, natsStatus s, int64_t *deadline)
{
    return s == NATS_NO_RESPONDERS && retry_after(j, deadline);
}

bool js_retry_idem(js_t *j, natsStatus s, int64_t *deadline)
{
    /* A timeout is sent again once: it costs the whole timeout each time,
     * and a JetStream that stopped (a full disk) answers nothing at all. */
    if (s == NATS_TIMEOUT) return *deadline == 0 && retry_after(j, deadline);
    return s == NATS_NO_RESPONDERS && retry_after(j, deadline);
}

natsStatus js_subject_counts(js_t *j, const char *stream, const char *filter, jsStreamInfo **si)
{
    *si = NULL;
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Info.SubjectsFilter = filter;
    jsErrCode jerr = 0;
    natsStatus s;
    int64_t deadline = 0;
    do s = js_GetStreamInfo(si, j->js, stream, &o, &jerr);
    while (js_retry_wait(j, s, &deadline));
    return s;
}

int js_kv_get_json(js_t *j, kvStore *kv, const char *key, json_t **out, uint64_t *rev,
                   err_t *err)
{
    *out = NULL;
    if (rev) *rev = 0;
    kvEntry *e = NULL;
    natsStatus s;
    int64_t deadline = 0;
    do s = kvStore_Get(&e, kv, key);
    while (js_retry_idem(j, s, &deadline));
    if (s == NATS_NOT_FOUND) return 0;
    if (s != NATS_OK) return js_fail(err, s, kvStore_Bucket(kv));
    if (kvEntry_Operation(e) == kvOp_Put) {
        json_error_t je;
        *out = json_load_kept(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), JSON_DECODE_ANY, &je);
        if (!*out) {
            kvEntry_Destroy(e);
            return err_code(err, EVK_INTERNAL, "%s: the value of a key is not JSON",
                            kvStore_Bucket(kv));
        }
    }
    if (rev) *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return 0;
}

int js_kv_put_json(js_t *j, kvStore *kv, const char *key, const json_t *v, uint64_t rev,
                   bool create, bool *lost, err_t *err)
{
    if (lost) *lost = false;
    char *text = json_text(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return err_code(err, EVK_INTERNAL, "cannot encode a value");
    int len = (int)strlen(text);
    uint64_t newrev = 0;
    natsStatus s;
    jsErrCode jerr = 0;
    int64_t deadline = 0;
    do {
        if (rev > 0) s = kvStore_Update(&newrev, kv, key, text, len, rev);
        else if (create) s = kvStore_Create(&newrev, kv, key, text, len);
        else s = kvStore_Put(&newrev, kv, key, text, len);
        /* A plain put may be sent again after a timeout (the same value);
         * a compare-and-set may not: it may have been applied. */
    } while (rev > 0 || create ? js_retry_wait(j, s, &deadline)
                               : js_retry_idem(j, s, &deadline));
    free(text);
    (void)jerr;
    if (s == NATS_OK) return 0;
    /* A compare-and-set another writer won: the caller reads and tries again. */
    if ((rev > 0 || create) && lost && s == NATS_ERR) {
        *lost = true;
        return 0;
    }
    return js_fail(err, s, kvStore_Bucket(kv));
}

/* libnats' watcher waits out its timeout for the end of the initial
 * values when no key matches (on a replicated bucket): ask the bucket's
 * stream first whether any does. */
natsStatus js_kv_watch(js_t *j, kvWatcher **w, kvStore *kv, const char *filter,
                       kvWatchOptions *o)
{
    *w = NULL;
    char *stream = xasprintf("KV_%s", kvStore_Bucket(kv));
    char *subjects = xasprintf("$KV.%s.%s", kvStore_Bucket(kv), filter);
    jsStreamInfo *si = NULL;
    natsStatus s = js_subject_counts(j, stream, subjects, &si);
    bool any = s == NATS_OK && si->State.Subjects && si->State.Subjects->Count > 0;
    jsStreamInfo_Destroy(si);
    free(stream);
    free(subjects);
    if (s != NATS_OK) return s;
    return any ? kvStore_Watch(w, kv, filter, o) : NATS_OK;
}

natsStatus js_kv_next(js_t *j, kvWatcher *w, kvEntry **e)
{
    *e = NULL;
    return w ? kvWatcher_Next(e, w, j->timeout_ms) : NATS_OK;
}

int js_kv_values(js_t *j, kvStore *kv, const char *filter, const char *what, json_t **out,
                 err_t *err)
{
    *out = NULL;
    if (!what) what = kvStore_Bucket(kv);
    kvWatchOptions o;
    kvWatchOptions_Init(&o);
    o.IgnoreDeletes = true;
    kvWatcher *w = NULL;
    natsStatus st = js_kv_watch(j, &w, kv, filter, &o);
    if (st != NATS_OK) return js_fail(err, st, what);
    json_t *arr = json_array();
    for (;;) {
        kvEntry *e = NULL;
        st = js_kv_next(j, w, &e);
        if (st != NATS_OK || !e) break;
        json_error_t je;
        json_t *v =
            json_load_kept(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), JSON_DECODE_ANY, &je);
        if (v) json_array_append_new(arr, v);
        kvEntry_Destroy(e);
    }
    if (w) kvWatcher_Destroy(w);
    if (st != NATS_OK) {
        json_decref(arr);
        return js_fail(err, st, what);
    }
    *out = arr;
    return 0;
}
