/* scheduler: fires the app's triggers on their alarms feeds (cron, interval,
 * once) from one thread of evkit serve. Each fire is claimed in the store
 * before it runs (store_trigger_claim), so a restart never fires a slot
 * twice, and a fire the process died in is run again at start with its
 * activation id. Fires missed while evkit was stopped are not each made up:
 * at start the latest missed slot fires once, at once (its `missed`
 * annotation counts the slots passed over). */
#ifndef EVKIT_DAEMON_SCHEDULER_H
#define EVKIT_DAEMON_SCHEDULER_H

#include "core/util.h"
#include "engine.h"

typedef struct scheduler scheduler_t;

/* Starts the thread; *out NULL when the app has no scheduled trigger. */
int scheduler_start(engine_t *e, scheduler_t **out, err_t *err);
/* Stops it after the fire under way, if any, and frees it. NULL is fine. */
void scheduler_stop(scheduler_t *s);

#endif
