/* console: the web console at /console. Its files (console/ in the repo) are
 * embedded at build time by scripts/embed-console.py and served with their
 * ETag and a strict Content-Security-Policy. Signing in exchanges an API
 * token for an HttpOnly, SameSite=Strict session cookie; the browser's API
 * calls then carry that cookie plus the session's CSRF token in the
 * x-evkit-csrf header, which the route table (ROUTE_API) accepts like a
 * token. */
#ifndef EVKIT_HTTP_CONSOLE_H
#define EVKIT_HTTP_CONSOLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "http/api.h"
#include "http/web.h"

typedef struct console_asset {
    const char *path;          /* relative to console/, e.g. "app.js" */
    const char *content_type;
    const char *etag;          /* strong, quoted */
    const unsigned char *data;
    size_t len;
} console_asset;

/* Generated into the build (build/gen/console_assets.c). */
extern const console_asset console_assets[];
extern const size_t console_assets_count;

const console_asset *console_asset_find(const char *path);

#define CONSOLE_COOKIE "evkit_session"
#define CONSOLE_CSRF_HEADER "x-evkit-csrf"
#define CONSOLE_SESSION_TTL_MS (12LL * 3600 * 1000)

/* Live console sessions, in memory: a restart signs everyone out. */
typedef struct console_sessions console_sessions_t;
console_sessions_t *console_sessions_new(int64_t ttl_ms);
void console_sessions_free(console_sessions_t *s);
/* A new session; fills id and csrf (64 hex characters each). */
void console_session_create(console_sessions_t *s, char id[65], char csrf[65]);
/* The session named by the headers' cookie, when live: copies its CSRF token. */
bool console_session_find(console_sessions_t *s, const json_t *headers, char csrf[65]);
/* True when the headers carry a live session cookie and that session's CSRF
 * token in x-evkit-csrf: what API calls from the console must send. */
bool console_session_ok(console_sessions_t *s, const json_t *headers);
void console_session_end(console_sessions_t *s, const json_t *headers);

/* The rows under /console (routes.c): the redirect of /console to
 * /console/, sign-in (POST /console/login {"token"}), sign-out, the
 * session's CSRF token (GET /console/session), and the files (arg[0]: the
 * path after /console/, "" for index.html). */
api_handler_fn console_redirect, console_login, console_logout, console_session, console_file;
/* Headers of every console answer (a strict CSP, no sniffing, no framing,
 * no referrer), and those plus no-store for the session endpoints. */
void console_headers(web_response *out);
void console_private_headers(web_response *out);

#endif
