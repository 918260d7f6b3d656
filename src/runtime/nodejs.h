/* nodejs: the nodejs:* runtime. Actions run in warm Node.js processes of
 * the actionloop pool (actionloop.h): `node [--max-old-space-size=N]
 * --require <preload.js> <launcher.js> <function file> <main name>`, with
 * evkit's launcher and preload (nodejs/, embedded in the binary at build
 * time) written at first use to a private folder that is removed at exit.
 *
 * Memory: Node reserves far more address space than it uses and aborts
 * under an RLIMIT_AS below about 800 MB (Node 20), so the action's
 * limits.memory (at least NODEJS_MIN_MEMORY_MB) caps RLIMIT_DATA and the
 * V8 old space is three quarters of it less 32 MB. A process that runs out
 * ends as a developer error naming the limit; the next activation gets a
 * fresh one. */
#ifndef EVKIT_RUNTIME_NODEJS_H
#define EVKIT_RUNTIME_NODEJS_H

#include <stddef.h>

#include "core/util.h"
#include "manifest/manifest.h"

#define NODEJS_MIN_MEMORY_MB 128
#define NODEJS_MIN_MAJOR 16      /* what nodejs:default accepts */
#define NODEJS_INIT_FAILED 70    /* launcher.js's exit status when the function file does not load */

/* The embedded files (build/gen/nodejs_files.c). */
typedef struct nodejs_file {
    const char *name;            /* "launcher.js" */
    const unsigned char *data;
    size_t len;
} nodejs_file;
extern const nodejs_file nodejs_files[];
extern const size_t nodejs_files_count;

/* The Node.js to run: setting (EVKIT_NODE; NULL or "": node on PATH; a
 * name without '/' is looked up on PATH) as an absolute path in path (len
 * bytes) and its major version in *major. -1 with err (EVK_NOT_FOUND when
 * there is none, EVK_INVALID when it does not run as node --version). */
int nodejs_find(const char *setting, char *path, size_t len, int *major, err_t *err);

/* The path of evkit's preload.js (written to the private folder at the
 * first call, removed when evkit exits) in out; -1 with err. */
int nodejs_preload_path(char *out, size_t len, err_t *err);

/* `evkit check`: an error when the app has nodejs actions and no Node.js
 * is found, or one older than an action declares (nodejs:N needs major >=
 * N; nodejs:default needs NODEJS_MIN_MAJOR). */
void nodejs_check(const app_t *app, const char *setting, diags_t *d);

#endif
