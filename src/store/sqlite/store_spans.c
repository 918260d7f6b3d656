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
const char STORE_SPANS_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
    SPANS_TABLE("IF NOT EXISTS spans")
    "CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id, start_ms);"
    "CREATE INDEX IF NOT EXISTS spans_end ON spans(end_ms);";

/* Schema version 3: spans of the text layout (version 2) packed. */
const char STORE_SPANS_V3[] =
    "INSERT OR IGNORE INTO strings(s) SELECT kind FROM spans UNION SELECT name FROM spans;"
    SPANS_TABLE("spans_v3")
    "INSERT INTO spans_v3 SELECT evk_hex_pack(trace_id), evk_hex_pack(span_id),"
    "  evk_hex_pack(parent_id), (SELECT id FROM strings WHERE s = kind), evk_hex_pack(ref),"
    "  (SELECT id FROM strings WHERE s = name), start_ms, end_ms, ok, status"
    "  FROM spans ORDER BY rowid;"
    "DROP TABLE spans;"
    "ALTER TABLE spans_v3 RENAME TO spans;"
    "CREATE INDEX spans_trace ON spans(trace_id, start_ms);"
    "CREATE INDEX spans_end ON spans(end_ms);";

typedef struct span_row {
    arec_t base;   /* first: the writer sees an arec_t */
    const char *trace_id, *span_id, *parent_id, *kind, *ref, *name;
    int64_t start_ms, end_ms;
    int ok, status;
} span_row;

static int span_write(conn_t *c, const arec_t *r, err_t *err)
{
    const span_row *sp = (const span_row *)r;
    bool f1, f2;
    sql_arg kind = intern_arg(c, sp->kind, err, &f1), name = intern_arg(c, sp->name, err, &f2);
    if (f1 || f2) return -1;
    unsigned char bt[32], bs[32], bp[32], br[32];
    return sql_exec(c, ST_SPAN_INSERT,
                    "INSERT INTO spans(trace_id, span_id, parent_id, kind, ref, name, start_ms,"
                    " end_ms, ok, status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    ARGS(hex_arg(sp->trace_id, bt), hex_arg(sp->span_id, bs),
                         hex_arg(sp->parent_id, bp), kind, hex_arg(sp->ref, br), name,
                         SQL_INT(sp->start_ms), SQL_INT(sp->end_ms), SQL_INT(sp->ok),
                         SQL_INT(sp->status)),
                    "cannot store a span", err);
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
                             "SELECT sp.trace_id, sp.span_id, sp.parent_id, k.s, sp.ref, n.s,"
                             " sp.start_ms, sp.end_ms, sp.ok, sp.status FROM spans sp"
                             " JOIN strings k ON k.id = sp.kind JOIN strings n ON n.id = sp.name"
                             " WHERE sp.trace_id = ?1 ORDER BY sp.start_ms, sp.rowid LIMIT 10000",
                             ARGS(hex_arg(trace_id, bt)), row_span, "cannot read a trace", out,
                             err);
}

int store_spans_prune(sq_t *s, int64_t cutoff_ms, int64_t *n, err_t *err)
{
    *n = 0;
    return store_write(s, ST_ONCE,
                       "DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans WHERE end_ms < ?1"
                       " LIMIT 5000)",
                       ARGS(SQL_INT(cutoff_ms)), "cannot prune spans", n, err);
}
