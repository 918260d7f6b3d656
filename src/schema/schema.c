/* schema: JSON Schema draft-07, compiled to a tree of nodes once and then
 * walked per value. $ref targets are found by JSON Pointer in the document
 * and compiled on demand; every node is registered under its source value
 * before its children are compiled, so recursive references close into a
 * cycle instead of recursing forever. Validation bounds its own depth. */
#include "schema/schema.h"
#include "core/vec.h"
#include "core/json_io.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting of schema evaluations in one validation: stops "$ref": "#"
 * loops and pathological instances. */
#define SCHEMA_MAX_DEPTH 512

enum {
    T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32,
    T_INTEGER = 64
};
static const char *const type_names[] = {"null",  "boolean", "object", "array",
                                         "number", "string", "integer"};

typedef struct snode snode;

typedef struct sprop {
    const char *name;
    snode *node;
} sprop;

typedef struct spattern {
    pcre2_code *re;
    const char *src;
    snode *node;
} spattern;

typedef struct sdep {
    const char *name;
    snode *node;             /* schema dependency, or NULL ... */
    const char **required;   /* ... for a property dependency */
    size_t nrequired;
} sdep;

struct snode {
    const json_t *src;
    int boolean;             /* 1 true, 0 false, -1 an object schema */
    snode *ref;              /* $ref: every sibling keyword is ignored */

    unsigned types;          /* 0: no `type` */
    const json_t *type_kw;

    sprop *props;
    size_t nprops;
    spattern *pprops;
    size_t npprops;
    snode *addl_props;
    const char **required;
    size_t nrequired;
    snode *prop_names;
    sdep *deps;
    size_t ndeps;
    long long min_props, max_props;   /* -1: absent */

    snode *items;            /* single form */
    snode **tuple;           /* tuple form */
    size_t ntuple;
    bool is_tuple;
    snode *addl_items;
    snode *contains;
    long long min_items, max_items;
    bool unique;

    const json_t *enum_vals, *const_val;
    const json_t *minimum, *maximum, *ex_minimum, *ex_maximum, *multiple_of;
    long long min_len, max_len;
    pcre2_code *pattern;
    const char *pattern_src;

    snode **all_of, **any_of, **one_of;
    size_t nall, nany, none;
    snode *not_;
    snode *if_, *then_, *else_;
};

struct schema {
    json_t *doc;
    const char *base_id;     /* the root $id: refs under it are local */
    snode **nodes;
    size_t nnodes, cap;
    snode *root;
};

/* ---- JSON helpers ---- */

static bool json_is_int_value(const json_t *v)
{
    if (json_is_integer(v)) return true;
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    return isfinite(d) && floor(d) == d;
}

/* -1, 0, 1; exact for two integers. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

bool schema_json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b)) return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_str_len(a) == json_str_len(b) &&
               !memcmp(json_string_value(a), json_string_value(b), json_str_len(a));
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b)) return false;
        for (size_t i = 0; i < n; i++)
            if (!schema_json_equal(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !schema_json_equal(v, w)) return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null */
    }
}

static unsigned type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return T_OBJECT;
    case JSON_ARRAY: return T_ARRAY;
    case JSON_STRING: return T_STRING;
    case JSON_INTEGER:
    case JSON_REAL: return T_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOLEAN;
    default: return T_NULL;
    }
}

static const char *type_name(unsigned bit)
{
    for (unsigned i = 0; i < 7; i++)
        if (bit == 1u << i) return type_names[i];
    return "?";
}

/* Compact JSON of a value for messages (numbers as written). Caller frees. */
static char *dump(const json_t *v)
{
    if (json_is_real(v)) {
        char tmp[64];
        double d = json_real_value(v);
        snprintf(tmp, sizeof tmp, "%.15g", d);
        if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
        return xstrdup(tmp);
    }
    char *s = json_text(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : xstrdup("?");
}

static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) count++;
    return count;
}

/* ---- compiling ---- */

typedef struct cctx {
    schema_t *s;
    err_t *err;
    char loc[512];           /* the schema location being compiled, for errors */
    size_t loclen;
    bool failed;
} cctx;

static int cfail(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(cctx *c, const char *fmt, ...)
{
    if (c->failed) return -1;
    c->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_code(c->err, EVK_INVALID, "invalid schema at #%s: %s", c->loc, msg);
    return -1;
}

/* Appends "/seg" (escaped) to the location; returns the length to restore. */
static size_t cpush(cctx *c, const char *seg)
{
    size_t saved = c->loclen;
    if (c->loclen + 1 < sizeof c->loc) c->loc[c->loclen++] = '/';
    for (; *seg && c->loclen + 2 < sizeof c->loc; seg++) {
        if (*seg == '~' || *seg == '/') {
            c->loc[c->loclen++] = '~';
            c->loc[c->loclen++] = *seg == '~' ? '0' : '1';
        } else {
            c->loc[c->loclen++] = *seg;
        }
    }
    c->loc[c->loclen] = '\0';
    return saved;
}

static size_t cpush_index(cctx *c, size_t i)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%zu", i);
    return cpush(c, tmp);
}

static void cpop(cctx *c, size_t saved)
{
    c->loclen = saved;
    c->loc[saved] = '\0';
}

static snode *compile_node(cctx *c, const json_t *src);

/* Compiles the subschema under key of obj (when present) into *out. */
static int compile_sub(cctx *c, const json_t *obj, const char *key, snode **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    size_t saved = cpush(c, key);
    *out = compile_node(c, v);
    cpop(c, saved);
    return *out ? 0 : -1;
}

/* A non-empty array of schemas (allOf, anyOf, oneOf). */
static int compile_list(cctx *c, const json_t *obj, const char *key, snode ***out, size_t *n)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    size_t saved = cpush(c, key);
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cfail(c, "%s must be a non-empty array of schemas", key);
    *n = json_array_size(v);
    *out = xcalloc(*n, sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        size_t s2 = cpush_index(c, i);
        (*out)[i] = compile_node(c, json_array_get(v, i));
        if (!(*out)[i]) return -1;
        cpop(c, s2);
    }
    cpop(c, saved);
    return 0;
}

/* A non-negative integer keyword (minLength, maxItems, ...); -1 when absent. */
static int compile_count(cctx *c, const json_t *obj, const char *key, long long *out)
{
    *out = -1;
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_int_value(v) || json_number_value(v) < 0)
        return cfail(c, "%s must be a non-negative integer", key);
    double d = json_number_value(v);
    *out = json_is_integer(v) ? (long long)json_integer_value(v) : d > 9e18 ? (long long)9e18
                                                                            : (long long)d;
    return 0;
}

/* The min and max keywords of a size (items, properties, characters). */
static int compile_bounds(cctx *c, const json_t *src, const char *kw_min, const char *kw_max,
                          long long *min, long long *max)
{
    return compile_count(c, src, kw_min, min) < 0 || compile_count(c, src, kw_max, max) < 0 ? -1 : 0;
}

static int compile_number(cctx *c, const json_t *obj, const char *key, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_number(v)) return cfail(c, "%s must be a number", key);
    *out = v;
    return 0;
}

static int compile_strings(cctx *c, const json_t *v, const char *key, const char ***out, size_t *n)
{
    if (!json_is_array(v)) return cfail(c, "%s must be an array of strings", key);
    *n = json_array_size(v);
    *out = xcalloc(*n ? *n : 1, sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) return cfail(c, "%s must be an array of strings", key);
        (*out)[i] = json_string_value(e);
    }
    return 0;
}

static pcre2_code *compile_regex(cctx *c, const char *key, const char *src, size_t len)
{
    int code;
    PCRE2_SIZE off;
    /* ECMA-like: no Unicode classes for \d \w \s (no PCRE2_UCP), $ only at
     * the very end, \uXXXX escapes. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, len,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &code,
                                   &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(code, msg, sizeof msg);
        cfail(c, "%s \"%.100s\" is not a valid regular expression: %s at offset %zu", key, src,
              (const char *)msg, (size_t)off);
    }
    return re;
}

static bool regex_match(const pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) abort();
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static int compile_type(cctx *c, snode *n, const json_t *v)
{
    n->type_kw = v;
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v))
        return cfail(c, "type must be a type name or an array of them");
    for (size_t i = 0; i < count; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        unsigned bit = 0;
        for (unsigned t = 0; t < 7 && json_is_string(e); t++)
            if (!strcmp(json_string_value(e), type_names[t])) bit = 1u << t;
        if (!bit) {
            char *d = dump(e);
            cfail(c, "type %s is not one of null, boolean, object, array, number, string, integer",
                  d);
            free(d);
            return -1;
        }
        n->types |= bit;
    }
    return 0;
}

/* One member (of count) of an object-valued keyword, compiled into n. */
typedef int (*member_fn)(cctx *c, snode *n, const char *k, const json_t *v, size_t count);

/* properties, patternProperties, dependencies: kw's value must be an object
 * (want says of what); each member goes to one(), under kw and its name on
 * the error path. */
static int compile_members(cctx *c, snode *n, const json_t *src, const char *kw, const char *want,
                           member_fn one)
{
    const json_t *v = json_object_get(src, kw);
    if (!v) return 0;
    size_t saved = cpush(c, kw);
    if (!json_is_object(v)) return cfail(c, "%s must be %s", kw, want);
    const char *k;
    json_t *sub;
    json_object_foreach((json_t *)v, k, sub) {
        size_t s2 = cpush(c, k);
        if (one(c, n, k, sub, json_object_size(v)) < 0) return -1;
        cpop(c, s2);
    }
    cpop(c, saved);
    return 0;
}

static int property(cctx *c, snode *n, const char *k, const json_t *v, size_t count)
{
    if (!n->props) n->props = xcalloc(count + 1, sizeof *n->props);
    n->props[n->nprops].name = k;
    return (n->props[n->nprops++].node = compile_node(c, v)) ? 0 : -1;
}

static int pattern_property(cctx *c, snode *n, const char *k, const json_t *v, size_t count)
{
    if (!n->pprops) n->pprops = xcalloc(count + 1, sizeof *n->pprops);
    spattern *p = &n->pprops[n->npprops++];
    p->src = k;
    if (!(p->re = compile_regex(c, "patternProperties key", k, strlen(k)))) return -1;
    return (p->node = compile_node(c, v)) ? 0 : -1;
}

static int dependency(cctx *c, snode *n, const char *k, const json_t *v, size_t count)
{
    if (!n->deps) n->deps = xcalloc(count + 1, sizeof *n->deps);
    sdep *dep = &n->deps[n->ndeps++];
    dep->name = k;
    if (json_is_array(v))
        return compile_strings(c, v, "a property dependency", &dep->required, &dep->nrequired);
    return (dep->node = compile_node(c, v)) ? 0 : -1;
}

/* A definition is compiled into the schema's nodes; a $ref finds it there. */
static int definition(cctx *c, snode *n, const char *k, const json_t *v, size_t count)
{
    (void)n, (void)k, (void)count;
    return compile_node(c, v) ? 0 : -1;
}

static int compile_properties(cctx *c, snode *n, const json_t *src)
{
    if (compile_members(c, n, src, "properties", "an object of schemas", property) < 0 ||
        compile_members(c, n, src, "patternProperties", "an object of schemas",
                        pattern_property) < 0)
        return -1;
    if (compile_sub(c, src, "additionalProperties", &n->addl_props) < 0) return -1;
    if (compile_sub(c, src, "propertyNames", &n->prop_names) < 0) return -1;
    const json_t *v = json_object_get(src, "required");
    if (v && compile_strings(c, v, "required", &n->required, &n->nrequired) < 0) return -1;
    if (compile_members(c, n, src, "dependencies", "an object", dependency) < 0) return -1;
    if (compile_bounds(c, src, "minProperties", "maxProperties", &n->min_props, &n->max_props) < 0)
        return -1;
    return 0;
}

static int compile_arrays(cctx *c, snode *n, const json_t *src)
{
    const json_t *v = json_object_get(src, "items");
    if (json_is_array(v)) {
        size_t saved = cpush(c, "items");
        n->is_tuple = true;
        n->ntuple = json_array_size(v);
        n->tuple = xcalloc(n->ntuple + 1, sizeof *n->tuple);
        for (size_t i = 0; i < n->ntuple; i++) {
            size_t s2 = cpush_index(c, i);
            if (!(n->tuple[i] = compile_node(c, json_array_get(v, i)))) return -1;
            cpop(c, s2);
        }
        cpop(c, saved);
    } else if (compile_sub(c, src, "items", &n->items) < 0) {
        return -1;
    }
    if (compile_sub(c, src, "additionalItems", &n->addl_items) < 0) return -1;
    if (compile_sub(c, src, "contains", &n->contains) < 0) return -1;
    if (compile_bounds(c, src, "minItems", "maxItems", &n->min_items, &n->max_items) < 0)
        return -1;
    v = json_object_get(src, "uniqueItems");
    if (v) {
        if (!json_is_boolean(v)) return cfail(c, "uniqueItems must be a boolean");
        n->unique = json_is_true(v);
    }
    return 0;
}

static int compile_scalars(cctx *c, snode *n, const json_t *src)
{
    const json_t *v = json_object_get(src, "enum");
    if (v) {
        if (!json_is_array(v)) return cfail(c, "enum must be an array");
        n->enum_vals = v;
    }
    n->const_val = json_object_get(src, "const");
    if (compile_number(c, src, "minimum", &n->minimum) < 0 ||
        compile_number(c, src, "maximum", &n->maximum) < 0 ||
        compile_number(c, src, "exclusiveMinimum", &n->ex_minimum) < 0 ||
        compile_number(c, src, "exclusiveMaximum", &n->ex_maximum) < 0 ||
        compile_number(c, src, "multipleOf", &n->multiple_of) < 0)
        return -1;
    if (n->multiple_of && !(json_number_value(n->multiple_of) > 0))
        return cfail(c, "multipleOf must be greater than 0");
    if (compile_bounds(c, src, "minLength", "maxLength", &n->min_len, &n->max_len) < 0) return -1;
    v = json_object_get(src, "pattern");
    if (v) {
        if (!json_is_string(v)) return cfail(c, "pattern must be a string");
        n->pattern_src = json_string_value(v);
        if (!(n->pattern = compile_regex(c, "pattern", n->pattern_src, json_string_length(v))))
            return -1;
    }
    return 0;
}

/* Percent-decodes a URI fragment. Caller frees. */
static char *percent_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Resolves a JSON Pointer (already percent-decoded) in doc. */
static const json_t *pointer_get(const json_t *doc, const char *ptr)
{
    if (!*ptr) return doc;
    if (*ptr != '/') return NULL;
    const json_t *cur = doc;
    const char *p = ptr + 1;
    char *tok = xmalloc(strlen(ptr) + 1);
    for (;;) {
        size_t tl = 0;
        for (; *p && *p != '/'; p++) {
            if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[tl++] = p[1] == '0' ? '~' : '/';
                p++;
            } else {
                tok[tl++] = *p;
            }
        }
        tok[tl] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            bool digits = tl > 0 && *end == '\0' && isdigit((unsigned char)tok[0]) &&
                          (tl == 1 || tok[0] != '0');
            cur = digits ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
        if (!cur || !*p) break;
        p++; /* the '/' */
    }
    free(tok);
    return cur;
}

static snode *compile_ref(cctx *c, const char *ref)
{
    const char *frag = NULL;
    size_t blen = c->s->base_id ? strcspn(c->s->base_id, "#") : 0;
    if (ref[0] == '#')
        frag = ref + 1;
    else if (blen && !strncmp(ref, c->s->base_id, blen) && (ref[blen] == '#' || !ref[blen]))
        frag = ref[blen] ? ref + blen + 1 : "";
    if (!frag) {
        cfail(c, "$ref \"%.200s\": only references within the schema (\"#...\") are supported",
              ref);
        return NULL;
    }
    char *ptr = percent_decode(frag);
    const json_t *target = pointer_get(c->s->doc, ptr);
    free(ptr);
    if (!target) {
        cfail(c, "$ref \"%.200s\" does not point to anything in the schema", ref);
        return NULL;
    }
    /* The target is compiled where it is, so errors name its location. */
    char saved[sizeof c->loc];
    size_t saved_len = c->loclen;
    memcpy(saved, c->loc, sizeof saved);
    snprintf(c->loc, sizeof c->loc, "%.*s", (int)(sizeof c->loc - 1), frag);
    c->loclen = strlen(c->loc);
    snode *n = compile_node(c, target);
    if (!c->failed) {
        memcpy(c->loc, saved, sizeof saved);
        c->loclen = saved_len;
    }
    return n;
}

static snode *compile_node(cctx *c, const json_t *src)
{
    if (c->failed) return NULL;
    for (size_t i = 0; i < c->s->nnodes; i++)
        if (c->s->nodes[i]->src == src) return c->s->nodes[i];
    if (!json_is_object(src) && !json_is_boolean(src)) {
        cfail(c, "a schema must be an object or a boolean");
        return NULL;
    }
    snode *n = xcalloc(1, sizeof *n);
    n->src = src;
    n->min_props = n->max_props = n->min_items = n->max_items = n->min_len = n->max_len = -1;
    VEC_GROW(c->s->nodes, c->s->cap, c->s->nnodes + 1);
    c->s->nodes[c->s->nnodes++] = n;
    if (json_is_boolean(src)) {
        n->boolean = json_is_true(src);
        return n;
    }
    n->boolean = -1;

    /* Definitions are compiled even when nothing refers to them, so a
     * mistake in one is found now rather than at the first value. */
    if (compile_members(c, n, src, "definitions", "an object of schemas", definition) < 0)
        return NULL;

    const json_t *ref = json_object_get(src, "$ref");
    if (ref) {
        size_t saved = cpush(c, "$ref");
        if (!json_is_string(ref)) {
            cfail(c, "$ref must be a string");
            return NULL;
        }
        /* draft-07: a $ref makes every sibling keyword ignored. */
        n->ref = compile_ref(c, json_string_value(ref));
        cpop(c, saved);
        return n->ref ? n : NULL;
    }

    const json_t *type = json_object_get(src, "type");
    if (type) {
        size_t saved = cpush(c, "type");
        if (compile_type(c, n, type) < 0) return NULL;
        cpop(c, saved);
    }
    if (compile_properties(c, n, src) < 0 || compile_arrays(c, n, src) < 0 ||
        compile_scalars(c, n, src) < 0 || compile_list(c, src, "allOf", &n->all_of, &n->nall) < 0 ||
        compile_list(c, src, "anyOf", &n->any_of, &n->nany) < 0 ||
        compile_list(c, src, "oneOf", &n->one_of, &n->none) < 0 ||
        compile_sub(c, src, "not", &n->not_) < 0 || compile_sub(c, src, "if", &n->if_) < 0 ||
        compile_sub(c, src, "then", &n->then_) < 0 || compile_sub(c, src, "else", &n->else_) < 0)
        return NULL;
    return n;
}

static void node_free(snode *n)
{
    free(n->props);
    for (size_t i = 0; i < n->npprops; i++) pcre2_code_free(n->pprops[i].re);
    free(n->pprops);
    free(n->required);
    for (size_t i = 0; i < n->ndeps; i++) free(n->deps[i].required);
    free(n->deps);
    free(n->tuple);
    pcre2_code_free(n->pattern);
    free(n->all_of);
    free(n->any_of);
    free(n->one_of);
    free(n);
}

void schema_free(schema_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nnodes; i++) node_free(s->nodes[i]);
    free(s->nodes);
    json_decref(s->doc);
    free(s);
}

schema_t *schema_compile(json_t *doc, err_t *err)
{
    if (!doc) {
        err_code(err, EVK_INVALID, "invalid schema: no schema given");
        return NULL;
    }
    schema_t *s = xcalloc(1, sizeof *s);
    s->doc = json_incref(doc);
    const json_t *id = json_object_get(doc, "$id");
    if (json_is_string(id)) s->base_id = json_string_value(id);
    cctx c = {.s = s, .err = err};
    s->root = compile_node(&c, doc);
    if (!s->root) {
        schema_free(s);
        return NULL;
    }
    return s;
}

schema_t *schema_compile_text(const char *text, size_t len, err_t *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!doc) {
        err_code(err, EVK_INVALID, "invalid schema: not JSON: %s at line %d column %d", je.text,
                 je.line, je.column);
        return NULL;
    }
    schema_t *s = schema_compile(doc, err);
    json_decref(doc);
    return s;
}

/* ---- validating ---- */

typedef struct vctx {
    schema_errors_t *errs;   /* NULL: stop at the first error */
    buf_t path;              /* the instance location, JSON Pointer */
    int depth;
} vctx;

static void errors_add(schema_errors_t *e, const char *path, size_t plen, const char *keyword,
                       char *message)
{
    VEC_GROW(e->items, e->cap, e->count + 1);
    schema_error_t *x = &e->items[e->count++];
    x->path = xstrndup(path ? path : "", plen);
    x->keyword = xstrdup(keyword);
    x->message = message;
}

static bool fail(vctx *v, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(vctx *v, const char *keyword, const char *fmt, ...)
{
    if (!v->errs) return false;
    va_list ap;
    va_start(ap, fmt);
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0) abort();
    va_end(ap);
    errors_add(v->errs, v->path.data, v->path.len, keyword, msg);
    return false;
}

static size_t vpush(vctx *v, const char *seg, size_t len)
{
    size_t saved = v->path.len;
    if (buf_append(&v->path, "/", 1) < 0) abort();
    for (size_t i = 0; i < len; i++) {
        const char *rep = seg[i] == '~' ? "~0" : seg[i] == '/' ? "~1" : NULL;
        if (buf_append(&v->path, rep ? rep : seg + i, rep ? 2 : 1) < 0) abort();
    }
    return saved;
}

static size_t vpush_index(vctx *v, size_t i)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%zu", i);
    return vpush(v, tmp, (size_t)n);
}

static void vpop(vctx *v, size_t saved)
{
    v->path.len = saved;
    if (v->path.data) v->path.data[saved] = '\0';
}

/* Evaluates n against val without reporting: for anyOf, oneOf, not, if,
 * contains. */
static bool node_validate(const snode *n, const json_t *val, vctx *v);

static bool node_check(const snode *n, const json_t *val, vctx *v)
{
    schema_errors_t *saved = v->errs;
    v->errs = NULL;
    bool ok = node_validate(n, val, v);
    v->errs = saved;
    return ok;
}


#define KEEP_GOING(ok) do { if (!(ok) && !v->errs) return false; } while (0)

/* A size against the bounds of a min and a max keyword (-1: absent), the
 * error saying "must <verb> at least|most N <noun>". */
static bool check_size(vctx *v, size_t size, long long min, long long max, const char *kw_min,
                       const char *kw_max, const char *verb, const char *one, const char *many)
{
    bool ok = true;
    if (min >= 0 && size < (size_t)min) {
        ok = fail(v, kw_min, "must %s at least %lld %s", verb, min, min == 1 ? one : many);
        KEEP_GOING(ok);
    }
    if (max >= 0 && size > (size_t)max)
        ok = fail(v, kw_max, "must %s at most %lld %s", verb, max, max == 1 ? one : many);
    return ok;
}

static bool check_type(const snode *n, const json_t *val, vctx *v)
{
    unsigned t = type_of(val);
    if (n->types & t) return true;
    if (t == T_NUMBER && (n->types & T_INTEGER) && json_is_int_value(val)) return true;
    if (!v->errs) return false;
    buf_t want;
    buf_init(&want, 0);
    /* Named in the schema's own order: "must be a string or null". */
    size_t count = json_is_array(n->type_kw) ? json_array_size(n->type_kw) : 1;
    for (size_t k = 0; k < count; k++) {
        const json_t *e = json_is_array(n->type_kw) ? json_array_get(n->type_kw, k) : n->type_kw;
        const char *name = json_string_value(e);
        if (k == 0)
            buf_printf(&want, "%s %s", strchr("aeiou", name[0]) ? "an" : "a", name);
        else
            buf_printf(&want, "%s%s", k + 1 == count ? " or " : ", ", name);
    }
    fail(v, "type", "must be %s, got %s", want.data, type_name(t));
    buf_free(&want);
    return false;
}

static bool check_object(const snode *n, const json_t *val, vctx *v)
{
    bool ok = true;
    for (size_t i = 0; i < n->nrequired; i++) {
        if (json_object_get(val, n->required[i])) continue;
        ok = false;
        if (!v->errs) return false;
        size_t saved = vpush(v, n->required[i], strlen(n->required[i]));
        fail(v, "required", "is required");
        vpop(v, saved);
    }
    if (!check_size(v, json_object_size(val), n->min_props, n->max_props, "minProperties",
                    "maxProperties", "have", "properties", "properties"))
        ok = false;
    KEEP_GOING(ok);
    for (size_t i = 0; i < n->ndeps; i++) {
        const sdep *d = &n->deps[i];
        if (!json_object_get(val, d->name)) continue;
        if (d->node) {
            if (!node_validate(d->node, val, v)) {
                ok = false;
                KEEP_GOING(false);
            }
            continue;
        }
        for (size_t j = 0; j < d->nrequired; j++) {
            if (json_object_get(val, d->required[j])) continue;
            ok = false;
            if (!v->errs) return false;
            size_t saved = vpush(v, d->required[j], strlen(d->required[j]));
            fail(v, "dependencies", "is required when \"%s\" is present", d->name);
            vpop(v, saved);
        }
    }
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)val, key, child) {
        size_t saved = vpush(v, key, strlen(key));
        bool matched = false;
        for (size_t i = 0; i < n->nprops; i++) {
            if (strcmp(n->props[i].name, key) != 0) continue;
            matched = true;
            if (!node_validate(n->props[i].node, child, v)) ok = false;
        }
        for (size_t i = 0; i < n->npprops; i++) {
            if (!regex_match(n->pprops[i].re, key, strlen(key))) continue;
            matched = true;
            if (!node_validate(n->pprops[i].node, child, v)) ok = false;
        }
        if (!matched && n->addl_props) {
            if (n->addl_props->boolean == 0)
                ok = fail(v, "additionalProperties", "is not allowed (not a known property)");
            else if (!node_validate(n->addl_props, child, v))
                ok = false;
        }
        if (n->prop_names) {
            json_t *name = json_stringn(key, strlen(key));
            if (!node_check(n->prop_names, name, v)) {
                ok = fail(v, "propertyNames", "property name \"%s\" is not allowed", key);
            }
            json_decref(name);
        }
        vpop(v, saved);
        KEEP_GOING(ok);
    }
    return ok;
}

static bool check_array(const snode *n, const json_t *val, vctx *v)
{
    bool ok = true;
    size_t size = json_array_size(val);
    ok = check_size(v, size, n->min_items, n->max_items, "minItems", "maxItems", "have", "item",
                    "items");
    KEEP_GOING(ok);
    if (n->unique) {
        for (size_t i = 0; i < size && ok; i++)
            for (size_t j = i + 1; j < size; j++)
                if (schema_json_equal(json_array_get(val, i), json_array_get(val, j))) {
                    ok = fail(v, "uniqueItems", "must not contain duplicates (items %zu and %zu are equal)",
                              i, j);
                    break;
                }
        KEEP_GOING(ok);
    }
    for (size_t i = 0; i < size; i++) {
        const snode *sub = NULL;
        const char *kw = "items";
        if (n->is_tuple) {
            if (i < n->ntuple) {
                sub = n->tuple[i];
            } else {
                sub = n->addl_items;
                kw = "additionalItems";
            }
        } else {
            sub = n->items;
        }
        if (!sub) continue;
        size_t saved = vpush_index(v, i);
        if (sub->boolean == 0 && !strcmp(kw, "additionalItems"))
            ok = fail(v, kw, "is not allowed (at most %zu item%s)", n->ntuple,
                      n->ntuple == 1 ? "" : "s");
        else if (!node_validate(sub, json_array_get(val, i), v))
            ok = false;
        vpop(v, saved);
        KEEP_GOING(ok);
    }
    if (n->contains) {
        bool found = false;
        for (size_t i = 0; i < size && !found; i++)
            found = node_check(n->contains, json_array_get(val, i), v);
        if (!found) ok = fail(v, "contains", "must contain at least one matching item");
    }
    return ok;
}

static bool check_number(const snode *n, const json_t *val, vctx *v)
{
    bool ok = true;
    struct { const json_t *lim; const char *kw, *op; int bad1, bad2; } checks[] = {
        {n->minimum, "minimum", ">=", -1, -1},
        {n->maximum, "maximum", "<=", 1, 1},
        {n->ex_minimum, "exclusiveMinimum", ">", -1, 0},
        {n->ex_maximum, "exclusiveMaximum", "<", 1, 0},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (!checks[i].lim) continue;
        int cmp = num_cmp(val, checks[i].lim);
        if (cmp == checks[i].bad1 || cmp == checks[i].bad2) {
            char *d = dump(checks[i].lim);
            ok = fail(v, checks[i].kw, "must be %s %s", checks[i].op, d);
            free(d);
            KEEP_GOING(ok);
        }
    }
    if (n->multiple_of) {
        bool multiple;
        if (json_is_integer(val) && json_is_integer(n->multiple_of)) {
            multiple = json_integer_value(val) % json_integer_value(n->multiple_of) == 0;
        } else {
            double q = json_number_value(val) / json_number_value(n->multiple_of);
            multiple = isfinite(q) && fabs(q - round(q)) <= 1e-9 * fmax(1.0, fabs(q));
        }
        if (!multiple) {
            char *d = dump(n->multiple_of);
            ok = fail(v, "multipleOf", "must be a multiple of %s", d);
            free(d);
        }
    }
    return ok;
}

static bool check_string(const snode *n, const json_t *val, vctx *v)
{
    bool ok = true;
    const char *s = json_string_value(val);
    size_t bytes = json_str_len(val);
    if (n->min_len >= 0 || n->max_len >= 0) {
        ok = check_size(v, utf8_length(s, bytes), n->min_len, n->max_len, "minLength", "maxLength",
                        "be", "character", "characters");
        KEEP_GOING(ok);
    }
    if (n->pattern && !regex_match(n->pattern, s, bytes))
        ok = fail(v, "pattern", "must match pattern %s", n->pattern_src);
    return ok;
}

/* Bytes of allowed values an enum error lists before it says "...". */
#define ENUM_LIST_MAX 200

static bool check_enum(const snode *n, const json_t *val, vctx *v)
{
    size_t count = json_array_size(n->enum_vals);
    for (size_t i = 0; i < count; i++)
        if (schema_json_equal(val, json_array_get(n->enum_vals, i))) return true;
    if (!v->errs) return false;
    buf_t list;
    buf_init(&list, 0);
    for (size_t i = 0; i < count; i++) {
        if (list.len > ENUM_LIST_MAX) {
            buf_printf(&list, ", ... (%zu values)", count);
            break;
        }
        char *d = dump(json_array_get(n->enum_vals, i));
        buf_printf(&list, "%s%s", i ? ", " : "", d);
        free(d);
    }
    fail(v, "enum", "must be one of: %s", list.data ? list.data : "(nothing)");
    buf_free(&list);
    return false;
}

static bool check_combinators(const snode *n, const json_t *val, vctx *v)
{
    bool ok = true;
    for (size_t i = 0; i < n->nall; i++) {
        if (!node_validate(n->all_of[i], val, v)) ok = false;
        KEEP_GOING(ok);
    }
    if (n->nany) {
        bool any = false;
        for (size_t i = 0; i < n->nany && !any; i++) any = node_check(n->any_of[i], val, v);
        if (!any) ok = fail(v, "anyOf", "must match at least one of the %zu schemas in anyOf",
                            n->nany);
        KEEP_GOING(ok);
    }
    if (n->none) {
        size_t matched = 0, first = 0, second = 0;
        for (size_t i = 0; i < n->none && matched < 2; i++)
            if (node_check(n->one_of[i], val, v)) {
                if (matched++) second = i;
                else first = i;
            }
        if (matched == 0)
            ok = fail(v, "oneOf", "must match exactly one of the %zu schemas in oneOf, matched none",
                      n->none);
        else if (matched > 1)
            ok = fail(v, "oneOf",
                      "must match exactly one of the schemas in oneOf, matched %zu and %zu",
                      first, second);
        KEEP_GOING(ok);
    }
    if (n->not_ && node_check(n->not_, val, v)) {
        ok = fail(v, "not", "must not match the schema in not");
        KEEP_GOING(ok);
    }
    if (n->if_) {
        const snode *branch = node_check(n->if_, val, v) ? n->then_ : n->else_;
        if (branch && !node_validate(branch, val, v)) ok = false;
    }
    return ok;
}

static bool node_validate(const snode *n, const json_t *val, vctx *v)
{
    if (n->boolean == 1) return true;
    if (n->boolean == 0) return fail(v, "false", "is not allowed (the schema is false)");
    if (v->depth >= SCHEMA_MAX_DEPTH)
        return fail(v, "$ref", "is nested too deeply to validate (more than %d levels)",
                    SCHEMA_MAX_DEPTH);
    v->depth++;
    bool ok = true;
    if (n->ref) {
        ok = node_validate(n->ref, val, v);
        v->depth--;
        return ok;
    }
    /* A wrong type makes the type-specific keywords moot: one clear error. */
    if (n->types && !check_type(n, val, v)) {
        v->depth--;
        return false;
    }
    if (n->enum_vals && !check_enum(n, val, v)) ok = false;
    if (ok || v->errs) {
        if (n->const_val && !schema_json_equal(val, n->const_val)) {
            char *d = dump(n->const_val);
            ok = fail(v, "const", "must be equal to %s", d);
            free(d);
        }
    }
    if (ok || v->errs) {
        switch (type_of(val)) {
        case T_OBJECT: if (!check_object(n, val, v)) ok = false; break;
        case T_ARRAY: if (!check_array(n, val, v)) ok = false; break;
        case T_NUMBER: if (!check_number(n, val, v)) ok = false; break;
        case T_STRING: if (!check_string(n, val, v)) ok = false; break;
        default: break;
        }
    }
    if ((ok || v->errs) && !check_combinators(n, val, v)) ok = false;
    v->depth--;
    return ok;
}

bool schema_validate(const schema_t *s, const json_t *value, schema_errors_t *errs)
{
    vctx v = {.errs = errs};
    buf_init(&v.path, 0);
    if (buf_append(&v.path, "", 0) < 0) abort();
    bool ok = value ? node_validate(s->root, value, &v) : false;
    if (!value) {
        v.errs = errs;
        fail(&v, "type", "no value");
    }
    buf_free(&v.path);
    return ok;
}

void schema_errors_free(schema_errors_t *errs)
{
    if (!errs) return;
    for (size_t i = 0; i < errs->count; i++) {
        free(errs->items[i].path);
        free(errs->items[i].keyword);
        free(errs->items[i].message);
    }
    free(errs->items);
    errs->items = NULL;
    errs->count = errs->cap = 0;
}
