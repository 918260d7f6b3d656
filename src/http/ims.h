/* ims: the part of Adobe IMS that the App Builder libraries call for a
 * server-to-server app: client-credentials tokens (POST /ims/token/v2 and
 * /ims/token/v3, the form as @adobe/aio-lib-ims sends it), for the one
 * client named by OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET.
 *
 * A token is a JWT as IMS issues them (aio-lib-ims decodes it and computes
 * its expiry from created_at + expires_in, strings of milliseconds), signed
 * HS256 with a key kept in the store: tokens survive a restart, and every
 * process sharing the journal verifies them alike. routes.c accepts a valid
 * token wherever an EVKIT_API_TOKENS token is accepted. */
#ifndef EVKIT_HTTP_IMS_H
#define EVKIT_HTTP_IMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/api.h"

#define IMS_KEY_LEN 32
#define IMS_TOKEN_TTL_MS (24 * 3600 * 1000LL)  /* as IMS: a day */

typedef struct ims ims_t;

/* The IMS state of e's settings; with a client configured, its signing
 * key is read from the store (made there on first use). Never NULL. */
ims_t *ims_new(engine_t *e);
void ims_free(ims_t *m);
/* True when OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET are both set. */
bool ims_enabled(const ims_t *m);

/* The payload of an access token m issued that is valid at now_ms
 * (signature, type, client, expiry), or NULL. Caller decrefs. */
json_t *ims_token_check(const ims_t *m, const char *token, int64_t now_ms);
/* "Authorization: Bearer <token>" with a valid token of m. */
bool ims_bearer_ok(const ims_t *m, const json_t *headers);

/* POST /ims/token/v2 and /ims/token/v3. */
void api_ims_token(http_ctx *h, const api_request *req, web_response *out);

/* ---- the pieces, pure (unit-tested) ---- */

/* A compact HS256 JWT of payload. Caller frees. */
char *ims_jwt_sign(const unsigned char *key, size_t keylen, const json_t *payload);
/* The payload of token when it is a well-formed HS256 JWT signed with key,
 * else NULL with err (EVK_UNAUTHORIZED). Expiry is not checked here. */
json_t *ims_jwt_verify(const unsigned char *key, size_t keylen, const char *token, err_t *err);
/* True when payload (an IMS access token's) is valid at now_ms:
 * type access_token, created_at + expires_in (strings of ms) after it. */
bool ims_payload_live(const json_t *payload, int64_t now_ms);
/* The fields of a form body: application/x-www-form-urlencoded or
 * multipart/form-data (its boundary from content_type) as an object of
 * strings (the last of a repeated name wins). NULL with err (EVK_INVALID)
 * when malformed or of another type. */
json_t *ims_form_parse(const char *content_type, const char *body, size_t len, err_t *err);

#endif
