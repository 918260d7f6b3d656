/* screen: see screen.h. */
#include "http/screen.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/door.h"

#if MHD_VERSION != 0x00097500
#error "screen.c knows libmicrohttpd 0.9.75's read buffer; check it against this version"
#endif

typedef struct walk {
    const char *end;        /* just past the head */
    const char *at;         /* just past what was handed over so far */
    const char *fault;
    bool has_te, has_length;
    const char *length;     /* the first Content-Length value */
    size_t length_size;
} walk;

static const char NUL_BYTE[] = "The request is malformed: its line or a header holds a NUL byte.";

static bool all_nul(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p) return false;
    return true;
}

static bool digits(const char *s, size_t n)
{
    if (n == 0 || n > 18) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* Content-Length and Transfer-Encoding, as the door's screen_line. */
static const char *framing(walk *w, const char *key, size_t key_size, const char *value,
                           size_t value_size)
{
    if (key_size == 17 && strncasecmp(key, "transfer-encoding", 17) == 0) w->has_te = true;
    if (key_size != 14 || strncasecmp(key, "content-length", 14) != 0) return NULL;
    while (value_size && (value[value_size - 1] == ' ' || value[value_size - 1] == '\t'))
        value_size--;
    if (!digits(value, value_size))
        return "The request is malformed: Content-Length is not a number of bytes.";
    if (w->has_length && (value_size != w->length_size || memcmp(value, w->length, value_size)))
        return "The request is malformed: conflicting Content-Length headers.";
    w->has_length = true;
    w->length = value;
    w->length_size = value_size;
    return NULL;
}

static enum MHD_Result one_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    walk *w = cls;
    /* In order and inside the head, or not where it was received. */
    if (key < w->at || key + key_size >= w->end || !value || value <= key + key_size ||
        value + value_size > w->end) {
        w->fault = "The request is malformed: a folded header line.";
        return MHD_NO;
    }
    if (!all_nul(w->at, key)) {
        w->fault = NUL_BYTE;
        return MHD_NO;
    }
    for (size_t i = 0; i < key_size; i++) {
        if ((unsigned char)key[i] < 0x21) {
            w->fault = "The request is malformed: a header name holds white space.";
            return MHD_NO;
        }
    }
    /* Between name and value: the ':' (now a NUL), then blanks. */
    for (const char *p = key + key_size + 1; p < value; p++) {
        if (*p != ' ' && *p != '\t') {
            w->fault = NUL_BYTE;
            return MHD_NO;
        }
    }
    w->fault = framing(w, key, key_size, value, value_size);
    w->at = value + value_size;
    return w->fault ? MHD_NO : MHD_YES;
}

const char *screen_head(struct MHD_Connection *c, const char *method, const char *url,
                        const char *version, const char *uri_end, size_t size)
{
    const char *end = method + size;
    size_t vlen = strlen(version);
    /* The request line: method, blanks, URI, one separator, version. */
    if (!uri_end || url < method || url >= end || version < url || version + vlen > end ||
        uri_end + 1 != version)
        return NUL_BYTE;
    for (const char *p = method + strlen(method) + 1; p < url; p++)
        if (*p != ' ') return NUL_BYTE;
    walk w = {.end = end, .at = version + vlen};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, one_header, &w);
    if (w.fault) return w.fault;
    if (!all_nul(w.at, end)) return NUL_BYTE;
    if (w.has_length && w.has_te)
        return "The request is malformed: Content-Length and Transfer-Encoding together.";
    return NULL;
}

/* ---- libmicrohttpd's answer to a malformed Content-Length ---- */

static __thread screen_pending *pending;

void screen_pending_add(screen_pending *p, struct MHD_Connection *c)
{
    p->conn = c;
    p->next = pending;
    p->pprev = &pending;
    if (pending) pending->pprev = &p->next;
    pending = p;
}

void screen_pending_del(screen_pending *p)
{
    if (!p->pprev) return;
    *p->pprev = p->next;
    if (p->next) p->next->pprev = p->pprev;
    p->next = NULL;
    p->pprev = NULL;
}

/* The one request of this thread whose head is whole but was not handed
 * over: libmicrohttpd is parsing it right now. */
static screen_pending *being_parsed(void)
{
    screen_pending *found = NULL;
    for (screen_pending *p = pending; p; p = p->next) {
        const union MHD_ConnectionInfo *hs =
            MHD_get_connection_info(p->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        if (!hs || !hs->header_size) continue;
        if (found) return NULL; /* cannot tell which: libmicrohttpd answers */
        found = p;
    }
    return found;
}

bool screen_on_log(const char *fmt)
{
    if (!strstr(fmt, "Content-Length")) return false;
    screen_pending *p = being_parsed();
    if (!p) return false;
    struct MHD_Connection *c = p->conn;
    screen_pending_del(p);
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const char *value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (!fd || !value) return false;
    /* The door's words for it: its screen on a head with that header. */
    char head[256];
    int n = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nContent-Length: %.200s\r\n\r\n", value);
    screen_result r;
    if (n <= 0 || (size_t)n >= sizeof head || door_screen(head, (size_t)n, &r) != SCREEN_BAD) {
        r.status = 400;
        snprintf(r.why, sizeof r.why, "The request is malformed: Content-Length is not a number of bytes.");
    }
    door_answer(fd->connect_fd, &r);
    return true;
}
