/* manifest_int: what the files of the manifest module share, and nothing
 * else includes (unit tests excepted).
 *
 * The YAML side works in two steps: ytree.c turns every file into a small
 * tree of mnode_t (each node keeps its file, line and column, $include and
 * "<<" merges already applied), and manifest.c reads that tree into an app_t.
 * Keeping positions on every node is what lets every later check name
 * file:line.
 *
 * Ownership: every mnode_t and mfile_t belongs to its ytree_t and dies with
 * ytree_free. */
#ifndef EVKIT_MANIFEST_INT_H
#define EVKIT_MANIFEST_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/manifest.h"

/* Caps that keep a hostile or broken YAML file (alias bombs, recursive
 * aliases) from eating the machine. */
#define YTREE_MAX_NODES 200000
#define YTREE_MAX_DEPTH 64

typedef struct mfile {
    char *abs;   /* canonical path */
    char *rel;   /* relative to the app folder when inside it, else abs */
    char *dir;   /* folder of abs: relative paths written in the file start here */
} mfile_t;

typedef enum { MN_SCALAR, MN_SEQ, MN_MAP } mn_kind;
/* Scalar types of the YAML 1.2 core schema (what js-yaml, and so aio, uses:
 * "yes" and "no" stay strings). Quoted scalars are always MS_STR. */
typedef enum { MS_STR, MS_NULL, MS_BOOL, MS_INT, MS_FLOAT } ms_type;

typedef struct mnode mnode_t;
typedef struct mpair {
    mnode_t *key;   /* always a scalar */
    mnode_t *val;
} mpair_t;

struct mnode {
    mn_kind kind;
    const mfile_t *file;
    int line, col;          /* 1-based */
    /* MN_SCALAR */
    char *str;
    ms_type st;
    bool quoted;
    bool bval;
    int64_t ival;
    double fval;
    /* MN_SEQ */
    mnode_t **items;
    size_t nitems;
    /* MN_MAP: keys unique (duplicates are reported while building) */
    mpair_t *pairs;
    size_t npairs;
};

typedef struct ytree {
    diags_t *d;
    char *appdir;
    mfile_t **files;
    size_t nfiles, capfiles;
    mnode_t **nodes;
    size_t nnodes, capnodes;
    char **stack;           /* canonical paths being loaded, for $include cycles */
    size_t nstack, capstack;
    bool over_cap;
} ytree_t;

void ytree_init(ytree_t *t, const char *appdir, diags_t *d);
/* Loads the YAML file at path with every $include resolved. NULL (and an
 * error in t->d) when it cannot be read or parsed. An empty file gives a
 * null scalar. */
mnode_t *ytree_load(ytree_t *t, const char *path);
void ytree_free(ytree_t *t);

/* The value of key in map (NULL when absent or map is not a mapping). */
const mnode_t *mn_get(const mnode_t *map, const char *key);
/* The key node itself, for positions (NULL when absent). */
const mnode_t *mn_key(const mnode_t *map, const char *key);
bool mn_is_null(const mnode_t *n);
bool mn_is_str(const mnode_t *n);
/* "a mapping", "a sequence", "a string", "an integer", ... for messages. */
const char *mn_describe(const mnode_t *n);
/* The node as JSON, typed as the core schema says. New reference. */
json_t *mn_to_json(const mnode_t *n);

/* A JSON value as a tree of t (no file, no positions), so that what an API
 * receives is checked by the same code as what a file declares. */
mnode_t *mn_from_json(ytree_t *t, const json_t *j);

/* diags_add at a node's position (or at the file alone when at is NULL). */
void mdiag(diags_t *d, diag_severity sev, const mnode_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* abs relative to appdir when inside it, else abs. Caller frees. */
char *mf_rel(const char *appdir, const char *abs);

/* .env text into obj (KEY -> string); later lines win. Malformed lines are
 * warnings on file_rel:line. */
void dotenv_parse(const char *text, const char *file_rel, json_t *obj, diags_t *d);
/* s with every $VAR and ${VAR} replaced from env (an object of strings).
 * Each missing variable becomes "" and a warning at `at` naming it; with
 * `missing` (an object, may be NULL) only its first use is reported and the
 * others are counted for env_missing_finish. Caller frees. */
char *env_expand(const char *s, const json_t *env, json_t *missing, diags_t *d, const mnode_t *at);
/* Adds "(used in N more places)" to the warnings env_expand recorded. */
void env_missing_finish(json_t *missing, diags_t *d);

/* ---- what manifest.c shares with flows.c ---- */
typedef struct lctx {
    diags_t *d;
    app_t *app;
    size_t capactions;
    json_t *missing;    /* $VARs already reported missing */
    bool literal;       /* from the API: no $VAR expansion (no peeking at the environment) */
    struct flows_pending *flows; /* sequences and rules to resolve (flows.c) */
} lctx_t;

/* A warning for each key of map not in known; where (a printf format) says
 * whose keys they are. */
void warn_unknown(lctx_t *c, const mnode_t *map, const char *const *known, const char *where,
                  ...) __attribute__((format(printf, 4, 5)));
/* True for a mapping; absent or empty is false without a word, another
 * type an error naming the value as what (a printf format) says. */
bool want_map(lctx_t *c, const mnode_t *n, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
/* A string value, NULL when absent or empty (and an error when of another type). */
const char *want_str(lctx_t *c, const mnode_t *n, const char *what);
/* Milliseconds from an integer or a duration string. */
bool want_ms(lctx_t *c, const mnode_t *n, const char *what, int64_t *out);
/* The first of n structs of size bytes at base whose string member at
 * key_off equals key; NULL when none or key is NULL. */
const void *find_by_key(const void *base, size_t n, size_t size, size_t key_off, const char *key);
/* OpenWhisk entity names, minus spaces. */
bool valid_name(const char *s);
/* Inputs as JSON with $VARs expanded. */
json_t *input_json(lctx_t *c, const mnode_t *n);
/* A new zeroed action at the end of app->actions (which may move). */
action_t *action_push(lctx_t *c);
void action_web(lctx_t *c, action_t *a, const mnode_t *spec);
void action_annotations(lctx_t *c, action_t *a, const mnode_t *spec);

/* flows.c: `sequences:`, `triggers:` and `rules:` of package pkg (spec is
 * the package's mapping, inputs its inputs). */
void flows_package_parse(lctx_t *c, const char *pkg, const json_t *inputs, const mnode_t *spec);
/* Once every package is read: sequence steps and rule targets resolved,
 * sequence cycles refused, sequence limits derived from their steps. */
void flows_resolve(lctx_t *c);
void flows_free(app_t *app);

/* Reads onboarding/config/providers.json and events.json into app
 * (app->dir must be set). Problems go to d. */
void onboarding_load(app_t *app, diags_t *d);

#endif
