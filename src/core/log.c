/* log: see log.h. Lines are written with one write() so concurrent threads
 * never interleave within a line. */
#include "core/log.h"
#include "core/util.h"
#include "core/json_io.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static _Atomic int min_level = LOG_INFO;
static _Atomic int out_format = LOG_FORMAT_JSON;
static _Atomic bool out_color = false;

void log_set_format(log_format f, bool color)
{
    atomic_store(&out_format, (int)f);
    atomic_store(&out_color, color);
}

log_format log_get_format(void) { return (log_format)atomic_load(&out_format); }

int log_format_parse(const char *s, log_format *out)
{
    if (!s) return -1;
    if (!strcasecmp(s, "json")) *out = LOG_FORMAT_JSON;
    else if (!strcasecmp(s, "text")) *out = LOG_FORMAT_TEXT;
    else return -1;
    return 0;
}

int log_setup_format(const char *name)
{
    log_format f;
    if (log_format_parse(name, &f) < 0) return -1;
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    bool color = isatty(STDERR_FILENO) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
    log_set_format(f, color);
    return 0;
}

/* ---- text format ---- */

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"

static const char *level_color(log_level l)
{
    switch (l) {
    case LOG_DEBUG: return "\033[2m";
    case LOG_INFO: return "\033[32m";
    case LOG_WARN: return "\033[33m";
    default: return "\033[1;31m";
    }
}

/* s with every control character (and DEL) as an escape, so no byte from a
 * message or value can move the cursor or recolor the terminal. */
static void put_clean(buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n') buf_append(b, "\\n", 2);
        else if (ch == '\t') buf_append(b, "\\t", 2);
        else if (ch == '\r') buf_append(b, "\\r", 2);
        else if (ch < 0x20 || ch == 0x7f) buf_printf(b, "\\x%02x", ch);
        else buf_append(b, s, 1);
    }
}

static bool needs_quotes(const char *s)
{
    if (!*s) return true;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= ' ' || ch == '"' || ch == '=' || ch == '\\' || ch == 0x7f) return true;
    }
    return false;
}

static void put_value(buf_t *b, const json_t *v)
{
    if (json_is_string(v) && !needs_quotes(json_string_value(v))) {
        buf_printf(b, "%s", json_string_value(v));
        return;
    }
    /* JSON escaping quotes strings and escapes every control character. */
    char *s = json_text(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (s) put_clean(b, s);
    free(s);
}

char *log_text_line(const char *time, log_level lvl, const char *msg, const json_t *fields,
                    bool color)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    buf_t b;
    buf_init(&b, 0);
    if (color) buf_printf(&b, C_DIM "%s" C_RESET " %s%-5s" C_RESET " ", time, level_color(lvl),
                          names[(unsigned)lvl <= LOG_OFF ? lvl : LOG_INFO]);
    else buf_printf(&b, "%s %-5s ", time, names[(unsigned)lvl <= LOG_OFF ? lvl : LOG_INFO]);
    put_clean(&b, msg ? msg : "");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)fields, k, v) {
        buf_append(&b, " ", 1);
        if (color) buf_append(&b, C_DIM, strlen(C_DIM));
        put_clean(&b, k);
        buf_append(&b, "=", 1);
        if (color) buf_append(&b, C_RESET, strlen(C_RESET));
        put_value(&b, v);
    }
    if (!b.data) return xstrdup("");
    return buf_steal(&b);
}

void log_set_level(log_level l) { atomic_store(&min_level, (int)l); }
log_level log_get_level(void) { return (log_level)atomic_load(&min_level); }

log_level log_level_parse(const char *s, log_level dflt)
{
    if (!s) return dflt;
    if (!strcasecmp(s, "debug") || !strcasecmp(s, "trace")) return LOG_DEBUG;
    if (!strcasecmp(s, "info")) return LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) return LOG_WARN;
    if (!strcasecmp(s, "error")) return LOG_ERROR;
    if (!strcasecmp(s, "off") || !strcasecmp(s, "none")) return LOG_OFF;
    return dflt;
}

const char *log_level_name(log_level l)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    return (unsigned)l <= LOG_OFF ? names[l] : "info";
}

/* One write per line, so lines of concurrent threads never interleave;
 * takes and frees s. */
static void write_line(char *s)
{
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    ssize_t w = write(STDERR_FILENO, s, n + 1);
    (void)w;
    free(s);
}

void log_emit(log_level lvl, const char *msg, json_t *fields)
{
    if ((int)lvl < atomic_load(&min_level) || lvl == LOG_OFF) {
        json_decref(fields);
        return;
    }
    char ts[32];
    time_iso(now_ms(), ts, sizeof ts);
    /* Redaction first, whatever the format: a secret-named field never
     * reaches stderr. */
    if (fields) {
        json_t *clean = log_redact(fields);
        json_decref(fields);
        fields = clean;
    }
    if (atomic_load(&out_format) == LOG_FORMAT_TEXT) {
        char *text = log_text_line(ts, lvl, msg, json_is_object(fields) ? fields : NULL,
                                   atomic_load(&out_color));
        json_decref(fields);
        write_line(text);
        return;
    }
    json_t *line = json_object();
    json_object_set_new(line, "time", json_string(ts));
    json_object_set_new(line, "level", json_string(log_level_name(lvl)));
    json_object_set_new(line, "message", json_string(msg ? msg : ""));
    if (json_is_object(fields)) json_object_update_missing(line, fields);
    json_decref(fields);
    char *s = json_text(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (s) write_line(s);
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return true;
    return false;
}

bool log_key_is_secret(const char *key)
{
    if (!key) return false;
    /* Called for every key of every traced or logged object: one lower-case
     * copy searched with strstr instead of a case-blind compare at every
     * offset for every word. */
    char low[128];
    size_t n = 0;
    for (; key[n] && n < sizeof low - 1; n++)
        low[n] = (char)((key[n] >= 'A' && key[n] <= 'Z') ? key[n] - 'A' + 'a' : key[n]);
    low[n] = '\0';
    if (key[n])
        return strcasecmp(key, "authorization") == 0 || contains_ci(key, "secret") ||
               contains_ci(key, "token") || contains_ci(key, "password") ||
               contains_ci(key, "key") || contains_ci(key, "signature") ||
               strcasecmp(key, "cookie") == 0;
    return !strcmp(low, "authorization") || strstr(low, "secret") || strstr(low, "token") ||
           strstr(low, "password") || strstr(low, "key") || strstr(low, "signature") ||
           !strcmp(low, "cookie");
}

json_t *log_redact(const json_t *v)
{
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            if (log_key_is_secret(k)) json_object_set_new(out, k, json_string("<hidden>"));
            else json_object_set_new(out, k, log_redact(val));
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *val;
        json_array_foreach((json_t *)v, i, val) json_array_append_new(out, log_redact(val));
        return out;
    }
    return v ? json_deep_copy(v) : json_null();
}
