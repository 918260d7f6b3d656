/* workpool: threads for the requests whose answer may wait (a web action,
 * a durable publish, a blocking invoke), so libmicrohttpd's event threads
 * never wait on them. A job runs on the thread idle the shortest, or on a
 * new one when none is idle: a request that waits for the journal's group
 * commit holds a thread only while it waits, and concurrent publishes still
 * share an fsync. Not bounded: an action's own request to evkit (the
 * namespaces API) must never wait for a thread its caller holds. Threads
 * idle for a while end, down to the number kept. */
#ifndef EVKIT_HTTP_WORKPOOL_H
#define EVKIT_HTTP_WORKPOOL_H

typedef struct workpool workpool_t;
typedef void (*work_fn)(void *arg);

/* keep: threads that stay when idle. */
workpool_t *workpool_new(int keep);
/* Runs fn(arg) on a pool thread; when no thread can be started, on the
 * caller's (slower, never lost). */
void workpool_run(workpool_t *p, work_fn fn, void *arg);
/* Waits for every job given so far; a job given later runs on the
 * caller's thread. */
void workpool_stop(workpool_t *p);
/* Stops (as workpool_stop), then frees. */
void workpool_free(workpool_t *p);

#endif
