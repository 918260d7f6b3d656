/* proc: see proc.h. The child does only async-signal-safe work between
 * fork and exec: everything it needs is prepared before the fork. */
#include "runtime/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **build_env(const activation_t *a, bool per_activation)
{
    static const char *keep[] = {"PATH", "HOME", "LANG", "TZ", "LC_ALL", NULL};
    char **env = xcalloc(16, sizeof *env);
    int n = 0;
    for (int i = 0; keep[i]; i++) {
        const char *v = getenv(keep[i]);
        if (v) env[n++] = xasprintf("%s=%s", keep[i], v);
    }
    if (!getenv("PATH")) env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    engine_t *e = a->engine;
    const char *ns = e && e->namespace ? e->namespace : "evkit";
    env[n++] = xasprintf("__OW_ACTION_NAME=/%s/%s", ns, a->action->fqn);
    env[n++] = xasprintf("__OW_NAMESPACE=%s", ns);
    env[n++] = xasprintf("__OW_API_HOST=%s", e && e->api_host ? e->api_host : "");
    env[n++] = xasprintf("__OW_API_KEY=%s", e && e->api_key ? e->api_key : "");
    if (per_activation) {
        env[n++] = xasprintf("__OW_ACTIVATION_ID=%s", a->id);
        env[n++] = xasprintf("__OW_DEADLINE=%lld", (long long)a->deadline_ms);
    }
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

/* Child side: never returns. Only async-signal-safe calls. */
static void child_exec(const char *path, const char *dir, char **argv, char **envp, int in, int out,
                       int err, int res, rlim_t mem)
{
    setpgid(0, 0);
    /* Move the ends onto 0..3; dup2 clears close-on-exec on the new fds. */
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
    if (res >= 0 && dup2(res, 3) < 0) _exit(126);
    int first = res >= 0 ? 4 : 3;
    syscall(SYS_close_range, (unsigned)first, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    struct rlimit rl = {mem, mem};
    if (mem) setrlimit(RLIMIT_AS, &rl);
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    if (chdir(dir) < 0) _exit(126);
    execve(path, argv, envp);
    static const char msg[] = "evkit: cannot execute the action file\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

int proc_spawn(const activation_t *a, const char *extra_arg, bool per_activation, bool with_fd3,
               proc_t *p, err_t *err)
{
    int pin[2], pout[2], perr[2], pres[2] = {-1, -1};
    if (pipe2(pin, O_CLOEXEC) < 0) return err_set(err, "pipe: %s", strerror(errno));
    if (pipe2(pout, O_CLOEXEC) < 0) {
        close(pin[0]);
        close(pin[1]);
        return err_set(err, "pipe: %s", strerror(errno));
    }
    if (pipe2(perr, O_CLOEXEC) < 0 || (with_fd3 && pipe2(pres, O_CLOEXEC) < 0)) {
        int e = errno;
        close(pin[0]), close(pin[1]), close(pout[0]), close(pout[1]);
        if (perr[0] >= 0) close(perr[0]), close(perr[1]);
        return err_set(err, "pipe: %s", strerror(e));
    }
    const char *path = a->action->function;
    char *argv[3] = {(char *)path, (char *)extra_arg, NULL};
    char **envp = build_env(a, per_activation);
    rlim_t mem = (rlim_t)a->memory_limit;
    pid_t pid = fork();
    if (pid == 0)
        child_exec(path, a->action->dir, argv, envp, pin[0], pout[1], perr[1], pres[1], mem);
    int fork_errno = errno;
    free_strv(envp);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (pres[1] >= 0) close(pres[1]);
    if (pid < 0) {
        close(pin[1]), close(pout[0]), close(perr[0]);
        if (pres[0] >= 0) close(pres[0]);
        return err_set(err, "fork: %s", strerror(fork_errno));
    }
    setpgid(pid, pid); /* also here: whichever side runs first wins the race */
    p->pid = pid;
    p->in = pin[1];
    p->out = pout[0];
    p->err = perr[0];
    p->res = pres[0];
    set_nonblock(p->in);
    set_nonblock(p->out);
    set_nonblock(p->err);
    if (p->res >= 0) set_nonblock(p->res);
    return 0;
}

void proc_close_fds(proc_t *p)
{
    int *fds[] = {&p->in, &p->out, &p->err, &p->res};
    for (size_t i = 0; i < 4; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

int proc_kill(proc_t *p)
{
    int status = -1;
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
        p->pid = 0;
    }
    proc_close_fds(p);
    return status;
}

void proc_describe_status(int status, char *buf, size_t len)
{
    if (status < 0) snprintf(buf, len, "ended");
    else if (WIFEXITED(status)) snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, len, "ended abnormally");
}

void linebuf_init(linebuf_t *lb) { buf_init(&lb->b, 0); }
void linebuf_free(linebuf_t *lb) { buf_free(&lb->b); }

void linebuf_feed(linebuf_t *lb, const char *data, size_t n,
                  void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        if (!nl) {
            buf_append(&lb->b, data, n);
            return;
        }
        size_t part = (size_t)(nl - data);
        if (lb->b.len) {
            buf_append(&lb->b, data, part);
            fn(ctx, lb->b.data, lb->b.len);
            lb->b.len = 0;
        } else {
            fn(ctx, data, part);
        }
        data = nl + 1;
        n -= part + 1;
    }
}

void linebuf_flush(linebuf_t *lb, void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    if (lb->b.len) fn(ctx, lb->b.data, lb->b.len);
    lb->b.len = 0;
}
