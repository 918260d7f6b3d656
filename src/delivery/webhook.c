/* webhook: signing (Standard Webhooks), batch sizing, the challenge and
 * one POST with libcurl. */
#include "delivery/webhook.h"

#include "core/base64.h"
#include "core/json_io.h"
#include "core/log.h"
#include "core/netpolicy.h"
#include "manifest/manifest.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- signatures ---- */

/* The HMAC key of one "whsec_<base64>" secret into *key (caller cleanses
 * and frees); -1 with err when the secret is not of that form. */
static int secret_key(const char *sec, unsigned char **key, size_t *klen, err_t *err)
{
    if (strncmp(sec, "whsec_", 6) != 0)
        return err_code(err, EVK_INVALID, "a webhook secret must start with whsec_");
    /* webhook_secret_valid is the strict form (padded, standard alphabet)
     * every secret was checked against when it was configured. */
    if (!webhook_secret_valid(sec) || !(*key = base64_decode(sec + 6, strlen(sec + 6), klen, NULL)))
        return err_code(err, EVK_INVALID, "a webhook secret is not valid base64 after whsec_");
    return 0;
}

/* Appends " v1,<base64 HMAC-SHA256 of msg keyed by sec>" (no space first). */
static int sign_one(const char *sec, const buf_t *msg, buf_t *out, err_t *err)
{
    unsigned char *key = NULL;
    size_t klen = 0;
    if (secret_key(sec, &key, &klen, err) < 0) return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char *ok = HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg->data,
                             msg->len, md, &mdlen);
    OPENSSL_cleanse(key, klen);
    free(key);
    if (!ok) return err_set(err, "HMAC failed");
    char *b = base64_encode(md, mdlen, NULL);
    buf_printf(out, "%sv1,%s", out->len ? " " : "", b);
    free(b);
    return 0;
}

char *webhook_signature(char *const *secrets, size_t nsecrets, const char *msg_id,
                        int64_t timestamp, const char *body, size_t len, err_t *err)
{
    if (!nsecrets) {
        err_code(err, EVK_INVALID, "the webhook registration has no signing secret");
        return NULL;
    }
    /* The signed content is "id.timestamp.body", the same for every secret. */
    buf_t msg, out;
    buf_init(&msg, 0);
    buf_init(&out, 0);
    buf_printf(&msg, "%s.%lld.", msg_id, (long long)timestamp);
    buf_append(&msg, body, len);
    int rc = 0;
    for (size_t i = 0; i < nsecrets && rc == 0; i++) rc = sign_one(secrets[i], &msg, &out, err);
    buf_free(&msg);
    if (rc < 0) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out);
}

/* ---- batches ---- */

size_t webhook_batch_take(const size_t *sizes, size_t n, size_t max_events, size_t max_bytes)
{
    if (!n) return 0;
    size_t total = 2 + sizes[0]; /* "[" first "]" */
    size_t k = 1;
    while (k < n && k < max_events) {
        size_t next = total + 1 + sizes[k]; /* "," */
        if (next > max_bytes) break;
        total = next;
        k++;
    }
    return k;
}

/* ---- challenge ---- */

bool webhook_challenge_ok(const char *body, size_t len, const char *challenge)
{
    if (!body) return false;
    while (len && isspace((unsigned char)*body)) {
        body++;
        len--;
    }
    while (len && isspace((unsigned char)body[len - 1])) len--;
    size_t clen = strlen(challenge);
    if (len == clen && memcmp(body, challenge, clen) == 0) return true;
    if (len && body[0] == '{') {
        json_t *j = json_load_kept(body, len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "challenge"));
        bool ok = v && !strcmp(v, challenge);
        json_decref(j);
        return ok;
    }
    return false;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct xfer {
    buf_t body, head;
    bool cut;
} xfer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    /* Keep the start of a big answer and read the rest away. */
    size_t room = WEBHOOK_MAX_RESPONSE > x->body.len ? WEBHOOK_MAX_RESPONSE - x->body.len : 0;
    if (room) buf_append(&x->body, ptr, n < room ? n : room);
    if (n > room) x->cut = true;
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && !memcmp(ptr, "HTTP/", 5)) x->head.len = 0;
    if (x->head.len + n <= 64 * 1024) buf_append(&x->head, ptr, n);
    return n;
}

static json_t *parse_headers(const buf_t *h)
{
    json_t *o = json_object();
    const char *p = h->data, *end = p ? p + h->len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            char *name = xstrndup(p, (size_t)(colon - p));
            for (char *c = name; *c; c++) *c = (char)tolower((unsigned char)*c);
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            json_t *val = json_stringn_nocheck(v, (size_t)(ve - v));
            if (val) json_object_set_new(o, name, val);
            free(name);
        }
        p = eol ? eol + 1 : end;
    }
    return o;
}

void webhook_response_free(webhook_response *r)
{
    free(r->body);
    json_decref(r->headers);
    memset(r, 0, sizeof *r);
}

/* One request; method GET when body is NULL. */
/* What a transport failure is, by the hosted service's no-answer codes. */
static const struct {
    CURLcode rc;
    int status;
    const char *what;
} NO_ANSWER[] = {
    {CURLE_COULDNT_CONNECT, DELIVERY_STATUS_CONNECT, "connection failed"},
    {CURLE_COULDNT_RESOLVE_HOST, DELIVERY_STATUS_CONNECT, "connection failed"},
    {CURLE_COULDNT_RESOLVE_PROXY, DELIVERY_STATUS_CONNECT, "connection failed"},
    {CURLE_SEND_ERROR, DELIVERY_STATUS_CONNECT, "connection failed"},
    {CURLE_RECV_ERROR, DELIVERY_STATUS_CONNECT, "connection failed"},
    {CURLE_GOT_NOTHING, DELIVERY_STATUS_CONNECT, "connection failed"},
    {CURLE_SSL_CONNECT_ERROR, DELIVERY_STATUS_TLS, "TLS failure"},
    {CURLE_PEER_FAILED_VERIFICATION, DELIVERY_STATUS_TLS, "TLS failure"},
    {CURLE_SSL_CERTPROBLEM, DELIVERY_STATUS_TLS, "TLS failure"},
    {CURLE_SSL_CIPHER, DELIVERY_STATUS_TLS, "TLS failure"},
    {CURLE_SSL_CACERT_BADFILE, DELIVERY_STATUS_TLS, "TLS failure"},
};

static const char *no_answer(CURLcode rc, int *status)
{
    for (size_t i = 0; i < sizeof NO_ANSWER / sizeof NO_ANSWER[0]; i++) {
        if (NO_ANSWER[i].rc == rc) {
            *status = NO_ANSWER[i].status;
            return NO_ANSWER[i].what;
        }
    }
    *status = DELIVERY_STATUS_UNEXPECTED;
    return "request failed";
}

static void request(const char *url, const json_t *headers, const char *body, size_t len,
                    int timeout_ms, const json_t *allow, webhook_response *out)
{
    memset(out, 0, sizeof *out);
    pthread_once(&curl_once, curl_init_once);
    int64_t t0 = mono_ms();
    xfer x;
    buf_init(&x.body, 0);
    buf_init(&x.head, 0);
    x.cut = false;
    struct curl_slist *hl = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v) {
        char *line = xasprintf("%s: %s", k, json_string_value(v) ? json_string_value(v) : "");
        hl = curl_slist_append(hl, line);
        free(line);
    }
    /* No "Expect: 100-continue" round trip for big bodies. */
    hl = curl_slist_append(hl, "Expect:");
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;
    net_policy policy = {.refuse = NET_INTERNAL, .allow = allow, .setting = "EVKIT_WEBHOOK_ALLOW"};
    if (c) {
        net_policy_apply(c, &policy);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "evkit/" EVKIT_VERSION);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        rc = curl_easy_perform(c);
    }
    if (rc == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        out->status = (int)code;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        out->status = DELIVERY_STATUS_TIMEOUT;
        snprintf(out->error, sizeof out->error, "no answer within %d ms", timeout_ms);
    } else if (policy.why[0]) {
        out->status = DELIVERY_STATUS_CONNECT;
        out->refused = true;
        snprintf(out->error, sizeof out->error, "address not allowed: %s", policy.why);
    } else {
        const char *what = no_answer(rc, &out->status);
        snprintf(out->error, sizeof out->error, "%s: %s", what,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (c) curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    out->headers = parse_headers(&x.head);
    buf_free(&x.head);
    out->body_len = x.body.len;
    out->body = x.body.data ? buf_steal(&x.body) : xstrdup("");
    out->duration_ms = mono_ms() - t0;
}

void webhook_post(const char *url, const json_t *headers, const char *body, size_t len,
                  int timeout_ms, const json_t *allow, webhook_response *out)
{
    request(url, headers, body ? body : "", body ? len : 0, timeout_ms, allow, out);
}

/* The URL without its query and user info, for the log (they may hold secrets). */
static char *url_for_log(const char *url)
{
    char *u = xstrndup(url, strcspn(url, "?#"));
    char *scheme = strstr(u, "://");
    char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (at && (!slash || at < slash)) memmove(scheme + 3, at + 1, strlen(at + 1) + 1);
    return u;
}

int webhook_challenge(const char *url, int timeout_ms, const json_t *allow, err_t *err)
{
    char challenge[37];
    uuid_v4(challenge);
    char *u = xasprintf("%s%cchallenge=%s", url, strchr(url, '?') ? '&' : '?', challenge);
    json_t *h = json_pack("{s:s}", "accept", "text/plain, application/json");
    webhook_response r;
    request(u, h, NULL, 0, timeout_ms, allow, &r);
    json_decref(h);
    free(u);
    char detail[300] = "";
    if (r.error[0])
        snprintf(detail, sizeof detail, "%s", r.error);
    else if (delivery_classify_status(r.status) != VERDICT_SUCCESS)
        snprintf(detail, sizeof detail, "it answered HTTP %d", r.status);
    else if (!webhook_challenge_ok(r.body, r.body_len, challenge))
        snprintf(detail, sizeof detail, "the answer does not echo the challenge value");
    int rc = 0;
    if (detail[0]) {
        /* The operator sees why; the caller only what to do, so the answer
         * cannot tell an open port from a closed or filtered one. */
        char *shown = url_for_log(url);
        log_warn("webhook challenge failed", json_pack("{s:s, s:s}", "url", shown, "reason", detail));
        free(shown);
        if (r.refused)
            rc = err_code(err, EVK_INVALID,
                          "the webhook %s is refused: its host resolves to a loopback, private, "
                          "link-local, multicast or cloud-metadata address, which webhooks may "
                          "reach only when EVKIT_WEBHOOK_ALLOW names it", url);
        else
            rc = err_code(err, EVK_INVALID,
                          "the webhook %s did not pass the challenge: it must answer GET "
                          "<url>?challenge=<value> within %d s with a 2xx status echoing the value "
                          "(as text/plain or as {\"challenge\": \"...\"}); evkit's log says why it "
                          "did not", url, timeout_ms / 1000);
    }
    webhook_response_free(&r);
    return rc;
}
