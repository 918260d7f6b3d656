/* log: one JSON object per line on stderr {time, level, message, ...fields}.
 * Anything that may hold request params goes through log_redact first. */
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
