/* base64: the one encoder and decoder (RFC 4648), for webhook signatures,
 * Basic credentials, binary web bodies, CloudEvents data_base64 and Lua. */
#ifndef EVKIT_CORE_BASE64_H
#define EVKIT_CORE_BASE64_H

#include <stddef.h>

/* Standard alphabet with padding. NUL-terminated; *outlen (may be NULL)
 * gets the length. Caller frees. */
char *base64_encode(const void *data, size_t len, size_t *outlen);

/* Accepts the standard and URL-safe alphabets, padded or not, and skips
 * whitespace (PEM-style line breaks); anything else is refused rather than
 * skipped. Returns the bytes (NUL-terminated for convenience) and their
 * length in *outlen, or NULL with a reason in *why (may be NULL). Caller frees. */
unsigned char *base64_decode(const char *s, size_t len, size_t *outlen, const char **why);

#endif
