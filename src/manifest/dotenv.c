/* dotenv: the app's .env file and $VAR expansion in action inputs.
 *
 * The format is the one the dotenv npm package (and so aio) reads: KEY=VALUE
 * lines, '#' comments, an optional "export " prefix, 'single' quotes taken
 * literally, "double" quotes with \n \r \t \" \\ escapes; quoted values may
 * span lines. Unquoted values end at " #" (an inline comment) and are
 * trimmed. */
#include "manifest/manifest_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static bool key_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}
static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Advances p past the rest of the line (and its newline). */
static const char *skip_line(const char *p, int *line)
{
    while (*p && *p != '\n') p++;
    if (*p == '\n') {
        p++;
        (*line)++;
    }
    return p;
}

void dotenv_parse(const char *text, const char *file_rel, json_t *obj, diags_t *d)
{
    const char *p = text;
    int line = 1;
    while (*p) {
        while (blank(*p)) p++;
        if (*p == '\n' || *p == '#' || !*p) {
            p = skip_line(p, &line);
            continue;
        }
        if (!strncmp(p, "export", 6) && (p[6] == ' ' || p[6] == '\t')) {
            p += 6;
            while (blank(*p)) p++;
        }
        int entry_line = line;
        const char *ks = p;
        if (key_start(*p))
            while (key_char(*p)) p++;
        size_t klen = (size_t)(p - ks);
        while (blank(*p)) p++;
        if (!klen || *p != '=') {
            diags_add(d, DIAG_WARNING, file_rel, entry_line, 0, "expected KEY=VALUE; line ignored");
            p = skip_line(p, &line);
            continue;
        }
        p++;
        while (*p == ' ' || *p == '\t') p++;
        buf_t v;
        buf_init(&v, 0);
        if (*p == '"' || *p == '\'') {
            char q = *p++;
            bool closed = false;
            while (*p) {
                if (*p == q) {
                    closed = true;
                    p++;
                    break;
                }
                if (*p == '\n') line++;
                if (q == '"' && *p == '\\' && p[1]) {
                    char c = p[1];
                    const char *out = NULL;
                    switch (c) {
                    case 'n': out = "\n"; break;
                    case 'r': out = "\r"; break;
                    case 't': out = "\t"; break;
                    case '"': out = "\""; break;
                    case '\\': out = "\\"; break;
                    default: break;
                    }
                    if (out) {
                        buf_append(&v, out, 1);
                        p += 2;
                        continue;
                    }
                }
                buf_append(&v, p, 1);
                p++;
            }
            if (!closed)
                diags_add(d, DIAG_WARNING, file_rel, entry_line, 0,
                          "value of '%.*s' has no closing %c quote", (int)klen, ks, q);
            while (blank(*p)) p++;
            if (*p && *p != '\n' && *p != '#')
                diags_add(d, DIAG_WARNING, file_rel, line, 0,
                          "text after the closing quote of '%.*s' is ignored", (int)klen, ks);
            p = skip_line(p, &line);
        } else {
            const char *vs = p;
            while (*p && *p != '\n') {
                if (*p == '#' && p > vs && (p[-1] == ' ' || p[-1] == '\t')) break;
                p++;
            }
            const char *ve = p;
            while (ve > vs && (blank(ve[-1]))) ve--;
            buf_append(&v, vs, (size_t)(ve - vs));
            p = skip_line(p, &line);
        }
        char *key = xstrndup(ks, klen);
        char *val = buf_steal(&v);
        json_t *js = json_string(val);
        if (!js) {
            diags_add(d, DIAG_WARNING, file_rel, entry_line, 0,
                      "value of '%s' is not valid UTF-8; ignored", key);
        } else {
            json_object_set_new(obj, key, js);
        }
        free(key);
        free(val);
    }
}

static bool name_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool name_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

char *env_expand(const char *s, const json_t *env, json_t *missing, diags_t *d, const mnode_t *at)
{
    buf_t b;
    buf_init(&b, 0);
    buf_append(&b, "", 0);
    const char *p = s;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            buf_append(&b, p, strlen(p));
            break;
        }
        buf_append(&b, p, (size_t)(dollar - p));
        const char *ns = NULL, *ne = NULL, *after = NULL;
        if (dollar[1] == '{') {
            const char *q = dollar + 2;
            if (name_start(*q)) {
                while (name_char(*q)) q++;
                if (*q == '}') ns = dollar + 2, ne = q, after = q + 1;
            }
        } else if (name_start(dollar[1])) {
            const char *q = dollar + 1;
            while (name_char(*q)) q++;
            ns = dollar + 1, ne = q, after = q;
        }
        if (!ns) {
            /* Not a variable reference ("$5", "a$", "${ x }"): kept as written. */
            buf_append(&b, "$", 1);
            p = dollar + 1;
            continue;
        }
        char *name = xstrndup(ns, (size_t)(ne - ns));
        const char *val = json_string_value(json_object_get(env, name));
        if (val) {
            buf_append(&b, val, strlen(val));
        } else {
            /* One warning per variable: a fresh checkout without .env would
             * otherwise get one per action that uses it. */
            json_t *seen = missing ? json_object_get(missing, name) : NULL;
            if (seen) {
                json_int_t more = json_integer_value(json_array_get(seen, 1));
                json_array_set_new(seen, 1, json_integer(more + 1));
            } else {
                if (missing)
                    json_object_set_new(missing, name,
                                        json_pack("[I, I]", (json_int_t)d->n, (json_int_t)0));
                mdiag(d, DIAG_WARNING, at,
                      "environment variable '%s' is not set (neither in the environment nor in "
                      ".env); using \"\"",
                      name);
            }
        }
        free(name);
        p = after;
    }
    return buf_steal(&b);
}

void env_missing_finish(json_t *missing, diags_t *d)
{
    const char *name;
    json_t *v;
    json_object_foreach(missing, name, v) {
        size_t idx = (size_t)json_integer_value(json_array_get(v, 0));
        json_int_t more = json_integer_value(json_array_get(v, 1));
        if (!more || idx >= d->n) continue;
        char *msg = xasprintf("%s (used in %lld more place%s)", d->items[idx].message,
                              (long long)more, more == 1 ? "" : "s");
        free(d->items[idx].message);
        d->items[idx].message = msg;
    }
}
