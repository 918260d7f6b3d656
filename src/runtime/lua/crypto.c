/* crypto: evkit.crypto.sha256, hmac_sha256, hex, base64_encode,
 * base64_decode (core/base64), equals (constant time), uuid. Digests are
 * raw bytes; hex and base64 turn them into text. */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

#include "core/base64.h"
#include "runtime/lua/lua_int.h"

static int l_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL))
        return luaL_error(L, "evkit.crypto.sha256: digest failed");
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

static int l_hmac_sha256(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    if (klen > INT_MAX) return luaL_error(L, "evkit.crypto.hmac_sha256: key too long");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, md, &mdlen))
        return luaL_error(L, "evkit.crypto.hmac_sha256: HMAC failed");
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

static int l_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * len);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

static int l_base64_encode(lua_State *L)
{
    size_t len, outlen;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    void **g = lua_host_guard(L, free);
    *g = base64_encode(s, len, &outlen);
    lua_pushlstring(L, *g, outlen);
    lua_host_guard_release(L, 2);
    return 1;
}

/* Standard or URL-safe, padded or not, whitespace ignored; anything else
 * answers nil and the reason. */
static int l_base64_decode(lua_State *L)
{
    size_t len, outlen = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    void **g = lua_host_guard(L, free);
    const char *why = "invalid base64";
    *g = base64_decode(s, len, &outlen, &why);
    if (!*g) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushlstring(L, *g, outlen);
    lua_host_guard_release(L, 2);
    return 1;
}

static int l_equals(lua_State *L)
{
    size_t la, lb;
    const char *x = luaL_checklstring(L, 1, &la);
    const char *y = luaL_checklstring(L, 2, &lb);
    if (la != lb) {
        /* Same work as a comparison of x, so the time says no more than the
         * length, which the caller's format usually makes public anyway. */
        (void)CRYPTO_memcmp(x, x, la);
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, CRYPTO_memcmp(x, y, la) == 0);
    return 1;
}

static int l_uuid(lua_State *L)
{
    char id[37];
    uuid_v4(id);
    lua_pushstring(L, id);
    return 1;
}

void lua_open_crypto(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"sha256", l_sha256}, {"hmac_sha256", l_hmac_sha256}, {"hex", l_hex},
        {"base64_encode", l_base64_encode}, {"base64_decode", l_base64_decode},
        {"equals", l_equals}, {"uuid", l_uuid}, {NULL, NULL}};
    lua_host_add_lib(L, "crypto", fns);
}
