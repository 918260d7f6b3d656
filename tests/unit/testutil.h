/* testutil: what every cmocka unit test includes. */
#ifndef EVKIT_TESTUTIL_H
#define EVKIT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh temporary folder (caller frees the string; tu_rmrf removes it). */
static inline char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/evkit-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d) abort();
    return strdup(d);
}

static inline void tu_rmrf(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Writes text to dir/rel, creating folders. */
static inline void tu_write(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    if (system(cmd) != 0) abort();
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

#endif
