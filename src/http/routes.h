/* routes: every HTTP route of evkit as one row of one table: the methods
 * and path it answers, who may call it, the handler, and its name in the
 * route label of evkit_http_requests_total. The server matches a request
 * once, when it arrives (so even a refused oversized body is counted under
 * its route), and dispatches it here: authorization first, then the row's
 * handler. A wrong method is a row of its own (ANY, after the rows that
 * take the path), so its refusal is written where the route is. */
#ifndef EVKIT_HTTP_ROUTES_H
#define EVKIT_HTTP_ROUTES_H

#include <stdbool.h>

#include "http/api.h"
#include "http/web.h"

/* Methods a row answers, as bits; M_ANY takes every method, known or not. */
enum {
    M_GET = 1 << 0,
    M_HEAD = 1 << 1,
    M_POST = 1 << 2,
    M_PUT = 1 << 3,
    M_DELETE = 1 << 4,
    M_PATCH = 1 << 5,
    M_OPTIONS = 1 << 6,
    M_OTHER = 1 << 7,
    M_ANY = 0xff,
};

typedef enum route_auth {
    ROUTE_OPEN,     /* anyone */
    ROUTE_API,      /* an EVKIT_API_TOKENS token (Bearer, or Basic with the token as the
                     * whole user:password pair), an IMS token (http/ims.h), or a console
                     * session cookie with its x-evkit-csrf header */
    ROUTE_METRICS,  /* a token from EVKIT_METRICS_TOKEN or what ROUTE_API takes, unless
                     * EVKIT_METRICS_AUTH=none */
    ROUTE_SESSION,  /* a console session cookie with its x-evkit-csrf header */
    ROUTE_ACTION,   /* a web action: a Bearer API token or IMS token when the action
                     * requires auth (require-whisk-auth); an unknown action passes (and
                     * is not found) */
    ROUTE_ADOBE,    /* the Adobe APIs (I/O Management, events ingress): an IMS token
                     * or what ROUTE_API takes, plus an x-api-key header (with IMS on,
                     * OAUTH_CLIENT_ID); refused in Adobe's gateway words */
} route_auth;

typedef struct http_route {
    unsigned methods;         /* M_* bits */
    /* Literal text, where '*' matches one path segment (possibly empty) and a
     * final "**" the rest of the path (possibly empty, slashes included);
     * each is handed to the handler in req->arg, in order. */
    const char *pattern;
    api_handler handler;
    const char *label;        /* route label of evkit_http_requests_total (bounded) */
    route_auth auth;
    const char *api;          /* ROUTE_API: what the 401 calls it while EVKIT_API_TOKENS is unset */
    const char *note;         /* the text of a refusal row (route_refuse...) */
    bool lax;                 /* repeated and trailing slashes do not count */
    void (*headers)(web_response *out); /* headers every answer of the row carries */
    bool creds;               /* an open row that checks a credential itself (sign-in, tokens) */
} http_route;

typedef struct route_match {
    const http_route *route;  /* never NULL: the last row takes everything */
    char *arg[API_MAX_ARGS];  /* owned */
    int nargs;
} route_match;

/* The first row that takes method (as received) and url (path, no query). */
void route_find(const char *method, const char *url, route_match *m);
void route_match_free(route_match *m);

/* The row's headers, its authorization (a 401 when refused), then its
 * handler with req->arg set from the match. A client address with too many
 * failed authentications (every 401 counts, EVKIT_AUTH_FAILURES) gets 429
 * with Retry-After instead, on every row that needs or takes a credential. */
void route_dispatch(http_ctx *h, const route_match *m, api_request *req, web_response *out);

/* The table itself, for tests and documentation: n rows. */
const http_route *route_table(size_t *n);

/* Generic rows: 404 "The requested resource does not exist."; a 405 with the
 * row's note; a 405 "Method X is not allowed here<note>."; a 405 with the
 * row's note and "allow: GET, HEAD". */
api_handler_fn route_not_found, route_refuse, route_refuse_here, route_refuse_get_only;

#endif
