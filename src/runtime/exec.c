/* exec: one process per activation, OpenWhisk's native action protocol.
 * Params go as JSON in argv[1] and on stdin (only stdin above 128 KiB,
 * which keeps us under the kernel's argument limits); the last non-empty
 * stdout line is the JSON result; earlier lines and stderr become the
 * activation's logs. The process runs in its own process group, which is
 * killed whole at the time limit and when the action ends, so nothing it
 * started outlives it. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/proc.h"
#include "runtime/runtime.h"
#include "core/json_io.h"

#define EXEC_ARGV_MAX (128u * 1024)
/* How long pipes may stay open after the process ended: something it left
 * running in the background holds them, and it is about to be killed. */
#define EXEC_EXIT_GRACE_MS 100
/* Poll interval when the kernel gives no pidfd to wait on. */
#define EXEC_POLL_MS 20

typedef struct exec_io {
    activation_t *a;
    char *last;          /* the newest non-empty stdout line: the result candidate */
    size_t last_len;
    bool last_cut;       /* it was longer than PROC_LINE_MAX */
} exec_io;

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* The previous candidate was not the last line after all: it is a log. */
static void exec_log_last(exec_io *io)
{
    if (!io->last) return;
    activation_log(io->a, "stdout", io->last, io->last_len);
    free(io->last);
    io->last = NULL;
    io->last_len = 0;
    io->last_cut = false;
}

static void exec_on_stdout(void *ctx, const char *line, size_t len, bool cut)
{
    exec_io *io = ctx;
    if (blank(line, len)) return;
    exec_log_last(io);
    io->last = xstrndup(line, len);
    io->last_len = len;
    io->last_cut = cut;
}

static void exec_on_stderr(void *ctx, const char *line, size_t len, bool cut)
{
    (void)cut;
    exec_io *io = ctx;
    activation_log(io->a, "stderr", line, len);
}

/* Writes what the pipe takes now; closes stdin when all is written or the
 * process stopped reading (EPIPE: it ignored its stdin, which is fine). */
static void exec_feed_stdin(proc_t *p, const char *data, size_t len, size_t *off)
{
    for (;;) {
        ssize_t w = proc_write(p->in, data + *off, len - *off);
        if (w > 0) *off += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else if (w < 0 && errno == EAGAIN) return;
        else *off = len;
        if (*off >= len) {
            close(p->in);
            p->in = -1;
            return;
        }
    }
}

/* Turns how the process ended and its last stdout line into the outcome. */
static void exec_finish(activation_t *a, exec_io *io, int status)
{
    char how[128];
    bool clean_exit = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean_exit) {
        /* Whatever it printed last is still worth seeing. */
        if (io->last && !io->last_cut) exec_log_last(io);
        proc_describe_status(status, how, sizeof how);
        activation_fail(a, ACT_DEV_ERROR,
                        "The action did not produce a valid response and exited unexpectedly (%s).",
                        how);
        return;
    }
    if (!io->last) {
        activation_fail(a, ACT_DEV_ERROR,
                        "The action did not produce a valid JSON response: its output was empty.");
        return;
    }
    if (io->last_cut) {
        activation_fail(a, ACT_DEV_ERROR,
                        "The action did not produce a valid JSON response: the last line is "
                        "longer than %u bytes.", PROC_LINE_MAX);
        return;
    }
    json_error_t je;
    json_t *result = json_load_kept(io->last, io->last_len, 0, &je);
    if (!json_is_object(result)) {
        exec_log_last(io);
        activation_fail(a, ACT_DEV_ERROR, "The action did not produce a valid JSON response: %s.",
                        result ? "the last line is JSON but not an object"
                               : "the last line of its output is not JSON");
        json_decref(result);
        return;
    }
    json_decref(a->result);
    a->result = result;
    a->status = json_object_get(result, "error") ? ACT_APP_ERROR : ACT_SUCCESS;
}

void exec_backend_run(activation_t *a)
{
    if (!proc_check_file(a)) return;
    char *input = a->params ? json_text(a->params, JSON_COMPACT) : NULL;
    if (!input) input = xstrdup("{}");
    size_t input_len = strlen(input);
    int64_t t0 = mono_ms();
    proc_t p;
    err_t err;
    if (proc_spawn(a, input_len <= EXEC_ARGV_MAX ? input : NULL, true, false, &p, &err) < 0) {
        free(input);
        a->not_started = true;
        activation_fail(a, p.exec_errno ? ACT_DEV_ERROR : ACT_INTERNAL_ERROR,
                        "The action could not be started: %s.", err.msg);
        return;
    }
    a->cold = true;
    a->init_ms = mono_ms() - t0;

    /* The JSON also goes on stdin, newline-terminated, then stdin closes. */
    char *stdin_data = xrealloc(input, input_len + 2);
    stdin_data[input_len] = '\n';
    stdin_data[input_len + 1] = '\0';
    size_t stdin_len = input_len + 1, stdin_off = 0;
    exec_io io = {.a = a};
    linebuf_t lout, lerr;
    linebuf_init(&lout);
    linebuf_init(&lerr);
    bool out_open = true, err_open = true, exited = false, timed_out = false;
    int64_t exit_at = 0;

    exec_feed_stdin(&p, stdin_data, stdin_len, &stdin_off);
    for (;;) {
        int64_t left = a->deadline_ms - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        if (!exited && proc_exited(&p)) {
            exited = true;
            exit_at = mono_ms();
        }
        if (exited && !out_open && !err_open) break;
        int64_t wait = left;
        if (exited) {
            int64_t grace = exit_at + EXEC_EXIT_GRACE_MS - mono_ms();
            if (grace <= 0) break;
            if (grace < wait) wait = grace;
        } else if (p.pidfd < 0 && wait > EXEC_POLL_MS) {
            wait = EXEC_POLL_MS;
        }
        struct pollfd fds[4];
        int nfds = 0, iout = -1, ierr = -1, iin = -1;
        if (out_open) fds[iout = nfds++] = (struct pollfd){.fd = p.out, .events = POLLIN};
        if (err_open) fds[ierr = nfds++] = (struct pollfd){.fd = p.err, .events = POLLIN};
        if (p.in >= 0) fds[iin = nfds++] = (struct pollfd){.fd = p.in, .events = POLLOUT};
        /* Readable once it ended; proc_exited at the top then sees it. */
        if (!exited && p.pidfd >= 0)
            fds[nfds++] = (struct pollfd){.fd = p.pidfd, .events = POLLIN};
        int r = poll(fds, (nfds_t)nfds, (int)wait);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (iin >= 0 && fds[iin].revents) exec_feed_stdin(&p, stdin_data, stdin_len, &stdin_off);
        if (iout >= 0 && fds[iout].revents) out_open = proc_drain(p.out, &lout, exec_on_stdout, &io);
        if (ierr >= 0 && fds[ierr].revents) err_open = proc_drain(p.err, &lerr, exec_on_stderr, &io);
    }
    free(stdin_data);
    if (!timed_out) {
        /* What the process wrote just before it ended is still in the pipes. */
        if (out_open) proc_drain(p.out, &lout, exec_on_stdout, &io);
        if (err_open) proc_drain(p.err, &lerr, exec_on_stderr, &io);
    }
    linebuf_flush(&lout, exec_on_stdout, &io);
    linebuf_flush(&lerr, exec_on_stderr, &io);
    linebuf_free(&lout);
    linebuf_free(&lerr);
    /* Kills the group either way: the action when it overran, what it left
     * running in the background when it ended. */
    int status = proc_kill(&p);

    if (timed_out) {
        if (io.last && !io.last_cut) exec_log_last(&io);
        free(io.last);
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its time limit of %lld milliseconds.",
                        (long long)proc_time_limit_ms(a));
        return;
    }
    if (!exited) status = -1; /* poll failed: it was killed by us, not by itself */
    exec_finish(a, &io, status);
    free(io.last);
}
