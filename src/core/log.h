/* log: one line per entry on stderr. JSON by default, for machines:
 * {time, level, message, ...fields}; or text, for people on a terminal:
 * "time LEVEL message key=value ..." (colored on a TTY). Every field goes
 * through log_redact before either format sees it; anything else that may
 * hold request params goes through log_redact first too. */
#ifndef EVKIT_CORE_LOG_H
#define EVKIT_CORE_LOG_H

#include <jansson.h>
#include <stdbool.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

void log_set_level(log_level min);
log_level log_get_level(void);
/* "debug"|"info"|"warn"|"warning"|"error"|"off" (any case); dflt otherwise. */
log_level log_level_parse(const char *s, log_level dflt);
const char *log_level_name(log_level l);

typedef enum { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT } log_format;
/* color only matters for text (ANSI colors; for a terminal). */
void log_set_format(log_format f, bool color);
log_format log_get_format(void);
/* "json" or "text" (any case) into *out; -1 for anything else. */
int log_format_parse(const char *s, log_format *out);
/* --log-format / EVKIT_LOG_FORMAT: sets the format, with color when stderr
 * is a terminal and NO_COLOR is unset. -1 (nothing changed) for an unknown name. */
int log_setup_format(const char *name);
/* One text line without the newline: time, level, message, then key=value
 * fields in their order; strings with spaces, quotes, '=' or control
 * characters are quoted, objects and arrays are compact JSON, and control
 * characters never reach the terminal raw. fields may be NULL. Caller frees. */
char *log_text_line(const char *time, log_level lvl, const char *msg, const json_t *fields,
                    bool color);

/* Emits one line. fields (may be NULL) is stolen; its keys sit beside message. */
void log_emit(log_level lvl, const char *msg, json_t *fields);
#define log_debug(msg, f) log_emit(LOG_DEBUG, (msg), (f))
#define log_info(msg, f)  log_emit(LOG_INFO, (msg), (f))
#define log_warn(msg, f)  log_emit(LOG_WARN, (msg), (f))
#define log_error(msg, f) log_emit(LOG_ERROR, (msg), (f))

/* True for keys whose values are secret: "authorization" and every key that
 * contains secret, token, password or key (any case). */
bool log_key_is_secret(const char *key);
/* A deep copy of v with every secret value replaced by "<hidden>". */
json_t *log_redact(const json_t *v);

#endif
