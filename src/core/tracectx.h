/* tracectx: W3C Trace Context (traceparent, version 00): parsing what
 * arrives, starting a trace when nothing did, and the child span each hop
 * (an activation, a delivery attempt, an outgoing request) gets: the same
 * trace id, a span id of its own, the caller's span as parent. */
#ifndef EVKIT_CORE_TRACECTX_H
#define EVKIT_CORE_TRACECTX_H

#include <stdbool.h>

#define TRACEPARENT_LEN 55  /* "00-" 32 "-" 16 "-" 2 */

typedef struct tracectx {
    char trace_id[33];   /* 32 lower-case hex, not all zeros */
    char span_id[17];    /* 16 lower-case hex, not all zeros */
    char flags[3];       /* 2 hex; 01 = sampled */
} tracectx;

/* Parses a traceparent header value (surrounding spaces allowed; a future
 * version's extra fields ignored, as the spec says). False when invalid. */
bool tracectx_parse(const char *s, tracectx *out);
/* A new trace: fresh trace id and span id, sampled. */
void tracectx_new(tracectx *out);
/* A span in parent's trace (parent NULL or with an empty trace id: a new
 * trace). */
void tracectx_child(const tracectx *parent, tracectx *out);
/* "00-<trace id>-<span id>-<flags>". */
void tracectx_format(const tracectx *t, char out[TRACEPARENT_LEN + 1]);

#endif
