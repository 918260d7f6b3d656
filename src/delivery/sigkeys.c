/* sigkeys: RSA signing keys for webhook deliveries, kept as PEM files in
 * <data>/signing-keys/ with an index (keys.json) that names the two current
 * keys and the retired ones. Changes (first use, rotation) take an flock on
 * the folder and replace the index atomically, so a daemon and the CLI can
 * share it; a signer reloads when the index file changed. */
#include "delivery/sigkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/base64.h"

#define KEY_BITS 2048
#define INDEX_FILE "keys.json"

struct sigkeys {
    char *dir;
    pthread_mutex_t mu;
    struct {
        char id[37];
        EVP_PKEY *key;
    } cur[2];
    struct stat seen;       /* the index file as last loaded */
};

static char *key_dir(const char *data_dir)
{
    return path_join(data_dir, "signing-keys");
}

static char *file_in(const char *dir, const char *fmt, const char *id)
{
    char *name = xasprintf(fmt, id);
    char *p = path_join(dir, name);
    free(name);
    return p;
}

static int openssl_fail(err_t *err, const char *what)
{
    return err_code(err, EVK_INTERNAL, "%s (OpenSSL)", what);
}

/* Writes one PEM file (private: mode 0600) through a temp file. */
static int write_pem(const char *path, EVP_PKEY *key, bool private_key, err_t *err)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private_key ? 0600 : 0644);
    int rc = -1;
    if (fd < 0) {
        err_set(err, "cannot write %s: %s", tmp, strerror(errno));
    } else {
        BIO *b = BIO_new_fd(fd, BIO_CLOSE);
        int ok = private_key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
                             : PEM_write_bio_PUBKEY(b, key);
        if (ok && BIO_flush(b) == 1 && fsync(fd) == 0) rc = 0;
        BIO_free(b);
        if (rc < 0) openssl_fail(err, "cannot write a signing key");
        else if (rename(tmp, path) < 0) rc = err_set(err, "cannot rename %s: %s", tmp, strerror(errno));
    }
    if (rc < 0) unlink(tmp);
    free(tmp);
    return rc;
}

/* A new key pair in dir; its id in id. */
static int make_key(const char *dir, char id[37], err_t *err)
{
    uuid_v4(id);
    EVP_PKEY *key = EVP_RSA_gen(KEY_BITS);
    if (!key) return openssl_fail(err, "cannot make an RSA key");
    char *priv = file_in(dir, "%s.key", id);
    char *pub = file_in(dir, "pub-key-%s.pem", id);
    int rc = write_pem(priv, key, true, err);
    if (rc == 0) rc = write_pem(pub, key, false, err);
    free(priv);
    free(pub);
    EVP_PKEY_free(key);
    return rc;
}

static json_t *read_index(const char *dir, err_t *err)
{
    char *p = path_join(dir, INDEX_FILE);
    json_error_t je;
    json_t *idx = path_is_file(p) ? json_load_file(p, 0, &je) : json_object();
    if (!idx) err_set(err, "cannot read %s: %s", p, je.text);
    free(p);
    return idx;
}

static int write_index(const char *dir, const json_t *idx, err_t *err)
{
    char *p = path_join(dir, INDEX_FILE);
    char *tmp = xasprintf("%s.tmp", p);
    int rc = json_dump_file(idx, tmp, JSON_INDENT(2)) == 0 && rename(tmp, p) == 0
                 ? 0
                 : err_set(err, "cannot write %s: %s", p, strerror(errno));
    free(tmp);
    free(p);
    return rc;
}

static json_t *key_entry(const char *id)
{
    char iso[32];
    time_iso(now_ms(), iso, sizeof iso);
    return json_pack("{s:s, s:s}", "id", id, "created", iso);
}

/* With the folder locked: makes the index with two keys when it has none;
 * with rotate, also retires key 1 and makes a new key 2. */
static int change_locked(const char *dir, bool rotate, err_t *err)
{
    json_t *idx = read_index(dir, err);
    if (!idx) return -1;
    json_t *cur = json_object_get(idx, "current");
    int rc = 0;
    if (json_array_size(cur) != 2) {
        char a[37], b[37];
        rc = make_key(dir, a, err);
        if (rc == 0) rc = make_key(dir, b, err);
        if (rc == 0) {
            json_object_set_new(idx, "current", json_pack("[o, o]", key_entry(a), key_entry(b)));
            if (!json_object_get(idx, "retired")) json_object_set_new(idx, "retired", json_array());
            rc = write_index(dir, idx, err);
        }
    } else if (rotate) {
        char id[37];
        rc = make_key(dir, id, err);
        if (rc == 0) {
            json_t *old = json_incref(json_array_get(cur, 0));
            const char *oid = json_string_value(json_object_get(old, "id"));
            char *priv = file_in(dir, "%s.key", oid ? oid : "");
            unlink(priv);   /* the retired key signs no more; its public half stays */
            free(priv);
            json_t *retired = json_object_get(idx, "retired");
            if (!json_is_array(retired)) {
                retired = json_array();
                json_object_set_new(idx, "retired", retired);
            }
            json_array_append_new(retired, old);
            json_array_remove(cur, 0);
            json_array_append_new(cur, key_entry(id));
            rc = write_index(dir, idx, err);
        }
    }
    json_decref(idx);
    return rc;
}

static int change(const char *data_dir, bool rotate, err_t *err)
{
    char *dir = key_dir(data_dir);
    int rc = mkdir_p(dir, err);
    if (rc == 0 && chmod(dir, 0700) < 0) rc = err_set(err, "chmod %s: %s", dir, strerror(errno));
    char *lock = path_join(dir, ".lock");
    int fd = rc == 0 ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (rc == 0 && (fd < 0 || flock(fd, LOCK_EX) < 0))
        rc = err_set(err, "cannot lock %s: %s", lock, strerror(errno));
    if (rc == 0) rc = change_locked(dir, rotate, err);
    if (fd >= 0) close(fd);
    free(lock);
    free(dir);
    return rc;
}

int sigkeys_rotate(const char *data_dir, err_t *err)
{
    /* First use makes the pair; rotating an absent pair would make two at once. */
    if (change(data_dir, false, err) < 0) return -1;
    return change(data_dir, true, err);
}

static EVP_PKEY *load_private(const char *dir, const char *id, err_t *err)
{
    char *p = file_in(dir, "%s.key", id);
    FILE *f = fopen(p, "re");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    if (!k) err_set(err, "cannot read the signing key %s", p);
    free(p);
    return k;
}

/* Loads the current keys when the index changed since the last load.
 * Called with k->mu held. */
static int reload_locked(sigkeys_t *k, err_t *err)
{
    char *p = path_join(k->dir, INDEX_FILE);
    struct stat st;
    int rc = stat(p, &st) < 0 ? err_set(err, "cannot read %s: %s", p, strerror(errno)) : 0;
    free(p);
    if (rc < 0) return -1;
    if (k->cur[0].key && st.st_ino == k->seen.st_ino && st.st_size == k->seen.st_size &&
        st.st_mtim.tv_sec == k->seen.st_mtim.tv_sec && st.st_mtim.tv_nsec == k->seen.st_mtim.tv_nsec)
        return 0;
    json_t *idx = read_index(k->dir, err);
    json_t *cur = json_object_get(idx, "current");
    if (!idx || json_array_size(cur) != 2) {
        json_decref(idx);
        return idx ? err_set(err, "%s/%s names no two current keys", k->dir, INDEX_FILE) : -1;
    }
    EVP_PKEY *keys[2] = {NULL, NULL};
    for (int i = 0; i < 2 && rc == 0; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(cur, (size_t)i), "id"));
        keys[i] = id ? load_private(k->dir, id, err) : NULL;
        if (!keys[i]) rc = -1;
    }
    if (rc == 0) {
        for (int i = 0; i < 2; i++) {
            EVP_PKEY_free(k->cur[i].key);
            k->cur[i].key = keys[i];
            snprintf(k->cur[i].id, sizeof k->cur[i].id, "%s",
                     json_string_value(json_object_get(json_array_get(cur, (size_t)i), "id")));
        }
        k->seen = st;
    } else {
        EVP_PKEY_free(keys[0]);
        EVP_PKEY_free(keys[1]);
    }
    json_decref(idx);
    return rc;
}

int sigkeys_open(const char *data_dir, sigkeys_t **out, err_t *err)
{
    *out = NULL;
    if (change(data_dir, false, err) < 0) return -1;
    sigkeys_t *k = xcalloc(1, sizeof *k);
    k->dir = key_dir(data_dir);
    pthread_mutex_init(&k->mu, NULL);
    if (reload_locked(k, err) < 0) {
        sigkeys_free(k);
        return -1;
    }
    *out = k;
    return 0;
}

void sigkeys_free(sigkeys_t *k)
{
    if (!k) return;
    for (int i = 0; i < 2; i++) EVP_PKEY_free(k->cur[i].key);
    pthread_mutex_destroy(&k->mu);
    free(k->dir);
    free(k);
}

static char *sign_one(EVP_PKEY *key, const void *body, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *out = NULL;
    if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(ctx, NULL, &siglen, body, len) == 1) {
        sig = xmalloc(siglen);
        if (EVP_DigestSign(ctx, sig, &siglen, body, len) == 1) out = base64_encode(sig, siglen, NULL);
    }
    free(sig);
    EVP_MD_CTX_free(ctx);
    return out;
}

int sigkeys_sign(sigkeys_t *k, const void *body, size_t len, sigkeys_signature *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    EVP_PKEY *keys[2] = {NULL, NULL};
    char ids[2][37];
    pthread_mutex_lock(&k->mu);
    int rc = reload_locked(k, err);
    /* A key in use survives a reload by another thread: each signer holds a reference. */
    for (int i = 0; i < 2 && rc == 0; i++) {
        keys[i] = k->cur[i].key;
        EVP_PKEY_up_ref(keys[i]);
        memcpy(ids[i], k->cur[i].id, sizeof ids[i]);
    }
    pthread_mutex_unlock(&k->mu);
    for (int i = 0; i < 2 && rc == 0; i++) {
        out->sig[i] = sign_one(keys[i], body, len);
        out->path[i] = xasprintf(SIGKEYS_PATH_PREFIX "pub-key-%s.pem", ids[i]);
        if (!out->sig[i]) rc = openssl_fail(err, "cannot sign a delivery");
    }
    for (int i = 0; i < 2; i++) EVP_PKEY_free(keys[i]);
    if (rc < 0) sigkeys_signature_free(out);
    return rc;
}

void sigkeys_signature_free(sigkeys_signature *s)
{
    for (int i = 0; i < 2; i++) {
        free(s->sig[i]);
        free(s->path[i]);
        s->sig[i] = s->path[i] = NULL;
    }
}

/* "pub-key-<uuid>.pem" and nothing else: the name becomes a file path. */
static bool public_name_ok(const char *file)
{
    size_t n = strlen(file);
    if (n != 8 + 36 + 4 || strncmp(file, "pub-key-", 8) || strcmp(file + 44, ".pem")) return false;
    for (size_t i = 8; i < 44; i++) {
        char c = file[i];
        bool dash = i == 16 || i == 21 || i == 26 || i == 31;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

char *sigkeys_public_pem(sigkeys_t *k, const char *file, err_t *err)
{
    if (!file || !public_name_ok(file)) {
        err_code(err, EVK_NOT_FOUND, "no public key '%s'", file ? file : "");
        return NULL;
    }
    char *p = path_join(k->dir, file);
    char *pem = path_is_file(p) ? file_read(p, NULL, err) : NULL;
    if (!pem) err_code(err, EVK_NOT_FOUND, "no public key '%s'", file);
    free(p);
    return pem;
}

json_t *sigkeys_list(sigkeys_t *k, err_t *err)
{
    json_t *idx = read_index(k->dir, err);
    if (!idx) return NULL;
    json_t *cur = json_array(), *ret = json_array(), *e;
    size_t i;
    json_array_foreach(json_object_get(idx, "current"), i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        json_array_append_new(cur, json_pack("{s:I, s:s?, s:s?, s:o}", "slot", (json_int_t)i + 1,
                                             "id", id, "created",
                                             json_string_value(json_object_get(e, "created")),
                                             "path", json_sprintf(SIGKEYS_PATH_PREFIX "pub-key-%s.pem", id ? id : "")));
    }
    json_array_foreach(json_object_get(idx, "retired"), i, e)
        json_array_append(ret, json_object_get(e, "id"));
    json_decref(idx);
    return json_pack("{s:o, s:o}", "current", cur, "retired", ret);
}
