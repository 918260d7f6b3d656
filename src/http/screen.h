/* screen: a later request on a kept-alive connection, checked in
 * libmicrohttpd's first call for it, as the door checks a connection's
 * first request on its raw bytes (door.h): libmicrohttpd reads a kept-alive
 * connection itself, so the raw bytes are not there to peek at any more.
 * libmicrohttpd 0.9.75 parses a head in place in its read buffer: the line
 * ends, each header's ':' and the separators of the request line become
 * NUL bytes, and every string it hands over points into that buffer, in
 * the order received. So a NUL byte that was in the request shows as bytes
 * libmicrohttpd did not hand over: anything but NULs after a value, a name
 * or the URI (which it cut at the NUL). Also refused: white space in a
 * header name, conflicting or malformed Content-Length headers,
 * Content-Length with Transfer-Encoding, a folded header line (its pieces
 * are no longer where they were received). */
#ifndef EVKIT_HTTP_SCREEN_H
#define EVKIT_HTTP_SCREEN_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* The head as libmicrohttpd handed it over: method, url and version as the
 * access handler got them, uri_end where the URI's first NUL was when the
 * request line was read (the URI log callback), size the head's bytes
 * (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE). NULL when the head is sound,
 * else the reason for a 400 ("The request is malformed: ..."). */
const char *screen_head(struct MHD_Connection *c, const char *method, const char *url,
                        const char *version, const char *uri_end, size_t size);

/* libmicrohttpd 0.9.75 answers a malformed Content-Length itself, before
 * any callback of evkit's, and sends that answer's header block twice. It
 * logs first, on the thread of that connection: there evkit answers once
 * itself (the door's 400) and closes the writing side, so libmicrohttpd's
 * own answer goes nowhere. To find the connection, each event thread keeps
 * its requests whose head has not reached the access handler yet; the one
 * whose head is whole is the one being parsed. */
typedef struct screen_pending {
    struct screen_pending *next, **pprev;
    struct MHD_Connection *conn;
} screen_pending;

/* The request line of c arrived (on its event thread). */
void screen_pending_add(screen_pending *p, struct MHD_Connection *c);
/* Its head reached the access handler, or the request ended. */
void screen_pending_del(screen_pending *p);
/* libmicrohttpd's log line (its format): true when it was about a
 * malformed Content-Length and evkit answered the request. */
bool screen_on_log(const char *fmt);

#endif
