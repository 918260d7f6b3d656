/* store_zip: compact rows. Names repeated on many rows are stored once, in
 * strings, and referred to by id (interned by the writer, cached).
 *
 * The large, repetitive columns (activation records, trace
 * requests and responses) kept compressed with zstd against a dictionary.
 *
 * Records of one action (or one registration's traces) differ in a few ids
 * and timestamps only, so a whole earlier record of the same group is an
 * excellent raw-content dictionary: a 2 KB activation record compresses to
 * about 150 bytes against it, where compressing it alone gets about half.
 * The first value of each group becomes its dictionary (a row of zdicts,
 * written in the same transaction); a value that compresses poorly against
 * it later starts a new one. Once ZIP_SAMPLES more values of a group were
 * written, the next one becomes a dictionary with zstd's entropy tables,
 * made from those samples: a value then needs no Huffman and FSE tables of
 * its own, which halves the instructions per value and saves bytes. A stored value is TEXT (as written before this
 * file, or too small to gain) or a BLOB: the dictionary's id (LEB128, 0 for
 * none) then one zstd frame (without its magic number since version 7). Dictionaries are never deleted: they are few
 * (one per group, renewed rarely) and old rows may point at them. */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zdict.h>
#include <openssl/evp.h>

#include "core/log.h"

/* Values shorter than this stay text: the frame header would eat the gain. */
#define ZIP_MIN_LEN 96
#define ZIP_LEVEL 3
/* A dictionary is at most this much of the value it is made of. */
#define ZIP_DICT_MAX (32 * 1024)
/* A value compressing to more than 1/ZIP_POOR of itself starts a new
 * dictionary for its group, at most one per ZIP_RENEW_EVERY values. */
#define ZIP_POOR 3
#define ZIP_RENEW_EVERY 256
/* Frames are stored without zstd's magic number, 4 bytes a value, put
 * back when read. The frame header's first byte is never 0x28 (a reserved
 * bit set), so a frame stored with its magic (before version 7) tells. */
#define ZIP_MAGIC "\x28\xb5\x2f\xfd"
#define ZIP_MAGIC_LEN 4
/* ZSTD_MAGIC_DICTIONARY, little-endian. */
#define ZIP_DICT_MAGIC "\x37\xa4\x30\xec"
/* A stored value never decompresses to more than this. */
#define ZIP_MAX_OUT (256u * 1024 * 1024)

/* Values of a group collected to make its dictionary with entropy tables,
 * each cut to ZIP_SAMPLE_MAX bytes (their start is representative). */
#define ZIP_SAMPLES 8
#define ZIP_SAMPLE_MAX 4096

typedef struct zip_group {
    char *key;
    int64_t dict_id;
    ZSTD_CDict *cdict;
    unsigned since_renew;
    bool entropy;        /* the dictionary has entropy tables (no samples needed) */
    void *pub;           /* a copy of the dictionary until callers know it (zip_publish) */
    size_t pub_len;
    char *samples;       /* ZIP_SAMPLES * ZIP_SAMPLE_MAX bytes while collecting */
    size_t sample_len[ZIP_SAMPLES];
    unsigned nsamples;
    struct zip_group *next;
} zip_group;

typedef struct interned {
    char *s;
    int64_t id;
    struct interned *next;
} interned;

/* Decompression dictionaries by id, most recently used first. */
#define ZIP_DDICTS 32
typedef struct {
    int64_t id;
    ZSTD_DDict *dd;
} zip_ddict;

/* Caches of the compressor (the writer) and the decompressor (any
 * connection). Its writer's entries describe uncommitted rows too: they
 * are forgotten whenever a write is rolled back. */
struct zip_cache {
    ZSTD_CCtx *cctx;
    zip_group *groups;
    size_t ngroups;
    interned *strings;
    size_t nstrings;
    ZSTD_DCtx *dctx;
    zip_ddict dd[ZIP_DDICTS];
};

/* Bounds of the writer's caches: past them the least recently used entry
 * goes (it is read again from the store when needed). */
#define ZIP_MAX_GROUPS 256
#define ZIP_MAX_STRINGS 1024

/* The connection this thread uses now, for the decompression cache. */
static _Thread_local conn_t *zip_current;

void zip_use(conn_t *c) { zip_current = c; }

const char STORE_ZIP_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS zdicts("
    "  id INTEGER PRIMARY KEY, key TEXT NOT NULL, data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS zdicts_key ON zdicts(key, id);"
    /* Names repeated on many rows (actions, namespaces), each stored once. */
    "CREATE TABLE IF NOT EXISTS strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);";

static void group_free(zip_group *g)
{
    free(g->key);
    free(g->samples);
    free(g->pub);
    ZSTD_freeCDict(g->cdict);
    free(g);
}

void zip_cache_reset(conn_t *c)
{
    if (!c->zip) return;
    while (c->zip->strings) {
        interned *next = c->zip->strings->next;
        free(c->zip->strings->s);
        free(c->zip->strings);
        c->zip->strings = next;
    }
    c->zip->nstrings = 0;
    c->zip->ngroups = 0;
    for (int i = 0; i < ZIP_DDICTS; i++) {
        ZSTD_freeDDict(c->zip->dd[i].dd);
        c->zip->dd[i].dd = NULL;
        c->zip->dd[i].id = 0;
    }
    while (c->zip->groups) {
        zip_group *next = c->zip->groups->next;
        group_free(c->zip->groups);
        c->zip->groups = next;
    }
}

void zip_cache_free(conn_t *c)
{
    if (!c->zip) return;
    zip_cache_reset(c);
    ZSTD_freeCCtx(c->zip->cctx);
    ZSTD_freeDCtx(c->zip->dctx);
    if (zip_current == c) zip_current = NULL;
    free(c->zip);
    c->zip = NULL;
}

/* The cached group of key, moved to the front; NULL when not cached. */
static zip_group *group_find(zip_cache *z, const char *key)
{
    zip_group **pp = &z->groups;
    for (zip_group *g = *pp; g; pp = &g->next, g = g->next) {
        if (strcmp(g->key, key) == 0) {
            *pp = g->next;
            g->next = z->groups;
            z->groups = g;
            return g;
        }
    }
    return NULL;
}

static zip_group *group_set(zip_cache *z, const char *key, int64_t id, const void *dict,
                            size_t len)
{
    ZSTD_CDict *cd = ZSTD_createCDict(dict, len, ZIP_LEVEL);
    if (!cd) return NULL;
    zip_group *g = group_find(z, key);
    if (!g) {
        if (z->ngroups >= ZIP_MAX_GROUPS) { /* drop the last */
            zip_group **pp = &z->groups;
            while ((*pp)->next) pp = &(*pp)->next;
            group_free(*pp);
            *pp = NULL;
            z->ngroups--;
        }
        g = xcalloc(1, sizeof *g);
        g->key = xstrdup(key);
        g->next = z->groups;
        z->groups = g;
        z->ngroups++;
    } else {
        ZSTD_freeCDict(g->cdict);
    }
    g->dict_id = id;
    g->cdict = cd;
    g->since_renew = 0;
    /* A dictionary in zstd's format begins with its magic number; a
     * value (JSON, or '#' and JSON) never does. */
    g->entropy = len >= 4 && !memcmp(dict, ZIP_DICT_MAGIC, 4);
    free(g->samples);
    g->samples = NULL;
    g->nsamples = 0;
    free(g->pub);
    g->pub = xmalloc(len ? len : 1);
    memcpy(g->pub, dict, len);
    g->pub_len = len;
    return g;
}

/* Stores a dictionary of group key (inside the caller's transaction) and
 * makes it the group's; NULL when it cannot be stored. */
static zip_group *group_store(conn_t *c, const char *key, const void *dict, size_t len)
{
    err_t err;
    sqlite3_stmt *st = conn_stmt(c, ST_ZDICT_INSERT, "INSERT INTO zdicts(key, data) VALUES(?1, ?2)");
    if (!st) return NULL;
    bind_text(st, 1, key);
    sqlite3_bind_blob(st, 2, dict, (int)len, SQLITE_STATIC);
    if (stmt_exec(c, st, "cannot store a compression dictionary", &err) < 0) {
        log_warn("cannot store a compression dictionary", json_pack("{s:s}", "error", err.msg));
        return NULL;
    }
    return group_set(c->zip, key, sqlite3_last_insert_rowid(c->db), dict, len);
}

/* The group of key, loading its newest dictionary from the store, or
 * making one of text when it has none (or renew). NULL: compress without. */
static zip_group *group_for(conn_t *c, const char *key, const char *text, size_t len, bool renew)
{
    zip_cache *z = c->zip;
    zip_group *g = group_find(z, key);
    if (g && !renew) return g;
    if (!g) {
        sqlite3_stmt *st = conn_stmt(
            c, ST_ZDICT_NEWEST, "SELECT id, data FROM zdicts WHERE key = ?1 ORDER BY id DESC LIMIT 1");
        if (!st) return NULL;
        bind_text(st, 1, key);
        if (sqlite3_step(st) == SQLITE_ROW)
            g = group_set(z, key, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
                          (size_t)sqlite3_column_bytes(st, 1));
        stmt_reset(st);
        if (g) return g;
    }
    return group_store(c, key, text, len < ZIP_DICT_MAX ? len : ZIP_DICT_MAX);
}

/* Keeps the start of text as a sample of g's values, while g's dictionary
 * has no entropy tables. */
static void group_sample(zip_group *g, const char *text, size_t len)
{
    if (g->entropy || g->nsamples >= ZIP_SAMPLES) return;
    if (!g->samples) g->samples = xmalloc(ZIP_SAMPLES * ZIP_SAMPLE_MAX);
    size_t n = len < ZIP_SAMPLE_MAX ? len : ZIP_SAMPLE_MAX;
    memcpy(g->samples + g->nsamples * ZIP_SAMPLE_MAX, text, n);
    g->sample_len[g->nsamples++] = n;
}

/* Once g has its samples: a dictionary of text (the value about to be
 * compressed with it, so it is stored in the same transaction) with
 * entropy tables of the samples. g unchanged when zstd cannot make one. */
static zip_group *group_upgrade(conn_t *c, zip_group *g, const char *text, size_t len)
{
    if (g->entropy || g->nsamples < ZIP_SAMPLES) return g;
    /* The samples, one after the other, as ZDICT wants them. */
    size_t total = 0;
    for (unsigned i = 0; i < g->nsamples; i++) {
        memmove(g->samples + total, g->samples + i * ZIP_SAMPLE_MAX, g->sample_len[i]);
        total += g->sample_len[i];
    }
    size_t clen = len < ZIP_DICT_MAX ? len : ZIP_DICT_MAX;
    size_t cap = clen + 4096; /* the header and tables, a few hundred bytes */
    char *dict = xmalloc(cap);
    ZDICT_params_t zp = {.compressionLevel = ZIP_LEVEL};
    size_t n = ZDICT_finalizeDictionary(dict, cap, text, clen, g->samples, g->sample_len,
                                        g->nsamples, zp);
    zip_group *ng = NULL;
    if (!ZDICT_isError(n)) ng = group_store(c, g->key, dict, n);
    free(dict);
    if (ng) return ng;
    /* zstd refuses some samples (all alike, say): keep the plain one. */
    g->entropy = true;
    free(g->samples);
    g->samples = NULL;
    return g;
}

static size_t put_leb(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) p[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

/* text compressed with cctx against cd (NULL: none) as stored: the
 * dictionary's id, then the frame without its magic number. */
static int zip_frame(ZSTD_CCtx *cctx, const ZSTD_CDict *cd, int64_t dict_id, const char *text,
                     size_t len, zip_buf *out)
{
    size_t cap = 10 + ZSTD_compressBound(len);
    unsigned char *blob = xmalloc(cap);
    size_t hl = put_leb(blob, cd ? (uint64_t)dict_id : 0);
    /* The dictionary's id is in the row: the frame does without zstd's. */
    size_t n = cd && ZSTD_isError(ZSTD_CCtx_refCDict(cctx, cd)) ? (size_t)-1
               : cd ? ZSTD_compress2(cctx, blob + hl, cap - hl, text, len)
                    : ZSTD_compressCCtx(cctx, blob + hl, cap - hl, text, len, ZIP_LEVEL);
    if (ZSTD_isError(n)) {
        free(blob);
        return -1;
    }
    if (n > ZIP_MAGIC_LEN && !memcmp(blob + hl, ZIP_MAGIC, ZIP_MAGIC_LEN)) {
        memmove(blob + hl, blob + hl + ZIP_MAGIC_LEN, n - ZIP_MAGIC_LEN);
        n -= ZIP_MAGIC_LEN;
    }
    free(out->data);
    out->data = blob;
    out->len = hl + n;
    return 0;
}

static int zip_try(conn_t *c, zip_group *g, const char *text, size_t len, zip_buf *out)
{
    return zip_frame(c->zip->cctx, g ? g->cdict : NULL, g ? g->dict_id : 0, text, len, out);
}

/* A compression context at level ZIP_LEVEL writing no dictionary id. */
static ZSTD_CCtx *cctx_new(void)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (cctx &&
        (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ZIP_LEVEL)) ||
         ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0)))) {
        ZSTD_freeCCtx(cctx);
        cctx = NULL;
    }
    return cctx;
}

static zip_cache *cache_of(conn_t *c)
{
    if (!c->zip) {
        c->zip = xcalloc(1, sizeof *c->zip);
        c->zip->cctx = cctx_new();
        c->zip->dctx = ZSTD_createDCtx();
    }
    return c->zip;
}

sql_arg intern_arg(conn_t *c, const char *str, err_t *err, bool *failed)
{
    *failed = false;
    if (!str) return SQL_TEXT(NULL);
    zip_cache *z = cache_of(c);
    interned **pp = &z->strings;
    for (interned *i = *pp; i; pp = &i->next, i = i->next) {
        if (strcmp(i->s, str) == 0) {
            *pp = i->next; /* to the front */
            i->next = z->strings;
            z->strings = i;
            return SQL_INT(i->id);
        }
    }
    int64_t id = 0;
    if (sql_exec(c, ST_STRING_INSERT, "INSERT INTO strings(s) VALUES(?1) ON CONFLICT(s) DO NOTHING",
                 ARGS(SQL_TEXT(str)), "cannot store a name", err) < 0 ||
        sql_int(c, ST_STRING_ID, "SELECT id FROM strings WHERE s = ?1", ARGS(SQL_TEXT(str)), &id,
                "cannot read a name", err) != 1) {
        *failed = true;
        return SQL_TEXT(NULL);
    }
    if (z->nstrings >= ZIP_MAX_STRINGS) { /* drop the last */
        interned **lp = &z->strings;
        while ((*lp)->next) lp = &(*lp)->next;
        free((*lp)->s);
        free(*lp);
        *lp = NULL;
        z->nstrings--;
    }
    z->nstrings++;
    interned *i = xmalloc(sizeof *i);
    i->s = xstrdup(str);
    i->id = id;
    i->next = z->strings;
    z->strings = i;
    return SQL_INT(id);
}

sql_arg zip_arg(conn_t *c, const char *key, const char *text, zip_buf *out)
{
    zip_buf none = {0};
    return zip_arg_pre(c, key, text, &none, out);
}

sql_arg zip_arg_pre(conn_t *c, const char *key, const char *text, zip_buf *pre, zip_buf *out)
{
    out->data = NULL;
    out->len = 0;
    size_t len = text ? strlen(text) : 0;
    if (len < ZIP_MIN_LEN) return SQL_TEXT(text);
    cache_of(c);
    if (!c->zip->cctx) return SQL_TEXT(text);
    zip_group *g = group_for(c, key, text, len, false);
    if (g && !g->entropy && g->nsamples >= ZIP_SAMPLES) g = group_upgrade(c, g, text, len);
    else if (g && pre->data) {
        /* Compressed by the caller against a committed dictionary of the
         * group (zip_pre): taken as it is. */
        *out = *pre;
        pre->data = NULL;
        pre->len = 0;
    }
    if (!out->data && zip_try(c, g, text, len, out) < 0) return SQL_TEXT(text);
    if (g) group_sample(g, text, len);
    if (g && ++g->since_renew >= ZIP_RENEW_EVERY && out->len * ZIP_POOR > len) {
        /* This group's values moved away from its dictionary: renew it. */
        zip_group *ng = group_for(c, key, text, len, true);
        if (ng) zip_try(c, ng, text, len, out);
    }
    if (out->len >= len) {
        free(out->data);
        out->data = NULL;
        out->len = 0;
        return SQL_TEXT(text);
    }
    return SQL_BLOB(out->data, out->len);
}

/* ---- compressing on the caller's thread ---- */

/* The dictionaries committed by the writer, newest per group, for callers
 * to compress against before they hand a value over (zip_pre): a CDict is
 * read-only, and counted while a caller uses it. A few compression
 * contexts are pooled; when all are busy the writer compresses. */
#define ZIP_SHARED_CCTX 16
typedef struct shared_dict {
    ZSTD_CDict *cd;
    int64_t id;
    int refs;
} shared_dict;
typedef struct shared_group {
    char *key;
    shared_dict *d;
    struct shared_group *next;
} shared_group;
struct zip_shared {
    pthread_mutex_t mu;
    shared_group *groups;
    size_t ngroups;
    ZSTD_CCtx *idle[ZIP_SHARED_CCTX];
    int nidle, ncctx;
};

zip_shared *zip_shared_new(void)
{
    zip_shared *z = xcalloc(1, sizeof *z);
    pthread_mutex_init(&z->mu, NULL);
    return z;
}

static void shared_unref(shared_dict *d)
{
    if (d && --d->refs == 0) {
        ZSTD_freeCDict(d->cd);
        free(d);
    }
}

void zip_shared_free(zip_shared *z)
{
    if (!z) return;
    while (z->groups) {
        shared_group *next = z->groups->next;
        shared_unref(z->groups->d);
        free(z->groups->key);
        free(z->groups);
        z->groups = next;
    }
    for (int i = 0; i < z->nidle; i++) ZSTD_freeCCtx(z->idle[i]);
    pthread_mutex_destroy(&z->mu);
    free(z);
}

/* Sets group key's newest dictionary (the writer, after a commit). Called
 * with z->mu held. */
static void shared_set(zip_shared *z, const char *key, shared_dict *d)
{
    shared_group **pp = &z->groups;
    for (shared_group *g = *pp; g; pp = &g->next, g = g->next) {
        if (strcmp(g->key, key)) continue;
        shared_unref(g->d);
        g->d = d;
        *pp = g->next; /* to the front */
        g->next = z->groups;
        z->groups = g;
        return;
    }
    if (z->ngroups >= ZIP_MAX_GROUPS) { /* drop the last */
        shared_group **lp = &z->groups;
        while ((*lp)->next) lp = &(*lp)->next;
        shared_unref((*lp)->d);
        free((*lp)->key);
        free(*lp);
        *lp = NULL;
        z->ngroups--;
    }
    shared_group *g = xcalloc(1, sizeof *g);
    g->key = xstrdup(key);
    g->d = d;
    g->next = z->groups;
    z->groups = g;
    z->ngroups++;
}

void zip_publish(conn_t *c, zip_shared *z)
{
    if (!c->zip || !z) return;
    for (zip_group *g = c->zip->groups; g; g = g->next) {
        if (!g->pub) continue;
        shared_dict *d = xcalloc(1, sizeof *d);
        d->cd = ZSTD_createCDict(g->pub, g->pub_len, ZIP_LEVEL);
        d->id = g->dict_id;
        d->refs = 1;
        free(g->pub);
        g->pub = NULL;
        if (!d->cd) {
            free(d);
            continue;
        }
        pthread_mutex_lock(&z->mu);
        shared_set(z, g->key, d);
        pthread_mutex_unlock(&z->mu);
    }
}

bool zip_pre(zip_shared *z, const char *key, const char *text, zip_buf *out)
{
    out->data = NULL;
    out->len = 0;
    size_t len = text ? strlen(text) : 0;
    if (!z || len < ZIP_MIN_LEN) return false;
    shared_dict *d = NULL;
    ZSTD_CCtx *cctx = NULL;
    pthread_mutex_lock(&z->mu);
    for (shared_group *g = z->groups; g && !d; g = g->next)
        if (!strcmp(g->key, key)) d = g->d;
    if (d && z->nidle > 0) cctx = z->idle[--z->nidle];
    else if (d && z->ncctx < ZIP_SHARED_CCTX && (cctx = cctx_new())) z->ncctx++;
    if (d && cctx) d->refs++;
    pthread_mutex_unlock(&z->mu);
    if (!d || !cctx) return false;
    bool ok = zip_frame(cctx, d->cd, d->id, text, len, out) == 0;
    pthread_mutex_lock(&z->mu);
    z->idle[z->nidle++] = cctx;
    shared_unref(d);
    pthread_mutex_unlock(&z->mu);
    return ok;
}

/* ---- reading ---- */

/* The dictionary id at the start of blob, its length in *hl; -1 if bad. */
static int64_t get_leb(const unsigned char *p, size_t n, size_t *hl)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 9; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *hl = i + 1;
            return (int64_t)v;
        }
    }
    return -1;
}

/* The dictionary dict_id read on db, as a DDict: from c's cache (c may be
 * NULL: then *owned is set and the caller frees it). */
static ZSTD_DDict *ddict_get(conn_t *c, sqlite3 *db, int64_t dict_id, bool *owned)
{
    *owned = false;
    zip_cache *z = c ? cache_of(c) : NULL;
    if (z) {
        for (int i = 0; i < ZIP_DDICTS && z->dd[i].dd; i++) {
            if (z->dd[i].id != dict_id) continue;
            zip_ddict hit = z->dd[i];
            memmove(&z->dd[1], &z->dd[0], (size_t)i * sizeof z->dd[0]);
            z->dd[0] = hit;
            return hit.dd;
        }
    }
    sqlite3_stmt *st = NULL;
    ZSTD_DDict *dd = NULL;
    if (sqlite3_prepare_v2(db, "SELECT data FROM zdicts WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, dict_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            dd = ZSTD_createDDict(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    }
    sqlite3_finalize(st);
    if (!dd) return NULL;
    if (!z) {
        *owned = true;
        return dd;
    }
    ZSTD_freeDDict(z->dd[ZIP_DDICTS - 1].dd);
    memmove(&z->dd[1], &z->dd[0], (ZIP_DDICTS - 1) * sizeof z->dd[0]);
    z->dd[0] = (zip_ddict){dict_id, dd};
    return dd;
}

/* Decompresses one whole zstd frame (n bytes) against dictionary dict_id
 * (0: none), read on db. */
static char *unzip_frame(sqlite3 *db, int64_t dict_id, const unsigned char *frame, size_t n,
                         size_t *len)
{
    unsigned long long size = ZSTD_getFrameContentSize(frame, n);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > ZIP_MAX_OUT)
        return NULL;
    conn_t *c = zip_current && zip_current->db == db ? zip_current : NULL;
    bool owned = false;
    ZSTD_DDict *dd = dict_id > 0 ? ddict_get(c, db, dict_id, &owned) : NULL;
    if (dict_id > 0 && !dd) return NULL;
    /* c's cache may not exist yet: a value without a dictionary. */
    ZSTD_DCtx *own_dctx = c && cache_of(c)->dctx ? NULL : ZSTD_createDCtx();
    ZSTD_DCtx *d = own_dctx ? own_dctx : c ? c->zip->dctx : NULL;
    char *out = xmalloc((size_t)size + 1);
    size_t got = !d   ? (size_t)-1
                 : dd ? ZSTD_decompress_usingDDict(d, out, (size_t)size, frame, n, dd)
                      : ZSTD_decompressDCtx(d, out, (size_t)size, frame, n);
    ZSTD_freeDCtx(own_dctx);
    if (owned) ZSTD_freeDDict(dd);
    if (ZSTD_isError(got) || got != size) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    *len = got;
    return out;
}

/* Decompresses blob (n bytes), its dictionary read on db. Returns a
 * NUL-terminated copy (length in *len), or NULL. */
static char *unzip(sqlite3 *db, const unsigned char *blob, size_t n, size_t *len)
{
    size_t hl = 0;
    int64_t dict_id = get_leb(blob, n, &hl);
    if (dict_id < 0 || n <= hl) return NULL;
    unsigned char *framed = NULL;
    if (n - hl < ZIP_MAGIC_LEN || memcmp(blob + hl, ZIP_MAGIC, ZIP_MAGIC_LEN)) {
        framed = xmalloc(n + ZIP_MAGIC_LEN);
        memcpy(framed, blob, hl);
        memcpy(framed + hl, ZIP_MAGIC, ZIP_MAGIC_LEN);
        memcpy(framed + hl + ZIP_MAGIC_LEN, blob + hl, n - hl);
        blob = framed;
        n += ZIP_MAGIC_LEN;
    }
    char *out = unzip_frame(db, dict_id, blob + hl, n - hl, len);
    free(framed);
    return out;
}

char *col_text_copy(sqlite3_stmt *st, int i, size_t *len)
{
    *len = 0;
    if (sqlite3_column_type(st, i) == SQLITE_BLOB) {
        const unsigned char *b = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        char *t = b ? unzip(sqlite3_db_handle(st), b, n, len) : NULL;
        if (!t)
            log_warn("a stored value cannot be decompressed",
                     json_pack("{s:s}", "column", sqlite3_column_name(st, i)));
        return t;
    }
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return NULL;
    *len = (size_t)sqlite3_column_bytes(st, i);
    return xstrndup((const char *)t, *len);
}

/* ---- packed hex ---- */

/* A canonical lower-case UUID (8-4-4-4-12 digits) as its 16 bytes in buf. */
static bool uuid_pack(const char *text, size_t n, unsigned char buf[32])
{
    if (n != 36) return false;
    size_t k = 0;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        int v = text[i] >= '0' && text[i] <= '9' ? text[i] - '0'
                : text[i] >= 'a' && text[i] <= 'f' ? text[i] - 'a' + 10
                                                   : -1;
        if (dash != (text[i] == '-') || (!dash && v < 0)) return false;
        if (dash) continue;
        if (k % 2 == 0) buf[k / 2] = (unsigned char)(v << 4);
        else buf[k / 2] |= (unsigned char)v;
        k++;
    }
    buf[16] = UUID_TAG;
    return true;
}

/* hex_arg, or as versions 3 to 5 packed (legacy: no UUIDs, 34 digits packed). */
static sql_arg hex_arg_of(const char *text, unsigned char buf[32], bool legacy)
{
    size_t n = text ? strlen(text) : 0;
    if (!legacy && uuid_pack(text, n, buf)) return SQL_BLOB(buf, 17);
    /* 17 bytes is the length of a packed UUID: 34 digits stay text. */
    if (!text || n == 0 || n % 2 || n > 64 || (n == 34 && !legacy)) return SQL_TEXT(text);
    for (size_t i = 0; i < n; i++) {
        int v = text[i] >= '0' && text[i] <= '9'   ? text[i] - '0'
                : text[i] >= 'a' && text[i] <= 'f' ? text[i] - 'a' + 10
                                                   : -1;
        if (v < 0) return SQL_TEXT(text);
        if (i % 2 == 0) buf[i / 2] = (unsigned char)(v << 4);
        else buf[i / 2] |= (unsigned char)v;
    }
    return SQL_BLOB(buf, n / 2);
}

sql_arg hex_arg(const char *text, unsigned char buf[32]) { return hex_arg_of(text, buf, false); }

const char *col_hex(sqlite3_stmt *st, int i, char out[65])
{
    if (sqlite3_column_type(st, i) != SQLITE_BLOB) return (const char *)sqlite3_column_text(st, i);
    const unsigned char *b = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (!b || n > 32) return NULL;
    static const char digits[] = "0123456789abcdef";
    bool uuid = n == 17 && b[16] == UUID_TAG;
    char *w = out;
    for (int k = 0; k < (uuid ? 16 : n); k++) {
        if (uuid && (k == 4 || k == 6 || k == 8 || k == 10)) *w++ = '-';
        *w++ = digits[b[k] >> 4];
        *w++ = digits[b[k] & 15];
    }
    *w = '\0';
    return out;
}

static void sql_hex_pack(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    unsigned char buf[32];
    char hex[65];
    const char *text = NULL;
    /* The type first: reading the value as text would convert it. */
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        text = (const char *)sqlite3_value_text(argv[0]);
    } else {
        /* Packed by an older version: its digits again (a 17-byte blob
         * was 34 digits then, a UUID now). */
        const unsigned char *b = sqlite3_value_blob(argv[0]);
        int n = sqlite3_value_bytes(argv[0]);
        if (!b || n > 32) {
            sqlite3_result_value(ctx, argv[0]);
            return;
        }
        for (int k = 0; k < n; k++) snprintf(hex + 2 * k, 3, "%02x", b[k]);
        hex[2 * n] = '\0';
        text = hex;
    }
    sql_arg a = hex_arg_of(text, buf, sqlite3_user_data(ctx) != NULL);
    if (a.blob) sqlite3_result_blob(ctx, buf, (int)a.i, SQLITE_TRANSIENT);
    else if (a.t) sqlite3_result_text(ctx, a.t, -1, SQLITE_TRANSIENT);
    else sqlite3_result_null(ctx);
}

int hex_pack_register(sqlite3 *db)
{
    /* evk_hex_pack5: as versions 3 to 5 packed, for their steps. */
    static char legacy;
    int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    return sqlite3_create_function(db, "evk_hex_pack", 1, f, NULL, sql_hex_pack, NULL, NULL) ==
                       SQLITE_OK &&
                   sqlite3_create_function(db, "evk_hex_pack5", 1, f, &legacy, sql_hex_pack, NULL,
                                           NULL) == SQLITE_OK
               ? 0
               : -1;
}

/* ---- idempotency keys ---- */

/* SHA-256 fetched once: EVP_sha256() is looked up again at every init. */
static EVP_MD *sha256_md;
static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

sql_arg dedup_arg(const char *provider, const char *key, unsigned char buf[32])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sha256_fetch);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md && EVP_DigestInit_ex(md, sha256_md ? sha256_md : EVP_sha256(), NULL) &&
              EVP_DigestUpdate(md, provider, strlen(provider) + 1) && /* its NUL separates */
              EVP_DigestUpdate(md, key, strlen(key)) && EVP_DigestFinal_ex(md, buf, &n);
    EVP_MD_CTX_free(md);
    if (!ok) abort(); /* SHA-256 does not fail short of memory */
    return SQL_BLOB(buf, DEDUP_HASH_LEN);
}

static void sql_dedup_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *p = (const char *)sqlite3_value_text(argv[0]);
    const char *k = (const char *)sqlite3_value_text(argv[1]);
    unsigned char buf[32];
    dedup_arg(p ? p : "", k ? k : "", buf);
    sqlite3_result_blob(ctx, buf, DEDUP_HASH_LEN, SQLITE_TRANSIENT);
}

int dedup_hash_register(sqlite3 *db)
{
    return sqlite3_create_function(db, "evk_dedup_hash", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                   NULL, sql_dedup_hash, NULL, NULL) == SQLITE_OK ? 0 : -1;
}
