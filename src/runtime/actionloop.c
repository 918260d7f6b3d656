/* actionloop: a pool of long-lived processes per action, OpenWhisk's
 * ActionLoop protocol: one JSON line per activation on the process's stdin,
 * {"value": params, "activation_id", "action_name", "deadline", "api_key",
 * "namespace"}, and one JSON result line back on its file descriptor 3.
 * What it prints on stdout and stderr meanwhile becomes the activation's
 * logs. A process that dies or overruns its time is killed and replaced on
 * the next activation. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/proc.h"
#include "runtime/runtime.h"

#define LOOP_LINE_MAX (4u * 1024 * 1024)

typedef struct loop_proc {
    proc_t p;
    bool alive;
    bool busy;
    linebuf_t res, out, err;
} loop_proc;

typedef struct pool {
    char *key;            /* fqn + "\n" + function path */
    loop_proc *procs;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pool *next;
} pool_t;

static pthread_mutex_t pools_mu = PTHREAD_MUTEX_INITIALIZER;
static pool_t *pools;

static pool_t *pool_for(const action_t *action)
{
    char *key = xasprintf("%s\n%s", action->fqn, action->function);
    pthread_mutex_lock(&pools_mu);
    pool_t *pl = pools;
    while (pl && strcmp(pl->key, key) != 0) pl = pl->next;
    if (!pl) {
        pl = xcalloc(1, sizeof *pl);
        pl->key = key;
        key = NULL;
        pl->n = action->concurrency > 0 ? action->concurrency : 1;
        pl->procs = xcalloc((size_t)pl->n, sizeof *pl->procs);
        for (int i = 0; i < pl->n; i++) {
            pl->procs[i].p.pid = 0;
            pl->procs[i].p.in = pl->procs[i].p.out = pl->procs[i].p.err = pl->procs[i].p.res = -1;
            linebuf_init(&pl->procs[i].res);
            linebuf_init(&pl->procs[i].out);
            linebuf_init(&pl->procs[i].err);
        }
        pthread_mutex_init(&pl->mu, NULL);
        pthread_cond_init(&pl->cv, NULL);
        pl->next = pools;
        pools = pl;
    }
    pthread_mutex_unlock(&pools_mu);
    free(key);
    return pl;
}

static void retire(loop_proc *lp)
{
    if (lp->p.pid > 0 || lp->p.in >= 0) proc_kill(&lp->p);
    lp->alive = false;
    lp->res.b.len = lp->out.b.len = lp->err.b.len = 0;
}

typedef struct loop_io {
    activation_t *a;
    char *result;
    size_t result_len;
} loop_io;

static void on_out(void *ctx, const char *line, size_t len)
{
    activation_log(((loop_io *)ctx)->a, "stdout", line, len);
}

static void on_err(void *ctx, const char *line, size_t len)
{
    activation_log(((loop_io *)ctx)->a, "stderr", line, len);
}

static void on_res(void *ctx, const char *line, size_t len)
{
    loop_io *io = ctx;
    if (io->result) return; /* one result per activation; extra lines are a protocol error */
    io->result = xstrndup(line, len);
    io->result_len = len;
}

/* Reads what is available; false at EOF or a hard error. */
static bool drain(int fd, linebuf_t *lb, void (*fn)(void *, const char *, size_t), loop_io *io)
{
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r > 0) {
            if (lb->b.len + (size_t)r > LOOP_LINE_MAX) {
                lb->b.len = 0;
                continue;
            }
            linebuf_feed(lb, chunk, (size_t)r, fn, io);
            if (fn == on_res && io->result) return true;
            continue;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

static bool write_all(int fd, const char *s, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN) return false;
        int64_t left = deadline - now_ms();
        if (left <= 0) return false;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
    }
    return true;
}

void actionloop_backend_run(activation_t *a)
{
    const action_t *action = a->action;
    if (access(action->function, X_OK) != 0) {
        activation_fail(a, ACT_DEV_ERROR, "The action file %s is not executable (chmod +x it).",
                        action->function);
        return;
    }
    pool_t *pl = pool_for(action);

    /* Take a free process, waiting until the deadline for one. */
    pthread_mutex_lock(&pl->mu);
    loop_proc *lp = NULL;
    for (;;) {
        for (int i = 0; i < pl->n && !lp; i++)
            if (!pl->procs[i].busy && pl->procs[i].alive) lp = &pl->procs[i];
        for (int i = 0; i < pl->n && !lp; i++)
            if (!pl->procs[i].busy) lp = &pl->procs[i];
        if (lp) break;
        struct timespec ts = {.tv_sec = (time_t)(a->deadline_ms / 1000),
                              .tv_nsec = (long)(a->deadline_ms % 1000) * 1000000};
        if (pthread_cond_timedwait(&pl->cv, &pl->mu, &ts) == ETIMEDOUT) break;
    }
    if (lp) lp->busy = true;
    pthread_mutex_unlock(&pl->mu);
    if (!lp) {
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR,
                        "The action exceeded its time limit of %d milliseconds waiting for a free "
                        "process (limits.concurrency %d).", action->timeout_ms, pl->n);
        return;
    }

    loop_io io = {.a = a};
    if (!lp->alive) {
        int64_t t0 = mono_ms();
        err_t err;
        if (proc_spawn(a, NULL, false, true, &lp->p, &err) < 0) {
            activation_fail(a, ACT_INTERNAL_ERROR, "cannot start the action: %s", err.msg);
            goto release;
        }
        lp->alive = true;
        a->cold = true;
        a->init_ms = mono_ms() - t0;
    }

    json_t *value = a->params ? json_incref(a->params) : json_object();
    json_t *msg = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s}", "value", value, "activation_id",
                            a->id, "action_name", action->fqn, "deadline", "", "api_key",
                            a->engine && a->engine->api_key ? a->engine->api_key : "", "namespace",
                            a->engine && a->engine->namespace ? a->engine->namespace : "evkit");
    char deadline[32];
    snprintf(deadline, sizeof deadline, "%lld", (long long)a->deadline_ms);
    json_object_set_new(msg, "deadline", json_string(deadline));
    char *line = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    size_t len = strlen(line);
    line = xrealloc(line, len + 2);
    line[len++] = '\n';
    line[len] = '\0';
    bool sent = write_all(lp->p.in, line, len, a->deadline_ms);
    free(line);

    bool res_open = sent, timed_out = false;
    while (res_open && !io.result) {
        int64_t left = a->deadline_ms - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd fds[3] = {
            {.fd = lp->p.res, .events = POLLIN},
            {.fd = lp->p.out, .events = POLLIN},
            {.fd = lp->p.err, .events = POLLIN},
        };
        int r = poll(fds, 3, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (fds[1].revents) drain(lp->p.out, &lp->out, on_out, &io);
        if (fds[2].revents) drain(lp->p.err, &lp->err, on_err, &io);
        if (fds[0].revents) res_open = drain(lp->p.res, &lp->res, on_res, &io);
    }
    /* Logs written just before the result are still in the pipes. */
    drain(lp->p.out, &lp->out, on_out, &io);
    drain(lp->p.err, &lp->err, on_err, &io);

    if (timed_out) {
        retire(lp);
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its time limit of %d milliseconds.",
                        action->timeout_ms);
    } else if (!io.result) {
        linebuf_flush(&lp->out, on_out, &io);
        linebuf_flush(&lp->err, on_err, &io);
        int status = proc_kill(&lp->p);
        lp->alive = false;
        char how[128];
        proc_describe_status(status, how, sizeof how);
        activation_fail(a, ACT_DEV_ERROR, "The action process %s before it answered.", how);
    } else {
        json_error_t je;
        json_t *result = json_loadb(io.result, io.result_len, 0, &je);
        if (!json_is_object(result)) {
            json_decref(result);
            /* Its next answer could not be trusted to belong to the next activation. */
            retire(lp);
            activation_fail(a, ACT_DEV_ERROR,
                            "The action did not produce a valid JSON object on file descriptor 3.");
        } else {
            json_decref(a->result);
            a->result = result;
            a->status = json_object_get(result, "error") ? ACT_APP_ERROR : ACT_SUCCESS;
        }
    }
    free(io.result);
release:
    pthread_mutex_lock(&pl->mu);
    lp->busy = false;
    pthread_cond_signal(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

void actionloop_backend_shutdown(void)
{
    pthread_mutex_lock(&pools_mu);
    pool_t *pl = pools;
    pools = NULL;
    pthread_mutex_unlock(&pools_mu);
    while (pl) {
        pool_t *next = pl->next;
        for (int i = 0; i < pl->n; i++) {
            retire(&pl->procs[i]);
            linebuf_free(&pl->procs[i].res);
            linebuf_free(&pl->procs[i].out);
            linebuf_free(&pl->procs[i].err);
        }
        free(pl->procs);
        pthread_mutex_destroy(&pl->mu);
        pthread_cond_destroy(&pl->cv);
        free(pl->key);
        free(pl);
        pl = next;
    }
}
