/* diags: the list of errors and warnings that loading an app produces, each
 * with file:line:col, printed the way compilers do so editors can jump to
 * them. */
#include "manifest/manifest_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/vec.h"

void diags_init(diags_t *d)
{
    memset(d, 0, sizeof *d);
}

static void diags_vadd(diags_t *d, diag_severity sev, const char *file, int line, int column,
                       const char *fmt, va_list ap)
{
    VEC_GROW(d->items, d->cap, d->n + 1);
    diag_t *g = &d->items[d->n++];
    g->severity = sev;
    g->file = file ? xstrdup(file) : NULL;
    g->line = line > 0 ? line : 0;
    g->column = g->line && column > 0 ? column : 0;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) abort();
    g->message = msg;
    if (sev == DIAG_ERROR) d->errors++;
    else d->warnings++;
}

void diags_add(diags_t *d, diag_severity sev, const char *file, int line, int column,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diags_vadd(d, sev, file, line, column, fmt, ap);
    va_end(ap);
}

void mdiag(diags_t *d, diag_severity sev, const mnode_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diags_vadd(d, sev, at && at->file ? at->file->rel : NULL, at ? at->line : 0,
               at ? at->col : 0, fmt, ap);
    va_end(ap);
}

void diags_print(const diags_t *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const diag_t *g = &d->items[i];
        const char *sev = g->severity == DIAG_ERROR ? "error" : "warning";
        if (g->file && g->line && g->column)
            fprintf(out, "%s:%d:%d: %s: %s\n", g->file, g->line, g->column, sev, g->message);
        else if (g->file && g->line)
            fprintf(out, "%s:%d: %s: %s\n", g->file, g->line, sev, g->message);
        else if (g->file)
            fprintf(out, "%s: %s: %s\n", g->file, sev, g->message);
        else
            fprintf(out, "%s: %s\n", sev, g->message);
    }
}

void diags_free(diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    diags_init(d);
}

char *mf_rel(const char *appdir, const char *abs)
{
    if (appdir && path_within(appdir, abs)) {
        const char *r = abs + strlen(appdir);
        while (*r == '/') r++;
        if (*r) return xstrdup(r);
    }
    return xstrdup(abs);
}
