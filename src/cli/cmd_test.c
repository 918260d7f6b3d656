/* test: runs the app's Lua tests on the real Lua host with a fake outside
 * world (runtime/testing.h). Without FILE arguments: every .lua file in the
 * app's tests folder and in every tests folder below actions, in name
 * order. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "core/log.h"
#include "core/vec.h"
#include "runtime/runtime.h"
#include "runtime/testing.h"

static const char TEST_USAGE[] =
    "usage: evkit test [--app DIR] [FILE...]\n"
    "\n"
    "  Runs Lua test files with the real evkit module and a fake outside world:\n"
    "  outbound HTTP answered by the test, state and publish kept in memory, no\n"
    "  journal. FILEs default to the app's tests/*.lua and actions/**/tests/*.lua.\n"
    "  Prints one line per test and \"N passed, M failed\"; exits 1 on any failure.\n";

typedef VEC(char *) paths_t;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.lua files directly in dir. */
static void add_lua_files(paths_t *out, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".lua")) continue;
        char *p = path_join(dir, e->d_name);
        if (path_is_file(p)) VEC_PUSH(out, p);
        else free(p);
    }
    closedir(d);
}

/* Every tests/ folder below dir (dir itself included when it is one). */
static void add_test_folders(paths_t *out, const char *dir, int depth)
{
    if (depth > 16) return; /* deeper is a link loop, not an app */
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *p = path_join(dir, e->d_name);
        if (path_is_dir(p)) {
            if (!strcmp(e->d_name, "tests")) add_lua_files(out, p);
            else add_test_folders(out, p, depth + 1);
        }
        free(p);
    }
    closedir(d);
}

static int test_run(cli_ctx *ctx, const cli_args *a)
{
    app_t *app = cli_load_app(ctx, false);
    if (!app) return EXIT_FAIL;
    paths_t files = {0};
    if (a->n) {
        for (int i = 0; i < a->n; i++) VEC_PUSH(&files, xstrdup(a->v[i]));
    } else {
        char *tests = path_join(app->dir, "tests");
        char *actions = path_join(app->dir, "actions");
        add_lua_files(&files, tests);
        add_test_folders(&files, actions, 0);
        free(tests);
        free(actions);
        if (files.n) qsort(files.v, files.n, sizeof *files.v, path_cmp);
    }
    app_free(app);
    if (files.n == 0) {
        free(files.v);
        return cli_fail("no test files in %s (tests/*.lua, actions/**/tests/*.lua)", ctx->app_dir);
    }
    /* Failing actions are what tests check: their warnings would be noise. */
    log_set_level(LOG_ERROR);
    test_summary sum = {0};
    err_t err;
    int rc = runtime_test_run(ctx->app_dir, files.v, files.n, stdout, &sum, &err);
    for (size_t i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    lua_backend_thread_cleanup();
    if (rc < 0) return cli_fail("%s", err.msg);
    printf("%d passed, %d failed\n", sum.passed, sum.failed);
    return sum.failed == 0 ? EXIT_OK : EXIT_FAIL;
}

const cli_command cli_cmd_test = {.name = "test", .usage = TEST_USAGE, .operands = true,
    .run = test_run};
