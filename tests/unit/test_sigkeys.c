/* sigkeys: key pairs made on first use, signatures that verify with the
 * served public keys, rotation seen by a signer that is already open,
 * and public key names that cannot reach other files. */
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "core/base64.h"
#include "delivery/sigkeys.h"

static bool verifies(sigkeys_t *k, const char *path, const char *sig_b64, const char *body)
{
    err_t err;
    const char *file = strrchr(path, '/') + 1;
    char *pem = sigkeys_public_pem(k, file, &err);
    assert_non_null(pem);
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    assert_non_null(pub);
    size_t siglen = 0;
    unsigned char *sig = base64_decode(sig_b64, strlen(sig_b64), &siglen, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)body, strlen(body)) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    BIO_free(b);
    free(sig);
    free(pem);
    return ok;
}

static void test_sign_verify_rotate(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    err_t err;
    sigkeys_t *k = NULL;
    assert_int_equal(sigkeys_open(dir, &k, &err), 0);
    const char *body = "{\"id\":\"1\",\"recipient_client_id\":\"r\"}";
    sigkeys_signature s;
    assert_int_equal(sigkeys_sign(k, body, strlen(body), &s, &err), 0);
    assert_true(strncmp(s.path[0], "/prod/keys/pub-key-", 19) == 0);
    assert_string_not_equal(s.path[0], s.path[1]);
    assert_true(verifies(k, s.path[0], s.sig[0], body));
    assert_true(verifies(k, s.path[1], s.sig[1], body));
    assert_false(verifies(k, s.path[0], s.sig[0], "{\"id\":\"2\"}"));
    assert_false(verifies(k, s.path[0], s.sig[1], body));   /* key 1 did not make signature 2 */
    char *old1 = strdup(s.path[0]), *old2 = strdup(s.path[1]);
    sigkeys_signature_free(&s);

    /* Another handle (the CLI) rotates; the open signer sees it at its next signature. */
    assert_int_equal(sigkeys_rotate(dir, &err), 0);
    assert_int_equal(sigkeys_sign(k, body, strlen(body), &s, &err), 0);
    assert_string_equal(s.path[0], old2);
    assert_string_not_equal(s.path[1], old1);
    assert_string_not_equal(s.path[1], old2);
    assert_true(verifies(k, s.path[0], s.sig[0], body));
    assert_true(verifies(k, s.path[1], s.sig[1], body));
    /* The retired public key is still served; its private key is gone. */
    err_t e2;
    char *retired = sigkeys_public_pem(k, strrchr(old1, '/') + 1, &e2);
    assert_non_null(retired);
    free(retired);
    char priv[512];
    snprintf(priv, sizeof priv, "%s/signing-keys/%.36s.key", dir, strrchr(old1, '/') + 9);
    struct stat st;
    assert_int_not_equal(stat(priv, &st), 0);
    sigkeys_signature_free(&s);

    json_t *list = sigkeys_list(k, &err);
    assert_int_equal(json_array_size(json_object_get(list, "current")), 2);
    assert_int_equal(json_array_size(json_object_get(list, "retired")), 1);
    json_decref(list);
    sigkeys_free(k);

    /* Reopened: the same keys. */
    assert_int_equal(sigkeys_open(dir, &k, &err), 0);
    assert_int_equal(sigkeys_sign(k, body, strlen(body), &s, &err), 0);
    assert_string_equal(s.path[0], old2);
    sigkeys_signature_free(&s);
    sigkeys_free(k);
    free(old1);
    free(old2);
    tu_rmrf(dir);
    free(dir);
}

static void test_public_names(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    err_t err;
    sigkeys_t *k = NULL;
    assert_int_equal(sigkeys_open(dir, &k, &err), 0);
    const char *bad[] = {"keys.json", "../keys.json", "pub-key-.pem", ".lock",
                         "pub-key-00000000-0000-4000-8000-000000000000.key",
                         "pub-key-0000000000000-4000-8000-000000000000.pem",
                         "pub-key-00000000-0000-4000-8000-00000000000G.pem",
                         "pub-key-00000000-0000-4000-8000-000000000000.pem", NULL};
    for (int i = 0; bad[i]; i++) {
        char *pem = sigkeys_public_pem(k, bad[i], &err);
        if (pem) fail_msg("'%s' was served", bad[i]);
        assert_int_equal(err.code, EVK_NOT_FOUND);
    }
    assert_null(sigkeys_public_pem(k, NULL, &err));
    sigkeys_free(k);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify_rotate),
        cmocka_unit_test(test_public_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
