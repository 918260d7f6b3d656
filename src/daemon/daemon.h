/* daemon: evkit serve as a module. Starts the store, the engine, HTTP and
 * delivery in that order, runs the periodic work (retention of the journal,
 * activations and traces, at start and hourly) until SIGINT or SIGTERM, and
 * stops them in the reverse order. Signals are blocked in every thread and
 * taken synchronously here, so no handler ever runs inside a worker.
 *
 * One daemon per journal: <data>/serve.lock is held while it runs, and
 * <data>/serve.json tells the other commands its URL. */
#ifndef EVKIT_DAEMON_H
#define EVKIT_DAEMON_H

#include "config.h"
#include "core/util.h"

typedef struct daemon_opts {
    const char *app_dir;
    const char *data_dir;
    const char *listen;   /* ADDR:PORT; port 0 picks a free one */
    int workers;          /* delivery workers, 1..256 */
    /* The settings: the process ones read already; the daemon reads the
     * app's (environment, then the app's .env) into it once the app is
     * loaded, and a bad one stops it. Borrowed. */
    config_t *config;
} daemon_opts;

/* Serves until SIGINT or SIGTERM: 0 after a clean stop, -1 with err when
 * it cannot start (err->msg is empty when the reason was logged already:
 * the app's diagnostics). */
int daemon_run(const daemon_opts *o, err_t *err);

#endif
