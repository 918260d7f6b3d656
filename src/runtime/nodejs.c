/* nodejs: see nodejs.h. */
#include "runtime/nodejs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/actionloop.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"

extern char **environ;

/* How long `node --version` may take. */
#define NODE_PROBE_MS 10000

/* ---- finding node ---- */

static bool executable_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static bool find_on_path(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && (size_t)snprintf(out, len, "%.*s/%s", (int)n, p, name) < len &&
            executable_file(out))
            return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

/* The major version `path --version` prints ("v20.11.1" -> 20), or -1. */
static int node_major(const char *path, err_t *err)
{
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0) return err_code(err, EVK_UNAVAILABLE, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pp[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)path, "--version", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pp[1]);
    if (rc != 0) {
        close(pp[0]);
        return err_code(err, EVK_INVALID, "cannot run %s: %s", path, strerror(rc));
    }
    char buf[64];
    size_t got = 0;
    int64_t until = mono_ms() + NODE_PROBE_MS;
    for (;;) {
        int64_t left = until - mono_ms();
        struct pollfd pf = {.fd = pp[0], .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) == 0) break;
        ssize_t r = read(pp[0], buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof buf - 1) break;
    }
    close(pp[0]);
    kill(pid, SIGKILL); /* it has ended by now, or hangs */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    buf[got] = '\0';
    int major = -1;
    if (buf[0] == 'v' && sscanf(buf + 1, "%d.", &major) == 1 && major > 0) return major;
    return err_code(err, EVK_INVALID, "%s --version did not print a Node.js version (v<major>.<minor>...)",
                    path);
}

/* One cached answer: the setting it was for and what it found. */
static pthread_mutex_t find_mu = PTHREAD_MUTEX_INITIALIZER;
static char found_for[PATH_MAX], found_path[PATH_MAX];
static int found_major;

int nodejs_find(const char *setting, char *path, size_t len, int *major, err_t *err)
{
    if (!setting) setting = "";
    pthread_mutex_lock(&find_mu);
    bool hit = found_major > 0 && !strcmp(found_for, setting);
    if (hit) {
        snprintf(path, len, "%s", found_path);
        *major = found_major;
    }
    pthread_mutex_unlock(&find_mu);
    if (hit) return 0;
    char where[PATH_MAX];
    if (!*setting) {
        if (!find_on_path("node", where, sizeof where))
            return err_code(err, EVK_NOT_FOUND, "no node on PATH (install Node.js, or set EVKIT_NODE "
                                                "to a node executable)");
    } else if (!strchr(setting, '/')) {
        if (!find_on_path(setting, where, sizeof where))
            return err_code(err, EVK_NOT_FOUND, "EVKIT_NODE=%s: no such program on PATH", setting);
    } else if (!executable_file(setting)) {
        return err_code(err, EVK_NOT_FOUND, "EVKIT_NODE=%s: %s", setting,
                        access(setting, F_OK) == 0 ? "not an executable file" : strerror(ENOENT));
    } else {
        snprintf(where, sizeof where, "%s", setting);
    }
    char *real = realpath(where, NULL);
    int m = node_major(real ? real : where, err);
    if (m > 0) {
        snprintf(path, len, "%s", real ? real : where);
        *major = m;
        pthread_mutex_lock(&find_mu);
        snprintf(found_for, sizeof found_for, "%s", setting);
        snprintf(found_path, sizeof found_path, "%s", path);
        found_major = m;
        pthread_mutex_unlock(&find_mu);
    }
    free(real);
    return m > 0 ? 0 : -1;
}

/* "" when node (major) can run an action declaring want (0: default), else
 * why not. */
static void version_problem(int major, int want, const char *node, char *why, size_t len)
{
    int need = want > 0 ? want : NODEJS_MIN_MAJOR;
    why[0] = '\0';
    if (major < need)
        snprintf(why, len, "it declares %s%d but %s is Node.js %d", want > 0 ? "nodejs:" : "Node.js >= ",
                 need, node, major);
}

/* ---- the launcher and preload, written once to a private folder ---- */

static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;
static char files_dir[PATH_MAX];

static void files_remove(void)
{
    for (size_t i = 0; i < nodejs_files_count; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%s", files_dir, nodejs_files[i].name);
        unlink(p);
    }
    rmdir(files_dir);
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

/* The folder holding launcher.js and preload.js (written at the first call). */
static const char *files_install(err_t *err)
{
    pthread_mutex_lock(&files_mu);
    if (!files_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/evkit-node-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        bool ok = mkdtemp(dir) != NULL; /* 0700 */
        if (ok) {
            snprintf(files_dir, sizeof files_dir, "%s", dir);
            for (size_t i = 0; ok && i < nodejs_files_count; i++) {
                char p[PATH_MAX + 64];
                snprintf(p, sizeof p, "%s/%s", dir, nodejs_files[i].name);
                ok = write_file(p, nodejs_files[i].data, nodejs_files[i].len) == 0;
            }
            if (ok) {
                atexit(files_remove);
            } else {
                int e = errno;
                files_remove();
                files_dir[0] = '\0';
                errno = e;
            }
        }
        if (!ok) {
            err_code(err, EVK_UNAVAILABLE, "cannot write the Node.js launcher under %s: %s",
                     tmp && *tmp ? tmp : "/tmp", strerror(errno));
            pthread_mutex_unlock(&files_mu);
            return NULL;
        }
    }
    pthread_mutex_unlock(&files_mu);
    return files_dir;
}

int nodejs_preload_path(char *out, size_t len, err_t *err)
{
    const char *dir = files_install(err);
    if (!dir) return -1;
    if ((size_t)snprintf(out, len, "%s/preload.js", dir) >= len)
        return err_code(err, EVK_INVALID, "the preload path under %s is too long", dir);
    return 0;
}

/* ---- the backend ---- */

static const char *node_setting(const activation_t *a)
{
    const engine_t *e = a->engine;
    return e && e->config ? e->config->node : NULL;
}

static int node_memory_mb(const activation_t *a)
{
    int mb = (int)(a->memory_limit / (1024 * 1024));
    return mb < NODEJS_MIN_MEMORY_MB ? NODEJS_MIN_MEMORY_MB : mb;
}

static int node_spawn(const activation_t *a, proc_t *p, err_t *err)
{
    char node[PATH_MAX];
    int major;
    if (nodejs_find(node_setting(a), node, sizeof node, &major, err) < 0) return -1;
    const char *dir = files_install(err);
    if (!dir) return -1;
    int mb = node_memory_mb(a);
    char heap[48], preload[PATH_MAX + 16], launcher[PATH_MAX + 16];
    snprintf(heap, sizeof heap, "--max-old-space-size=%d", mb * 3 / 4 - 32);
    snprintf(preload, sizeof preload, "%s/preload.js", dir);
    snprintf(launcher, sizeof launcher, "%s/launcher.js", dir);
    const char *main_name = a->action->main_name ? a->action->main_name : "main";
    char *argv[] = {node, heap, "--require", preload, launcher, a->action->function,
                    (char *)main_name, NULL};
    const engine_t *e = a->engine;
    char *endpoint = xasprintf("EVKIT_ADOBE_ENDPOINT=%s", e && e->api_host ? e->api_host : "");
    char *env[] = {endpoint, NULL};
    proc_cmd cmd = {.path = node, .argv = argv, .env = env,
                    .mem_limit = (size_t)mb * 1024 * 1024, .mem_data = true};
    int rc = proc_spawn_cmd(a, &cmd, false, true, p, err);
    free(endpoint);
    return rc;
}

/* V8 and the C++ runtime say so on stderr before they abort. */
static bool logs_say_out_of_memory(const activation_t *a)
{
    static const char *const hints[] = {"heap out of memory", "Fatal process out of memory",
                                        "std::bad_alloc", "Allocation failed", NULL};
    size_t i;
    json_t *line;
    json_array_foreach(a->logs, i, line) {
        const char *s = json_string_value(line);
        for (int h = 0; s && hints[h]; h++)
            if (strstr(s, hints[h])) return true;
    }
    return false;
}

/* The launcher's line when the function file did not load, without its
 * "<time> stderr: " prefix; NULL when none. */
static const char *init_failure(const activation_t *a)
{
    size_t i;
    json_t *line;
    json_array_foreach(a->logs, i, line) {
        const char *s = json_string_value(line);
        const char *hit = s ? strstr(s, "stderr: Initialization has failed") : NULL;
        if (hit) return hit + 8;
    }
    return NULL;
}

static bool node_explain_exit(activation_t *a, int status, const char *how)
{
    const char *init = init_failure(a);
    if (init && WIFEXITED(status) && WEXITSTATUS(status) == NODEJS_INIT_FAILED) {
        activation_fail(a, ACT_DEV_ERROR, "%s", init);
        return true;
    }
    if (!logs_say_out_of_memory(a)) return false;
    activation_fail(a, ACT_DEV_ERROR,
                    "The action exceeded its memory limit of %d MB (limits.memory) and was "
                    "stopped (%s).",
                    node_memory_mb(a), how);
    return true;
}

static const loop_kind node_kind = {
    .name = "nodejs", .spawn = node_spawn, .explain_exit = node_explain_exit};

void nodejs_backend_run(activation_t *a)
{
    const action_t *action = a->action;
    if (access(action->function, R_OK) != 0) {
        a->not_started = true;
        activation_fail(a, ACT_DEV_ERROR, "The action file %s %s.", action->function,
                        errno == ENOENT ? "does not exist" : "cannot be read");
        return;
    }
    char node[PATH_MAX], why[PATH_MAX + 96];
    int major = 0;
    err_t err;
    if (nodejs_find(node_setting(a), node, sizeof node, &major, &err) < 0) {
        a->not_started = true;
        activation_fail(a, ACT_DEV_ERROR, "The action cannot start: %s.", err.msg);
        return;
    }
    version_problem(major, action->node_major, node, why, sizeof why);
    if (why[0]) {
        a->not_started = true;
        activation_fail(a, ACT_DEV_ERROR, "The action cannot start: %s (set EVKIT_NODE to a "
                                          "newer node).", why);
        return;
    }
    actionloop_run(a, &node_kind);
}

/* ---- evkit check ---- */

void nodejs_check(const app_t *app, const char *setting, diags_t *d)
{
    const action_t *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < app->nactions; i++)
        if (app->actions[i].kind == RUNTIME_NODEJS) {
            if (!first) first = &app->actions[i];
            n++;
        }
    if (!first) return;
    char node[PATH_MAX];
    int major = 0;
    err_t err;
    if (nodejs_find(setting, node, sizeof node, &major, &err) < 0) {
        diags_add(d, DIAG_ERROR, "app.config.yaml", 0, 0,
                  "%zu nodejs action(s) (%s, runtime %s%s) cannot run: %s", n, first->fqn,
                  first->runtime, n > 1 ? ", ..." : "", err.msg);
        return;
    }
    /* One error per declared version that this node is too old for. */
    for (size_t i = 0; i < app->nactions; i++) {
        const action_t *a = &app->actions[i];
        if (a->kind != RUNTIME_NODEJS) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = app->actions[j].kind == RUNTIME_NODEJS &&
                   app->actions[j].node_major == a->node_major;
        if (seen) continue;
        char why[PATH_MAX + 96];
        version_problem(major, a->node_major, node, why, sizeof why);
        if (!why[0]) continue;
        size_t same = 0;
        for (size_t j = 0; j < app->nactions; j++)
            same += app->actions[j].kind == RUNTIME_NODEJS &&
                    app->actions[j].node_major == a->node_major;
        diags_add(d, DIAG_ERROR, "app.config.yaml", 0, 0,
                  "%zu nodejs action(s) (%s%s) cannot run: %s (set EVKIT_NODE to a newer node)",
                  same, a->fqn, same > 1 ? ", ..." : "", why);
    }
}
