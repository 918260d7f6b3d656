/* proc: process plumbing shared by the exec and actionloop backends:
 * spawning an action executable in its own process group with capped
 * memory and a clean environment, and splitting its output into lines. */
#ifndef EVKIT_RUNTIME_PROC_H
#define EVKIT_RUNTIME_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/util.h"
#include "runtime/runtime.h"

typedef struct proc {
    pid_t pid;      /* also the process group id */
    int in;         /* its stdin (we write) */
    int out;        /* its stdout (we read) */
    int err;        /* its stderr (we read) */
    int res;        /* its fd 3 (we read), -1 unless asked for */
} proc_t;

/* Starts a->action->function with argv (argv[0] is set here; extra may be
 * NULL), in the action's folder, in a new process group, RLIMIT_AS capped
 * at a->memory_limit, only PATH/HOME/LANG/TZ inherited plus the __OW_*
 * variables (per_activation adds __OW_ACTIVATION_ID and __OW_DEADLINE).
 * with_fd3 gives it a result pipe on fd 3. All our ends are non-blocking. */
int proc_spawn(const activation_t *a, const char *extra_arg, bool per_activation, bool with_fd3,
               proc_t *p, err_t *err);
/* Kills the whole process group, reaps the process, closes our ends.
 * Returns the wait status (or -1 when it was already reaped). */
int proc_kill(proc_t *p);
/* Closes our ends (without killing). */
void proc_close_fds(proc_t *p);
/* "exited with status 3" / "was killed by signal 11 (Segmentation fault)". */
void proc_describe_status(int status, char *buf, size_t len);

/* Splits a byte stream into lines. */
typedef struct linebuf {
    buf_t b;
} linebuf_t;
void linebuf_init(linebuf_t *lb);
void linebuf_free(linebuf_t *lb);
/* Feeds bytes; calls fn for each complete line (without '\n'). */
void linebuf_feed(linebuf_t *lb, const char *data, size_t n,
                  void (*fn)(void *ctx, const char *line, size_t len), void *ctx);
/* Calls fn for a final unterminated line, if any. */
void linebuf_flush(linebuf_t *lb, void (*fn)(void *ctx, const char *line, size_t len), void *ctx);

#endif
