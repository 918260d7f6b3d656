/* tu_nats: a nats-server of the test's own: on 127.0.0.1 at a free port,
 * JetStream on (or off) with its store in a temporary folder, stopped and
 * removed by tu_nats_stop. */
#ifndef EVKIT_TU_NATS_H
#define EVKIT_TU_NATS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"

typedef struct {
    pid_t pid;
    int port;
    char *dir;
    char url[64];
} tu_nats;

static inline int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static inline bool tu_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Starts nats-server (with -js when jetstream); skips nothing: a missing
 * nats-server fails the test that needs it. */
static inline void tu_nats_start(tu_nats *n, bool jetstream)
{
    n->dir = tu_tmpdir();
    n->port = tu_free_port();
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", n->port);
    char port[16];
    snprintf(port, sizeof port, "%d", n->port);
    n->pid = fork();
    if (n->pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        if (jetstream)
            execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd",
                   n->dir, (char *)NULL);
        else
            execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !tu_port_open(n->port); i++) {
        struct timespec ts = {0, 25 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!tu_port_open(n->port)) {
        fprintf(stderr, "nats-server did not start on port %d (is it installed?)\n", n->port);
        abort();
    }
}

static inline void tu_nats_stop(tu_nats *n)
{
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
    if (n->dir) {
        tu_rmrf(n->dir);
        free(n->dir);
        n->dir = NULL;
    }
}

#endif
