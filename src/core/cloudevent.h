/* cloudevent: a CloudEvent's attributes checked as CloudEvents 1.0.2 (JSON
 * format) requires, so that nothing the spec forbids is journaled and handed
 * on to consumers and webhooks. */
#ifndef EVKIT_CORE_CLOUDEVENT_H
#define EVKIT_CORE_CLOUDEVENT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/util.h"

/* The longest extension attribute name CloudEvents 1.0.2 allows. */
#define CE_EXT_NAME_MAX 20

/* Checks every attribute of ev (a JSON object): specversion, id, source
 * and type non-empty strings; time an RFC 3339 timestamp; data_base64
 * base64; datacontenttype a media type; dataschema an absolute URI;
 * subject a non-empty string; extension names [a-z0-9]{1,20} with a
 * string, boolean or 32-bit integer value. 0, or -1 with EVK_INVALID and a
 * message naming the attribute. */
int cloudevent_check(const json_t *ev, err_t *err);

/* True for an RFC 3339 date-time: 2026-12-06T23:31:26.5Z, ...+01:00. */
bool rfc3339_valid(const char *s);

#endif
