/* util: allocation that aborts on out-of-memory, the one error type, time,
 * identifiers and duration parsing. Everything else in evkit builds on it. */
#ifndef EVKIT_CORE_UTIL_H
#define EVKIT_CORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation: never returns NULL (aborts), so call sites stay clean. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* The one error type: a status from one enum beside a message with its
 * cause. Functions that can fail return 0 on success and -1 on failure,
 * filling the caller's err_t. Only src/http/ turns a status into an HTTP
 * code (http_status_of); everything below speaks in these words. */
typedef enum evk_status {
    EVK_OK = 0,
    EVK_INVALID,      /* the caller's input is wrong (bad request) */
    EVK_NOT_FOUND,    /* no such thing */
    EVK_CONFLICT,     /* exists already, or a concurrent change won */
    EVK_FORBIDDEN,    /* exists, but this caller may not do that to it */
    EVK_UNAUTHORIZED, /* no valid credential */
    EVK_UNAVAILABLE,  /* a dependency is down or full; try again later */
    EVK_TOO_LARGE,    /* over a size limit */
    EVK_TOO_MANY,     /* over a rate or concurrency limit */
    EVK_TIMEOUT,      /* ran out of time */
    EVK_INTERNAL,     /* our fault */
} evk_status;

typedef struct err {
    evk_status code;
    char msg[512];
} err_t;
/* Sets e->msg and e->code (when e is not NULL); returns -1. */
int err_code(err_t *e, evk_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* err_code with EVK_INTERNAL. */
#define err_set(e, ...) err_code((e), EVK_INTERNAL, __VA_ARGS__)
/* "invalid", "not_found", ... (stable words for logs and JSON). */
const char *evk_status_name(evk_status code);

/* The number exactly n decimal digits at s spell; -1 when one is not a
 * digit (a NUL is not, so a short string is never read past its end). */
int digits_value(const char *s, int n);

/* Time. */
int64_t now_ms(void);        /* wall clock, epoch milliseconds */
int64_t mono_ms(void);       /* monotonic milliseconds */
double mono_s(void);         /* monotonic seconds, fine-grained */
/* ISO 8601 UTC with milliseconds: 2026-11-28T05:05:41.123Z (buf >= 32). */
void time_iso(int64_t epoch_ms, char *buf, size_t len);

/* Identifiers from the OS CSPRNG. */
void uuid_v4(char out[37]);          /* 8-4-4-4-12 lower-case */
void hex_id32(char out[33]);         /* 32 lower-case hex, activation ids */
/* n bytes as 2n lower-case hex digits and a NUL (out: 2n + 1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);
int random_bytes(void *buf, size_t n);

/* Durations. dur_parse accepts an integer (milliseconds), "250ms", "2s",
 * "1m", "1h", "1d", and ISO 8601 "PT2H30M"/"P1D"; a leading '-' negates.
 * Returns 0 and sets *ms, or -1 on a malformed value or one longer than
 * DUR_MAX_MS (about 31,000 years). */
#define DUR_MAX_MS 1e15
int dur_parse(const char *s, int64_t *ms);

/* Files. Reads a whole file (NUL-terminated); NULL with err on failure. */
char *file_read(const char *path, size_t *len, err_t *err);
bool path_is_file(const char *path);
bool path_is_dir(const char *path);
/* Joins dir and rel unless rel is absolute. Caller frees. */
char *path_join(const char *dir, const char *rel);
/* The folder part of a path ("." when none). Caller frees. */
char *path_dirname(const char *path);
/* Canonical absolute path, NULL when it does not exist. Caller frees. */
char *path_real(const char *path);
/* True when path (canonical) is root itself or inside it. */
bool path_within(const char *root, const char *path);
int mkdir_p(const char *path, err_t *err);

/* A growable byte buffer with a hard cap, for everything read from outside. */
typedef struct buf {
    char *data;
    size_t len, cap, max;   /* max 0 = unbounded */
} buf_t;
void buf_init(buf_t *b, size_t max);
/* -1 when the append would pass max (nothing appended). */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(buf_t *b);
/* Hands over data (NUL-terminated) and resets b. Caller frees. */
char *buf_steal(buf_t *b);

#endif
