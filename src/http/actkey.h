/* actkey: activations calling back. Each activation gets its own API key
 * (__OW_API_KEY, runtime_activation_key); a client such as the `openwhisk`
 * npm package sends it as Basic auth. Private to src/http. */
#ifndef EVKIT_HTTP_ACTKEY_H
#define EVKIT_HTTP_ACTKEY_H

#include <jansson.h>
#include <stdbool.h>

/* True when headers carry "Authorization: Basic <an activation's live
 * key>" (or Bearer <key>); cause (33 bytes, may be NULL) gets that
 * activation's id. */
bool http_activation_key(const json_t *headers, char cause[33]);

#endif
