/* sigkeys: the RSA key pairs that sign webhook deliveries as Adobe I/O
 * Events does (x-adobe-digital-signature-1 and -2: base64 RSA-SHA256 of the
 * body, one per key; x-adobe-public-key1-path and -2-path: where each
 * public key is served, "/prod/keys/pub-key-<uuid>.pem").
 *
 * Two keys are current, so that receivers can move to a new one: rotation
 * retires key 1, key 2 becomes key 1 and a new key 2 is made. The keys live
 * in <data>/signing-keys/ (private keys mode 0600, never logged); retired
 * public keys stay served, so a delivery signed just before a rotation
 * still verifies. A rotation by another process (the CLI beside a running
 * daemon) is picked up by the next signature. */
#ifndef EVKIT_DELIVERY_SIGKEYS_H
#define EVKIT_DELIVERY_SIGKEYS_H

#include <jansson.h>
#include <stddef.h>

#include "core/util.h"

#define SIGKEYS_PATH_PREFIX "/prod/keys/"

typedef struct sigkeys sigkeys_t;

/* Opens the keys of data_dir, making both on first use. */
int sigkeys_open(const char *data_dir, sigkeys_t **out, err_t *err);
void sigkeys_free(sigkeys_t *k);

typedef struct sigkeys_signature {
    char *sig[2];    /* base64 RSA-SHA256 (PKCS#1 v1.5) of the body, by key 1 and key 2 */
    char *path[2];   /* "/prod/keys/pub-key-<uuid>.pem" of each */
} sigkeys_signature;
/* Signs body with both current keys. */
int sigkeys_sign(sigkeys_t *k, const void *body, size_t len, sigkeys_signature *out, err_t *err);
void sigkeys_signature_free(sigkeys_signature *s);

/* The PEM of the public key named file ("pub-key-<uuid>.pem"), current or
 * retired; NULL (EVK_NOT_FOUND) when there is none. Caller frees. */
char *sigkeys_public_pem(sigkeys_t *k, const char *file, err_t *err);

/* Rotation in data_dir (keys made when absent): key 1 retired, key 2
 * becomes key 1, a new key 2. */
int sigkeys_rotate(const char *data_dir, err_t *err);
/* The current keys: [{slot: 1|2, id, path, created (ISO)}] and the retired
 * public keys still served: {"current": [...], "retired": [ids]}. */
json_t *sigkeys_list(sigkeys_t *k, err_t *err);

#endif
