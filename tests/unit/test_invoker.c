/* Invoker: namespaces-API activations on threads of their own. The
 * non-blocking ones in flight are bounded; a blocking caller can stop
 * waiting while the activation runs on; freeing waits for all of them.
 * The action is an exec script that runs until the test lets it end. */
#include "testutil.h"

#include <sys/stat.h>

#include "engine.h"
#include "http/invoker.h"
#include "runtime/runtime.h"

typedef struct {
    char *dir;
    char *go;        /* the file that lets the script end */
    engine_t e;
    action_t a;
} inv_fixture;

static int inv_setup(void **state)
{
    inv_fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    tu_write(f->dir, "wait.sh",
             "#!/bin/sh\n"
             "d=$(dirname \"$0\")\n"
             "while [ ! -f \"$d/go\" ]; do sleep 0.01; done\n"
             "echo '{\"ok\": true}'\n");
    char *script = xasprintf("%s/wait.sh", f->dir);
    if (chmod(script, 0755) < 0) return -1;
    f->go = xasprintf("%s/go", f->dir);
    engine_init(&f->e, NULL, NULL, NULL, NULL);
    f->a.package = "t";
    f->a.name = "wait";
    f->a.fqn = "t/wait";
    f->a.function = script;
    f->a.dir = f->dir;
    f->a.kind = RUNTIME_EXEC;
    f->a.runtime = "exec";
    f->a.timeout_ms = 20000;
    f->a.memory_mb = 256;
    f->a.concurrency = 4;
    *state = f;
    return 0;
}

static int inv_teardown(void **state)
{
    inv_fixture *f = *state;
    engine_fini(&f->e);
    tu_rmrf(f->dir);
    free(f->a.function);
    free(f->go);
    free(f->dir);
    free(f);
    return 0;
}

static void let_go(const inv_fixture *f)
{
    FILE *g = fopen(f->go, "w");
    assert_non_null(g);
    fclose(g);
}

static void test_non_blocking_bound(void **state)
{
    inv_fixture *f = *state;
    invoker_t *inv = invoker_new(2);
    invoke_job_t *a = invoker_start(inv, &f->e, &f->a, json_object(), NULL, true);
    invoke_job_t *b = invoker_start(inv, &f->e, &f->a, json_object(), NULL, true);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strlen(invoke_job_id(a)), 32);
    assert_string_not_equal(invoke_job_id(a), invoke_job_id(b));
    /* The third non-blocking one is refused (its params freed: valgrind
     * would tell); a blocking one still starts. */
    assert_null(invoker_start(inv, &f->e, &f->a, json_object(), NULL, true));
    invoke_job_t *c = invoker_start(inv, &f->e, &f->a, json_object(), NULL, false);
    assert_non_null(c);
    const invoke_result *res = NULL;
    assert_false(invoke_job_wait(a, 50, &res));
    assert_null(res);
    let_go(f);
    assert_true(invoke_job_wait(a, 10000, &res));
    assert_non_null(res);
    assert_int_equal(res->status, ACT_SUCCESS);
    assert_true(json_is_true(json_object_get(res->result, "ok")));
    assert_string_equal(res->activation_id, invoke_job_id(a));
    invoke_job_release(a);
    /* Once one ended, another non-blocking one may start. */
    assert_true(invoke_job_wait(b, 10000, NULL));
    invoke_job_t *d = invoker_start(inv, &f->e, &f->a, json_object(), NULL, true);
    assert_non_null(d);
    invoke_job_release(b);
    invoke_job_release(c);
    invoke_job_release(d);
    invoker_free(inv);
}

static void test_blocking_wait(void **state)
{
    inv_fixture *f = *state;
    invoker_t *inv = invoker_new(1);
    invoke_job_t *j = invoker_start(inv, &f->e, &f->a, json_object(), "0123456789abcdef0123456789abcdef",
                                    false);
    assert_non_null(j);
    /* The wait ends at its limit while the activation runs on. */
    int64_t t0 = mono_ms();
    const invoke_result *res = NULL;
    assert_false(invoke_job_wait(j, 200, &res));
    int64_t waited = mono_ms() - t0;
    assert_true(waited >= 190);
    assert_true(waited < 5000);
    assert_null(res);
    /* The caller gives up on it; freeing the invoker still waits for the
     * activation (let go from here, it ends). */
    invoke_job_release(j);
    let_go(f);
    invoker_free(inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_non_blocking_bound, inv_setup, inv_teardown),
        cmocka_unit_test_setup_teardown(test_blocking_wait, inv_setup, inv_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
