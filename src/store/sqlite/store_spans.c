/* store_spans: the spans of W3C traces (activations, events, delivery
 * attempts, trigger fires), written in batches off the hot path like the
 * delivery traces, read by trace id for the console's trace view. */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

/* Ids are kept packed (hex_arg: the bytes of lower-case hex digits), kind
 * and name as interned names (strings): a span row is a third of its text. */
#define SPANS_TABLE(name)                                                                      \
    "CREATE TABLE " name "("                                                                   \
    "  trace_id NOT NULL, span_id NOT NULL, parent_id, kind INTEGER NOT NULL,"                 \
    "  ref NOT NULL, name INTEGER NOT NULL, start_ms INTEGER NOT NULL,"                         \
    "  end_ms INTEGER NOT NULL, ok INTEGER NOT NULL, status INTEGER NOT NULL);"

/* Since schema version 6 a trace id is stored once, in span_traces, beside
 * the start its spans' starts are counted from (base_ms) and the end of
 * its latest span (last_ms, for retention). A span's id is its trace's id
 * times SPAN_SEQS plus its rank in the trace, so the spans of a trace sit
 * together in the table and need no index of their own. */
#define SPAN_SEQS 1048576
#define SPAN_SEQS_STR "1048576"
#define SPAN_TRACES_TABLE                                                                      \
    "CREATE TABLE IF NOT EXISTS span_traces(id INTEGER PRIMARY KEY, trace_id NOT NULL UNIQUE,"  \
    "  base_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL);"
#define SPANS_TABLE_V6(name)                                                                   \
    "CREATE TABLE " name "("                                                                   \
    "  id INTEGER PRIMARY KEY, span_id NOT NULL, parent_id, kind INTEGER NOT NULL,"            \
    "  ref NOT NULL, name INTEGER NOT NULL, start_d INTEGER NOT NULL, dur_ms INTEGER NOT NULL," \
    "  ok INTEGER NOT NULL, status INTEGER NOT NULL);"
/* The spans of trace t.id, as a range of span ids. */
#define SPANS_OF(t)                                                                            \
    " BETWEEN " t ".id * " SPAN_SEQS_STR " AND " t ".id * " SPAN_SEQS_STR " + " SPAN_SEQS_STR  \
    " - 1"

const char STORE_SPANS_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
    SPAN_TRACES_TABLE
    SPANS_TABLE_V6("IF NOT EXISTS spans")
    "CREATE INDEX IF NOT EXISTS span_traces_last ON span_traces(last_ms);";

/* Schema version 3: spans of the text layout (version 2) packed. */
const char STORE_SPANS_V3[] =
    "INSERT OR IGNORE INTO strings(s) SELECT kind FROM spans UNION SELECT name FROM spans;"
    SPANS_TABLE("spans_v3")
    "INSERT INTO spans_v3 SELECT evk_hex_pack5(trace_id), evk_hex_pack5(span_id),"
    "  evk_hex_pack5(parent_id), (SELECT id FROM strings WHERE s = kind), evk_hex_pack5(ref),"
    "  (SELECT id FROM strings WHERE s = name), start_ms, end_ms, ok, status"
    "  FROM spans ORDER BY rowid;"
    "DROP TABLE spans;"
    "ALTER TABLE spans_v3 RENAME TO spans;"
    "CREATE INDEX spans_trace ON spans(trace_id, start_ms);"
    "CREATE INDEX spans_end ON spans(end_ms);";

/* Schema version 6: the trace id once per trace, times as small numbers,
 * UUIDs (event ids) packed; the spans_trace and spans_end indexes go. A
 * trace's spans keep their order (beyond SPAN_SEQS of one trace, which
 * nothing makes, the rest would be dropped). */
const char STORE_SPANS_V6[] =
    SPAN_TRACES_TABLE
    "INSERT INTO span_traces(trace_id, base_ms, last_ms) SELECT evk_hex_pack(trace_id),"
    "  min(start_ms), max(end_ms) FROM spans GROUP BY trace_id ORDER BY min(rowid);"
    SPANS_TABLE_V6("spans_v6")
    "INSERT INTO spans_v6 SELECT t.id * " SPAN_SEQS_STR " + s.n - 1, evk_hex_pack(s.span_id),"
    "  evk_hex_pack(s.parent_id), s.kind, evk_hex_pack(s.ref), s.name, s.start_ms - t.base_ms,"
    "  s.end_ms - s.start_ms, s.ok, s.status"
    "  FROM (SELECT *, row_number() OVER (PARTITION BY trace_id ORDER BY rowid) AS n"
    "        FROM spans) s"
    "  JOIN span_traces t ON t.trace_id = evk_hex_pack(s.trace_id)"
    "  WHERE s.n <= " SPAN_SEQS_STR " ORDER BY 1;"
    "DROP TABLE spans;"
    "ALTER TABLE spans_v6 RENAME TO spans;";

typedef struct span_row {
    arec_t base;   /* first: the writer sees an arec_t */
    const char *trace_id, *span_id, *parent_id, *kind, *ref, *name;
    int64_t start_ms, end_ms;
    int ok, status;
} span_row;

typedef struct {
    int64_t id, base_ms, last_ms;
} span_trace;

static int row_span_trace(void *ud, sqlite3_stmt *row, err_t *err)
{
    (void)err;
    span_trace *t = ud;
    t->id = sqlite3_column_int64(row, 0);
    t->base_ms = sqlite3_column_int64(row, 1);
    t->last_ms = sqlite3_column_int64(row, 2);
    return 1;
}

/* The writer's recent traces: a span of one of them is one INSERT (and an
 * UPDATE of last_ms when it ends later), without reading its trace and its
 * trace's last span again. A trace has one slot, by a hash of its id. */
#define SPAN_CACHE 256
typedef struct {
    char trace_id[33]; /* "" when free */
    span_trace t;
    int64_t next;      /* the id of the trace's next span */
} span_cached;
struct span_cache {
    span_cached e[SPAN_CACHE];
};

static span_cached *span_slot(struct span_cache *sc, const char *trace_id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = trace_id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return &sc->e[h % SPAN_CACHE];
}

void span_cache_reset(conn_t *c)
{
    if (c->spans) memset(c->spans, 0, sizeof *c->spans);
}

void span_cache_free(conn_t *c)
{
    free(c->spans);
    c->spans = NULL;
}

/* The trace of sp (made when new, its last_ms moved on) into *t; *fresh
 * when it was made now (it has no span yet). */
static int span_trace_of(conn_t *c, const span_row *sp, span_trace *t, bool *fresh, err_t *err)
{
    unsigned char bt[32];
    sql_arg tid = hex_arg(sp->trace_id, bt);
    /* Most traces the writer does not know are new: made first, read
     * only when there. */
    if (sql_exec(c, ST_SPAN_TRACE_PUT,
                 "INSERT INTO span_traces(trace_id, base_ms, last_ms) VALUES(?1, ?2, ?3)"
                 " ON CONFLICT(trace_id) DO NOTHING",
                 ARGS(tid, SQL_INT(sp->start_ms), SQL_INT(sp->end_ms)), "cannot store a trace",
                 err) < 0)
        return -1;
    *fresh = sqlite3_changes(c->db) == 1;
    if (*fresh) {
        t->id = sqlite3_last_insert_rowid(c->db);
        t->base_ms = sp->start_ms;
        t->last_ms = sp->end_ms;
        return 0;
    }
    int found = sql_run(c, ST_SPAN_TRACE_GET,
                        "SELECT id, base_ms, last_ms FROM span_traces WHERE trace_id = ?1",
                        ARGS(tid), row_span_trace, t, "cannot read a trace", err);
    if (found < 0) return -1;
    return found ? 0 : err_set(err, "cannot read a trace: it vanished");
}

/* The trace of sp and the id of its next span, from the cache or the
 * store (then cached); NULL with err. */
static span_cached *span_next_of(conn_t *c, const span_row *sp, err_t *err)
{
    if (!c->spans) c->spans = xcalloc(1, sizeof *c->spans);
    bool cacheable = strlen(sp->trace_id) < sizeof c->spans->e[0].trace_id;
    span_cached *e = span_slot(c->spans, sp->trace_id);
    if (cacheable && !strcmp(e->trace_id, sp->trace_id)) return e;
    e->trace_id[0] = '\0';
    bool fresh;
    if (span_trace_of(c, sp, &e->t, &fresh, err) < 0) return NULL;
    int64_t first = e->t.id * SPAN_SEQS, last = first - 1;
    /* A trace made now has no span: prune removes a trace after its spans. */
    if (!fresh &&
        sql_int(c, ST_SPAN_LAST, "SELECT max(id) FROM spans WHERE id BETWEEN ?1 AND ?2",
                ARGS(SQL_INT(first), SQL_INT(first + SPAN_SEQS - 1)), &last,
                "cannot store a span", err) < 0)
        return NULL;
    if (last < first) last = first - 1; /* max() of no rows is NULL: 0 */
    e->next = last + 1;
    if (cacheable) memcpy(e->trace_id, sp->trace_id, strlen(sp->trace_id) + 1);
    return e;
}

static int span_write(conn_t *c, const arec_t *r, err_t *err)
{
    const span_row *sp = (const span_row *)r;
    bool f1, f2;
    sql_arg kind = intern_arg(c, sp->kind, err, &f1), name = intern_arg(c, sp->name, err, &f2);
    if (f1 || f2) return -1;
    span_cached *e = span_next_of(c, sp, err);
    if (!e) return -1;
    if (e->next == (e->t.id + 1) * SPAN_SEQS)
        return err_code(err, EVK_TOO_LARGE, "a trace keeps at most %d spans", SPAN_SEQS);
    unsigned char bs[32], bp[32], br[32];
    int rc = 0;
    if (sp->end_ms > e->t.last_ms) {
        rc = sql_exec(c, ST_SPAN_TRACE_LAST, "UPDATE span_traces SET last_ms = ?2 WHERE id = ?1",
                      ARGS(SQL_INT(e->t.id), SQL_INT(sp->end_ms)), "cannot store a trace", err);
        if (rc == 0) e->t.last_ms = sp->end_ms;
    }
    if (rc == 0)
        rc = sql_exec(c, ST_SPAN_INSERT,
                      "INSERT INTO spans(id, span_id, parent_id, kind, ref, name, start_d, dur_ms,"
                      " ok, status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                      ARGS(SQL_INT(e->next), hex_arg(sp->span_id, bs), hex_arg(sp->parent_id, bp),
                           kind, hex_arg(sp->ref, br), name, SQL_INT(sp->start_ms - e->t.base_ms),
                           SQL_INT(sp->end_ms - sp->start_ms), SQL_INT(sp->ok),
                           SQL_INT(sp->status)),
                      "cannot store a span", err);
    if (rc == 0) e->next++;
    else e->trace_id[0] = '\0'; /* read it again */
    return rc;
}

void sq_span_put(store_t *base, const store_span *in)
{
    if (!in->trace_id || !*in->trace_id || !in->span_id || !*in->span_id) return;
    span_row *r = xcalloc(1, sizeof *r);
    r->base.write = span_write;
    r->trace_id = in->trace_id;
    r->span_id = in->span_id;
    r->parent_id = in->parent_id && *in->parent_id ? in->parent_id : NULL;
    r->kind = in->kind ? in->kind : "";
    r->ref = in->ref ? in->ref : "";
    r->name = in->name ? in->name : "";
    arec_own_strings(&r->base,
                     (const char **const[]){&r->trace_id, &r->span_id, &r->parent_id, &r->kind,
                                            &r->ref, &r->name},
                     6);
    r->start_ms = in->start_ms;
    r->end_ms = in->end_ms >= in->start_ms ? in->end_ms : in->start_ms;
    r->ok = in->ok;
    r->status = in->status;
    r->base.bytes = sizeof *r + strlen(r->ref) + strlen(r->name) + 128;
    store_async_put(SQ(base), &r->base);
}

static int row_span(void *ud, sqlite3_stmt *st, err_t *err)
{
    (void)err;
    char t[65], sp[65], parent[65], ref[65];
    json_array_append_new(
        ud, json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:b, s:i}", "traceId",
                      col_hex(st, 0, t), "spanId", col_hex(st, 1, sp), "parentSpanId",
                      col_hex(st, 2, parent), "kind", (const char *)sqlite3_column_text(st, 3),
                      "ref", col_hex(st, 4, ref), "name",
                      (const char *)sqlite3_column_text(st, 5), "start",
                      (json_int_t)sqlite3_column_int64(st, 6), "end",
                      (json_int_t)sqlite3_column_int64(st, 7), "ok", sqlite3_column_int(st, 8),
                      "status", sqlite3_column_int(st, 9)));
    return 0;
}

int sq_span_list(store_t *base, const char *trace_id, json_t **out, err_t *err)
{
    *out = NULL;
    if (!trace_id || strlen(trace_id) != 32)
        return err_code(err, EVK_INVALID, "a trace id is 32 hex digits");
    unsigned char bt[32];
    /* At most 10000 spans: a trace that large is read in part. */
    return store_query_array(SQ(base), ST_SPAN_LIST,
                             "SELECT t.trace_id, sp.span_id, sp.parent_id, k.s, sp.ref, n.s,"
                             " t.base_ms + sp.start_d, t.base_ms + sp.start_d + sp.dur_ms, sp.ok,"
                             " sp.status FROM span_traces t JOIN spans sp ON sp.id" SPANS_OF("t")
                             " JOIN strings k ON k.id = sp.kind JOIN strings n ON n.id = sp.name"
                             " WHERE t.trace_id = ?1 ORDER BY sp.start_d, sp.id LIMIT 10000",
                             ARGS(hex_arg(trace_id, bt)), row_span, "cannot read a trace", out,
                             err);
}

/* One chunk: the spans of traces whose latest span ended before the
 * cutoff, then those traces once they have none left. A trace goes whole,
 * never shown in part. */
static int run_spans_prune(conn_t *c, wop_t *op)
{
    const int64_t *cutoff = op->arg;
    const char *what = "cannot prune spans";
    span_cache_reset(c); /* the traces it removes may be cached */
    if (sql_exec(c, ST_ONCE,
                 "DELETE FROM spans WHERE id IN (SELECT sp.id FROM span_traces t"
                 " JOIN spans sp ON sp.id" SPANS_OF("t") " WHERE t.last_ms < ?1 LIMIT 5000)",
                 ARGS(SQL_INT(*cutoff)), what, &op->err) < 0)
        return -1;
    op->changes = sqlite3_changes(c->db);
    return sql_exec(c, ST_ONCE,
                    "DELETE FROM span_traces WHERE id IN (SELECT t.id FROM span_traces t"
                    " WHERE t.last_ms < ?1 AND NOT EXISTS (SELECT 1 FROM spans sp"
                    "   WHERE sp.id" SPANS_OF("t") "))",
                    ARGS(SQL_INT(*cutoff)), what, &op->err);
}

int store_spans_prune(sq_t *s, int64_t cutoff_ms, int64_t *n, err_t *err)
{
    *n = 0;
    wop_t op = {.run = run_spans_prune, .arg = &cutoff_ms};
    if (store_submit(s, &op, err) < 0) return -1;
    *n = op.changes;
    return 0;
}
