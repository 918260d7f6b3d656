/* flows: the parts of an OpenWhisk manifest that compose actions rather than
 * declare them: `sequences:` (actions run one after the other), `triggers:`
 * with the alarms feeds, and `rules:` binding a trigger to an action.
 *
 * Sequences become actions of kind RUNTIME_SEQUENCE, so everything that can
 * invoke an action (web, namespaces API, registrations, evkit.invoke) can
 * invoke a sequence. Names are resolved only after every package is read,
 * since a step may live in a package declared further down. */
#include "manifest/manifest_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/util.h"
#include "core/vec.h"

/* OpenWhisk's sequence limit (actionSequenceLimit). */
#define SEQUENCE_MAX_STEPS 50

typedef struct pending_seq {
    size_t action;         /* index into app->actions */
    const mnode_t *steps;  /* the `actions:` node, for positions */
} pending_seq;

typedef struct pending_rule {
    size_t rule;
    const mnode_t *trigger, *action;
} pending_rule;

struct flows_pending {
    pending_seq *seqs;
    size_t nseqs, capseqs;
    pending_rule *rules;
    size_t nrules, caprules;
    size_t captriggers, caprules_app; /* of app->triggers and app->rules */
};

static const char *const SEQ_KEYS[] = {"actions", "web", "annotations", "inputs", "description",
                                       NULL};
static const char *const TRIGGER_KEYS[] = {"feed", "inputs", "annotations", "description", NULL};
static const char *const RULE_KEYS[] = {"trigger", "action", "description", NULL};
/* Inputs the alarms feeds read; the trigger's other inputs are its params. */
static const char *const FEED_INPUTS[] = {"cron",    "trigger_payload", "startDate", "stopDate",
                                          "minutes", "date",            "timezone",
                                          "deleteAfterFire", "maxTriggers", NULL};

static struct flows_pending *pending(lctx_t *c)
{
    if (!c->flows) c->flows = xcalloc(1, sizeof *c->flows);
    return c->flows;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s)) return true;
    return false;
}

/* ---- sequences ---- */

static void step_add(lctx_t *c, action_t *a, const mnode_t *at, const char *name, size_t len)
{
    while (len && (*name == ' ' || *name == '\t')) name++, len--;
    while (len && (name[len - 1] == ' ' || name[len - 1] == '\t')) len--;
    if (!len) {
        mdiag(c->d, DIAG_ERROR, at, "sequence '%s' has an empty step in 'actions'", a->fqn);
        return;
    }
    a->step_names = xrealloc(a->step_names, (a->nsteps + 1) * sizeof *a->step_names);
    a->step_names[a->nsteps++] = xstrndup(name, len);
}

static void sequence_steps(lctx_t *c, action_t *a, const mnode_t *key, const mnode_t *steps)
{
    if (mn_is_str(steps)) {
        /* "a, b, c" as wskdeploy and aio write it. */
        const char *s = steps->str;
        for (const char *comma; (comma = strchr(s, ',')) != NULL; s = comma + 1)
            step_add(c, a, steps, s, (size_t)(comma - s));
        step_add(c, a, steps, s, strlen(s));
    } else if (steps && steps->kind == MN_SEQ) {
        for (size_t i = 0; i < steps->nitems; i++) {
            if (mn_is_str(steps->items[i])) step_add(c, a, steps->items[i], steps->items[i]->str,
                                                     strlen(steps->items[i]->str));
            else
                mdiag(c->d, DIAG_ERROR, steps->items[i],
                      "a step of sequence '%s' must be an action name, not %s", a->fqn,
                      mn_describe(steps->items[i]));
        }
    } else {
        mdiag(c->d, DIAG_ERROR, steps ? steps : key,
              "sequence '%s' needs 'actions': the action names in order, e.g. 'a, b, c'%s%s",
              a->fqn, steps ? ", not " : "", steps ? mn_describe(steps) : "");
        return;
    }
    if (!a->nsteps && !mn_is_null(steps))
        mdiag(c->d, DIAG_ERROR, steps, "sequence '%s' has no steps", a->fqn);
    if (a->nsteps > SEQUENCE_MAX_STEPS)
        mdiag(c->d, DIAG_ERROR, steps, "sequence '%s' has %zu steps; at most %d", a->fqn,
              a->nsteps, SEQUENCE_MAX_STEPS);
}

static void sequence_parse(lctx_t *c, const char *pkg, const json_t *inputs, const mnode_t *key,
                           const mnode_t *spec)
{
    char *fqn = xasprintf("%s/%s", pkg, key->str);
    if (app_action(c->app, fqn))
        mdiag(c->d, DIAG_ERROR, key, "sequence '%s' has the name of an action of package '%s'",
              fqn, pkg);
    if (!valid_name(key->str))
        mdiag(c->d, DIAG_ERROR, key, "invalid sequence name '%s' (letters, digits and _ @ . -)",
              key->str);
    action_t *a = action_push(c);
    a->package = xstrdup(pkg);
    a->name = xstrdup(key->str);
    a->fqn = fqn;
    a->runtime = xstrdup("sequence");
    a->kind = RUNTIME_SEQUENCE;
    a->web = WEB_NO;
    a->inputs = json_deep_copy(inputs);
    a->annotations = json_object();
    a->memory_mb = ACTION_DEFAULT_MEMORY_MB;
    a->concurrency = ACTION_DEFAULT_CONCURRENCY;
    a->main_name = xstrdup("main");

    if (!want_map(c, spec, "sequence '%s'", fqn)) {
        if (mn_is_null(spec))
            mdiag(c->d, DIAG_ERROR, key, "sequence '%s' is empty: it needs 'actions'", fqn);
        return;
    }
    warn_unknown(c, spec, SEQ_KEYS, "in sequence '%s'", fqn);
    const mnode_t *steps = mn_get(spec, "actions");
    sequence_steps(c, a, key, steps);
    action_web(c, a, spec);
    action_annotations(c, a, spec);
    const mnode_t *in = mn_get(spec, "inputs");
    if (want_map(c, in, "'inputs' of sequence '%s'", fqn)) {
        json_t *own = input_json(c, in);
        json_object_update(a->inputs, own);
        json_decref(own);
    }
    struct flows_pending *p = pending(c);
    VEC_GROW(p->seqs, p->capseqs, p->nseqs + 1);
    p->seqs[p->nseqs++] = (pending_seq){(size_t)(a - c->app->actions), steps};
}

/* The sum of the steps' time limits (a sequence may take them all); -1 on
 * a cycle (reported where found). state: 0 unseen, 1 on the path, 2 done. */
static int64_t sequence_depth(lctx_t *c, action_t *a, unsigned char *state, const mnode_t *at)
{
    size_t i = (size_t)(a - c->app->actions);
    if (state[i] == 2) return a->timeout_ms;
    if (state[i] == 1) {
        mdiag(c->d, DIAG_ERROR, at, "sequence '%s' contains itself", a->fqn);
        return -1;
    }
    state[i] = 1;
    int64_t total = 0;
    for (size_t k = 0; k < a->nsteps; k++) {
        const action_t *s = a->steps[k];
        if (!s) continue; /* already reported */
        int64_t t = s->kind == RUNTIME_SEQUENCE ? sequence_depth(c, (action_t *)s, state, at)
                                                : s->timeout_ms;
        if (t < 0) return -1;
        total += t;
    }
    state[i] = 2;
    a->timeout_ms = (int)(total > 24LL * 3600 * 1000 ? 24LL * 3600 * 1000 : total);
    return a->timeout_ms;
}

static void sequences_resolve(lctx_t *c, struct flows_pending *p)
{
    app_t *app = c->app;
    for (size_t i = 0; i < p->nseqs; i++) {
        action_t *a = &app->actions[p->seqs[i].action];
        a->steps = xcalloc(a->nsteps ? a->nsteps : 1, sizeof *a->steps);
        for (size_t k = 0; k < a->nsteps; k++) {
            a->steps[k] = app_action_ref(app, a->package, a->step_names[k]);
            if (!a->steps[k])
                mdiag(c->d, DIAG_ERROR, p->seqs[i].steps,
                      "step '%s' of sequence '%s' names no action of this app", a->step_names[k],
                      a->fqn);
        }
    }
    unsigned char *state = xcalloc(app->nactions, 1);
    for (size_t i = 0; i < p->nseqs; i++) {
        action_t *a = &app->actions[p->seqs[i].action];
        if (state[p->seqs[i].action] != 2 && sequence_depth(c, a, state, p->seqs[i].steps) < 0)
            break;
    }
    free(state);
}

/* ---- triggers ---- */

static bool want_date(lctx_t *c, const trigger_t *t, const mnode_t *n, const char *what,
                      int64_t *out)
{
    if (!n) return false;
    if (n->kind == MN_SCALAR && n->st == MS_INT && n->ival >= 0) {
        *out = n->ival;
        return true;
    }
    if (mn_is_str(n) && time_parse_iso(n->str, out) == 0) return true;
    mdiag(c->d, DIAG_ERROR, n,
          "%s of trigger '%s' must be an ISO 8601 date (2026-12-06T10:00:00Z) or epoch "
          "milliseconds",
          what, t->name);
    return false;
}

static feed_kind feed_of(const char *feed)
{
    const char *last = strrchr(feed, '/');
    const char *name = last ? last + 1 : feed;
    size_t prefix = last ? (size_t)(last - feed) : 0;
    if (prefix && !(prefix == 6 && !strncmp(feed, "alarms", 6)) &&
        !(prefix == 20 && !strncmp(feed, "/whisk.system/alarms", 20)))
        return FEED_NONE;
    if (!strcmp(name, "alarm")) return FEED_ALARM;
    if (!strcmp(name, "interval")) return FEED_INTERVAL;
    if (!strcmp(name, "once")) return FEED_ONCE;
    return FEED_NONE;
}

static void trigger_payload(lctx_t *c, trigger_t *t, const mnode_t *in)
{
    const mnode_t *pl = mn_get(in, "trigger_payload");
    if (!mn_is_null(pl)) {
        json_t *j = input_json(c, pl);
        if (json_is_string(j)) {
            /* The wsk CLI passes it as JSON text. */
            json_t *parsed = json_loads(json_string_value(j), 0, NULL);
            json_decref(j);
            j = parsed;
        }
        if (json_is_object(j)) json_object_update(t->params, j);
        else
            mdiag(c->d, DIAG_ERROR, pl, "trigger_payload of trigger '%s' must be a mapping (or "
                  "JSON text of an object)", t->name);
        json_decref(j);
    }
}

static void trigger_feed_inputs(lctx_t *c, trigger_t *t, const mnode_t *feed, const mnode_t *in)
{
    const mnode_t *n;
    if (t->feed == FEED_ALARM) {
        const char *cron = want_str(c, mn_get(in, "cron"), "cron");
        cron_t parsed;
        char why[256];
        if (!cron)
            mdiag(c->d, DIAG_ERROR, in ? in : feed, "trigger '%s' (alarm feed) needs input 'cron'",
                  t->name);
        else if (cron_parse(cron, &parsed, why, sizeof why) < 0)
            mdiag(c->d, DIAG_ERROR, mn_get(in, "cron"), "cron '%s' of trigger '%s': %s", cron,
                  t->name, why);
        else
            t->cron = xstrdup(cron);
    } else if (t->feed == FEED_INTERVAL) {
        n = mn_get(in, "minutes");
        if (!n || n->kind != MN_SCALAR || n->st != MS_INT || n->ival < 1 || n->ival > 525600)
            mdiag(c->d, DIAG_ERROR, n ? n : feed,
                  "trigger '%s' (interval feed) needs input 'minutes', an integer from 1", t->name);
        else
            t->interval_ms = n->ival * 60000;
    } else if (t->feed == FEED_ONCE) {
        if (!mn_get(in, "date"))
            mdiag(c->d, DIAG_ERROR, in ? in : feed, "trigger '%s' (once feed) needs input 'date'",
                  t->name);
        want_date(c, t, mn_get(in, "date"), "date", &t->date_ms);
    }
    want_date(c, t, mn_get(in, "startDate"), "startDate", &t->start_ms);
    want_date(c, t, mn_get(in, "stopDate"), "stopDate", &t->stop_ms);
    if (t->stop_ms && t->stop_ms <= t->start_ms)
        mdiag(c->d, DIAG_ERROR, mn_get(in, "stopDate"),
              "stopDate of trigger '%s' must be after its startDate", t->name);
    /* Accepted by the alarms feed, not by evkit: say so rather than act otherwise. */
    static const char *const ignored[] = {"deleteAfterFire", "maxTriggers", NULL};
    for (int i = 0; ignored[i]; i++)
        if (mn_get(in, ignored[i]))
            mdiag(c->d, DIAG_WARNING, mn_key(in, ignored[i]),
                  "input '%s' of trigger '%s' is not supported by evkit; ignored", ignored[i],
                  t->name);
    const char *tz = want_str(c, mn_get(in, "timezone"), "timezone");
    if (tz && strcmp(tz, "UTC") && strcmp(tz, "Etc/UTC") && strcmp(tz, "GMT"))
        mdiag(c->d, DIAG_ERROR, mn_get(in, "timezone"),
              "timezone '%s' of trigger '%s': evkit's schedules are in UTC", tz, t->name);
}

static void trigger_parse(lctx_t *c, const char *pkg, const mnode_t *key, const mnode_t *spec)
{
    app_t *app = c->app;
    if (app_trigger(app, key->str))
        mdiag(c->d, DIAG_ERROR, key, "trigger '%s' is declared twice (triggers are namespace-wide)",
              key->str);
    if (!valid_name(key->str))
        mdiag(c->d, DIAG_ERROR, key, "invalid trigger name '%s'", key->str);
    struct flows_pending *p = pending(c);
    VEC_GROW(app->triggers, p->captriggers, app->ntriggers + 1);
    trigger_t *t = &app->triggers[app->ntriggers++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(key->str);
    t->package = xstrdup(pkg);
    t->params = json_object();
    if (!want_map(c, spec, "trigger '%s'", t->name)) {
        mdiag(c->d, DIAG_WARNING, key, "trigger '%s' has no feed: it fires only when fired through "
              "the namespaces API", t->name);
        return;
    }
    warn_unknown(c, spec, TRIGGER_KEYS, "in trigger '%s'", t->name);
    const mnode_t *in = mn_get(spec, "inputs");
    if (!want_map(c, in, "'inputs' of trigger '%s'", t->name)) in = NULL;
    for (size_t i = 0; in && i < in->npairs; i++)
        if (!in_list(FEED_INPUTS, in->pairs[i].key->str))
            json_object_set_new(t->params, in->pairs[i].key->str, input_json(c, in->pairs[i].val));
    trigger_payload(c, t, in);

    const mnode_t *feed = mn_get(spec, "feed");
    const char *fs = want_str(c, feed, "feed");
    if (!fs) {
        mdiag(c->d, DIAG_WARNING, key, "trigger '%s' has no feed: it fires only when fired through "
              "the namespaces API", t->name);
        return;
    }
    t->feed = feed_of(fs);
    if (t->feed == FEED_NONE) {
        mdiag(c->d, DIAG_ERROR, feed,
              "feed '%s' of trigger '%s' is not supported: evkit serves /whisk.system/alarms/alarm, "
              "/whisk.system/alarms/interval and /whisk.system/alarms/once",
              fs, t->name);
        return;
    }
    trigger_feed_inputs(c, t, feed, in);
}

static void rule_parse(lctx_t *c, const char *pkg, const mnode_t *key, const mnode_t *spec)
{
    app_t *app = c->app;
    struct flows_pending *p = pending(c);
    for (size_t i = 0; i < app->nrules; i++)
        if (!strcmp(app->rules[i].name, key->str))
            mdiag(c->d, DIAG_ERROR, key, "rule '%s' is declared twice", key->str);
    VEC_GROW(app->rules, p->caprules_app, app->nrules + 1);
    rule_t *r = &app->rules[app->nrules++];
    memset(r, 0, sizeof *r);
    r->name = xstrdup(key->str);
    r->package = xstrdup(pkg);
    if (!want_map(c, spec, "rule '%s'", r->name)) {
        mdiag(c->d, DIAG_ERROR, key, "rule '%s' needs 'trigger' and 'action'", r->name);
        return;
    }
    warn_unknown(c, spec, RULE_KEYS, "in rule '%s'", r->name);
    const mnode_t *tn = mn_get(spec, "trigger"), *an = mn_get(spec, "action");
    if (!mn_is_str(tn) || !mn_is_str(an)) {
        mdiag(c->d, DIAG_ERROR, key, "rule '%s' needs 'trigger' and 'action', each a name",
              r->name);
        return;
    }
    VEC_GROW(p->rules, p->caprules, p->nrules + 1);
    p->rules[p->nrules++] = (pending_rule){app->nrules - 1, tn, an};
}

static void rules_resolve(lctx_t *c, struct flows_pending *p)
{
    app_t *app = c->app;
    for (size_t i = 0; i < p->nrules; i++) {
        rule_t *r = &app->rules[p->rules[i].rule];
        const char *tname = p->rules[i].trigger->str, *aname = p->rules[i].action->str;
        /* "/ns/name" and "/_/name" name a trigger too. */
        const char *slash = tname[0] == '/' ? strrchr(tname, '/') : NULL;
        r->trigger = app_trigger(app, slash ? slash + 1 : tname);
        r->action = app_action_ref(app, r->package, aname);
        if (!r->trigger)
            mdiag(c->d, DIAG_ERROR, p->rules[i].trigger, "rule '%s' names trigger '%s', which "
                  "is not declared", r->name, tname);
        if (!r->action)
            mdiag(c->d, DIAG_ERROR, p->rules[i].action, "rule '%s' names action '%s', which is "
                  "not an action of this app", r->name, aname);
    }
    for (size_t i = 0; i < app->ntriggers; i++) {
        bool bound = false;
        for (size_t k = 0; k < app->nrules; k++) bound |= app->rules[k].trigger == &app->triggers[i];
        if (!bound && app->triggers[i].feed != FEED_NONE)
            diags_add(c->d, DIAG_WARNING, "app.config.yaml", 0, 0,
                      "trigger '%s' is bound to no action by a rule: its fires run nothing",
                      app->triggers[i].name);
    }
}

/* ---- entry points ---- */

void flows_package_parse(lctx_t *c, const char *pkg, const json_t *inputs, const mnode_t *spec)
{
    const mnode_t *seqs = mn_get(spec, "sequences");
    if (want_map(c, seqs, "'sequences' of package '%s'", pkg))
        for (size_t i = 0; i < seqs->npairs; i++)
            sequence_parse(c, pkg, inputs, seqs->pairs[i].key, seqs->pairs[i].val);
    const mnode_t *trig = mn_get(spec, "triggers");
    if (want_map(c, trig, "'triggers' of package '%s'", pkg))
        for (size_t i = 0; i < trig->npairs; i++)
            trigger_parse(c, pkg, trig->pairs[i].key, trig->pairs[i].val);
    const mnode_t *rules = mn_get(spec, "rules");
    if (want_map(c, rules, "'rules' of package '%s'", pkg))
        for (size_t i = 0; i < rules->npairs; i++)
            rule_parse(c, pkg, rules->pairs[i].key, rules->pairs[i].val);
}

void flows_resolve(lctx_t *c)
{
    struct flows_pending *p = c->flows;
    if (!p) return;
    sequences_resolve(c, p);
    rules_resolve(c, p);
    free(p->seqs);
    free(p->rules);
    /* The capacities of app->triggers and app->rules die here: nothing is
     * added to them after the packages. */
    free(p);
    c->flows = NULL;
}

void flows_free(app_t *app)
{
    for (size_t i = 0; i < app->ntriggers; i++) {
        free(app->triggers[i].name);
        free(app->triggers[i].package);
        free(app->triggers[i].cron);
        json_decref(app->triggers[i].params);
    }
    free(app->triggers);
    for (size_t i = 0; i < app->nrules; i++) {
        free(app->rules[i].name);
        free(app->rules[i].package);
    }
    free(app->rules);
}

const action_t *app_action_ref(const app_t *app, const char *pkg, const char *ref)
{
    if (!app || !ref) return NULL;
    if (ref[0] == '/') {
        /* /namespace/pkg/action: the namespace is this app's, whatever its name. */
        const char *rest = strchr(ref + 1, '/');
        return rest ? app_action(app, rest + 1) : NULL;
    }
    if (strchr(ref, '/') || !pkg) return app_action(app, ref);
    char *fqn = xasprintf("%s/%s", pkg, ref);
    const action_t *a = app_action(app, fqn);
    free(fqn);
    return a;
}

const trigger_t *app_trigger(const app_t *app, const char *name)
{
    return app ? find_by_key(app->triggers, app->ntriggers, sizeof *app->triggers,
                             offsetof(trigger_t, name), name)
               : NULL;
}
