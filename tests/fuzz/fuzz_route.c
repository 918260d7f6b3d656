/* Paths, query strings and authorization headers: the route table's
 * matcher (route_find) for any method and URL, then, for GET and HEAD,
 * the row's authorization (Bearer and Basic API tokens, IMS JWTs, console
 * sessions, activation keys) and handler, whose query parameters (since,
 * seek, limit, filters, skip, upto, ...) and path arguments are what is
 * parsed. Input: "METHOD /path?query" on the first line, then
 * "name: value" header lines. A handler never answers 5xx (no store
 * failure is possible here). */
#include "fuzz.h"
#include "http/routes.h"

static fz_world w;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_world_open(&w, NULL);
    /* Something to list: one event through the journal. */
    err_t err;
    store_append_result res;
    json_t *d = json_pack("{s:s}", "sku", "fuzz");
    if (engine_publish(&w.e, "backoffice", "be-observer.catalog_product_create", d, "fz-1", &res,
                       &err) < 0)
        abort();
    json_decref(d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;
    const char *eol = memchr(s, '\n', size);
    const char *line_end = eol ? eol : end;
    const char *sp = memchr(s, ' ', (size_t)(line_end - s));
    char *method = xstrndup(s, sp ? (size_t)(sp - s) : 0);
    const char *u = sp ? sp + 1 : s;
    const char *q = memchr(u, '?', (size_t)(line_end - u));
    char *path = xstrndup(u, (size_t)((q ? q : line_end) - u));
    /* The server unescapes the path as it does the query. */
    for (char *z = strstr(path, "%00"); z; z = strstr(z + 3, "%00")) z[1] = z[2] = 'F';
    MHD_http_unescape(path);
    buf_t raw;
    buf_init(&raw, 0);
    json_t *query = q ? fz_query(q + 1, (size_t)(line_end - q - 1), &raw) : json_object();
    const char *body;
    size_t blen;
    json_t *headers = eol ? fz_headers(eol + 1, (size_t)(end - eol - 1), &body, &blen) : json_object();
    if (!*method) {
        free(method);
        method = xstrdup("GET");
    }

    route_match m;
    route_find(method, path, &m);
    if (!m.route || m.nargs < 0 || m.nargs > API_MAX_ARGS) abort();
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
        api_request req = {.method = method, .url = path, .query = query,
                           .query_raw = raw.data ? raw.data : "", .headers = headers,
                           .body = "", .body_len = 0};
        web_response out;
        web_response_init(&out);
        route_dispatch(&w.h, &m, &req, &out);
        if (out.status < 100 || out.status >= 500) {
            fprintf(stderr, "%s %s: status %d: %.*s\n", method, path, out.status,
                    (int)out.body_len, out.body ? out.body : "");
            abort();
        }
        web_response_free(&out);
    }
    route_match_free(&m);
    json_decref(headers);
    json_decref(query);
    buf_free(&raw);
    free(path);
    free(method);
    return 0;
}
