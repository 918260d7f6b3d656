/* proc: process plumbing shared by the exec and actionloop backends:
 * spawning an action executable in its own process group with capped
 * memory and a clean environment, watching it end without reaping it too
 * early, writing to it without SIGPIPE, and splitting its output into
 * bounded lines. Private to src/runtime. */
#ifndef EVKIT_RUNTIME_PROC_H
#define EVKIT_RUNTIME_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/util.h"
#include "runtime/runtime.h"

/* The longest line kept from a process: the result limit of the platform
 * (1 MB). Longer lines are cut there; the rest is read and dropped. */
#define PROC_LINE_MAX (1024u * 1024)

typedef struct proc {
    pid_t pid;      /* also the process group id; 0 when none */
    int pidfd;      /* readable once the process has ended; -1 when the kernel has none */
    int in;         /* its stdin (we write) */
    int out;        /* its stdout (we read) */
    int err;        /* its stderr (we read) */
    int res;        /* its fd 3 (we read), -1 unless asked for */
    int exec_errno; /* after a failed proc_spawn: why exec (or chdir) failed, else 0 */
} proc_t;

/* True when a->action's function file exists and is executable; else the
 * activation fails (a developer error, not_started) saying which. */
bool proc_check_file(activation_t *a);

/* A proc_t that holds nothing (all fds -1). */
void proc_clear(proc_t *p);

/* Starts a->action->function with argv[1] = extra_arg (omitted when NULL),
 * in the action's folder, in a new process group, RLIMIT_AS capped at
 * a->memory_limit and no core dumps, signals at their defaults, only
 * PATH/HOME/LANG/TZ inherited plus __OW_ACTION_NAME, __OW_NAMESPACE,
 * __OW_API_HOST, __OW_API_KEY (the engine's; per_activation: the
 * activation's own key, runtime_activation_key, and __OW_ACTIVATION_ID and
 * __OW_DEADLINE). with_fd3 gives it a result pipe on fd 3; every other fd
 * is closed. Our ends are non-blocking and close-on-exec.
 * Returns -1 with err when it could not start; p->exec_errno is then
 * non-zero when the file itself could not be executed (a developer error)
 * rather than the daemon lacking resources. */
int proc_spawn(const activation_t *a, const char *extra_arg, bool per_activation, bool with_fd3,
               proc_t *p, err_t *err);
/* What proc_spawn_cmd starts: a program other than the function file (an
 * interpreter with the file among its arguments), extra environment and
 * another way to cap memory. */
typedef struct proc_cmd {
    const char *path;       /* the program, executed as is (no PATH search) */
    char *const *argv;      /* argv[0] first, NULL-terminated */
    char *const *env;       /* extra "NAME=value" lines, NULL-terminated; may be NULL */
    size_t mem_limit;       /* bytes, 0 for none */
    bool mem_data;          /* cap RLIMIT_DATA instead of RLIMIT_AS (for runtimes that
                             * reserve far more address space than they use) */
} proc_cmd;
/* proc_spawn with cmd; the same folder, process group, environment and
 * fd rules. */
int proc_spawn_cmd(const activation_t *a, const proc_cmd *cmd, bool per_activation, bool with_fd3,
                   proc_t *p, err_t *err);
/* True once the process has ended. It is NOT reaped, so its pid (the
 * group id) cannot be reused before proc_kill. */
bool proc_exited(const proc_t *p);
/* Kills the whole process group, reaps the process, closes our ends.
 * Returns its wait status (-1 when there was no process). */
int proc_kill(proc_t *p);
/* write() that never raises SIGPIPE, whatever the daemon's disposition:
 * a reader that went away is EPIPE. */
ssize_t proc_write(int fd, const void *data, size_t n);
/* The time limit an activation runs under: its action's, or less when a
 * caller's deadline is nearer. */
int64_t proc_time_limit_ms(const activation_t *a);
/* "status 3" / "signal 11: Segmentation fault", for error messages. */
void proc_describe_status(int status, char *buf, size_t len);

/* Splits a byte stream into lines of at most PROC_LINE_MAX bytes. */
typedef void (*line_fn)(void *ctx, const char *line, size_t len, bool cut);
typedef struct linebuf {
    buf_t b;
    bool cut;       /* the line being gathered passed the maximum */
} linebuf_t;
void linebuf_init(linebuf_t *lb);
void linebuf_free(linebuf_t *lb);
/* Forgets a partial line. */
void linebuf_reset(linebuf_t *lb);
/* Feeds bytes; calls fn for each complete line (without '\n'); cut says
 * the line was longer and only its start is given. */
void linebuf_feed(linebuf_t *lb, const char *data, size_t n, line_fn fn, void *ctx);
/* Calls fn for a final unterminated line, if any. */
void linebuf_flush(linebuf_t *lb, line_fn fn, void *ctx);

/* Reads what fd has now (it is non-blocking) into lb, at most about 1 MB
 * per call so that a process that writes without pause cannot keep the
 * caller from its deadline. Returns false at EOF or a hard error. */
bool proc_drain(int fd, linebuf_t *lb, line_fn fn, void *ctx);

#endif
