/* Signature and credential headers, the pure pieces: IMS access tokens
 * (compact HS256 JWTs: ims_jwt_verify, and sign/verify round trips of any
 * JSON payload), Bearer and activation-key authorization headers, base64
 * (Basic credentials, whsec_ secrets, data_base64), Standard Webhooks
 * signing with a given secret, the challenge answer, and the IMS token
 * request's form bodies (urlencoded and multipart), W3C traceparent
 * headers (a parsed one formats and parses back to itself). Parts: a token or
 * header value, a webhook secret, a content type, a form body. */
#include "fuzz.h"

#include <strings.h>

#include "delivery/webhook.h"
#include "http/actkey.h"
#include "http/ims.h"
#include "core/base64.h"
#include "core/tracectx.h"

static const unsigned char KEY[IMS_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static void token(const char *t, size_t n)
{
    err_t err;
    json_t *payload = ims_jwt_verify(KEY, sizeof KEY, t, &err);
    if (payload) {
        /* Only tokens made with KEY verify; what they carry is still untrusted. */
        (void)ims_payload_live(payload, 0);
        json_decref(payload);
    }
    size_t len = 0;
    unsigned char *dec = base64_decode(t, n, &len, NULL);
    if (dec) {
        /* Decoding what was encoded gives it back. */
        char *enc = base64_encode(dec, len, NULL);
        size_t len2 = 0;
        unsigned char *dec2 = base64_decode(enc, strlen(enc), &len2, NULL);
        if (!dec2 || len2 != len || memcmp(dec, dec2, len)) abort();
        free(dec2);
        free(enc);
        free(dec);
    }
    json_t *tokens = json_pack("[s]", FZ_TOKEN);
    json_t *h = json_object();
    json_t *v = json_stringn(t, n);
    if (v) json_object_set_new(h, "authorization", v);
    if (web_bearer_ok(h, tokens)) {
        /* Only the token itself, after "Bearer" and spaces, opens the API. */
        const char *tail = t + n - strlen(FZ_TOKEN);
        if (n < 7 + strlen(FZ_TOKEN) || strncasecmp(t, "Bearer ", 7) || strcmp(tail, FZ_TOKEN))
            abort();
    }
    char cause[33];
    (void)http_activation_key(h, cause);
    (void)runtime_key_verify(t, n, cause);
    json_decref(h);
    json_decref(tokens);
    (void)webhook_challenge_ok(t, n, "3f1c6c1e-2d7b-4a57-9a7e-0d1c6f1d2b3a");
    tracectx tc, back;
    if (tracectx_parse(t, &tc)) {
        char text[TRACEPARENT_LEN + 1];
        tracectx_format(&tc, text);
        if (!tracectx_parse(text, &back) || strcmp(back.trace_id, tc.trace_id) ||
            strcmp(back.span_id, tc.span_id) || strcmp(back.flags, tc.flags))
            abort();
        tracectx_child(&tc, &back);
        if (strcmp(back.trace_id, tc.trace_id)) abort();
    }
}

static void payload_round_trip(const char *text, size_t n)
{
    json_t *p = json_loadb(text, n, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return;
    }
    char *jwt = ims_jwt_sign(KEY, sizeof KEY, p);
    err_t err;
    json_t *back = jwt ? ims_jwt_verify(KEY, sizeof KEY, jwt, &err) : NULL;
    if (!back || !json_equal(back, p)) abort();
    json_decref(back);
    free(jwt);
    json_decref(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    token(p.p[0], p.len[0]);
    payload_round_trip(p.p[0], p.len[0]);
    const char *secret = p.n > 1 ? p.p[1] : p.p[0];
    bool valid = webhook_secret_valid(secret);
    char *secrets[1] = {(char *)secret};
    err_t err;
    char *sig = webhook_signature(secrets, 1, "msg_1", 1700000000, p.p[0], p.len[0], &err);
    if (valid && !sig) abort();
    free(sig);
    if (p.n > 3) {
        json_t *form = ims_form_parse(p.p[2], p.p[3], p.len[3], &err);
        const char *k;
        json_t *v;
        json_object_foreach(form, k, v) {
            if (!json_is_string(v)) abort();
        }
        json_decref(form);
    }
    fz_parts_free(&p);
    return 0;
}
