/* actionloop: the pool of warm ActionLoop processes (actionloop.c), shared
 * by the kinds that speak the protocol: native actionloop executables (the
 * function file itself) and nodejs (node running evkit's launcher with the
 * function file). A kind says how one process is started and, optionally,
 * what a process that ended without answering means. Private to
 * src/runtime. */
#ifndef EVKIT_RUNTIME_ACTIONLOOP_H
#define EVKIT_RUNTIME_ACTIONLOOP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/proc.h"
#include "runtime/runtime.h"

typedef struct loop_kind {
    const char *name;     /* part of the pool key: "actionloop", "nodejs" */
    /* Starts one process with a result pipe on fd 3 (proc_spawn_cmd). */
    int (*spawn)(const activation_t *a, proc_t *p, err_t *err);
    /* May be NULL. For a process that ended without answering (status as
     * waitpid gives it, how in words): sets a's developer error and
     * returns true when it knows better than "exited unexpectedly". */
    bool (*explain_exit)(activation_t *a, int status, const char *how);
} loop_kind;

/* The protocol's answer: the first line a process wrote on fd 3 (cut:
 * longer than the line limit, only its start given). The result object
 * (new reference), or NULL with *why saying what is wrong with the line. */
json_t *actionloop_result_parse(const char *line, size_t len, bool cut, const char **why);

/* Runs a on a process of its action's pool for kind (concurrency-bounded,
 * reused across activations, killed and replaced at the time limit). */
void actionloop_run(activation_t *a, const loop_kind *kind);

#endif
