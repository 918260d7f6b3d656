/* proc: see proc.h. The daemon is multithreaded, so the child does only
 * async-signal-safe work between fork and exec: everything it needs (argv,
 * environment, limits, the default signal action) is prepared before the
 * fork. A close-on-exec pipe tells the parent whether exec happened, so
 * that "cannot execute" is an error message and not a mysterious exit 127. */
#include "runtime/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child reports on the error pipe when it cannot get to the action. */
enum { STAGE_CHDIR = 1, STAGE_EXEC = 2, STAGE_SETUP = 3 };

static char **build_env(const activation_t *a, bool per_activation, char *const *extra)
{
    static const char *keep[] = {"PATH", "HOME", "LANG", "TZ", NULL};
    size_t nextra = 0;
    while (extra && extra[nextra]) nextra++;
    char **env = xcalloc(16 + nextra, sizeof *env);
    int n = 0;
    for (int i = 0; keep[i]; i++) {
        const char *v = getenv(keep[i]);
        if (v) env[n++] = xasprintf("%s=%s", keep[i], v);
    }
    if (!getenv("PATH")) env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    const engine_t *e = a->engine;
    const char *ns = e && e->namespace ? e->namespace : "evkit";
    env[n++] = xasprintf("__OW_ACTION_NAME=/%s/%s", ns, a->action->fqn);
    env[n++] = xasprintf("__OW_NAMESPACE=%s", ns);
    env[n++] = xasprintf("__OW_API_HOST=%s", e && e->api_host ? e->api_host : "");
    if (per_activation) {
        /* Its own key: what it invokes with it is caused by it. */
        char key[RUNTIME_KEY_SIZE];
        runtime_activation_key(a->id, a->deadline_ms, key);
        env[n++] = xasprintf("__OW_API_KEY=%s", key);
        env[n++] = xasprintf("__OW_ACTIVATION_ID=%s", a->id);
        env[n++] = xasprintf("__OW_DEADLINE=%lld", (long long)a->deadline_ms);
        /* The activation's W3C trace context, as OpenTelemetry reads it from the environment. */
        char tp[TRACEPARENT_LEN + 1];
        tracectx_format(&a->trace, tp);
        if (a->trace.trace_id[0]) env[n++] = xasprintf("TRACEPARENT=%s", tp);
    } else {
        env[n++] = xasprintf("__OW_API_KEY=%s", e && e->api_key ? e->api_key : "");
    }
    for (size_t i = 0; i < nextra; i++) env[n++] = xstrdup(extra[i]);
    env[n] = NULL;
    return env;
}

static void free_strv(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Everything the child needs, prepared before the fork. */
typedef struct child_plan {
    const char *path, *dir;
    char **argv, **envp;
    int fds[4];           /* become 0..3 (fds[3] -1: no fd 3) */
    int report;           /* error pipe, close-on-exec */
    rlim_t mem;
    int mem_resource;     /* RLIMIT_AS or RLIMIT_DATA */
    int max_fd;           /* for the close loop when close_range is missing */
    struct sigaction dfl;
    sigset_t none;
} child_plan;

static void child_close_from(int first, int max_fd, int except)
{
    /* close_range (Linux 5.9) in two spans around the error pipe, else a loop. */
    long r1 = except > first ? syscall(SYS_close_range, (unsigned)first, (unsigned)except - 1, 0U) : 0;
    long r2 = syscall(SYS_close_range, (unsigned)except + 1, ~0U, 0U);
    if (r1 == 0 && r2 == 0) return;
    for (int fd = first; fd < max_fd; fd++)
        if (fd != except) close(fd);
}

static void child_report(int fd, int stage)
{
    int msg[2] = {stage, errno};
    ssize_t w = write(fd, msg, sizeof msg);
    (void)w;
    _exit(127);
}

/* Child side: never returns. Only async-signal-safe calls. */
static void child_exec(const child_plan *c)
{
    /* Handlers of the daemon must not run here, and ignored signals
     * (SIGPIPE) would stay ignored across exec. */
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &c->dfl, NULL);
    sigprocmask(SIG_SETMASK, &c->none, NULL);
    setpgid(0, 0);
    /* Lift every end above 0..3 first so that no dup2 below overwrites an
     * end not yet moved (when the daemon runs with 0..2 closed, pipes land there). */
    int moved[4];
    for (int i = 0; i < 4; i++) {
        moved[i] = c->fds[i] >= 0 ? fcntl(c->fds[i], F_DUPFD, 10) : -1;
        if (c->fds[i] >= 0 && moved[i] < 0) child_report(c->report, STAGE_SETUP);
    }
    int report = fcntl(c->report, F_DUPFD_CLOEXEC, 10);
    if (report < 0) child_report(c->report, STAGE_SETUP);
    for (int i = 0; i < 4; i++)
        if (moved[i] >= 0 && dup2(moved[i], i) < 0) child_report(report, STAGE_SETUP);
    child_close_from(moved[3] >= 0 ? 4 : 3, c->max_fd, report);
    if (c->mem) {
        struct rlimit rl = {c->mem, c->mem};
        setrlimit(c->mem_resource, &rl);
    }
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    if (chdir(c->dir) < 0) child_report(report, STAGE_CHDIR);
    execve(c->path, c->argv, c->envp);
    child_report(report, STAGE_EXEC);
}

bool proc_check_file(activation_t *a)
{
    const char *f = a->action->function;
    if (access(f, X_OK) == 0) return true;
    a->not_started = true;
    if (errno == ENOENT)
        activation_fail(a, ACT_DEV_ERROR, "The action file %s does not exist.", f);
    else
        activation_fail(a, ACT_DEV_ERROR, "The action file %s is not executable (chmod +x it).", f);
    return false;
}

void proc_clear(proc_t *p)
{
    p->pid = 0;
    p->pidfd = p->in = p->out = p->err = p->res = -1;
    p->exec_errno = 0;
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    /* Close-on-exec by definition. Missing (kernel before 5.3, valgrind):
     * -1, and callers fall back to polling with a short timeout; asked once. */
    static atomic_bool missing;
    if (atomic_load(&missing)) return -1;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0U);
    if (fd < 0 && errno == ENOSYS) atomic_store(&missing, true);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

int proc_spawn(const activation_t *a, const char *extra_arg, bool per_activation, bool with_fd3,
               proc_t *p, err_t *err)
{
    char *argv[3] = {a->action->function, (char *)extra_arg, NULL};
    proc_cmd cmd = {.path = a->action->function, .argv = argv, .mem_limit = a->memory_limit};
    return proc_spawn_cmd(a, &cmd, per_activation, with_fd3, p, err);
}

int proc_spawn_cmd(const activation_t *a, const proc_cmd *cmd, bool per_activation, bool with_fd3,
                   proc_t *p, err_t *err)
{
    proc_clear(p);
    /* [0] in, [1] out, [2] err, [3] res, [4] report; [i][0] read end. */
    int pp[5][2];
    for (int i = 0; i < 5; i++) pp[i][0] = pp[i][1] = -1;
    for (int i = 0; i < 5; i++) {
        if (i == 3 && !with_fd3) continue;
        if (pipe2(pp[i], O_CLOEXEC) < 0) {
            int e = errno;
            for (int j = 0; j < 5; j++) close_fd(&pp[j][0]), close_fd(&pp[j][1]);
            return err_code(err, EVK_UNAVAILABLE, "pipe: %s", strerror(e));
        }
    }
    const char *path = cmd->path;
    child_plan c = {
        .path = path,
        .dir = a->action->dir,
        .argv = (char **)cmd->argv,
        .envp = build_env(a, per_activation, cmd->env),
        .fds = {pp[0][0], pp[1][1], pp[2][1], pp[3][1]},
        .report = pp[4][1],
        .mem = (rlim_t)cmd->mem_limit,
        .mem_resource = cmd->mem_data ? RLIMIT_DATA : RLIMIT_AS,
        .max_fd = 1024,
    };
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
        c.max_fd = (int)(nofile.rlim_cur > 1048576 ? 1048576 : nofile.rlim_cur);
    memset(&c.dfl, 0, sizeof c.dfl);
    c.dfl.sa_handler = SIG_DFL;
    sigemptyset(&c.dfl.sa_mask);
    sigemptyset(&c.none);

    /* No signal handler may run in the child before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) child_exec(&c);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free_strv(c.envp);
    close_fd(&pp[0][0]);
    for (int i = 1; i < 5; i++) close_fd(&pp[i][1]);
    if (pid < 0) {
        for (int i = 0; i < 5; i++) close_fd(&pp[i][0]), close_fd(&pp[i][1]);
        return err_code(err, EVK_UNAVAILABLE, "fork: %s", strerror(fork_errno));
    }
    setpgid(pid, pid); /* also here: whichever side runs first wins the race */

    /* EOF: exec happened (the pipe closed on exec). Two ints: it did not. */
    int msg[2];
    size_t got = 0;
    while (got < sizeof msg) {
        ssize_t r = read(pp[4][0], (char *)msg + got, sizeof msg - got);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
    }
    close_fd(&pp[4][0]);
    if (got == sizeof msg) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        for (int i = 0; i < 4; i++) close_fd(&pp[i][0]), close_fd(&pp[i][1]);
        p->exec_errno = msg[1] ? msg[1] : EINVAL;
        if (msg[0] == STAGE_CHDIR)
            return err_code(err, EVK_INVALID, "cannot enter the folder %s: %s", a->action->dir,
                            strerror(p->exec_errno));
        if (msg[0] == STAGE_SETUP) {
            p->exec_errno = 0; /* the daemon's trouble, not the action's */
            return err_set(err, "cannot set up the process: %s", strerror(msg[1]));
        }
        return err_code(err, EVK_INVALID, "cannot execute %s: %s%s", path,
                        strerror(p->exec_errno),
                        p->exec_errno == ENOENT || p->exec_errno == ENOEXEC ? " (check its #! line)"
                                                                            : "");
    }
    p->pid = pid;
    p->pidfd = open_pidfd(pid);
    p->in = pp[0][1];
    p->out = pp[1][0];
    p->err = pp[2][0];
    p->res = pp[3][0];
    set_nonblock(p->in);
    set_nonblock(p->out);
    set_nonblock(p->err);
    if (p->res >= 0) set_nonblock(p->res);
    return 0;
}

bool proc_exited(const proc_t *p)
{
    if (p->pid <= 0) return true;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* WNOWAIT: look without reaping, so the group id stays ours to kill. */
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) return errno == ECHILD;
    return si.si_pid == p->pid;
}

int proc_kill(proc_t *p)
{
    int status = -1;
    if (p->pid > 0) {
        /* The leader is not reaped yet (at worst a zombie), so the group id
         * is still this group's: nothing else can be hit. */
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &status, 0) < 0) {
            if (errno != EINTR) {
                status = -1;
                break;
            }
        }
        p->pid = 0;
    }
    close_fd(&p->pidfd);
    close_fd(&p->in);
    close_fd(&p->out);
    close_fd(&p->err);
    close_fd(&p->res);
    return status;
}

ssize_t proc_write(int fd, const void *data, size_t n)
{
    /* Block SIGPIPE on this thread for the write; if the write raised it,
     * take it off the pending set before unblocking. */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigemptyset(&pending);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, data, n);
    int e = errno;
    if (w < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

int64_t proc_time_limit_ms(const activation_t *a)
{
    if (a->start_ms > 0 && a->deadline_ms > a->start_ms) return a->deadline_ms - a->start_ms;
    return a->action->timeout_ms;
}

void proc_describe_status(int status, char *buf, size_t len)
{
    if (status < 0) snprintf(buf, len, "status unknown");
    else if (WIFEXITED(status)) snprintf(buf, len, "status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d: %s", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, len, "wait status %d", status);
}

void linebuf_init(linebuf_t *lb)
{
    buf_init(&lb->b, 0);
    lb->cut = false;
}

void linebuf_free(linebuf_t *lb) { buf_free(&lb->b); }

void linebuf_reset(linebuf_t *lb)
{
    lb->b.len = 0;
    lb->cut = false;
}

/* Keeps what still fits of a line being gathered. */
static void gather(linebuf_t *lb, const char *data, size_t n)
{
    size_t room = PROC_LINE_MAX - lb->b.len;
    if (n > room) {
        n = room;
        lb->cut = true;
    }
    if (n) buf_append(&lb->b, data, n);
}

void linebuf_feed(linebuf_t *lb, const char *data, size_t n, line_fn fn, void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        if (!nl) {
            gather(lb, data, n);
            return;
        }
        size_t part = (size_t)(nl - data);
        if (lb->b.len == 0 && !lb->cut && part <= PROC_LINE_MAX) {
            fn(ctx, data, part, false); /* the common case: no copy */
        } else {
            gather(lb, data, part);
            fn(ctx, lb->b.data ? lb->b.data : "", lb->b.len, lb->cut);
            linebuf_reset(lb);
        }
        data = nl + 1;
        n -= part + 1;
    }
}

void linebuf_flush(linebuf_t *lb, line_fn fn, void *ctx)
{
    if (lb->b.len || lb->cut) fn(ctx, lb->b.data ? lb->b.data : "", lb->b.len, lb->cut);
    linebuf_reset(lb);
}

bool proc_drain(int fd, linebuf_t *lb, line_fn fn, void *ctx)
{
    if (fd < 0) return false;
    char chunk[65536];
    for (int budget = 16; budget > 0;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r > 0) {
            linebuf_feed(lb, chunk, (size_t)r, fn, ctx);
            budget--;
            continue;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    return true;
}
