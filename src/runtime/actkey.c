/* actkey: the API key each activation gets as __OW_API_KEY, so that what it
 * invokes through the namespaces API (the `openwhisk` npm client sends the
 * key as Basic auth, with no evkit header) is recorded as caused by it.
 *
 * A key is "<activation id>:<deadline ms>.<hex HMAC-SHA256(secret, id:deadline)>"
 * with a secret drawn once per daemon: nothing is stored, a key cannot be
 * forged or moved to another activation, and it stops working a margin
 * after its activation's deadline, or when the daemon restarts. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "runtime/runtime.h"

static unsigned char secret[32];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void secret_init(void)
{
    if (random_bytes(secret, sizeof secret) < 0) abort();
}

/* hex HMAC of "id:deadline" (65 bytes with the NUL). */
static void key_mac(const char *id, size_t id_len, const char *deadline, size_t dl_len,
                    char hex[65])
{
    pthread_once(&secret_once, secret_init);
    char msg[80];
    int n = snprintf(msg, sizeof msg, "%.*s:%.*s", (int)id_len, id, (int)dl_len, deadline);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC(EVP_sha256(), secret, (int)sizeof secret, (const unsigned char *)msg, (size_t)n, md,
         &md_len);
    hex_encode(md, 32, hex);
}

static bool all_in(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i])) return false;
    return true;
}

void runtime_activation_key(const char *id, int64_t deadline_ms, char out[RUNTIME_KEY_SIZE])
{
    char dl[24], mac[65];
    int n = snprintf(dl, sizeof dl, "%lld", (long long)deadline_ms);
    key_mac(id, strlen(id), dl, (size_t)n, mac);
    snprintf(out, RUNTIME_KEY_SIZE, "%s:%s.%s", id, dl, mac);
}

bool runtime_key_verify(const char *key, size_t n, char cause[33])
{
    /* 32 hex, ':', 1..19 digits, '.', 64 hex */
    if (n < 32 + 1 + 1 + 1 + 64 || n > 32 + 1 + 19 + 1 + 64) return false;
    const char *id = key, *dl = key + 33, *mac = key + n - 64;
    size_t dl_len = (size_t)(mac - 1 - dl);
    if (key[32] != ':' || mac[-1] != '.' || !all_in(id, 32, "0123456789abcdef") ||
        !all_in(dl, dl_len, "0123456789") || !all_in(mac, 64, "0123456789abcdef"))
        return false;
    char want[65];
    key_mac(id, 32, dl, dl_len, want);
    bool ok = CRYPTO_memcmp(want, mac, 64) == 0;
    OPENSSL_cleanse(want, sizeof want);
    if (!ok) return false;
    char dls[24];
    memcpy(dls, dl, dl_len);
    dls[dl_len] = '\0';
    if (now_ms() > strtoll(dls, NULL, 10) + RUNTIME_KEY_MARGIN_MS) return false;
    if (cause) {
        memcpy(cause, id, 32);
        cause[32] = '\0';
    }
    return true;
}
