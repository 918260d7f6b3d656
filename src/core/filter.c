/* filter: Event Ruler patterns compiled to a small tree and matched against
 * a JSON event without copying it. See filter.h for the language. */
#include "core/filter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json_io.h"
#include "core/util.h"

/* A pattern nests at most this deep and holds at most this many matchers:
 * a registration's filter is small, a hostile one must not eat the writer. */
#define FILTER_MAX_DEPTH 32
#define FILTER_MAX_MATCHERS 10000

typedef enum {
    MK_EQ,          /* a literal value */
    MK_PREFIX,
    MK_SUFFIX,
    MK_EQ_NOCASE,
    MK_WILDCARD,
    MK_NUMERIC,
    MK_EXISTS,
    MK_BUT          /* anything-but: none of but[] may match */
} mkind;

typedef struct matcher {
    mkind kind;
    bool nocase;            /* prefix / suffix with equals-ignore-case */
    json_t *value;          /* MK_EQ */
    char *s;                /* string matchers */
    size_t len;
    double lo, hi;          /* MK_NUMERIC */
    bool has_lo, has_hi, lo_incl, hi_incl;
    bool exists;            /* MK_EXISTS */
    struct matcher *but;    /* MK_BUT */
    size_t nbut;
} matcher;

typedef struct fnode fnode;
typedef struct field {
    char *key;
    fnode *sub;             /* a nested pattern; NULL for a leaf */
    matcher *m;             /* a leaf's matchers, any of which may match */
    size_t nm;
} field;
typedef struct orset {
    fnode **alts;
    size_t n;
} orset;
struct fnode {
    field *fields;
    size_t nfields;
    orset *ors;
    size_t nors;
};
struct filter {
    fnode *root;
};

/* ---- freeing ---- */

static void matcher_clear(matcher *m)
{
    json_decref(m->value);
    free(m->s);
    for (size_t i = 0; i < m->nbut; i++) matcher_clear(&m->but[i]);
    free(m->but);
}

static void node_free(fnode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nfields; i++) {
        free(n->fields[i].key);
        node_free(n->fields[i].sub);
        for (size_t k = 0; k < n->fields[i].nm; k++) matcher_clear(&n->fields[i].m[k]);
        free(n->fields[i].m);
    }
    free(n->fields);
    for (size_t i = 0; i < n->nors; i++) {
        for (size_t k = 0; k < n->ors[i].n; k++) node_free(n->ors[i].alts[k]);
        free(n->ors[i].alts);
    }
    free(n->ors);
    free(n);
}

void filter_free(filter_t *f)
{
    if (!f) return;
    node_free(f->root);
    free(f);
}

/* ---- compiling ---- */

typedef struct cctx {
    err_t *err;
    size_t matchers;
} cctx;

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_NULL: return "null";
    default: return "a boolean";
    }
}

static int bad(cctx *c, const char *path, const char *fmt, const char *detail)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, detail ? detail : "");
    return err_code(c->err, EVK_INVALID, "%s: %s", *path ? path : "the filter", msg);
}

/* A string operand, or (for prefix and suffix) {"equals-ignore-case": s}. */
static int string_operand(cctx *c, const char *path, const char *op, const json_t *v, matcher *m,
                          bool nocase_ok)
{
    if (nocase_ok && json_is_object(v) && json_object_size(v) == 1 &&
        json_is_string(json_object_get(v, "equals-ignore-case"))) {
        v = json_object_get(v, "equals-ignore-case");
        m->nocase = true;
    }
    if (!json_is_string(v)) {
        char what[96];
        snprintf(what, sizeof what, "%s needs a string%s, not %s", op,
                 nocase_ok ? " (or {\"equals-ignore-case\": string})" : "", kind_of(v));
        return bad(c, path, "%s", what);
    }
    m->s = xstrdup(json_string_value(v));
    m->len = json_string_length(v);
    return 0;
}

static int wildcard_check(cctx *c, const char *path, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\') {
            if (p[1] != '*' && p[1] != '\\')
                return bad(c, path, "wildcard: a backslash may only escape * or \\%s", NULL);
            p++;
        } else if (*p == '*' && p[1] == '*') {
            return bad(c, path, "wildcard: consecutive * are not allowed%s", NULL);
        }
    }
    return 0;
}

static int numeric_compile(cctx *c, const char *path, const json_t *v, matcher *m)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || (n != 2 && n != 4))
        return bad(c, path,
                   "numeric needs [op, number] or [op, number, op, number] with op one of "
                   "<, <=, =, >, >=%s",
                   NULL);
    for (size_t i = 0; i < n; i += 2) {
        const char *op = json_string_value(json_array_get(v, i));
        const json_t *num = json_array_get(v, i + 1);
        if (!op || (strcmp(op, "<") && strcmp(op, "<=") && strcmp(op, "=") && strcmp(op, ">") &&
                    strcmp(op, ">=")))
            return bad(c, path, "numeric: '%s' is not an operator (<, <=, =, >, >=)",
                       op ? op : kind_of(json_array_get(v, i)));
        if (!json_is_number(num) || !isfinite(json_number_value(num)))
            return bad(c, path, "numeric: %s after an operator; it needs a number",
                       kind_of(num));
        double x = json_number_value(num);
        if (!strcmp(op, "=")) {
            if (n != 2) return bad(c, path, "numeric: '=' stands alone%s", NULL);
            m->has_lo = m->has_hi = m->lo_incl = m->hi_incl = true;
            m->lo = m->hi = x;
        } else if (op[0] == '>') {
            if (m->has_lo) return bad(c, path, "numeric: two lower bounds%s", NULL);
            m->has_lo = true;
            m->lo = x;
            m->lo_incl = op[1] == '=';
        } else {
            if (m->has_hi) return bad(c, path, "numeric: two upper bounds%s", NULL);
            m->has_hi = true;
            m->hi = x;
            m->hi_incl = op[1] == '=';
        }
    }
    if (m->has_lo && m->has_hi && m->lo > m->hi)
        return bad(c, path, "numeric: the lower bound is above the upper one%s", NULL);
    return 0;
}

/* The operand of anything-but: values, or one string matcher. */
static int but_compile(cctx *c, const char *path, const json_t *v, matcher *m)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *inner;
        if (json_object_size(v) != 1)
            return bad(c, path,
                       "anything-but takes one of prefix, suffix, equals-ignore-case, "
                       "wildcard%s",
                       NULL);
        json_object_foreach((json_t *)v, k, inner) {
            mkind kind = !strcmp(k, "prefix")               ? MK_PREFIX
                         : !strcmp(k, "suffix")             ? MK_SUFFIX
                         : !strcmp(k, "equals-ignore-case") ? MK_EQ_NOCASE
                         : !strcmp(k, "wildcard")           ? MK_WILDCARD
                                                            : MK_BUT;
            if (kind == MK_BUT)
                return bad(c, path,
                           "anything-but: '%s' is not prefix, suffix, equals-ignore-case or "
                           "wildcard",
                           k);
            size_t n = json_is_array(inner) ? json_array_size(inner) : 1;
            if (n == 0) return bad(c, path, "anything-but: an empty list%s", NULL);
            m->but = xcalloc(n, sizeof *m->but);
            for (size_t i = 0; i < n; i++) {
                const json_t *s = json_is_array(inner) ? json_array_get(inner, i) : inner;
                m->but[i].kind = kind;
                m->nbut++;
                if (string_operand(c, path, k, s, &m->but[i], false) < 0) return -1;
                if (kind == MK_WILDCARD && wildcard_check(c, path, m->but[i].s) < 0) return -1;
            }
        }
        return 0;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n == 0) return bad(c, path, "anything-but: an empty list%s", NULL);
    m->but = xcalloc(n, sizeof *m->but);
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(x) && !json_is_number(x))
            return bad(c, path, "anything-but takes strings or numbers, not %s", kind_of(x));
        m->but[i].kind = MK_EQ;
        m->but[i].value = json_incref((json_t *)x);
        m->nbut++;
    }
    return 0;
}

/* One element of a leaf array. */
static int matcher_compile(cctx *c, const char *path, const json_t *v, matcher *m)
{
    if (++c->matchers > FILTER_MAX_MATCHERS)
        return bad(c, path, "the filter has more than 10000 matchers%s", NULL);
    if (!json_is_object(v)) {
        if (json_is_array(v)) return bad(c, path, "a matcher cannot be an array%s", NULL);
        m->kind = MK_EQ;
        m->value = json_incref((json_t *)v);
        return 0;
    }
    if (json_object_size(v) != 1)
        return bad(c, path, "a matcher object has exactly one key (prefix, numeric, ...)%s", NULL);
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *op = json_object_get(v, k);
    if (!strcmp(k, "prefix") || !strcmp(k, "suffix")) {
        m->kind = k[0] == 'p' ? MK_PREFIX : MK_SUFFIX;
        return string_operand(c, path, k, op, m, true);
    }
    if (!strcmp(k, "equals-ignore-case")) {
        m->kind = MK_EQ_NOCASE;
        return string_operand(c, path, k, op, m, false);
    }
    if (!strcmp(k, "wildcard")) {
        m->kind = MK_WILDCARD;
        if (string_operand(c, path, k, op, m, false) < 0) return -1;
        return wildcard_check(c, path, m->s);
    }
    if (!strcmp(k, "numeric")) {
        m->kind = MK_NUMERIC;
        return numeric_compile(c, path, op, m);
    }
    if (!strcmp(k, "exists")) {
        m->kind = MK_EXISTS;
        if (!json_is_boolean(op))
            return bad(c, path, "exists needs true or false, not %s", kind_of(op));
        m->exists = json_is_true(op);
        return 0;
    }
    if (!strcmp(k, "anything-but")) {
        m->kind = MK_BUT;
        return but_compile(c, path, op, m);
    }
    return bad(c, path,
               "unknown matcher '%s' (prefix, suffix, anything-but, numeric, exists, "
               "equals-ignore-case, wildcard)",
               k);
}

static fnode *node_compile(cctx *c, const char *path, const json_t *pat, int depth);

static int or_compile(cctx *c, const char *path, const json_t *alts, orset *o, int depth)
{
    char *p = xasprintf("%s%s$or", path, *path ? "." : "");
    int rc = 0;
    if (!json_is_array(alts) || json_array_size(alts) < 1) {
        rc = bad(c, p, "$or needs a list of patterns%s", NULL);
    } else {
        o->alts = xcalloc(json_array_size(alts), sizeof *o->alts);
        for (size_t i = 0; i < json_array_size(alts) && rc == 0; i++) {
            char *pi = xasprintf("%s[%zu]", p, i);
            fnode *n = node_compile(c, pi, json_array_get(alts, i), depth + 1);
            free(pi);
            if (!n) rc = -1;
            else o->alts[o->n++] = n;
        }
    }
    free(p);
    return rc;
}

static int field_compile(cctx *c, const char *path, const char *key, const json_t *v, field *f,
                         int depth)
{
    f->key = xstrdup(key);
    char *p = xasprintf("%s%s%s", path, *path ? "." : "", key);
    int rc = 0;
    if (json_is_object(v)) {
        f->sub = node_compile(c, p, v, depth + 1);
        if (!f->sub) rc = -1;
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        f->m = xcalloc(json_array_size(v), sizeof *f->m);
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
            char *pi = xasprintf("%s[%zu]", p, i);
            rc = matcher_compile(c, pi, json_array_get(v, i), &f->m[f->nm++]);
            free(pi);
        }
    } else {
        rc = bad(c, p, "needs a non-empty array of matchers or a nested pattern, not %s",
                 json_is_array(v) ? "an empty array" : kind_of(v));
    }
    free(p);
    return rc;
}

static fnode *node_compile(cctx *c, const char *path, const json_t *pat, int depth)
{
    if (depth > FILTER_MAX_DEPTH) {
        bad(c, path, "the pattern nests deeper than 32 levels%s", NULL);
        return NULL;
    }
    if (!json_is_object(pat) || json_object_size(pat) == 0) {
        bad(c, path, "a pattern is an object with at least one field, not %s",
            json_is_object(pat) ? "an empty object" : kind_of(pat));
        return NULL;
    }
    fnode *n = xcalloc(1, sizeof *n);
    size_t size = json_object_size(pat);
    n->fields = xcalloc(size, sizeof *n->fields);
    n->ors = xcalloc(size, sizeof *n->ors);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)pat, k, v) {
        int rc = !strcmp(k, "$or") ? or_compile(c, path, v, &n->ors[n->nors++], depth)
                                   : field_compile(c, path, k, v, &n->fields[n->nfields++], depth);
        if (rc < 0) {
            node_free(n);
            return NULL;
        }
    }
    return n;
}

filter_t *filter_compile(const json_t *pattern, err_t *err)
{
    cctx c = {.err = err};
    fnode *root = node_compile(&c, "", pattern, 0);
    if (!root) return NULL;
    filter_t *f = xcalloc(1, sizeof *f);
    f->root = root;
    return f;
}

/* ---- matching ---- */

/* Glob with * (any run) and \* \\ escapes; backtracks to the last star only,
 * which is enough for a single-star-class pattern and stays O(n*m). */
static bool wildcard_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = ++p;
            resume = s;
            continue;
        }
        const char *lit = p;
        if (*p == '\\' && (p[1] == '*' || p[1] == '\\')) lit = p + 1;
        if (*p && *lit == *s) {
            p = lit + 1;
            s++;
            continue;
        }
        if (!star) return false;
        p = star;
        s = ++resume;
    }
    while (*p == '*') p++;
    return *p == '\0';
}

static bool string_match(const matcher *m, const json_t *v)
{
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    size_t n = json_str_len(v);
    switch (m->kind) {
    case MK_PREFIX:
        return n >= m->len && (m->nocase ? !strncasecmp(s, m->s, m->len) : !memcmp(s, m->s, m->len));
    case MK_SUFFIX:
        return n >= m->len && (m->nocase ? !strncasecmp(s + n - m->len, m->s, m->len)
                                         : !memcmp(s + n - m->len, m->s, m->len));
    case MK_EQ_NOCASE:
        return n == m->len && !strncasecmp(s, m->s, n);
    default:
        return wildcard_match(m->s, s);
    }
}

static bool value_equal(const json_t *want, const json_t *v)
{
    if (json_is_number(want)) return json_is_number(v) && json_number_value(v) == json_number_value(want);
    if (json_is_string(want))
        return json_is_string(v) && json_str_len(v) == json_string_length(want) &&
               !memcmp(json_string_value(v), json_string_value(want), json_string_length(want));
    return json_typeof(want) == json_typeof(v);  /* true, false, null */
}

/* One matcher against one leaf value (not an array). */
static bool leaf_match(const matcher *m, const json_t *v)
{
    switch (m->kind) {
    case MK_EQ: return value_equal(m->value, v);
    case MK_NUMERIC: {
        if (!json_is_number(v)) return false;
        double x = json_number_value(v);
        if (m->has_lo && (m->lo_incl ? x < m->lo : x <= m->lo)) return false;
        if (m->has_hi && (m->hi_incl ? x > m->hi : x >= m->hi)) return false;
        return true;
    }
    case MK_BUT:
        for (size_t i = 0; i < m->nbut; i++)
            if (leaf_match(&m->but[i], v)) return false;
        return true;
    case MK_EXISTS: return m->exists;
    default: return string_match(m, v);
    }
}

/* A field's matchers against its value in the event (NULL: absent). An
 * object is not a leaf; an array matches when one of its elements does. */
static bool field_leaf_match(const field *f, const json_t *v)
{
    bool present = v && !json_is_object(v) && !(json_is_array(v) && json_array_size(v) == 0);
    for (size_t i = 0; i < f->nm; i++) {
        const matcher *m = &f->m[i];
        if (m->kind == MK_EXISTS) {
            if (m->exists == present) return true;
            continue;
        }
        if (!present) continue;
        if (!json_is_array(v)) {
            if (leaf_match(m, v)) return true;
            continue;
        }
        for (size_t k = 0; k < json_array_size(v); k++) {
            const json_t *el = json_array_get(v, k);
            if (!json_is_object(el) && !json_is_array(el) && leaf_match(m, el)) return true;
        }
    }
    return false;
}

static bool node_match(const fnode *n, const json_t *obj);

static bool field_match(const field *f, const json_t *obj)
{
    const json_t *v = obj ? json_object_get(obj, f->key) : NULL;
    if (!f->sub) return field_leaf_match(f, v);
    if (json_is_array(v) && json_array_size(v) > 0) {
        for (size_t k = 0; k < json_array_size(v); k++) {
            const json_t *el = json_array_get(v, k);
            if (node_match(f->sub, json_is_object(el) ? el : NULL)) return true;
        }
        return false;
    }
    /* Absent or not an object: only exists:false fields can match below. */
    return node_match(f->sub, json_is_object(v) ? v : NULL);
}

static bool node_match(const fnode *n, const json_t *obj)
{
    for (size_t i = 0; i < n->nfields; i++)
        if (!field_match(&n->fields[i], obj)) return false;
    for (size_t i = 0; i < n->nors; i++) {
        bool any = false;
        for (size_t k = 0; k < n->ors[i].n && !any; k++) any = node_match(n->ors[i].alts[k], obj);
        if (!any) return false;
    }
    return true;
}

bool filter_match(const filter_t *f, const json_t *event)
{
    return f && node_match(f->root, json_is_object(event) ? event : NULL);
}
