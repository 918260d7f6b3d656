/* exec and actionloop backends against small executables in
 * tests/fixtures/actions: protocol, logs, limits, crashes, pools. */
#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>

#include "runtime/runtime.h"

static engine_t engine;
static char fixtures[PATH_MAX];

static action_t make_action(const char *file, runtime_kind kind, int timeout_ms, int memory_mb)
{
    action_t a;
    memset(&a, 0, sizeof a);
    a.package = "t";
    a.name = (char *)file;
    a.fqn = xasprintf("t/%s", file);
    a.function = xasprintf("%s/%s", fixtures, file);
    a.dir = fixtures;
    a.kind = kind;
    a.runtime = kind == RUNTIME_EXEC ? "exec" : "actionloop";
    a.timeout_ms = timeout_ms;
    a.memory_mb = memory_mb;
    a.concurrency = 2;
    return a;
}

static void free_action(action_t *a)
{
    free(a->fqn);
    free(a->function);
}

static void run(action_t *action, json_t *params, activation_t *a)
{
    memset(a, 0, sizeof *a);
    a->engine = &engine;
    a->action = action;
    a->params = params;
    hex_id32(a->id);
    a->start_ms = now_ms();
    a->deadline_ms = a->start_ms + action->timeout_ms;
    a->memory_limit = (size_t)action->memory_mb * 1024 * 1024;
    if (action->kind == RUNTIME_EXEC) exec_backend_run(a);
    else actionloop_backend_run(a);
}

static void done(activation_t *a)
{
    json_decref(a->result);
    json_decref(a->logs);
}

static bool logs_contain(const activation_t *a, const char *needle)
{
    size_t i;
    json_t *l;
    json_array_foreach(a->logs, i, l) if (strstr(json_string_value(l), needle)) return true;
    return false;
}

static void test_exec_echo(void **state)
{
    (void)state;
    action_t act = make_action("echo.py", RUNTIME_EXEC, 5000, 256);
    json_t *p = json_pack("{s:s}", "value", "hello");
    activation_t a;
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_string_equal(json_string_value(json_object_get(a.result, "value")), "hello");
    assert_true(json_is_true(json_object_get(a.result, "argv")));
    json_t *env = json_object_get(a.result, "env");
    assert_string_equal(json_string_value(json_object_get(env, "__OW_ACTIVATION_ID")), a.id);
    assert_string_equal(json_string_value(json_object_get(env, "__OW_ACTION_NAME")), "/evkit/t/echo.py");
    assert_string_equal(json_string_value(json_object_get(env, "__OW_API_HOST")), "http://127.0.0.1:1");
    assert_non_null(json_object_get(env, "__OW_DEADLINE"));
    assert_non_null(json_object_get(env, "__OW_API_KEY"));
    assert_string_equal(json_string_value(json_object_get(a.result, "cwd")), fixtures);
    assert_true(logs_contain(&a, "stdout: log line one"));
    assert_true(logs_contain(&a, "stderr: to stderr"));
    assert_true(a.cold);
    done(&a);
    json_decref(p);
    free_action(&act);
}

static void test_exec_big_params_only_on_stdin(void **state)
{
    (void)state;
    action_t act = make_action("echo.py", RUNTIME_EXEC, 5000, 256);
    char *big = xmalloc(200 * 1024 + 1);
    memset(big, 'x', 200 * 1024);
    big[200 * 1024] = '\0';
    json_t *p = json_pack("{s:s}", "value", big);
    activation_t a;
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(json_is_false(json_object_get(a.result, "argv")));
    assert_true(json_integer_value(json_object_get(a.result, "stdin_len")) > 200 * 1024);
    done(&a);
    json_decref(p);
    free(big);
    free_action(&act);
}

static void test_exec_errors(void **state)
{
    (void)state;
    action_t act = make_action("echo.py", RUNTIME_EXEC, 5000, 256);
    activation_t a;
    json_t *p = json_pack("{s:s}", "mode", "error");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_APP_ERROR);
    done(&a);
    json_decref(p);

    p = json_pack("{s:s}", "mode", "notjson");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(json_string_value(json_object_get(a.result, "error")), "not JSON"));
    assert_true(logs_contain(&a, "this is not json"));
    done(&a);
    json_decref(p);

    p = json_pack("{s:s}", "mode", "exit3");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(json_string_value(json_object_get(a.result, "error")), "status 3"));
    done(&a);
    json_decref(p);
    free_action(&act);

    act = make_action("crash.sh", RUNTIME_EXEC, 5000, 256);
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(json_string_value(json_object_get(a.result, "error")), "signal 11"));
    assert_true(logs_contain(&a, "about to crash"));
    done(&a);
    free_action(&act);
}

static void test_exec_timeout_kills_group(void **state)
{
    (void)state;
    action_t act = make_action("hang.sh", RUNTIME_EXEC, 300, 256);
    activation_t a;
    int64_t t0 = mono_ms();
    run(&act, NULL, &a);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_true(a.timed_out);
    assert_non_null(strstr(json_string_value(json_object_get(a.result, "error")), "time limit of 300"));
    /* The grandchild it started is gone too. */
    size_t i;
    json_t *l;
    int gpid = 0;
    json_array_foreach(a.logs, i, l) {
        const char *s = strstr(json_string_value(l), "grandchild ");
        if (s) gpid = atoi(s + 11);
    }
    assert_true(gpid > 0);
    usleep(50000);
    /* Gone, or a zombie waiting for init to reap it: either way not running. */
    char path[64], st[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", gpid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(st, sizeof st, f)) st[0] = '\0';
        fclose(f);
        const char *rp = strrchr(st, ')');
        assert_non_null(rp);
        assert_int_equal(rp[2], 'Z');
    }
    done(&a);
    free_action(&act);
}

static void test_exec_memory_cap(void **state)
{
    (void)state;
    action_t act = make_action("hog.py", RUNTIME_EXEC, 5000, 128);
    activation_t a;
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_true(logs_contain(&a, "MemoryError"));
    done(&a);
    free_action(&act);
}

static void test_exec_not_executable(void **state)
{
    (void)state;
    action_t act = make_action("missing-file", RUNTIME_EXEC, 1000, 64);
    activation_t a;
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(json_string_value(json_object_get(a.result, "error")), "not executable"));
    done(&a);
    free_action(&act);
}

static void test_actionloop_warm_and_recover(void **state)
{
    (void)state;
    action_t act = make_action("loop.py", RUNTIME_ACTIONLOOP, 2000, 256);
    act.concurrency = 1;
    activation_t a;
    json_t *p = json_pack("{s:i}", "value", 1);
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(a.cold);
    json_int_t pid = json_integer_value(json_object_get(a.result, "pid"));
    assert_string_equal(json_string_value(json_object_get(a.result, "activation_id")), a.id);
    assert_string_equal(json_string_value(json_object_get(a.result, "api_host")), "http://127.0.0.1:1");
    assert_true(logs_contain(&a, a.id));
    done(&a);

    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_false(a.cold);
    assert_int_equal(json_integer_value(json_object_get(a.result, "pid")), pid);
    assert_int_equal(json_integer_value(json_object_get(a.result, "count")), 2);
    done(&a);
    json_decref(p);

    p = json_pack("{s:s}", "mode", "crash");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(json_string_value(json_object_get(a.result, "error")), "signal 9"));
    done(&a);
    json_decref(p);

    p = json_pack("{s:s, s:i}", "mode", "sleep", "seconds", 10);
    act.timeout_ms = 300;
    run(&act, p, &a);
    assert_true(a.timed_out);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    done(&a);
    json_decref(p);

    act.timeout_ms = 2000;
    p = json_pack("{s:i}", "value", 7);
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(a.cold);
    assert_int_not_equal(json_integer_value(json_object_get(a.result, "pid")), pid);
    assert_int_equal(json_integer_value(json_object_get(a.result, "count")), 1);
    done(&a);
    json_decref(p);
    actionloop_backend_shutdown();
    free_action(&act);
}

typedef struct par_arg {
    action_t *act;
    int ok;
} par_arg;

static void *par_run(void *arg)
{
    par_arg *pa = arg;
    json_t *p = json_pack("{s:s, s:f}", "mode", "sleep", "seconds", 0.3);
    activation_t a;
    run(pa->act, p, &a);
    pa->ok = a.status == ACT_SUCCESS;
    done(&a);
    json_decref(p);
    return NULL;
}

static void test_actionloop_concurrency(void **state)
{
    (void)state;
    action_t act = make_action("loop.py", RUNTIME_ACTIONLOOP, 5000, 256);
    act.concurrency = 2;
    pthread_t t[2];
    par_arg args[2] = {{&act, 0}, {&act, 0}};
    int64_t t0 = mono_ms();
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, par_run, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_true(args[0].ok && args[1].ok);
    /* Two processes: both ran at once (0.3 s each, well under 0.6 s together
     * plus start-up). */
    assert_true(mono_ms() - t0 < 1500);
    actionloop_backend_shutdown();
    free_action(&act);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!realpath("tests/fixtures/actions", fixtures)) {
        fprintf(stderr, "run from the repository root\n");
        return 1;
    }
    memset(&engine, 0, sizeof engine);
    engine.namespace = "evkit";
    engine.api_host = "http://127.0.0.1:1";
    engine.api_key = "";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_echo),
        cmocka_unit_test(test_exec_big_params_only_on_stdin),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_exec_timeout_kills_group),
        cmocka_unit_test(test_exec_memory_cap),
        cmocka_unit_test(test_exec_not_executable),
        cmocka_unit_test(test_actionloop_warm_and_recover),
        cmocka_unit_test(test_actionloop_concurrency),
    };
    return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
