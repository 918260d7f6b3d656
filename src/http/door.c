/* door: accepting, connection caps, header deadlines and the raw-header
 * screen. See door.h. One thread and epoll hold the connections whose
 * first request is not complete yet, so a client that opens many and sends
 * slowly costs a table entry each, not a thread. */
#include "http/door.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vec.h"
#include "metrics/metrics.h"

/* ---- the screen ---- */

static screen_verdict bad(screen_result *out, int status, const char *fmt, const char *arg)
{
    out->status = status;
    snprintf(out->why, sizeof out->why, fmt, arg ? arg : "");
    return SCREEN_BAD;
}

/* Index just past the empty line that ends the head, or 0. */
static size_t head_end(const char *b, size_t start, size_t n)
{
    for (size_t i = start; i < n; i++) {
        if (b[i] != '\n') continue;
        if (i + 1 < n && b[i + 1] == '\n') return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n') return i + 3;
    }
    return 0;
}

static bool name_is(const char *line, size_t name_len, const char *want)
{
    return name_len == strlen(want) && strncasecmp(line, want, name_len) == 0;
}

typedef struct framing {
    bool has_length, has_te;
    unsigned long long length;
} framing;

/* One header line (without its line end): name checks and Content-Length. */
static screen_verdict screen_line(const char *line, size_t len, framing *f, screen_result *out)
{
    const char *colon = memchr(line, ':', len);
    if (!colon) return bad(out, 400, "The request is malformed: a header line has no ':'.", NULL);
    size_t nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++)
        if (line[i] == ' ' || line[i] == '\t' || (unsigned char)line[i] < 0x21)
            return bad(out, 400, "The request is malformed: a header name holds white space.",
                       NULL);
    if (name_is(line, nlen, "transfer-encoding")) f->has_te = true;
    if (!name_is(line, nlen, "content-length")) return SCREEN_OK;
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    /* The value as the error shows it: at most 20 bytes, each one that
     * JSON text would have to escape shown as '?'. */
    char shown[24];
    size_t sn = 0;
    for (const char *c = v; c < end && sn < 20; c++)
        shown[sn++] = (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\') ? '?' : *c;
    shown[sn] = '\0';
    size_t digits = 0;
    unsigned long long value = 0;
    for (const char *p = v; p < end && *p >= '0' && *p <= '9'; p++, digits++)
        value = value * 10 + (unsigned long long)(*p - '0');
    if (digits == 0 || v + digits != end || digits > 18)
        return bad(out, 400,
                   "The request is malformed: Content-Length '%s' is not a number of bytes.",
                   shown);
    if (f->has_length && f->length != value)
        return bad(out, 400, "The request is malformed: conflicting Content-Length headers.",
                   NULL);
    f->has_length = true;
    f->length = value;
    return SCREEN_OK;
}

screen_verdict door_screen(const char *b, size_t n, screen_result *out)
{
    memset(out, 0, sizeof *out);
    size_t start = 0;
    while (start < n && (b[start] == '\r' || b[start] == '\n')) start++;
    size_t end = head_end(b, start, n);
    if (end == 0) {
        if (memchr(b, '\0', n))
            return bad(out, 400, "The request is malformed: it holds a NUL byte.", NULL);
        if (n >= DOOR_MAX_HEAD)
            return bad(out, 431, "The request's headers exceed %s bytes.", "16384");
        return SCREEN_MORE;
    }
    if (memchr(b, '\0', end))
        return bad(out, 400, "The request is malformed: its line or a header holds a NUL byte.",
                   NULL);
    framing f = {0};
    const char *p = memchr(b + start, '\n', end - start) + 1; /* past the request line */
    while (p < b + end) {
        const char *nl = memchr(p, '\n', (size_t)(b + end - p));
        size_t len = (size_t)(nl - p);
        if (len && p[len - 1] == '\r') len--;
        if (len == 0) break;
        /* A folded line continues the one before (libmicrohttpd joins them). */
        if (*p != ' ' && *p != '\t' && screen_line(p, len, &f, out) == SCREEN_BAD)
            return SCREEN_BAD;
        p = nl + 1;
    }
    if (f.has_length && f.has_te)
        return bad(out, 400,
                   "The request is malformed: Content-Length and Transfer-Encoding together.",
                   NULL);
    out->head_len = end;
    return SCREEN_OK;
}

/* ---- connection accounting ---- */

typedef struct peer {
    uint8_t key[16];
    int count;
} peer;

typedef struct pending {
    int fd;
    uint8_t key[16];
    int64_t deadline;
    struct sockaddr_storage addr;
    socklen_t len;
} pending;

struct door {
    int lfd, ep, wake;
    pthread_t th;
    door_limits lim;
    door_admit_fn admit;
    void *cls;
    pthread_mutex_t mu;     /* peers and total: the door and connection threads */
    peer *peers;
    size_t npeers, peers_cap;
    int total;
    pending *pend;          /* the door thread's alone */
    size_t npend, pend_cap;
    int64_t paused_until;   /* out of descriptors: accepting waits until then */
    int64_t warned;         /* when that was last logged */
};

/* IPv4: the address; IPv6: its /64, since one host may hold a whole one. */
void door_addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, v4mapped, 12)) memcpy(key, a + 12, 4);
        else memcpy(key, a, 8), key[15] = 6;
    }
}

static bool reserve(door_t *d, const uint8_t key[16])
{
    pthread_mutex_lock(&d->mu);
    bool ok = d->total < d->lim.max_conns;
    peer *p = NULL;
    for (size_t i = 0; ok && i < d->npeers && !p; i++)
        if (!memcmp(d->peers[i].key, key, 16)) p = &d->peers[i];
    if (ok && p && p->count >= d->lim.max_per_ip) ok = false;
    if (ok) {
        if (!p) {
            VEC_GROW(d->peers, d->peers_cap, d->npeers + 1);
            p = &d->peers[d->npeers++];
            memcpy(p->key, key, 16);
            p->count = 0;
        }
        p->count++;
        d->total++;
    }
    pthread_mutex_unlock(&d->mu);
    return ok;
}

static void release_key(door_t *d, const uint8_t key[16])
{
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->npeers; i++) {
        if (memcmp(d->peers[i].key, key, 16)) continue;
        d->total--;
        if (--d->peers[i].count <= 0) d->peers[i] = d->peers[--d->npeers];
        break;
    }
    pthread_mutex_unlock(&d->mu);
}

void door_release(door_t *d, const struct sockaddr *addr)
{
    uint8_t key[16];
    door_addr_key(addr, key);
    release_key(d, key);
}

/* ---- answering a refused request ---- */

/* Takes what is left of the request off the socket (closing a socket with
 * unread bytes resets it, and the client may lose the answer), answers
 * once, closes the writing side. */
void door_answer(int fd, const screen_result *r)
{
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {}
    char body[256], resp[512];
    int blen = snprintf(body, sizeof body, "{\"error\":\"%s\"}", r->why);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     r->status, r->status == 431 ? "Request Header Fields Too Large" : "Bad Request",
                     blen, body);
    if (send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the client left */ }
    shutdown(fd, SHUT_WR);
}

/* Takes the head off the socket first, then answers; counted here, as
 * libmicrohttpd never sees the request. */
static void refuse(int fd, size_t head_len, const screen_result *r)
{
    char sink[4096];
    size_t left = head_len;
    while (left > 0) {
        ssize_t got = recv(fd, sink, left < sizeof sink ? left : sizeof sink, MSG_DONTWAIT);
        if (got <= 0) break;
        left -= (size_t)got;
    }
    door_answer(fd, r);
    metrics_http_request("other", metrics_http_method(NULL), r->status, 0);
}

/* ---- the door thread ---- */

static void drop(door_t *d, size_t i)
{
    pending *p = &d->pend[i];
    epoll_ctl(d->ep, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    release_key(d, p->key);
    d->pend[i] = d->pend[--d->npend];
}

/* A waiting connection's bytes so far: admitted, refused, or still waiting. */
static void look(door_t *d, size_t i)
{
    static char buf[DOOR_MAX_HEAD];
    pending *p = &d->pend[i];
    ssize_t n = recv(p->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        drop(d, i);
        return;
    }
    screen_result r;
    screen_verdict v = door_screen(buf, (size_t)n, &r);
    if (v == SCREEN_MORE) return;
    if (v == SCREEN_BAD) {
        refuse(p->fd, (size_t)n, &r);
        drop(d, i);
        return;
    }
    pending taken = *p;
    epoll_ctl(d->ep, EPOLL_CTL_DEL, taken.fd, NULL);
    d->pend[i] = d->pend[--d->npend];
    if (!d->admit(d->cls, taken.fd, (struct sockaddr *)&taken.addr, taken.len))
        release_key(d, taken.key);
}

static void accept_all(door_t *d)
{
    for (;;) {
        pending p = {.len = sizeof p.addr};
        p.fd = accept4(d->lfd, (struct sockaddr *)&p.addr, &p.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (p.fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* The backlog stays readable: stop looking at it for a
                 * moment instead of spinning on it. */
                if (mono_ms() - d->warned > 10000) {
                    log_warn("http: out of file descriptors; raise ulimit -n", NULL);
                    d->warned = mono_ms();
                }
                struct epoll_event off = {.events = 0, .data.fd = d->lfd};
                epoll_ctl(d->ep, EPOLL_CTL_MOD, d->lfd, &off);
                d->paused_until = mono_ms() + 100;
            }
            return;
        }
        door_addr_key((struct sockaddr *)&p.addr, p.key);
        if (!reserve(d, p.key)) {
            /* Over a cap: closed at once, with a reset rather than a wait. */
            struct linger lg = {1, 0};
            setsockopt(p.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(p.fd);
            continue;
        }
        p.deadline = mono_ms() + d->lim.header_timeout_ms;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.fd = p.fd};
        VEC_GROW(d->pend, d->pend_cap, d->npend + 1);
        d->pend[d->npend++] = p;
        if (epoll_ctl(d->ep, EPOLL_CTL_ADD, p.fd, &ev) < 0) drop(d, d->npend - 1);
    }
}

static size_t find_pending(const door_t *d, int fd)
{
    for (size_t i = 0; i < d->npend; i++)
        if (d->pend[i].fd == fd) return i;
    return SIZE_MAX;
}

/* Past the header deadline: closed without an answer, as a slow client
 * is not worth one. Returns the ms until the next deadline. */
static int expire(door_t *d)
{
    int64_t now = mono_ms(), next = 1000;
    for (size_t i = d->npend; i-- > 0;) {
        int64_t left = d->pend[i].deadline - now;
        if (left <= 0) drop(d, i);
        else if (left < next) next = left;
    }
    return (int)next;
}

static void *door_main(void *arg)
{
    door_t *d = arg;
    struct epoll_event ev[64];
    for (;;) {
        int timeout = expire(d);
        if (d->paused_until) {
            int64_t left = d->paused_until - mono_ms();
            if (left <= 0) {
                struct epoll_event on = {.events = EPOLLIN, .data.fd = d->lfd};
                epoll_ctl(d->ep, EPOLL_CTL_MOD, d->lfd, &on);
                d->paused_until = 0;
            } else if (left < timeout) {
                timeout = (int)left;
            }
        }
        int n = epoll_wait(d->ep, ev, 64, timeout);
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == d->wake) return NULL;
            if (fd == d->lfd) {
                accept_all(d);
                continue;
            }
            size_t at = find_pending(d, fd);
            if (at != SIZE_MAX) look(d, at);
        }
    }
}

door_t *door_start(int listen_fd, const door_limits *lim, door_admit_fn admit, void *cls,
                   err_t *err)
{
    door_t *d = xcalloc(1, sizeof *d);
    d->lfd = listen_fd;
    d->lim = *lim;
    d->admit = admit;
    d->cls = cls;
    pthread_mutex_init(&d->mu, NULL);
    d->ep = epoll_create1(EPOLL_CLOEXEC);
    d->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event l = {.events = EPOLLIN, .data.fd = listen_fd};
    struct epoll_event w = {.events = EPOLLIN, .data.fd = d->wake};
    if (d->ep < 0 || d->wake < 0 || epoll_ctl(d->ep, EPOLL_CTL_ADD, listen_fd, &l) < 0 ||
        epoll_ctl(d->ep, EPOLL_CTL_ADD, d->wake, &w) < 0 ||
        pthread_create(&d->th, NULL, door_main, d) != 0) {
        err_set(err, "cannot start accepting connections: %s", strerror(errno));
        if (d->ep >= 0) close(d->ep);
        if (d->wake >= 0) close(d->wake);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void door_stop(door_t *d)
{
    if (!d) return;
    uint64_t one = 1;
    if (write(d->wake, &one, sizeof one) < 0) { /* the thread is gone already */ }
    pthread_join(d->th, NULL);
    while (d->npend) drop(d, d->npend - 1);
    close(d->lfd);
    close(d->ep);
    close(d->wake);
}

void door_free(door_t *d)
{
    if (!d) return;
    pthread_mutex_destroy(&d->mu);
    free(d->peers);
    free(d->pend);
    free(d);
}
