/* progress: see progress.h. The line is rewritten in place with \r and
 * "erase to end of line", so a shorter line leaves no stale characters. */
#include "cli/progress.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/util.h"

#define REDRAW_EVERY_S 0.1

struct progress {
    FILE *out;
    char *label;
    int64_t done, total;
    double started, last_draw;
    bool active, drawn;
};

static int term_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

static void fmt_duration(char *buf, size_t len, double s)
{
    if (s < 0 || s > 359999) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

char *progress_format(char *buf, size_t len, const char *label, int64_t done, int64_t total,
                      double elapsed_s, int width)
{
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
    char tail[128], eta[32];
    if (total > 0) {
        if (done > total) done = total;
        int pct = (int)(done * 100 / total);
        if (done < total && rate > 0) fmt_duration(eta, sizeof eta, (double)(total - done) / rate);
        else if (done < total) snprintf(eta, sizeof eta, "--:--");
        else fmt_duration(eta, sizeof eta, elapsed_s);
        snprintf(tail, sizeof tail, " %lld/%lld %3d%%  %.1f/s  %s %s", (long long)done,
                 (long long)total, pct, rate, done < total ? "ETA" : "in", eta);
    } else {
        snprintf(tail, sizeof tail, " %lld  %.1f/s", (long long)done, rate);
    }
    /* The bar takes what the label and the figures leave, within reason. */
    int bar = width - 1 - (int)strlen(label) - (int)strlen(tail) - 3;
    if (bar > 40) bar = 40;
    if (total <= 0 || bar < 5) {
        snprintf(buf, len, "%s%s", label, tail);
        return buf;
    }
    char bars[48];
    int fill = (int)((double)bar * (double)done / (double)total);
    for (int i = 0; i < bar; i++) bars[i] = i < fill ? '#' : '-';
    bars[bar] = '\0';
    snprintf(buf, len, "%s [%s]%s", label, bars, tail);
    return buf;
}

/* EVKIT_PROGRESS, set once at start: like the log level, a property of the
 * process's terminal output. */
static bool allowed = true;

void progress_allow(bool on) { allowed = on; }

progress_t *progress_start_on(FILE *out, const char *label, int64_t total)
{
    progress_t *p = xcalloc(1, sizeof *p);
    p->out = out;
    p->label = xstrdup(label ? label : "");
    p->total = total;
    p->started = mono_s();
    p->active = allowed && isatty(fileno(out));
    return p;
}

progress_t *progress_start(const char *label, int64_t total)
{
    return progress_start_on(stderr, label, total);
}

bool progress_active(const progress_t *p) { return p && p->active; }

static void draw(progress_t *p, bool force)
{
    if (!p->active) return;
    double now = mono_s();
    if (!force && p->drawn && now - p->last_draw < REDRAW_EVERY_S) return;
    char line[512];
    progress_format(line, sizeof line, p->label, p->done, p->total, now - p->started,
                    term_width(p->out));
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->last_draw = now;
    p->drawn = true;
}

void progress_set_total(progress_t *p, int64_t total)
{
    if (!p) return;
    p->total = total;
    draw(p, false);
}

void progress_set(progress_t *p, int64_t done)
{
    if (!p) return;
    p->done = done;
    draw(p, false);
}

void progress_add(progress_t *p, int64_t n)
{
    if (!p) return;
    p->done += n;
    draw(p, false);
}

void cli_progress_cb(void *ud, int64_t done, int64_t total)
{
    progress_t *p = ud;
    if (!p) return;
    p->total = total;
    progress_set(p, done);
}

void progress_clear(progress_t *p)
{
    if (!p || !p->active || !p->drawn) return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = false;
}

void progress_finish(progress_t *p)
{
    if (!p) return;
    if (p->active) {
        draw(p, true);
        fputc('\n', p->out);
        fflush(p->out);
    }
    free(p->label);
    free(p);
}
