/* tu_store: the cmocka fixture of tests that need a fresh store in a
 * temporary folder (setup opens it, teardown closes and removes it). */
#ifndef EVKIT_TU_STORE_H
#define EVKIT_TU_STORE_H

#include "store/store.h"
#include "testutil.h"

typedef struct {
    char *dir;
    store_t *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    err_t err;
    if (store_open(f->dir, &f->s, &err) < 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

#endif
