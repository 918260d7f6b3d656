/* The ActionLoop line protocol, as evkit reads a process: bytes arriving in
 * pieces of any size on fd 3 (results) and on stdout/stderr (logs) are cut
 * into lines (linebuf_feed, linebuf_flush), the first result line is
 * judged (actionloop_result_parse), every log line is kept
 * (activation_log). Input: the stream; its first byte picks the piece
 * sizes. */
#include "fuzz.h"
#include "runtime/actionloop.h"
#include "runtime/proc.h"

typedef struct seen {
    char *first;
    size_t first_len;
    bool cut;
    size_t lines;
    activation_t *a;
} seen;

static void on_res(void *ctx, const char *line, size_t len, bool cut)
{
    seen *s = ctx;
    if (memchr(line, '\n', len)) abort(); /* a line never holds its end */
    if (len > PROC_LINE_MAX) abort();
    s->lines++;
    if (s->first) return;
    s->first = xstrndup(line, len);
    s->first_len = len;
    s->cut = cut;
}

static void on_log(void *ctx, const char *line, size_t len, bool cut)
{
    (void)cut;
    seen *s = ctx;
    activation_log(s->a, "stdout", line, len);
}

static void feed(linebuf_t *lb, const uint8_t *data, size_t size, unsigned seed, line_fn fn,
                 void *ctx)
{
    size_t off = 0;
    while (off < size) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 97;
        if (n > size - off) n = size - off;
        linebuf_feed(lb, (const char *)data + off, n, fn, ctx);
        off += n;
    }
    linebuf_flush(lb, fn, ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    unsigned seed = data[0];
    data++;
    size--;
    activation_t a;
    memset(&a, 0, sizeof a);
    seen s = {.a = &a};
    linebuf_t res, out;
    linebuf_init(&res);
    linebuf_init(&out);
    feed(&res, data, size, seed, on_res, &s);
    feed(&out, data, size, seed ^ 0x5a5a, on_log, &s);
    if (s.first) {
        const char *why = NULL;
        json_t *r = actionloop_result_parse(s.first, s.first_len, s.cut, &why);
        if (!r && !why) abort();
        if (r && !json_is_object(r)) abort();
        json_decref(r);
    }
    if (size && !memchr(data, '\n', size) && s.lines != 1) abort();
    free(s.first);
    linebuf_free(&res);
    linebuf_free(&out);
    json_decref(a.logs);
    return 0;
}
