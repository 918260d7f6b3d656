/* actkey: see actkey.h. */
#include "http/actkey.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "runtime/runtime.h"

bool http_activation_key(const json_t *headers, char cause[33])
{
    const char *auth = json_string_value(json_object_get(headers, "authorization"));
    if (!auth) return false;
    /* Bearer too: actions written for the daemon's token sent it so. */
    if (strncasecmp(auth, "Bearer ", 7) == 0)
        return runtime_key_verify(auth + 7, strlen(auth + 7), cause);
    if (strncasecmp(auth, "Basic ", 6) != 0) return false;
    size_t n = strlen(auth + 6), len = 0;
    if (n == 0 || n > 512) return false;
    unsigned char *dec = base64_decode(auth + 6, n, &len, NULL);
    if (!dec) return false;
    bool ok = runtime_key_verify((const char *)dec, len, cause);
    OPENSSL_cleanse(dec, len);
    free(dec);
    return ok;
}
