/* log: see log.h. Lines are written with one write() so concurrent threads
 * never interleave within a line. */
#include "core/log.h"
#include "core/util.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static _Atomic int min_level = LOG_INFO;

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

void log_emit(log_level lvl, const char *msg, json_t *fields)
{
    if ((int)lvl < atomic_load(&min_level) || lvl == LOG_OFF) {
        json_decref(fields);
        return;
    }
    char ts[32];
    time_iso(now_ms(), ts, sizeof ts);
    json_t *line = json_object();
    json_object_set_new(line, "time", json_string(ts));
    json_object_set_new(line, "level", json_string(log_level_name(lvl)));
    json_object_set_new(line, "message", json_string(msg ? msg : ""));
    if (json_is_object(fields)) json_object_update_missing(line, fields);
    json_decref(fields);
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!s) return;
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    ssize_t w = write(STDERR_FILENO, s, n + 1);
    (void)w;
    free(s);
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
    return strcasecmp(key, "authorization") == 0 || contains_ci(key, "secret") ||
           contains_ci(key, "token") || contains_ci(key, "password") || contains_ci(key, "key") ||
           contains_ci(key, "signature") || strcasecmp(key, "cookie") == 0;
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
