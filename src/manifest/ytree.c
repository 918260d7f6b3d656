/* ytree: YAML files into trees of mnode_t that remember file, line and column,
 * with "$include: <path>" and YAML "<<" merge keys applied.
 *
 * libyaml's document API (yaml_parser_load) gives us nodes with marks; we copy
 * them into our own nodes because one app spans several files ($include) and
 * every node must remember which file it came from. Aliases are expanded by
 * that copy, so the node count and depth are capped (alias bombs, recursive
 * aliases). */
#include "manifest/manifest_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/util.h"
#include "core/vec.h"

static mnode_t *ytree_load_from(ytree_t *t, const char *path, const mnode_t *from);

void ytree_init(ytree_t *t, const char *appdir, diags_t *d)
{
    memset(t, 0, sizeof *t);
    t->d = d;
    t->appdir = xstrdup(appdir);
}

static void node_free(mnode_t *n)
{
    free(n->str);
    free(n->items);
    free(n->pairs);
    free(n);
}

void ytree_free(ytree_t *t)
{
    for (size_t i = 0; i < t->nnodes; i++) node_free(t->nodes[i]);
    free(t->nodes);
    for (size_t i = 0; i < t->nfiles; i++) {
        free(t->files[i]->abs);
        free(t->files[i]->rel);
        free(t->files[i]->dir);
        free(t->files[i]);
    }
    free(t->files);
    for (size_t i = 0; i < t->nstack; i++) free(t->stack[i]);
    free(t->stack);
    free(t->appdir);
    memset(t, 0, sizeof *t);
}

static mnode_t *node_new(ytree_t *t, mn_kind kind, const mfile_t *f, int line, int col)
{
    VEC_GROW(t->nodes, t->capnodes, t->nnodes + 1);
    mnode_t *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->file = f;
    n->line = line;
    n->col = col;
    t->nodes[t->nnodes++] = n;
    return n;
}

static mnode_t *null_node(ytree_t *t, const mfile_t *f, int line, int col)
{
    mnode_t *n = node_new(t, MN_SCALAR, f, line, col);
    n->str = xstrdup("");
    n->st = MS_NULL;
    return n;
}

/* ---- scalars: the YAML 1.2 core schema ---- */

static bool all_in(const char *s, const char *set)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!strchr(set, *s)) return false;
    return true;
}

static bool is_core_float(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return true;
    if (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) return true;
    bool digits = false;
    while (*p >= '0' && *p <= '9') p++, digits = true;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits = true;
    }
    if (!digits) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == '\0';
}

static void scalar_as_float(mnode_t *n)
{
    const char *s = n->str;
    const char *p = (*s == '+' || *s == '-') ? s + 1 : s;
    n->st = MS_FLOAT;
    if (p[0] == '.' && (p[1] == 'i' || p[1] == 'I')) n->fval = *s == '-' ? -INFINITY : INFINITY;
    else if (p[0] == '.' && (p[1] == 'n' || p[1] == 'N')) n->fval = NAN;
    else n->fval = strtod(s, NULL);
}

/* Plain scalars get a type from their text; "0x1F" and "0o17" too. */
static void scalar_resolve(mnode_t *n)
{
    const char *s = n->str;
    n->st = MS_STR;
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) {
        n->st = MS_NULL;
        return;
    }
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        n->st = MS_BOOL;
        n->bval = true;
        return;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        n->st = MS_BOOL;
        n->bval = false;
        return;
    }
    int base = 0;
    const char *digits = NULL;
    const char *p = (*s == '+' || *s == '-') ? s + 1 : s;
    if (all_in(p, "0123456789")) base = 10, digits = s;
    else if (p == s && s[0] == '0' && s[1] == 'o' && all_in(s + 2, "01234567"))
        base = 8, digits = s + 2;
    else if (p == s && s[0] == '0' && s[1] == 'x' && all_in(s + 2, "0123456789abcdefABCDEF"))
        base = 16, digits = s + 2;
    if (base) {
        errno = 0;
        long long v = strtoll(digits, NULL, base);
        if (errno == ERANGE) {
            /* Too big for int64: keep the value as a float, as JSON would. */
            n->st = MS_FLOAT;
            n->fval = strtod(s, NULL);
            return;
        }
        n->st = MS_INT;
        n->ival = (int64_t)v;
        return;
    }
    if (is_core_float(s)) scalar_as_float(n);
}

/* ---- conversion ---- */

typedef struct pairvec {
    mpair_t *p;
    bool *base;   /* came from $include or "<<": may be overridden silently */
    size_t n, cap;
} pairvec;

/* Adds a pair. Merged-in (base) pairs never replace earlier ones; the
 * mapping's own pairs replace merged-in ones, and a second own pair with the
 * same key is a duplicate (an error; the later one wins). */
static void pv_put(ytree_t *t, pairvec *v, mnode_t *k, mnode_t *val, bool base)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->p[i].key->str, k->str) != 0) continue;
        if (base) return;
        if (!v->base[i])
            mdiag(t->d, DIAG_ERROR, k, "duplicate key '%s' (first at line %d)", k->str,
                  v->p[i].key->line);
        v->p[i].key = k;
        v->p[i].val = val;
        v->base[i] = false;
        return;
    }
    /* Two arrays of one length: base grows to the capacity p grew to. */
    size_t cap_base = v->cap;
    VEC_GROW(v->p, v->cap, v->n + 1);
    VEC_GROW(v->base, cap_base, v->cap);
    v->p[v->n].key = k;
    v->p[v->n].val = val;
    v->base[v->n] = base;
    v->n++;
}

static void pv_put_all(ytree_t *t, pairvec *v, const mnode_t *map)
{
    for (size_t i = 0; i < map->npairs; i++)
        pv_put(t, v, map->pairs[i].key, map->pairs[i].val, true);
}

static mnode_t *conv(ytree_t *t, yaml_document_t *doc, yaml_node_t *yn, const mfile_t *f,
                     int depth);

static mnode_t *conv_index(ytree_t *t, yaml_document_t *doc, int idx, const mfile_t *f, int depth)
{
    yaml_node_t *yn = yaml_document_get_node(doc, idx);
    if (!yn) return null_node(t, f, 0, 0);
    return conv(t, doc, yn, f, depth);
}

static void merge_include(ytree_t *t, pairvec *v, const mnode_t *val)
{
    if (!mn_is_str(val) || !*val->str) {
        mdiag(t->d, DIAG_ERROR, val, "$include needs a file path, not %s", mn_describe(val));
        return;
    }
    char *path = path_join(val->file->dir, val->str);
    mnode_t *root = ytree_load_from(t, path, val);
    free(path);
    if (!root || mn_is_null(root)) return;
    if (root->kind != MN_MAP) {
        mdiag(t->d, DIAG_ERROR, val, "$include '%s' must hold a mapping, not %s", val->str,
              mn_describe(root));
        return;
    }
    pv_put_all(t, v, root);
}

static void merge_key(ytree_t *t, pairvec *v, const mnode_t *val)
{
    if (val->kind == MN_MAP) {
        pv_put_all(t, v, val);
        return;
    }
    if (val->kind == MN_SEQ) {
        for (size_t i = 0; i < val->nitems; i++) {
            if (val->items[i]->kind == MN_MAP) pv_put_all(t, v, val->items[i]);
            else mdiag(t->d, DIAG_ERROR, val->items[i], "'<<' merges mappings, not %s",
                       mn_describe(val->items[i]));
        }
        return;
    }
    mdiag(t->d, DIAG_ERROR, val, "'<<' merges a mapping or a list of mappings, not %s",
          mn_describe(val));
}

static mnode_t *conv_mapping(ytree_t *t, yaml_document_t *doc, yaml_node_t *yn, mnode_t *n,
                             const mfile_t *f, int depth)
{
    pairvec v = {0};
    yaml_node_pair_t *start = yn->data.mapping.pairs.start, *top = yn->data.mapping.pairs.top;
    /* Two passes: merged-in content first, so the mapping's own keys win
     * wherever they are written. */
    for (int pass = 0; pass < 2; pass++) {
        const mnode_t *first_include = NULL;
        for (yaml_node_pair_t *p = start; p < top; p++) {
            yaml_node_t *yk = yaml_document_get_node(doc, p->key);
            bool is_include = yk && yk->type == YAML_SCALAR_NODE &&
                              yk->data.scalar.length == 8 &&
                              !memcmp(yk->data.scalar.value, "$include", 8);
            bool is_merge = yk && yk->type == YAML_SCALAR_NODE &&
                            yk->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                            yk->data.scalar.length == 2 && !memcmp(yk->data.scalar.value, "<<", 2);
            if ((pass == 0) != (is_include || is_merge)) continue;
            mnode_t *k = conv_index(t, doc, p->key, f, depth + 1);
            if (k->kind != MN_SCALAR) {
                mdiag(t->d, DIAG_ERROR, k, "mapping keys must be plain strings, not %s",
                      mn_describe(k));
                continue;
            }
            mnode_t *val = conv_index(t, doc, p->value, f, depth + 1);
            if (is_include) {
                if (first_include) {
                    mdiag(t->d, DIAG_ERROR, k, "duplicate key '$include' (first at line %d)",
                          first_include->line);
                    continue;
                }
                first_include = k;
                merge_include(t, &v, val);
            } else if (is_merge) {
                merge_key(t, &v, val);
            } else {
                pv_put(t, &v, k, val, false);
            }
        }
    }
    n->pairs = v.p;
    n->npairs = v.n;
    free(v.base);
    return n;
}

static mnode_t *conv(ytree_t *t, yaml_document_t *doc, yaml_node_t *yn, const mfile_t *f, int depth)
{
    int line = (int)yn->start_mark.line + 1, col = (int)yn->start_mark.column + 1;
    if (t->over_cap) return null_node(t, f, line, col);
    if (depth > YTREE_MAX_DEPTH || t->nnodes >= YTREE_MAX_NODES) {
        t->over_cap = true;
        diags_add(t->d, DIAG_ERROR, f->rel, line, col,
                  "YAML too large or too deeply nested (more than %d levels or %d nodes; a "
                  "recursive alias?)",
                  YTREE_MAX_DEPTH, YTREE_MAX_NODES);
        return null_node(t, f, line, col);
    }
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        mnode_t *n = node_new(t, MN_SCALAR, f, line, col);
        n->str = xstrndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
        const char *tag = (const char *)yn->tag;
        bool plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        /* libyaml gives plain untagged scalars the str tag too, so an explicit
         * !!str on a plain scalar cannot be told apart; other explicit core
         * tags make a quoted scalar typed. */
        bool typed_tag = tag && (!strcmp(tag, YAML_INT_TAG) || !strcmp(tag, YAML_FLOAT_TAG) ||
                                 !strcmp(tag, YAML_BOOL_TAG) || !strcmp(tag, YAML_NULL_TAG));
        n->quoted = !plain;
        if (plain || typed_tag) scalar_resolve(n);
        else n->st = MS_STR;
        return n;
    }
    case YAML_SEQUENCE_NODE: {
        mnode_t *n = node_new(t, MN_SEQ, f, line, col);
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = xcalloc(cnt ? cnt : 1, sizeof *n->items);
        for (size_t i = 0; i < cnt; i++)
            n->items[n->nitems++] =
                conv_index(t, doc, yn->data.sequence.items.start[i], f, depth + 1);
        return n;
    }
    case YAML_MAPPING_NODE:
        return conv_mapping(t, doc, yn, node_new(t, MN_MAP, f, line, col), f, depth);
    default:
        return null_node(t, f, line, col);
    }
}

/* ---- files ---- */

static void yaml_report(ytree_t *t, const mfile_t *f, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        diags_add(t->d, DIAG_ERROR, f->rel, 0, 0, "YAML: %s at byte %zu", problem,
                  p->problem_offset);
        return;
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->context)
        diags_add(t->d, DIAG_ERROR, f->rel, line, col, "YAML: %s (%s started at line %d)", problem,
                  p->context, (int)p->context_mark.line + 1);
    else
        diags_add(t->d, DIAG_ERROR, f->rel, line, col, "YAML: %s", problem);
}

static const mfile_t *file_new(ytree_t *t, const char *real)
{
    mfile_t *f = xcalloc(1, sizeof *f);
    f->abs = xstrdup(real);
    f->rel = mf_rel(t->appdir, real);
    f->dir = path_dirname(real);
    VEC_GROW(t->files, t->capfiles, t->nfiles + 1);
    t->files[t->nfiles++] = f;
    return f;
}

/* "a.yaml -> b.yaml -> a.yaml" for the cycle message. Caller frees. */
static char *cycle_chain(ytree_t *t, const char *real)
{
    buf_t b;
    buf_init(&b, 0);
    bool on = false;
    for (size_t i = 0; i < t->nstack; i++) {
        if (!on && strcmp(t->stack[i], real) == 0) on = true;
        if (!on) continue;
        char *r = mf_rel(t->appdir, t->stack[i]);
        buf_printf(&b, "%s -> ", r);
        free(r);
    }
    char *r = mf_rel(t->appdir, real);
    buf_printf(&b, "%s", r);
    free(r);
    return buf_steal(&b);
}

static mnode_t *ytree_load_from(ytree_t *t, const char *path, const mnode_t *from)
{
    char *real = path_real(path);
    if (!real || !path_is_file(real)) {
        if (from) {
            mdiag(t->d, DIAG_ERROR, from, "$include '%s': no such file (looked for %s)", from->str,
                  path);
        } else {
            char *rel = mf_rel(t->appdir, path);
            diags_add(t->d, DIAG_ERROR, rel, 0, 0, "no such file: %s", path);
            free(rel);
        }
        free(real);
        return NULL;
    }
    for (size_t i = 0; i < t->nstack; i++) {
        if (strcmp(t->stack[i], real) != 0) continue;
        char *chain = cycle_chain(t, real);
        mdiag(t->d, DIAG_ERROR, from, "$include cycle: %s", chain);
        free(chain);
        free(real);
        return NULL;
    }
    err_t err;
    size_t len = 0;
    char *text = file_read(real, &len, &err);
    const mfile_t *f = file_new(t, real);
    if (!text) {
        diags_add(t->d, DIAG_ERROR, f->rel, 0, 0, "cannot read: %s", err.msg);
        free(real);
        return NULL;
    }

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) abort();
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_document_t doc;
    mnode_t *root = NULL;
    if (!yaml_parser_load(&p, &doc)) {
        yaml_report(t, f, &p);
    } else {
        yaml_node_t *yroot = yaml_document_get_root_node(&doc);
        VEC_GROW(t->stack, t->capstack, t->nstack + 1);
        t->stack[t->nstack++] = real;
        real = NULL;
        root = yroot ? conv(t, &doc, yroot, f, 0) : null_node(t, f, 1, 1);
        free(t->stack[--t->nstack]);
        yaml_document_delete(&doc);
        /* A second document would be silently dropped otherwise. */
        yaml_document_t doc2;
        if (!yaml_parser_load(&p, &doc2)) {
            yaml_report(t, f, &p);
            root = NULL;
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
            if (r2)
                diags_add(t->d, DIAG_WARNING, f->rel, (int)r2->start_mark.line + 1,
                          (int)r2->start_mark.column + 1,
                          "only the first YAML document of a file is read; this one is ignored");
            yaml_document_delete(&doc2);
        }
    }
    yaml_parser_delete(&p);
    free(text);
    free(real);
    return root;
}

mnode_t *ytree_load(ytree_t *t, const char *path)
{
    return ytree_load_from(t, path, NULL);
}

/* ---- access ---- */

const mnode_t *mn_get(const mnode_t *map, const char *key)
{
    if (!map || map->kind != MN_MAP) return NULL;
    for (size_t i = 0; i < map->npairs; i++)
        if (strcmp(map->pairs[i].key->str, key) == 0) return map->pairs[i].val;
    return NULL;
}

const mnode_t *mn_key(const mnode_t *map, const char *key)
{
    if (!map || map->kind != MN_MAP) return NULL;
    for (size_t i = 0; i < map->npairs; i++)
        if (strcmp(map->pairs[i].key->str, key) == 0) return map->pairs[i].key;
    return NULL;
}

bool mn_is_null(const mnode_t *n)
{
    return !n || (n->kind == MN_SCALAR && n->st == MS_NULL);
}

bool mn_is_str(const mnode_t *n)
{
    return n && n->kind == MN_SCALAR && n->st == MS_STR;
}

const char *mn_describe(const mnode_t *n)
{
    if (!n) return "nothing";
    switch (n->kind) {
    case MN_MAP: return "a mapping";
    case MN_SEQ: return "a list";
    default: break;
    }
    switch (n->st) {
    case MS_NULL: return "an empty value";
    case MS_BOOL: return "a boolean";
    case MS_INT: return "an integer";
    case MS_FLOAT: return "a number";
    default: return "a string";
    }
}

json_t *mn_to_json(const mnode_t *n)
{
    if (!n) return json_null();
    switch (n->kind) {
    case MN_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < n->npairs; i++)
            json_object_set_new(o, n->pairs[i].key->str, mn_to_json(n->pairs[i].val));
        return o;
    }
    case MN_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; i < n->nitems; i++) json_array_append_new(a, mn_to_json(n->items[i]));
        return a;
    }
    default: break;
    }
    switch (n->st) {
    case MS_NULL: return json_null();
    case MS_BOOL: return json_boolean(n->bval);
    case MS_INT: return json_integer((json_int_t)n->ival);
    case MS_FLOAT:
        /* JSON has no inf or nan: keep what was written. */
        if (!isfinite(n->fval)) return json_string(n->str);
        return json_real(n->fval);
    default: return json_stringn(n->str, strlen(n->str));
    }
}

/* ---- JSON as a tree ---- */

mnode_t *mn_from_json(ytree_t *t, const json_t *j)
{
    mnode_t *n;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        n = node_new(t, MN_MAP, NULL, 0, 0);
        n->pairs = xcalloc(json_object_size(j) + 1, sizeof *n->pairs);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            mnode_t *key = node_new(t, MN_SCALAR, NULL, 0, 0);
            key->str = xstrdup(k);
            key->st = MS_STR;
            key->quoted = true;
            n->pairs[n->npairs].key = key;
            n->pairs[n->npairs].val = mn_from_json(t, v);
            n->npairs++;
        }
        return n;
    }
    case JSON_ARRAY: {
        n = node_new(t, MN_SEQ, NULL, 0, 0);
        n->items = xcalloc(json_array_size(j) + 1, sizeof *n->items);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) n->items[n->nitems++] = mn_from_json(t, v);
        return n;
    }
    case JSON_STRING:
        n = node_new(t, MN_SCALAR, NULL, 0, 0);
        n->str = xstrdup(json_string_value(j));
        n->st = MS_STR;
        n->quoted = true;
        return n;
    case JSON_INTEGER:
        n = node_new(t, MN_SCALAR, NULL, 0, 0);
        n->ival = (int64_t)json_integer_value(j);
        n->str = xasprintf("%lld", (long long)n->ival);
        n->st = MS_INT;
        return n;
    case JSON_REAL:
        n = node_new(t, MN_SCALAR, NULL, 0, 0);
        n->fval = json_real_value(j);
        n->str = xasprintf("%g", n->fval);
        n->st = MS_FLOAT;
        return n;
    case JSON_TRUE:
    case JSON_FALSE:
        n = node_new(t, MN_SCALAR, NULL, 0, 0);
        n->bval = json_is_true(j);
        n->str = xstrdup(n->bval ? "true" : "false");
        n->st = MS_BOOL;
        return n;
    default:
        return null_node(t, NULL, 0, 0);
    }
}
