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

static const char *error_of(const activation_t *a)
{
    const char *e = json_string_value(json_object_get(a->result, "error"));
    return e ? e : "";
}

/* The pid a fixture printed as "grandchild <pid>". */
static int grandchild_of(const activation_t *a)
{
    size_t i;
    json_t *l;
    json_array_foreach(a->logs, i, l) {
        const char *s = strstr(json_string_value(l), "grandchild ");
        if (s) return atoi(s + 11);
    }
    return 0;
}

/* Gone, or a zombie waiting for init to reap it: either way not running. */
static bool pid_gone(int pid)
{
    for (int tries = 0; tries < 50; tries++) {
        char path[64], st[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) return true;
        if (!fgets(st, sizeof st, f)) st[0] = '\0';
        fclose(f);
        const char *rp = strrchr(st, ')');
        if (rp && rp[1] && rp[2] == 'Z') return true;
        usleep(10000); /* SIGKILL is delivered asynchronously */
    }
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
    char deadline[32];
    snprintf(deadline, sizeof deadline, "%lld", (long long)a.deadline_ms);
    assert_string_equal(json_string_value(json_object_get(env, "__OW_DEADLINE")), deadline);
    /* Its own key, not the daemon's token: what it invokes is caused by it. */
    char key[RUNTIME_KEY_SIZE], cause[33];
    runtime_activation_key(a.id, a.deadline_ms, key);
    const char *got = json_string_value(json_object_get(env, "__OW_API_KEY"));
    assert_string_equal(got, key);
    assert_true(runtime_key_verify(got, strlen(got), cause));
    assert_string_equal(cause, a.id);
    assert_string_equal(json_string_value(json_object_get(env, "__OW_NAMESPACE")), "evkit");
    /* Nothing else of the daemon's environment (secrets) reaches the
     * action. (Interpreters and wrappers such as pyenv's shims add variables
     * of their own, so the check is on one we set.) */
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(a.result, "env_keys"), i, k)
        assert_string_not_equal(json_string_value(k), "EVKIT_TEST_SECRET");
    assert_non_null(getenv("EVKIT_TEST_SECRET"));
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
    int gpid = grandchild_of(&a);
    assert_true(gpid > 0);
    assert_true(pid_gone(gpid));
    done(&a);
    free_action(&act);
}

static void test_exec_background_left_running_is_killed(void **state)
{
    (void)state;
    action_t act = make_action("background.sh", RUNTIME_EXEC, 5000, 256);
    activation_t a;
    int64_t t0 = mono_ms();
    run(&act, NULL, &a);
    /* It answered: the sleep holding its stdout only delays us a little. */
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(json_is_true(json_object_get(a.result, "ok")));
    int gpid = grandchild_of(&a);
    assert_true(gpid > 0);
    assert_true(pid_gone(gpid));
    done(&a);
    free_action(&act);
}

static void test_exec_floods_both_streams(void **state)
{
    (void)state;
    action_t act = make_action("noisy.py", RUNTIME_EXEC, 10000, 256);
    activation_t a;
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_int_equal(json_integer_value(json_object_get(a.result, "lines")), 5000);
    assert_int_equal(json_array_size(a.logs), 10000);
    assert_true(logs_contain(&a, "stdout: out 4999 "));
    assert_true(logs_contain(&a, "stderr: err 4999 "));
    done(&a);
    free_action(&act);
}

static void test_exec_ignored_stdin_no_sigpipe(void **state)
{
    (void)state;
    /* With the default SIGPIPE action a leaked SIGPIPE would end this test
     * process: the runtime must not depend on the daemon ignoring it. */
    signal(SIGPIPE, SIG_DFL);
    action_t act = make_action("nostdin.sh", RUNTIME_EXEC, 5000, 256);
    char *big = xmalloc(300 * 1024 + 1);
    memset(big, 'x', 300 * 1024);
    big[300 * 1024] = '\0';
    json_t *p = json_pack("{s:s}", "value", big);
    for (int i = 0; i < 3; i++) {
        activation_t a;
        run(&act, p, &a);
        assert_int_equal(a.status, ACT_SUCCESS);
        done(&a);
    }
    signal(SIGPIPE, SIG_IGN);
    json_decref(p);
    free(big);
    free_action(&act);
}

static void test_exec_result_too_long(void **state)
{
    (void)state;
    action_t act = make_action("huge.py", RUNTIME_EXEC, 5000, 256);
    activation_t a;
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(error_of(&a), "longer than 1048576 bytes"));
    done(&a);
    free_action(&act);
}

static void test_exec_bad_interpreter(void **state)
{
    (void)state;
    action_t act = make_action("badshebang.sh", RUNTIME_EXEC, 5000, 256);
    activation_t a;
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    /* Under valgrind a failed execve kills the child (status 101) instead. */
    const char *preload = getenv("LD_PRELOAD");
    if (!preload || !strstr(preload, "vgpreload")) {
        assert_non_null(strstr(error_of(&a), "cannot execute"));
        assert_non_null(strstr(error_of(&a), "#! line"));
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
    assert_non_null(strstr(error_of(&a), "does not exist"));
    done(&a);
    free_action(&act);

    /* A file without its x bit. */
    char *dir = tu_tmpdir();
    tu_write(dir, "plain.sh", "#!/bin/sh\necho '{}'\n");
    act = make_action("plain.sh", RUNTIME_EXEC, 1000, 64);
    free(act.function);
    act.function = xasprintf("%s/plain.sh", dir);
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    /* (Even root needs one x bit to execute a file.) */
    assert_non_null(strstr(error_of(&a), "not executable"));
    done(&a);
    act.kind = RUNTIME_ACTIONLOOP;
    run(&act, NULL, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(error_of(&a), "not executable"));
    done(&a);
    free_action(&act);
    tu_rmrf(dir);
    free(dir);
}

/* Activation keys: "<id>:<deadline>.<hmac>", only as made, only in time. */
static void test_activation_keys(void **state)
{
    (void)state;
    const char *id = "0123456789abcdef0123456789abcdef";
    char key[RUNTIME_KEY_SIZE], cause[33] = "";
    int64_t deadline = now_ms() + 60000;
    runtime_activation_key(id, deadline, key);
    assert_int_equal(strncmp(key, id, 32), 0);
    assert_int_equal(key[32], ':');
    assert_true(runtime_key_verify(key, strlen(key), cause));
    assert_string_equal(cause, id);
    assert_true(runtime_key_verify(key, strlen(key), NULL));
    /* One character changed anywhere: refused. */
    for (size_t i = 0; i < strlen(key); i++) {
        char bad[RUNTIME_KEY_SIZE];
        memcpy(bad, key, sizeof bad);
        bad[i] = bad[i] == '1' ? '2' : '1';
        if (bad[i] == key[i]) continue;
        assert_false(runtime_key_verify(bad, strlen(bad), NULL));
    }
    /* Another activation's mac, a later deadline with the old mac, junk. */
    char other[RUNTIME_KEY_SIZE];
    runtime_activation_key("fedcba9876543210fedcba9876543210", deadline, other);
    char swapped[RUNTIME_KEY_SIZE];
    snprintf(swapped, sizeof swapped, "%.32s%s", id, other + 32);
    assert_false(runtime_key_verify(swapped, strlen(swapped), NULL));
    assert_false(runtime_key_verify(key, strlen(key) - 1, NULL));
    assert_false(runtime_key_verify("k1", 2, NULL));
    assert_false(runtime_key_verify("", 0, NULL));
    /* Past its deadline plus the margin: refused; within the margin: taken. */
    runtime_activation_key(id, now_ms() - RUNTIME_KEY_MARGIN_MS - 1000, key);
    assert_false(runtime_key_verify(key, strlen(key), NULL));
    runtime_activation_key(id, now_ms() - RUNTIME_KEY_MARGIN_MS + 5000, key);
    assert_true(runtime_key_verify(key, strlen(key), NULL));
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
    json_t *msg = json_object_get(a.result, "msg");
    assert_string_equal(json_string_value(json_object_get(msg, "activation_id")), a.id);
    assert_string_equal(json_string_value(json_object_get(msg, "action_name")), "/evkit/t/loop.py");
    assert_string_equal(json_string_value(json_object_get(msg, "namespace")), "evkit");
    char key[RUNTIME_KEY_SIZE];
    runtime_activation_key(a.id, a.deadline_ms, key);
    assert_string_equal(json_string_value(json_object_get(msg, "api_key")), key);
    assert_string_equal(json_string_value(json_object_get(msg, "api_host")), "http://127.0.0.1:1");
    char deadline[32];
    snprintf(deadline, sizeof deadline, "%lld", (long long)a.deadline_ms);
    assert_string_equal(json_string_value(json_object_get(msg, "deadline")), deadline);
    /* The process environment holds only what stays the same across activations. */
    json_t *env = json_object_get(a.result, "env");
    assert_string_equal(json_string_value(json_object_get(env, "__OW_API_HOST")), "http://127.0.0.1:1");
    assert_string_equal(json_string_value(json_object_get(env, "__OW_ACTION_NAME")), "/evkit/t/loop.py");
    assert_null(json_object_get(env, "__OW_ACTIVATION_ID"));
    assert_true(logs_contain(&a, a.id));
    assert_true(logs_contain(&a, "stderr: to stderr"));
    done(&a);

    /* Warm: same process, its state kept. */
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_false(a.cold);
    assert_int_equal(json_integer_value(json_object_get(a.result, "pid")), pid);
    assert_int_equal(json_integer_value(json_object_get(a.result, "count")), 2);
    assert_true(logs_contain(&a, a.id));
    done(&a);
    json_decref(p);

    /* A line without a newline still lands in this activation's logs. */
    p = json_pack("{s:s}", "mode", "partial");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(logs_contain(&a, "stdout: no newline"));
    done(&a);
    json_decref(p);

    /* A crash fails this activation only; the next one gets a new process. */
    p = json_pack("{s:s}", "mode", "crash");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(error_of(&a), "exited unexpectedly (signal 9"));
    done(&a);
    json_decref(p);
    p = json_pack("{s:i}", "value", 2);
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(a.cold);
    assert_int_not_equal(json_integer_value(json_object_get(a.result, "pid")), pid);
    pid = json_integer_value(json_object_get(a.result, "pid"));
    done(&a);
    json_decref(p);

    /* An exit without an answer names the status. */
    p = json_pack("{s:s}", "mode", "exit");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(error_of(&a), "exited unexpectedly (status 4)"));
    done(&a);
    json_decref(p);

    /* Not JSON on fd 3: developer error, and the process is replaced. */
    p = json_pack("{s:s}", "mode", "badjson");
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(error_of(&a), "not JSON"));
    done(&a);
    json_decref(p);

    /* A timeout kills it; the next activation starts a new one. */
    p = json_pack("{s:s, s:i}", "mode", "sleep", "seconds", 10);
    act.timeout_ms = 300;
    int64_t t0 = mono_ms();
    run(&act, p, &a);
    assert_true(mono_ms() - t0 < 2000);
    assert_true(a.timed_out);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_non_null(strstr(error_of(&a), "time limit of 300 milliseconds"));
    done(&a);
    json_decref(p);

    act.timeout_ms = 2000;
    p = json_pack("{s:i}", "value", 7);
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(a.cold);
    assert_int_equal(json_integer_value(json_object_get(a.result, "count")), 1);
    pid = json_integer_value(json_object_get(a.result, "pid"));
    done(&a);

    /* Killed from outside while idle: replaced without failing anyone. */
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    usleep(50000);
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_SUCCESS);
    assert_true(a.cold);
    assert_int_not_equal(json_integer_value(json_object_get(a.result, "pid")), pid);
    done(&a);
    json_decref(p);
    actionloop_backend_shutdown();
    free_action(&act);
}

typedef struct par_arg {
    action_t *act;
    double seconds;
    int status;
    bool timed_out;
    json_int_t pid;
    double slept_from, slept_to; /* wall clock, as the process saw it */
} par_arg;

static void *par_run(void *arg)
{
    par_arg *pa = arg;
    json_t *p = json_pack("{s:s, s:f}", "mode", "sleep", "seconds", pa->seconds);
    activation_t a;
    run(pa->act, p, &a);
    pa->status = (int)a.status;
    pa->timed_out = a.timed_out;
    pa->pid = json_integer_value(json_object_get(a.result, "pid"));
    json_t *slept = json_object_get(a.result, "slept");
    pa->slept_from = json_number_value(json_array_get(slept, 0));
    pa->slept_to = json_number_value(json_array_get(slept, 1));
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
    par_arg args[2] = {{.act = &act, .seconds = 0.3}, {.act = &act, .seconds = 0.3}};
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, par_run, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(args[0].status, ACT_SUCCESS);
    assert_int_equal(args[1].status, ACT_SUCCESS);
    /* Two processes, both at once: their sleeps overlap (what each process
     * saw, so a slow start-up on a loaded machine does not matter). */
    assert_int_not_equal(args[0].pid, args[1].pid);
    assert_true(args[0].slept_from > 0 && args[1].slept_from > 0);
    assert_true(args[0].slept_from < args[1].slept_to && args[1].slept_from < args[0].slept_to);
    actionloop_backend_shutdown();
    free_action(&act);
}

static void test_actionloop_waits_for_a_free_process(void **state)
{
    (void)state;
    action_t act = make_action("loop.py", RUNTIME_ACTIONLOOP, 3000, 256);
    act.concurrency = 1;
    pthread_t t[2];
    par_arg args[2] = {{.act = &act, .seconds = 0.2}, {.act = &act, .seconds = 0.2}};
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, par_run, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    /* One process served both, one after the other. */
    assert_int_equal(args[0].status, ACT_SUCCESS);
    assert_int_equal(args[1].status, ACT_SUCCESS);
    assert_int_equal(args[0].pid, args[1].pid);

    /* A wait longer than the time limit is a timeout. */
    args[0].seconds = 0.8;
    pthread_create(&t[0], NULL, par_run, &args[0]);
    usleep(150000);
    act.timeout_ms = 250;
    activation_t a;
    json_t *p = json_pack("{s:i}", "value", 1);
    run(&act, p, &a);
    assert_int_equal(a.status, ACT_DEV_ERROR);
    assert_true(a.timed_out);
    assert_non_null(strstr(error_of(&a), "waiting for a free process"));
    done(&a);
    json_decref(p);
    pthread_join(t[0], NULL);
    assert_int_equal(args[0].status, ACT_SUCCESS);
    actionloop_backend_shutdown();
    free_action(&act);
}

/* Pools outlive a failed test otherwise, and the next one would reuse them. */
static int teardown_pools(void **state)
{
    (void)state;
    actionloop_backend_shutdown();
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    setenv("EVKIT_TEST_SECRET", "must not leak", 1);
    if (!realpath("tests/fixtures/actions", fixtures)) {
        fprintf(stderr, "run from the repository root\n");
        return 1;
    }
    memset(&engine, 0, sizeof engine);
    engine.namespace = "evkit";
    engine.api_host = "http://127.0.0.1:1";
    engine.api_key = "k1";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_echo),
        cmocka_unit_test(test_exec_big_params_only_on_stdin),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_exec_timeout_kills_group),
        cmocka_unit_test(test_exec_background_left_running_is_killed),
        cmocka_unit_test(test_exec_floods_both_streams),
        cmocka_unit_test(test_exec_ignored_stdin_no_sigpipe),
        cmocka_unit_test(test_exec_result_too_long),
        cmocka_unit_test(test_exec_bad_interpreter),
        cmocka_unit_test(test_exec_memory_cap),
        cmocka_unit_test(test_exec_not_executable),
        cmocka_unit_test(test_activation_keys),
        cmocka_unit_test_teardown(test_actionloop_warm_and_recover, teardown_pools),
        cmocka_unit_test_teardown(test_actionloop_concurrency, teardown_pools),
        cmocka_unit_test_teardown(test_actionloop_waits_for_a_free_process, teardown_pools),
    };
    return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
