/* door: what a connection goes through before libmicrohttpd parses a
 * request. The listening socket is the door's: it accepts, counts
 * connections per client address and in total (over a cap the connection
 * is closed at once), and holds each new connection, without a thread,
 * until its first request's headers have arrived whole (by a deadline),
 * reading them with MSG_PEEK so they stay in the socket for
 * libmicrohttpd. The headers are screened on the raw bytes, which
 * libmicrohttpd 0.9.75 does not show (it cuts a value at a NUL and answers a
 * malformed Content-Length twice): a NUL byte, a Content-Length that is not a
 * number, conflicting Content-Length headers, Content-Length with
 * Transfer-Encoding, white space in a header name get one 400 and the
 * connection is closed. A request that passes is handed to libmicrohttpd
 * (admit). Later requests on a kept-alive connection are libmicrohttpd's to
 * read: they are screened in its callbacks (screen.h). */
#ifndef EVKIT_HTTP_DOOR_H
#define EVKIT_HTTP_DOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/util.h"

/* The largest request head the door reads (libmicrohttpd's own buffer is
 * 32 KiB); a longer one gets 431. */
#define DOOR_MAX_HEAD 16384

typedef enum { SCREEN_MORE, SCREEN_OK, SCREEN_BAD } screen_verdict;

typedef struct screen_result {
    size_t head_len;   /* SCREEN_OK: bytes up to and with the empty line */
    int status;        /* SCREEN_BAD: 400 or 431 */
    char why[160];     /* SCREEN_BAD: the reason, for the answer's error */
} screen_result;

/* Screens the start of a request (n bytes, as received): SCREEN_MORE while
 * its headers are not complete (and n < DOOR_MAX_HEAD). */
screen_verdict door_screen(const char *buf, size_t n, screen_result *out);

typedef struct door_limits {
    int max_conns;              /* open connections in all */
    int max_per_ip;             /* open connections of one address (IPv6: one /64) */
    int64_t header_timeout_ms;  /* a request's line and headers, from its first byte */
    int64_t idle_timeout_ms;    /* no request on an open connection */
} door_limits;

/* Hands a screened connection over; false when it could not be taken (the
 * fd is then closed by the callee, the door releases its count). */
typedef bool (*door_admit_fn)(void *cls, int fd, const struct sockaddr *addr, socklen_t len);

typedef struct door door_t;

/* A client's address as 16 bytes: IPv4 as is, IPv6 as its /64 (one host
 * may hold a whole one). The key of the per-address caps and limits. */
void door_addr_key(const struct sockaddr *sa, uint8_t key[16]);

/* Starts the door's thread on a listening socket (which it then owns). */
door_t *door_start(int listen_fd, const door_limits *lim, door_admit_fn admit, void *cls,
                   err_t *err);
/* Stops accepting and closes the connections still waiting; the admitted
 * ones may still call door_release and door_await until door_free. */
void door_stop(door_t *d);
void door_free(door_t *d);
/* An admitted connection from addr ended. */
void door_release(door_t *d, const struct sockaddr *addr);
/* Answers r (a 400 or 431 in JSON) on fd at once and closes its writing
 * side, after taking what the client sent that is still unread. */
void door_answer(int fd, const screen_result *r);

#endif
