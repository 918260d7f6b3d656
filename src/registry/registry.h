/* registry: the registrations evkit delivers to, those declared in the
 * manifest (read-only at run time) and those created through the
 * registrations API (persisted in the store). Readers take an immutable,
 * reference-counted snapshot; a change (in this process, or in another
 * one sharing the store such as the CLI) makes a new snapshot that
 * publishing and delivery pick up without a restart.
 *
 * A manifest registration and an API one never share a name: creating one
 * with a manifest name is refused, and should a later manifest declare a
 * name the store already has, the manifest's wins (logged). */
#ifndef EVKIT_REGISTRY_H
#define EVKIT_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"
#include "manifest/manifest.h"
#include "store/store.h"

typedef struct registry registry_t;

typedef struct regset {
    int refs;
    size_t n;
    const registration_t **regs;   /* manifest ones first, then API ones by creation */
    bool *from_api;
    registration_t **owned;        /* the API ones, freed with the snapshot */
    size_t nowned;
    int64_t generation;
} regset_t;

registry_t *registry_new(const app_t *app, store_t *store);
void registry_free(registry_t *r);

/* How a webhook URL is proven to be willing before a registration may
 * deliver to it (delivery's challenge). The registry sits below delivery,
 * so the layer that creates it installs the check; without one, webhook
 * registrations are refused (EVK_UNAVAILABLE). Set before any change. */
typedef int (*registry_url_check)(const char *url, err_t *err);
void registry_set_url_check(registry_t *r, registry_url_check check);

/* The current snapshot, re-read from the store when it changed (the store's
 * generation, which SQLite reads only after a commit). Never NULL. Release
 * with regset_release. */
regset_t *registry_get(registry_t *r);
/* The snapshot as last read, without asking the store: for publishing on a
 * store that checks the generation when it writes the event
 * (store_checks_generation), which registry_reload answers when stale. */
regset_t *registry_current(registry_t *r);
/* Reads the registrations again, whatever the generation said. */
regset_t *registry_reload(registry_t *r);
void regset_release(regset_t *s);
/* NULL when absent; *from_api (may be NULL) tells its origin. */
const registration_t *regset_find(const regset_t *s, const char *name, bool *from_api);

/* The changes below return 0, or -1 with err: EVK_INVALID (err says
 * exactly why, every problem joined by "; "; also a webhook that fails its
 * challenge), EVK_FORBIDDEN (a manifest registration), EVK_NOT_FOUND,
 * EVK_CONFLICT (the name is taken, or a rotation is under way), or a
 * store failure's status. registry_create and registry_secret_add create,
 * the others change what exists. */

/* Creates name from spec (the JSON shape of app.config.yaml's
 * registrations; "name" may be inside spec instead). A webhook without
 * webhook_secret gets a generated one, handed back once in *new_secret
 * (may be NULL; caller frees). A webhook must pass the URL check first. */
int registry_create(registry_t *r, const char *name, const json_t *spec, char **new_secret,
                    err_t *err);
/* Replaces name's definition (PUT): a webhook keeps its secrets when spec
 * has none, and passes the URL check again when its URL changed. */
int registry_update(registry_t *r, const char *name, const json_t *spec, char **new_secret,
                    err_t *err);
int registry_delete(registry_t *r, const char *name, err_t *err);
/* Secret rotation: adds a second secret (secret NULL: generated, handed
 * back in *new_secret); both sign until the old one is removed by its id. */
int registry_secret_add(registry_t *r, const char *name, const char *secret, char **new_secret,
                        err_t *err);
int registry_secret_remove(registry_t *r, const char *name, const char *id, err_t *err);
/* Makes a registration ACTIVE again (a webhook passes the URL check
 * first); *resumed gets how many parked deliveries go again. */
int registry_enable(registry_t *r, const char *name, int *resumed, err_t *err);

/* The API's view of one registration: name, description,
 * events_of_interest, runtime_action or webhook_url (+ delivery_type,
 * webhook_secrets as {id, hint}), origin, state and delivery figures.
 * Secrets never appear. New reference, NULL with err on a store failure. */
json_t *registry_describe(registry_t *r, const registration_t *reg, bool from_api, err_t *err);

/* The (provider, event code) pairs a registration subscribes to, flattened
 * for the store's matching reads: *providers[i] with *types[i], strings
 * borrowed from reg. Returns the count; the caller frees both arrays
 * (allocated even when the count is 0). */
size_t registry_interests(const registration_t *reg, const char ***providers, const char ***types);

/* Replay of part of the journal to one registration: the events it
 * subscribes to (and its filter takes) within a position range or a time
 * range, delivered again from attempt 1. */
typedef struct registry_range {
    int64_t since;     /* positions above it (0: from the oldest retained) */
    int64_t until;     /* and at most it (0: to the newest) */
    int64_t from_ms;   /* or: events journaled at or after this time (0: unset) */
    int64_t to_ms;     /* and before this time (0: unset) */
} registry_range;
/* A bound as written: a journal position ("120"), an ISO 8601 time
 * ("2026-12-06T10:00:00Z") or a duration before now ("-PT2H"). Sets *pos
 * or *ms; -1 with err (EVK_INVALID) naming what, when it is none of them. */
int registry_range_bound(const char *what, const char *text, int64_t now, int64_t *pos,
                         int64_t *ms, err_t *err);
/* Replays range to name: times become positions (range->since and ->until
 * get the positions used); *count gets the deliveries made, *filtered (may
 * be NULL) the events its filter turned away. EVK_NOT_FOUND, EVK_INVALID
 * (an empty or reversed range) or a store failure. */
int registry_replay(registry_t *r, const char *name, registry_range *range,
                    store_progress_fn progress, void *ud, int *count, int *filtered, err_t *err);

/* Webhook secrets: a fresh one ("whsec_" + base64 of 32 random bytes;
 * caller frees), and how one is shown without showing it: id is the first
 * 8 hex digits of its SHA-256 (names it for removal), hint "whsec_abcd..."
 * its first four characters. */
char *registry_secret_new(void);
void registry_secret_id(const char *secret, char id[9]);
void registry_secret_hint(const char *secret, char *hint, size_t len);

#endif
