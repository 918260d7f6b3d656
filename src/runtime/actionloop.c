/* actionloop: a pool of long-lived processes per action, OpenWhisk's
 * ActionLoop protocol: one JSON line per activation on the process's stdin,
 * {"value": params, "activation_id", "action_name", "deadline", "api_key",
 * "namespace", "api_host"}, and one JSON result line back on its file
 * descriptor 3 (api_key is the activation's own, runtime_activation_key).
 * What it prints on stdout and stderr meanwhile becomes the activation's
 * logs. Each process serves one activation at a time. A process that dies,
 * overruns its time or breaks the protocol is killed (its whole process
 * group) and replaced on the next activation.
 *
 * Pools live in one registry keyed by kind, action fqn and function path, for the
 * life of the daemon (actionloop_backend_shutdown ends them). The registry
 * lock is held only to find a pool; each pool's lock only to take or give
 * back a process, never while talking to one. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "runtime/actionloop.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"
#include "core/json_io.h"

/* Poll interval when the kernel gives no pidfd to wait on. */
#define LOOP_POLL_MS 20
/* How long a process that closed fd 3 without answering gets to end by
 * itself (an interpreter closes its files before it exits), so that the
 * error names its real exit status rather than our SIGKILL. */
#define LOOP_EXIT_GRACE_MS 200

typedef struct loop_proc {
    proc_t p;             /* p.pid > 0: a process is running */
    bool busy;            /* taken by an activation */
    linebuf_t res, out, err;
} loop_proc;

typedef struct pool {
    char *key;            /* kind + "\n" + fqn + "\n" + function path */
    loop_proc *procs;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a process was given back */
    struct pool *next;
} pool_t;

static pthread_mutex_t pools_mu = PTHREAD_MUTEX_INITIALIZER;
static pool_t *pools;

static pool_t *pool_for(const action_t *action, const char *kind)
{
    char *key = xasprintf("%s\n%s\n%s", kind, action->fqn, action->function);
    pthread_mutex_lock(&pools_mu);
    pool_t *pl = pools;
    while (pl && strcmp(pl->key, key) != 0) pl = pl->next;
    if (!pl) {
        pl = xcalloc(1, sizeof *pl);
        pl->key = key;
        key = NULL;
        pl->n = action->concurrency > 0 ? action->concurrency : ACTION_DEFAULT_CONCURRENCY;
        pl->procs = xcalloc((size_t)pl->n, sizeof *pl->procs);
        for (int i = 0; i < pl->n; i++) {
            proc_clear(&pl->procs[i].p);
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

/* Takes a process slot, a running one first; waits for one until the
 * deadline. NULL when none became free in time. */
static loop_proc *pool_take(pool_t *pl, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000),
                          .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
    loop_proc *lp = NULL;
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        for (int i = 0; i < pl->n && !lp; i++)
            if (!pl->procs[i].busy && pl->procs[i].p.pid > 0) lp = &pl->procs[i];
        for (int i = 0; i < pl->n && !lp; i++)
            if (!pl->procs[i].busy) lp = &pl->procs[i];
        if (lp) break;
        /* deadline_ms is wall-clock epoch, as the condition's clock. */
        if (pthread_cond_timedwait(&pl->cv, &pl->mu, &ts) == ETIMEDOUT) break;
    }
    if (lp) lp->busy = true;
    pthread_mutex_unlock(&pl->mu);
    return lp;
}

static void pool_give(pool_t *pl, loop_proc *lp)
{
    pthread_mutex_lock(&pl->mu);
    lp->busy = false;
    pthread_cond_signal(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* Kills the process (its group) and forgets its partial output. */
static int loop_retire(loop_proc *lp)
{
    int status = proc_kill(&lp->p);
    linebuf_reset(&lp->res);
    linebuf_reset(&lp->out);
    linebuf_reset(&lp->err);
    return status;
}

typedef struct loop_io {
    activation_t *a;
    char *result;        /* the first line on fd 3 */
    size_t result_len;
    bool result_cut;
    bool discard;        /* reading stale output: drop it */
} loop_io;

static void loop_on_out(void *ctx, const char *line, size_t len, bool cut)
{
    (void)cut;
    loop_io *io = ctx;
    if (!io->discard) activation_log(io->a, "stdout", line, len);
}

static void loop_on_err(void *ctx, const char *line, size_t len, bool cut)
{
    (void)cut;
    loop_io *io = ctx;
    if (!io->discard) activation_log(io->a, "stderr", line, len);
}

static void loop_on_res(void *ctx, const char *line, size_t len, bool cut)
{
    loop_io *io = ctx;
    /* One result per activation; more lines break the protocol and are dropped. */
    if (io->discard || io->result) return;
    io->result = xstrndup(line, len);
    io->result_len = len;
    io->result_cut = cut;
}

/* Sends the whole line before the deadline; false when the process stopped
 * reading (it died) or the deadline passed. */
static bool loop_send(proc_t *p, const char *s, size_t n, int64_t deadline_ms)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = proc_write(p->in, s + off, n - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN) return false;
        int64_t left = deadline_ms - now_ms();
        if (left <= 0) return false;
        struct pollfd pf = {.fd = p->in, .events = POLLOUT};
        poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
    }
    return true;
}

static char *loop_message(const activation_t *a, size_t *len)
{
    const engine_t *e = a->engine;
    const char *ns = e && e->namespace ? e->namespace : "evkit";
    char *name = xasprintf("/%s/%s", ns, a->action->fqn);
    char deadline[32], key[RUNTIME_KEY_SIZE];
    snprintf(deadline, sizeof deadline, "%lld", (long long)a->deadline_ms);
    runtime_activation_key(a->id, a->deadline_ms, key);
    json_t *value = a->params ? json_incref(a->params) : json_object();
    json_t *msg = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "value", value,
                            "activation_id", a->id, "action_name", name, "deadline", deadline,
                            "api_key", key, "namespace", ns, "api_host",
                            e && e->api_host ? e->api_host : "");
    OPENSSL_cleanse(key, sizeof key);
    free(name);
    /* The activation's W3C trace context (nodejs: __OW_TRACEPARENT). */
    char tp[TRACEPARENT_LEN + 1];
    tracectx_format(&a->trace, tp);
    if (msg && a->trace.trace_id[0]) json_object_set_new(msg, "traceparent", json_string(tp));
    char *line = msg ? json_text(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!line) return NULL;
    /* One line: jansson's compact output never holds a raw newline. */
    size_t n = strlen(line);
    line = xrealloc(line, n + 2);
    line[n++] = '\n';
    line[n] = '\0';
    *len = n;
    return line;
}

/* Gives a process that will not answer a moment to end by itself. */
static void loop_await_exit(const proc_t *p, int64_t deadline_ms)
{
    int64_t until = now_ms() + LOOP_EXIT_GRACE_MS;
    if (until > deadline_ms) until = deadline_ms;
    while (!proc_exited(p)) {
        int64_t left = until - now_ms();
        if (left <= 0) return;
        if (p->pidfd >= 0) {
            struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
            poll(&pf, 1, (int)left);
        } else {
            poll(NULL, 0, (int)(left > LOOP_POLL_MS ? LOOP_POLL_MS : left));
        }
    }
}

/* Waits for the result line until the deadline, gathering logs. Returns
 * false when the deadline passed. */
static bool loop_wait(loop_proc *lp, loop_io *io, int64_t deadline_ms)
{
    proc_t *p = &lp->p;
    bool res_open = true;
    while (res_open && !io->result) {
        if (proc_exited(p)) {
            /* A result written just before it ended still counts. */
            proc_drain(p->res, &lp->res, loop_on_res, io);
            break;
        }
        int64_t left = deadline_ms - now_ms();
        if (left <= 0) return false;
        struct pollfd fds[4] = {
            {.fd = p->res, .events = POLLIN},
            {.fd = p->out, .events = POLLIN},
            {.fd = p->err, .events = POLLIN},
            {.fd = p->pidfd, .events = POLLIN},
        };
        nfds_t nfds = p->pidfd >= 0 ? 4 : 3;
        int wait = (int)(left > 1000 ? 1000 : left);
        if (p->pidfd < 0 && wait > LOOP_POLL_MS) wait = LOOP_POLL_MS;
        int r = poll(fds, nfds, wait);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        /* Logs first: they were written before the result. */
        if (fds[1].revents) proc_drain(p->out, &lp->out, loop_on_out, io);
        if (fds[2].revents) proc_drain(p->err, &lp->err, loop_on_err, io);
        if (fds[0].revents) res_open = proc_drain(p->res, &lp->res, loop_on_res, io);
    }
    if (!io->result) loop_await_exit(p, deadline_ms);
    return true;
}

static int native_spawn(const activation_t *a, proc_t *p, err_t *err)
{
    return proc_spawn(a, NULL, false, true, p, err);
}

static const loop_kind native_kind = {.name = "actionloop", .spawn = native_spawn};

void actionloop_backend_run(activation_t *a)
{
    if (!proc_check_file(a)) return;
    actionloop_run(a, &native_kind);
}

json_t *actionloop_result_parse(const char *line, size_t len, bool cut, const char **why)
{
    if (cut) {
        *why = "the line on file descriptor 3 is too long";
        return NULL;
    }
    json_error_t je;
    json_t *result = json_load_kept(line, len, 0, &je);
    if (!json_is_object(result)) {
        *why = result ? "the line on file descriptor 3 is JSON but not an object"
                      : "the line on file descriptor 3 is not JSON";
        json_decref(result);
        return NULL;
    }
    return result;
}

void actionloop_run(activation_t *a, const loop_kind *kind)
{
    const action_t *action = a->action;
    pool_t *pl = pool_for(action, kind->name);
    loop_proc *lp = pool_take(pl, a->deadline_ms);
    if (!lp) {
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR,
                        "The action exceeded its time limit of %lld milliseconds waiting for a "
                        "free process (limits.concurrency %d).",
                        (long long)proc_time_limit_ms(a), pl->n);
        return;
    }

    loop_io io = {.a = a};
    /* It may have died while idle: start afresh rather than fail this one. */
    if (lp->p.pid > 0 && proc_exited(&lp->p)) loop_retire(lp);
    if (lp->p.pid <= 0) {
        int64_t t0 = mono_ms();
        err_t err;
        if (kind->spawn(a, &lp->p, &err) < 0) {
            a->not_started = true;
            activation_fail(a, lp->p.exec_errno ? ACT_DEV_ERROR : ACT_INTERNAL_ERROR,
                            "The action could not be started: %s.", err.msg);
            proc_clear(&lp->p);
            pool_give(pl, lp);
            return;
        }
        a->cold = true;
        a->init_ms = mono_ms() - t0;
    } else {
        /* Result lines left over from an earlier activation (a protocol
         * error) must not be taken as this one's answer. */
        io.discard = true;
        proc_drain(lp->p.res, &lp->res, loop_on_res, &io);
        linebuf_reset(&lp->res);
        io.discard = false;
    }

    size_t len = 0;
    char *line = loop_message(a, &len);
    if (!line) {
        activation_fail(a, ACT_DEV_ERROR, "The params cannot be encoded as JSON.");
        pool_give(pl, lp);
        return;
    }
    bool sent = loop_send(&lp->p, line, len, a->deadline_ms);
    free(line);
    bool in_time;
    if (sent) {
        in_time = loop_wait(lp, &io, a->deadline_ms);
    } else {
        /* It stopped reading its stdin: it is probably ending. */
        in_time = now_ms() < a->deadline_ms;
        if (in_time) loop_await_exit(&lp->p, a->deadline_ms);
    }
    /* Logs written just before the result are still in the pipes; a line
     * left unfinished belongs to this activation too. */
    proc_drain(lp->p.out, &lp->out, loop_on_out, &io);
    proc_drain(lp->p.err, &lp->err, loop_on_err, &io);
    linebuf_flush(&lp->out, loop_on_out, &io);
    linebuf_flush(&lp->err, loop_on_err, &io);

    const char *why = NULL;
    json_t *result =
        io.result ? actionloop_result_parse(io.result, io.result_len, io.result_cut, &why) : NULL;
    if (!in_time) {
        loop_retire(lp);
        a->timed_out = true;
        activation_fail(a, ACT_DEV_ERROR, "The action exceeded its time limit of %lld milliseconds.",
                        (long long)proc_time_limit_ms(a));
    } else if (!io.result && !proc_exited(&lp->p)) {
        loop_retire(lp);
        activation_fail(a, ACT_DEV_ERROR,
                        "The action process closed file descriptor 3 without answering.");
    } else if (!io.result) {
        char how[128];
        int status = loop_retire(lp);
        proc_describe_status(status, how, sizeof how);
        if (!kind->explain_exit || !kind->explain_exit(a, status, how))
            activation_fail(a, ACT_DEV_ERROR, "The action process exited unexpectedly (%s).", how);
    } else if (!result) {
        /* Its next answer could not be trusted to belong to the next activation. */
        loop_retire(lp);
        activation_fail(a, ACT_DEV_ERROR, "The action did not produce a valid JSON response: %s.",
                        why);
    } else {
        json_decref(a->result);
        a->result = json_incref(result);
        a->status = json_object_get(result, "error") ? ACT_APP_ERROR : ACT_SUCCESS;
        /* It answered and then ended: replace it next time. */
        if (proc_exited(&lp->p)) loop_retire(lp);
    }
    json_decref(result);
    free(io.result);
    pool_give(pl, lp);
}

void actionloop_backend_shutdown(void)
{
    /* Called when no activation runs any more (the daemon stopped its
     * workers): nothing else holds a pool. */
    pthread_mutex_lock(&pools_mu);
    pool_t *pl = pools;
    pools = NULL;
    pthread_mutex_unlock(&pools_mu);
    while (pl) {
        pool_t *next = pl->next;
        for (int i = 0; i < pl->n; i++) {
            loop_retire(&pl->procs[i]);
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
