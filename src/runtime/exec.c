/* exec: one process per activation, OpenWhisk's native action protocol.
 * Params go as JSON in argv[1] and on stdin (only stdin above 128 KiB);
 * the last non-empty stdout line is the JSON result; earlier lines and
 * stderr become the activation's logs. A time limit kills the whole
 * process group, so nothing the action started outlives it. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/proc.h"
#include "runtime/runtime.h"

#define EXEC_ARGV_MAX (128u * 1024)
#define EXEC_LINE_MAX (4u * 1024 * 1024)
#define EXEC_EXIT_GRACE_MS 100

typedef struct exec_io {
    activation_t *a;
    char *last;          /* the newest non-empty stdout line: the result candidate */
    size_t last_len;
} exec_io;

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static void on_stdout(void *ctx, const char *line, size_t len)
{
    exec_io *io = ctx;
    if (blank(line, len)) return;
    if (io->last) {
        activation_log(io->a, "stdout", io->last, io->last_len);
        free(io->last);
    }
    io->last = xstrndup(line, len);
    io->last_len = len;
}

static void on_stderr(void *ctx, const char *line, size_t len)
{
    exec_io *io = ctx;
    activation_log(io->a, "stderr", line, len);
}

/* Reads what is available; returns false at EOF or error. */
static bool drain(int fd, linebuf_t *lb, void (*fn)(void *, const char *, size_t), void *ctx)
{
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r > 0) {
            if (lb->b.len + (size_t)r > EXEC_LINE_MAX) {
                /* A runaway line: keep draining, stop storing. */
                lb->b.len = 0;
                continue;
            }
            linebuf_feed(lb, chunk, (size_t)r, fn, ctx);
            continue;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

void exec_backend_run(activation_t *a)
{
    const action_t *action = a->action;
    if (access(action->function, X_OK) != 0) {
        activation_fail(a, ACT_DEV_ERROR, "The action file %s is not executable (chmod +x it).",
                        action->function);
        return;
    }
    char *input = a->params ? json_dumps(a->params, JSON_COMPACT) : NULL;
    if (!input) input = xstrdup("{}");
    size_t input_len = strlen(input);
    int64_t t0 = mono_ms();
    proc_t p;
    err_t err;
    if (proc_spawn(a, input_len <= EXEC_ARGV_MAX ? input : NULL, true, false, &p, &err) < 0) {
        free(input);
        activation_fail(a, ACT_INTERNAL_ERROR, "cannot start the action: %s", err.msg);
        return;
    }
    a->cold = true;
    a->init_ms = mono_ms() - t0;

    /* The JSON is also sent on stdin, newline-terminated, then stdin closes. */
    char *stdin_data = xasprintf("%s\n", input);
    size_t stdin_len = input_len + 1, stdin_off = 0;
    free(input);
    exec_io io = {.a = a};
    linebuf_t lout, lerr;
    linebuf_init(&lout);
    linebuf_init(&lerr);
    bool out_open = true, err_open = true, exited = false, timed_out = false;
    int status = -1;
    int64_t exit_at = 0;

    while (out_open || err_open) {
        int64_t now = now_ms();
        if (now >= a->deadline_ms) {
            timed_out = true;
            break;
        }
        if (!exited) {
            pid_t w = waitpid(p.pid, &status, WNOHANG);
            if (w == p.pid) {
                exited = true;
                exit_at = mono_ms();
            }
        }
        /* Something the action left running may hold its pipes open. */
        if (exited && mono_ms() - exit_at > EXEC_EXIT_GRACE_MS) break;
        struct pollfd fds[3];
        int nfds = 0, iout = -1, ierr = -1, iin = -1;
        if (out_open) fds[iout = nfds++] = (struct pollfd){.fd = p.out, .events = POLLIN};
        if (err_open) fds[ierr = nfds++] = (struct pollfd){.fd = p.err, .events = POLLIN};
        if (p.in >= 0) fds[iin = nfds++] = (struct pollfd){.fd = p.in, .events = POLLOUT};
        int64_t wait = a->deadline_ms - now;
        if (wait > 50) wait = 50; /* also re-check the child's exit */
        int r = poll(fds, (nfds_t)nfds, (int)wait);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (iin >= 0 && fds[iin].revents) {
            if (fds[iin].revents & (POLLERR | POLLHUP)) {
                close(p.in);
                p.in = -1;
            } else {
                ssize_t w = write(p.in, stdin_data + stdin_off, stdin_len - stdin_off);
                if (w > 0) stdin_off += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR) stdin_off = stdin_len;
                if (stdin_off >= stdin_len) {
                    close(p.in);
                    p.in = -1;
                }
            }
        }
        if (iout >= 0 && fds[iout].revents) out_open = drain(p.out, &lout, on_stdout, &io);
        if (ierr >= 0 && fds[ierr].revents) err_open = drain(p.err, &lerr, on_stderr, &io);
    }
    free(stdin_data);
    if (!timed_out) {
        /* Read what is still buffered in the pipes. */
        if (out_open) drain(p.out, &lout, on_stdout, &io);
        if (err_open) drain(p.err, &lerr, on_stderr, &io);
    }
    linebuf_flush(&lout, on_stdout, &io);
    linebuf_flush(&lerr, on_stderr, &io);
    linebuf_free(&lout);
    linebuf_free(&lerr);
    if (!exited) {
        int st = proc_kill(&p);
        if (!timed_out) status = st;
    } else {
        kill(-p.pid, SIGKILL); /* reaped already: only what it left running remains */
        p.pid = 0;
        proc_close_fds(&p);
    }

    if (timed_out) {
        if (io.last) activation_log(a, "stdout", io.last, io.last_len);
        free(io.last);
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its time limit of %d milliseconds.",
                        action->timeout_ms);
        return;
    }
    char how[128];
    proc_describe_status(status, how, sizeof how);
    bool clean_exit = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    json_error_t je;
    json_t *result = io.last ? json_loadb(io.last, io.last_len, 0, &je) : NULL;
    if (!clean_exit) {
        if (io.last && !json_is_object(result)) activation_log(a, "stdout", io.last, io.last_len);
        json_decref(result);
        free(io.last);
        activation_fail(a, ACT_DEV_ERROR,
                        "The action did not produce a valid response and %s.", how);
        return;
    }
    if (!json_is_object(result)) {
        if (io.last) activation_log(a, "stdout", io.last, io.last_len);
        free(io.last);
        json_decref(result);
        activation_fail(a, ACT_DEV_ERROR,
                        "The action did not produce a valid JSON response: %s.",
                        !io.last ? "its output was empty"
                        : result ? "the last line is JSON but not an object"
                                 : "the last line of its output is not JSON");
        return;
    }
    free(io.last);
    json_decref(a->result);
    a->result = result;
    a->status = json_object_get(result, "error") ? ACT_APP_ERROR : ACT_SUCCESS;
}
