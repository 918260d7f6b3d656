/* progress: a one-line progress bar for long CLI work (replays, onboarding
 * of many items) on stderr: label, bar, done/total, percent, rate and ETA.
 * Drawn only when stderr is a terminal, redrawn at most every 100 ms; on
 * anything else (a pipe, a log file, CI) it writes nothing, so scripted
 * output stays clean. EVKIT_PROGRESS=never turns it off on a terminal too.
 *
 * Use: p = progress_start("replaying", total); progress_set(p, done) or
 * progress_add(p, n) as work goes; progress_finish(p) draws the final line
 * (and ends it) and frees p. All calls accept NULL. One thread at a time. */
#ifndef EVKIT_CLI_PROGRESS_H
#define EVKIT_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress progress_t;

/* total <= 0: unknown (count and rate, no bar or ETA). label is copied. */
progress_t *progress_start(const char *label, int64_t total);
/* Draws to out when it is a terminal (tests pass their own stream) unless
 * progress_allow(false) was called. */
progress_t *progress_start_on(FILE *out, const char *label, int64_t total);
/* EVKIT_PROGRESS=never: false, called once at start (cli_main). */
void progress_allow(bool on);
void progress_set_total(progress_t *p, int64_t total);
void progress_set(progress_t *p, int64_t done);
void progress_add(progress_t *p, int64_t n);
/* Erases the bar line (terminal only) so the caller can print a line of its
 * own; the next update draws the bar again below it. */
void progress_clear(progress_t *p);
/* Draws the final state and a newline (terminal only), then frees p. */
void progress_finish(progress_t *p);
/* Whether p draws at all. */
bool progress_active(const progress_t *p);
/* A store_progress_fn for ud = a progress_t: sets total and done. */
void cli_progress_cb(void *ud, int64_t done, int64_t total);

/* The line for a state, without control characters (pure, for tests):
 * "label [#####-----] 50/100  50%  25.0/s  ETA 0:02". width is the
 * terminal's column count. Returns buf. */
char *progress_format(char *buf, size_t len, const char *label, int64_t done, int64_t total,
                      double elapsed_s, int width);

#endif
