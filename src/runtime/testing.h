/* testing: `evkit test`, which runs an app's Lua test files on the real Lua
 * backend with a fake outside world (src/runtime/lua/test.c; the test API
 * is in README.md, "Testing actions"). */
#ifndef EVKIT_RUNTIME_TESTING_H
#define EVKIT_RUNTIME_TESTING_H

#include <stddef.h>
#include <stdio.h>

#include "core/util.h"

typedef struct test_summary {
    int passed;
    int failed;
} test_summary;

/* Runs each of files (Lua test files inside the app folder appdir) in
 * turn, printing one line per test to out ("ok   <file>: <name>", or
 * "FAIL <file>: <name>" and the reason), and counts them in sum. A file
 * that does not run, or declares no test, counts as one failure. Returns
 * -1 with err (EVK_INVALID) when the app does not load. */
int runtime_test_run(const char *appdir, char *const *files, size_t nfiles, FILE *out,
                     test_summary *sum, err_t *err);

#endif
