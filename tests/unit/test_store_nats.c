/* Store on NATS JetStream: opening (no server, JetStream off, a stream of
 * another config), the journal (append after the ack, idempotency, reading,
 * events by id, time seek), deliveries (claim, retry with the schedule's
 * delay and attempt numbers, dead letters and replay, ordering per key,
 * DISABLED parking, two nodes sharing the queue and a node that dies
 * mid-delivery), health, action state and run-time registrations; each test
 * against a nats-server of its own on loopback. */
#include "testutil.h"

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>

#include "core/util.h"
#include "store/store.h"
#include "tu_nats.h"

typedef struct {
    tu_nats srv;
    store_t *s;
} fixture;

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int open_on(const tu_nats *srv, store_t **s, err_t *err)
{
    store_opts o = {.dir = srv->dir, .url = srv->url, .timeout_ms = 3000};
    return store_open_with(&o, s, err);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_nats_start(&f->srv, true);
    err_t err;
    if (open_on(&f->srv, &f->s, &err) < 0) {
        fprintf(stderr, "store_open_with: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->s);
    tu_nats_stop(&f->srv);
    free(f);
    return 0;
}

static store_append_result append(store_t *s, const char *provider, const char *type, int n,
                                  const char *idem, const char *reg, const char *okey)
{
    store_delivery_spec spec = {.registration = reg, .order_key = okey};
    json_t *data = json_pack("{s:i}", "n", n);
    store_event_in ev = {.provider = provider, .type = type, .data = data,
                         .idempotency_key = idem, .deliveries = &spec, .ndeliveries = reg ? 1 : 0};
    store_append_result res;
    err_t err;
    int rc = store_append(s, &ev, &res, &err);
    if (rc < 0) fprintf(stderr, "store_append: %s\n", err.msg);
    assert_int_equal(rc, 0);
    json_decref(data);
    return res;
}

static size_t claim(store_t *s, int max, int64_t lease, store_delivery **out)
{
    size_t n = 0;
    err_t err;
    int rc = store_claim(s, max, lease, out, &n, &err);
    if (rc < 0) fprintf(stderr, "store_claim: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return n;
}

/* Claims until at least want arrive or wait_ms pass (the pull is not instant). */
static size_t claim_wait(store_t *s, size_t want, int64_t lease, int wait_ms, store_delivery **out)
{
    *out = NULL;
    size_t n = 0, cap = 0;
    int64_t until = now_ms() + wait_ms;
    do {
        store_delivery *got = NULL;
        size_t k = claim(s, 16, lease, &got);
        if (k) {
            if (n + k > cap) {
                cap = n + k + 8;
                *out = realloc(*out, cap * sizeof **out);
            }
            memcpy(*out + n, got, k * sizeof *got);
            n += k;
        }
        free(got);
        if (n >= want) break;
        sleep_ms(50);
    } while (now_ms() < until);
    return n;
}

static void free_claims(store_delivery *d, size_t n)
{
    for (size_t i = 0; i < n; i++) store_delivery_free(&d[i]);
    free(d);
}

static void finish(store_t *s, int64_t id, store_outcome o, int64_t next_due, int status,
                   const char *error)
{
    store_attempt a = {.delivery_id = id, .outcome = o, .next_due_ms = next_due,
                       .started_ms = now_ms(), .ended_ms = now_ms(), .status_code = status,
                       .error = error};
    err_t err;
    int rc = store_finish(s, &a, &err);
    if (rc < 0) fprintf(stderr, "store_finish: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static int data_n(const store_delivery *d)
{
    return (int)json_integer_value(json_object_get(json_object_get(d->event, "data"), "n"));
}

/* ---- opening ---- */

/* Opening url fails within 10 s: no NATS server answers there. */
static void expect_no_server(const char *url)
{
    store_opts o = {.dir = "/tmp", .url = url, .timeout_ms = 1000};
    store_t *s = NULL;
    err_t err = {0};
    int64_t t0 = now_ms();
    assert_int_equal(store_open_with(&o, &s, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, EVK_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "no NATS server answers"));
    assert_true(now_ms() - t0 < 10000);
}

static void test_open_no_server(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", tu_free_port());
    expect_no_server(url);
}

static void test_open_jetstream_off(void **state)
{
    (void)state;
    tu_nats srv;
    tu_nats_start(&srv, false);
    store_t *s = NULL;
    err_t err;
    assert_int_equal(open_on(&srv, &s, &err), -1);
    assert_int_equal(err.code, EVK_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "JetStream is not enabled"));
    tu_nats_stop(&srv);
}

static void test_open_incompatible_stream(void **state)
{
    (void)state;
    tu_nats srv;
    tu_nats_start(&srv, true);
    /* Someone else's EVKIT_EVENTS: a work queue. */
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, srv.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {"evkit.event.>"};
    cfg.Name = "EVKIT_EVENTS";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = js_WorkQueuePolicy;
    cfg.Storage = js_FileStorage;
    jsStreamInfo *si = NULL;
    assert_int_equal(js_AddStream(&si, js, &cfg, NULL, NULL), NATS_OK);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);

    store_t *s = NULL;
    err_t err;
    assert_int_equal(open_on(&srv, &s, &err), -1);
    assert_int_equal(err.code, EVK_CONFLICT);
    assert_non_null(strstr(err.msg, "EVKIT_EVENTS exists with work queue retention"));
    tu_nats_stop(&srv);
}

/* A list whose first server is down (stopped for maintenance, say): the
 * next one is used. */
static void test_open_first_server_down(void **state)
{
    (void)state;
    tu_nats srv;
    tu_nats_start(&srv, true);
    char url[160];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d,%s", tu_free_port(), srv.url);
    store_opts o = {.dir = srv.dir, .url = url, .timeout_ms = 3000};
    store_t *s = NULL;
    err_t err = {0};
    int rc = store_open_with(&o, &s, &err);
    if (rc < 0) fprintf(stderr, "store_open_with: %s\n", err.msg);
    assert_int_equal(rc, 0);
    store_append_result r = append(s, "commerce", "a.b", 1, NULL, NULL, NULL);
    assert_true(r.position > 0);
    store_close(s);
    tu_nats_stop(&srv);
}

/* Something listens on the port but never speaks NATS (a wrong port): an
 * error within the timeout, not a hang. */
static void test_open_silent_port(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", ntohs(a.sin_port));
    expect_no_server(url);
    close(fd);
}

/* One server of a three-server JetStream cluster, alone: JetStream is on
 * but has no leader to answer. A clear error within a bound. */
static void test_open_cluster_without_quorum(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    int port = tu_free_port(), r0 = tu_free_port(), r1 = tu_free_port(), r2 = tu_free_port();
    char p[16], cl[64], routes[200];
    snprintf(p, sizeof p, "%d", port);
    snprintf(cl, sizeof cl, "nats://127.0.0.1:%d", r0);
    snprintf(routes, sizeof routes, "nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d",
             r0, r1, r2);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", p, "-n", "alone", "-js",
               "-sd", dir, "--cluster_name", "evkit", "--cluster", cl, "--routes", routes,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !tu_port_open(port); i++) sleep_ms(25);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    store_opts o = {.dir = dir, .url = url, .timeout_ms = 2000};
    store_t *s = NULL;
    err_t err = {0};
    int64_t t0 = now_ms();
    int rc = store_open_with(&o, &s, &err);
    int64_t took = now_ms() - t0;
    /* Stopped before any assertion, which would leave it running. */
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    tu_rmrf(dir);
    free(dir);
    assert_int_equal(rc, -1);
    assert_null(s);
    assert_int_equal(err.code, EVK_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "JetStream cluster answers once most of its servers are up"));
    assert_true(took < 60000);
}

static void test_open_twice_idempotent(void **state)
{
    fixture *f = *state;
    /* A second node creates nothing twice and sees the first's journal. */
    store_append_result r = append(f->s, "commerce", "a.b", 1, NULL, NULL, NULL);
    store_t *s2 = NULL;
    err_t err;
    assert_int_equal(open_on(&f->srv, &s2, &err), 0);
    assert_string_equal(store_backend_name(s2), "nats");
    json_t *ev = NULL;
    assert_int_equal(store_event_get(s2, r.id, &ev, &err), 0);
    assert_non_null(ev);
    json_decref(ev);
    store_close(s2);
    /* A list of servers whose first is down: the next one serves. */
    char list[160];
    snprintf(list, sizeof list, "nats://127.0.0.1:%d, %s", tu_free_port(), f->srv.url);
    store_opts o = {.dir = f->srv.dir, .url = list, .timeout_ms = 3000};
    assert_int_equal(store_open_with(&o, &s2, &err), 0);
    assert_int_equal(store_event_get(s2, r.id, &ev, &err), 0);
    assert_non_null(ev);
    json_decref(ev);
    store_close(s2);
}

/* ---- the journal ---- */

static void test_append_read(void **state)
{
    fixture *f = *state;
    store_append_result a =
        append(f->s, "commerce", "com.adobe.order.placed", 1, NULL, NULL, NULL);
    store_append_result b = append(f->s, "backoffice", "stock.update", 2, NULL, NULL, NULL);
    store_append_result c = append(f->s, "commerce", "com.adobe.order.placed", 3, NULL, NULL, NULL);
    assert_false(a.duplicate);
    assert_true(a.position > 0 && b.position > a.position && c.position > b.position);

    err_t err;
    json_t *all = NULL;
    assert_int_equal(store_read(f->s, NULL, 0, 10, &all, &err), 0);
    assert_int_equal(json_array_size(all), 3);
    json_t *first = json_object_get(json_array_get(all, 0), "event");
    assert_string_equal(json_string_value(json_object_get(first, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(first, "id")), a.id);
    assert_string_equal(json_string_value(json_object_get(first, "type")), "com.adobe.order.placed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "data"), "n")), 1);
    json_decref(all);

    /* By provider, and from a position. */
    json_t *com = NULL;
    assert_int_equal(store_read(f->s, "commerce", 0, 10, &com, &err), 0);
    assert_int_equal(json_array_size(com), 2);
    json_decref(com);
    json_t *after = NULL;
    assert_int_equal(store_read(f->s, NULL, a.position, 10, &after, &err), 0);
    assert_int_equal(json_array_size(after), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(after, 0), "position")),
                     b.position);
    json_decref(after);

    /* A registration's journal: pairs. */
    const char *provs[] = {"backoffice"}, *types[] = {"stock.update"};
    json_t *m = NULL;
    assert_int_equal(store_read_matching(f->s, provs, types, 1, 0, 10, 0, &m, &err), 0);
    assert_int_equal(json_array_size(m), 1);
    json_decref(m);

    json_t *ev = NULL;
    assert_int_equal(store_event_get(f->s, c.id, &ev, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "n")), 3);
    json_decref(ev);
    assert_int_equal(store_event_get(f->s, "00000000-0000-4000-8000-000000000000", &ev, &err), 0);
    assert_null(ev);

    int64_t pos = -1;
    assert_int_equal(store_position_before(f->s, now_ms() + 60000, &pos, &err), 0);
    assert_int_equal(pos, c.position);
    assert_int_equal(store_position_before(f->s, 1000, &pos, &err), 0);
    assert_int_equal(pos, 0);
    int64_t floor = -1;
    assert_int_equal(store_journal_floor(f->s, &floor, &err), 0);
    assert_int_equal(floor, 0);

    /* The provider's id is stable and shared. */
    char id1[37], id2[37];
    assert_int_equal(store_provider_id(f->s, "commerce", id1, &err), 0);
    assert_int_equal(store_provider_id(f->s, "commerce", id2, &err), 0);
    assert_string_equal(id1, id2);
}

static void test_idempotency(void **state)
{
    fixture *f = *state;
    store_append_result a = append(f->s, "commerce", "t", 1, "key-1", "reg-a", NULL);
    store_append_result b = append(f->s, "commerce", "t", 2, "key-1", "reg-a", NULL);
    assert_false(a.duplicate);
    assert_true(b.duplicate);
    assert_string_equal(a.id, b.id);
    assert_int_equal(a.position, b.position);
    /* The same key of another provider is another event. */
    store_append_result c = append(f->s, "backoffice", "t", 3, "key-1", "reg-a", NULL);
    assert_false(c.duplicate);
    json_t *all = NULL;
    err_t err;
    assert_int_equal(store_read(f->s, NULL, 0, 10, &all, &err), 0);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    /* And one delivery for the duplicate pair. */
    store_delivery *d = NULL;
    size_t n = claim_wait(f->s, 2, 60000, 3000, &d);
    assert_int_equal(n, 2);
    free_claims(d, n);
}

/* ---- deliveries ---- */

static void test_claim_retry_dead_replay(void **state)
{
    fixture *f = *state;
    store_append_result a = append(f->s, "commerce", "t", 7, NULL, "reg-a", NULL);
    store_delivery *d = NULL;
    size_t n = claim_wait(f->s, 1, 60000, 3000, &d);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].registration, "reg-a");
    assert_int_equal(d[0].position, a.position);
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(d[0].first_attempt_ms, 0);
    assert_int_equal(data_n(&d[0]), 7);
    int64_t id = d[0].id;
    free_claims(d, n);

    /* Held: nobody else gets it. */
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);

    /* A retry comes back after its delay, as attempt 2. */
    int64_t t0 = now_ms();
    finish(f->s, id, DELIVERY_RETRY, now_ms() + 700, 500, "boom");
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 0);
    n = claim_wait(f->s, 1, 60000, 5000, &d);
    assert_int_equal(n, 1);
    assert_true(now_ms() - t0 >= 650);
    assert_int_equal(d[0].attempt, 2);
    assert_true(d[0].first_attempt_ms > 0);
    free_claims(d, n);

    /* Retries out: a dead letter, listed, then replayed from attempt 1. */
    finish(f->s, id, DELIVERY_DEAD, 0, 503, "still down");
    err_t err;
    json_t *dl = NULL;
    assert_int_equal(store_deadletter_list(f->s, "reg-a", 10, &dl, &err), 0);
    assert_int_equal(json_array_size(dl), 1);
    json_t *one = json_array_get(dl, 0);
    assert_string_equal(json_string_value(json_object_get(one, "event_id")), a.id);
    assert_string_equal(json_string_value(json_object_get(one, "reason")), "expired");
    assert_int_equal(json_integer_value(json_object_get(one, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(one, "last_status")), 503);
    assert_string_equal(json_string_value(json_object_get(one, "last_error")), "still down");
    int64_t dead_id = json_integer_value(json_object_get(one, "id"));
    assert_int_equal(dead_id, id); /* a dead letter keeps its delivery's id */
    json_decref(dl);
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);

    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.dead, 1);
    assert_int_equal(info.attempts_24h, 2);
    assert_int_equal(info.failures_24h, 2);
    assert_string_equal(info.last_error, "still down");

    int count = 0;
    assert_int_equal(store_deadletter_replay(f->s, dead_id, NULL, &count, &err), 0);
    assert_int_equal(count, 1);
    n = claim_wait(f->s, 1, 60000, 3000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(data_n(&d[0]), 7);
    assert_int_equal(d[0].id, id); /* and so does its replay */
    int64_t again = d[0].id;
    free_claims(d, n);
    finish(f->s, again, DELIVERY_DONE, 0, 200, NULL);
    assert_int_equal(store_deadletter_list(f->s, NULL, 10, &dl, &err), 0);
    assert_int_equal(json_array_size(dl), 0);
    json_decref(dl);
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.dead, 0);
    assert_int_equal(info.backlog, 0);
    assert_int_equal(info.attempts_24h, 3);
    assert_int_equal(info.failures_24h, 2);

    /* An event that can never be delivered: a dead letter at once, kept out
     * of the health counts (as the SQLite store). */
    append(f->s, "commerce", "t", 8, NULL, "reg-a", NULL);
    n = claim_wait(f->s, 1, 60000, 3000, &d);
    assert_int_equal(n, 1);
    int64_t poison = d[0].id;
    free_claims(d, n);
    finish(f->s, poison, DELIVERY_UNDELIVERABLE, 0, 422, "the params nest too deep");
    assert_int_equal(store_deadletter_list(f->s, "reg-a", 10, &dl, &err), 0);
    assert_int_equal(json_array_size(dl), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "reason")),
                        "rejected");
    json_decref(dl);
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.dead, 1);
    assert_int_equal(info.attempts_24h, 3);
    assert_int_equal(info.failures_24h, 2);

    /* Finishing what this node does not hold is an error, not a crash. */
    store_attempt bad = {.delivery_id = 999999, .outcome = DELIVERY_DONE};
    assert_int_equal(store_finish(f->s, &bad, &err), -1);
    assert_int_equal(err.code, EVK_NOT_FOUND);
}

static void test_ordering(void **state)
{
    fixture *f = *state;
    append(f->s, "commerce", "t", 1, NULL, "reg-o", "sku-1");
    append(f->s, "commerce", "t", 2, NULL, "reg-o", "sku-1");
    append(f->s, "commerce", "t", 3, NULL, "reg-o", "sku-2");
    append(f->s, "commerce", "t", 4, NULL, "reg-o", NULL);
    store_delivery *d = NULL;
    size_t n = claim_wait(f->s, 3, 60000, 3000, &d);
    /* sku-1's second waits behind its first; sku-2 and the unordered run. */
    assert_int_equal(n, 3);
    int64_t first = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(data_n(&d[i]) != 2);
        if (data_n(&d[i]) == 1) first = d[i].id;
    }
    assert_true(first > 0);
    for (size_t i = 0; i < n; i++)
        if (d[i].id != first) finish(f->s, d[i].id, DELIVERY_DONE, 0, 200, NULL);
    free_claims(d, n);
    /* Still blocked while the first retries. */
    finish(f->s, first, DELIVERY_RETRY, now_ms() + 600, 500, "again");
    store_delivery *more = NULL;
    n = claim_wait(f->s, 1, 60000, 400, &more);
    for (size_t i = 0; i < n; i++) assert_int_equal(data_n(&more[i]), 1);
    free_claims(more, n);
    if (n == 0) {
        n = claim_wait(f->s, 1, 60000, 5000, &more);
        assert_int_equal(n, 1);
        assert_int_equal(data_n(&more[0]), 1);
        finish(f->s, more[0].id, DELIVERY_DONE, 0, 200, NULL);
        free_claims(more, n);
    } else {
        fail_msg("the retry came back before its delay");
    }
    n = claim_wait(f->s, 1, 60000, 3000, &more);
    assert_int_equal(n, 1);
    assert_int_equal(data_n(&more[0]), 2);
    free_claims(more, n);
}

static void test_disabled_parks(void **state)
{
    fixture *f = *state;
    err_t err;
    assert_int_equal(store_reg_set_state(f->s, "reg-p", REG_DISABLED, &err), 0);
    append(f->s, "commerce", "t", 1, NULL, "reg-p", NULL);
    append(f->s, "commerce", "t", 2, NULL, "reg-p", NULL);
    store_delivery *d = NULL;
    assert_int_equal(claim_wait(f->s, 1, 60000, 1500, &d), 0);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-p", &info, &err), 0);
    assert_int_equal(info.state, REG_DISABLED);
    assert_int_equal(info.parked, 2);
    int resumed = 0;
    assert_int_equal(store_reg_enable(f->s, "reg-p", &resumed, &err), 0);
    assert_int_equal(resumed, 2);
    size_t n = claim_wait(f->s, 2, 60000, 3000, &d);
    assert_int_equal(n, 2);
    free_claims(d, n);
    assert_int_equal(store_reg_info_get(f->s, "reg-p", &info, &err), 0);
    assert_int_equal(info.state, REG_ACTIVE);
    assert_int_equal(info.parked, 0);
}

/* Two nodes share the queue; a node that stops holding a delivery (it
 * died: its connection is gone) loses nothing, the other gets it after the
 * lease. */
static void test_two_nodes(void **state)
{
    fixture *f = *state;
    store_t *b = NULL;
    err_t err;
    assert_int_equal(open_on(&f->srv, &b, &err), 0);
    for (int i = 0; i < 6; i++) append(f->s, "commerce", "t", i, NULL, "reg-n", NULL);
    store_delivery *da = NULL, *db = NULL;
    size_t na = claim_wait(f->s, 3, 1500, 3000, &da);
    assert_true(na >= 1);
    size_t nb = claim_wait(b, 6 - na, 1500, 3000, &db);
    assert_int_equal(na + nb, 6);
    /* Each event once between the two. */
    int seen[6] = {0};
    for (size_t i = 0; i < na; i++) seen[data_n(&da[i])]++;
    for (size_t i = 0; i < nb; i++) seen[data_n(&db[i])]++;
    for (int i = 0; i < 6; i++) assert_int_equal(seen[i], 1);
    for (size_t i = 0; i < nb; i++) finish(b, db[i].id, DELIVERY_DONE, 0, 200, NULL);
    free_claims(db, nb);
    /* Node b dies holding nothing; node a "dies" holding na: b gets them. */
    store_close(f->s);
    f->s = NULL;
    free_claims(da, na);
    nb = claim_wait(b, na, 1500, 8000, &db);
    assert_int_equal(nb, na);
    for (size_t i = 0; i < nb; i++) finish(b, db[i].id, DELIVERY_DONE, 0, 200, NULL);
    free_claims(db, nb);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(b, "reg-n", &info, &err), 0);
    assert_int_equal(info.backlog, 0);
    assert_int_equal(info.attempts_24h, 6); /* each finish counted once, by either node */
    f->s = b;
}

/* Retention removes old events but keeps those an unsettled delivery or a
 * dead letter refers to; the floor says how far it went. */
static void test_journal_prune(void **state)
{
    fixture *f = *state;
    store_append_result a = append(f->s, "commerce", "t", 1, NULL, NULL, NULL);
    store_append_result b = append(f->s, "commerce", "t", 2, NULL, "reg-r", NULL);
    store_append_result c = append(f->s, "commerce", "t", 3, NULL, NULL, NULL);
    sleep_ms(20);
    int64_t cutoff = now_ms();
    sleep_ms(20);
    store_append_result d = append(f->s, "commerce", "t", 4, NULL, NULL, NULL);
    err_t err;
    int64_t gone = 0, floor = 0;
    assert_int_equal(store_journal_prune(f->s, cutoff, &gone, &err), 0);
    assert_int_equal(gone, 2);
    json_t *ev = NULL;
    assert_int_equal(store_event_get(f->s, a.id, &ev, &err), 0);
    assert_null(ev);
    assert_int_equal(store_event_get(f->s, b.id, &ev, &err), 0);
    assert_non_null(ev); /* its delivery is pending */
    json_decref(ev);
    assert_int_equal(store_event_get(f->s, d.id, &ev, &err), 0);
    assert_non_null(ev);
    json_decref(ev);
    assert_int_equal(store_journal_floor(f->s, &floor, &err), 0);
    assert_int_equal(floor, c.position);
    json_t *page = NULL;
    assert_int_equal(store_read(f->s, NULL, 0, 10, &page, &err), 0);
    assert_int_equal(json_array_size(page), 2);
    json_decref(page);
}

static bool keep_even(void *ud, const json_t *event)
{
    (void)ud;
    return json_integer_value(json_object_get(json_object_get(event, "data"), "n")) % 2 == 0;
}

/* Flow control: claims leaving registrations out, claims given back
 * untried, a replay of a position range through a filter. */
static void test_flow_control(void **state)
{
    fixture *f = *state;
    append(f->s, "commerce", "t", 1, NULL, "reg-x", NULL);
    append(f->s, "commerce", "t", 2, NULL, "reg-y", NULL);
    err_t err;
    store_delivery *d = NULL;
    size_t n = 0;
    const char *skip[] = {"reg-x"};
    sleep_ms(100);
    for (int i = 0; i < 40 && n == 0; i++) {
        assert_int_equal(store_claim_except(f->s, 10, 60000, skip, 1, &d, &n, &err), 0);
        if (!n) sleep_ms(50);
    }
    assert_int_equal(n, 1);
    assert_string_equal(d[0].registration, "reg-y");
    int64_t id = d[0].id;
    free_claims(d, n);
    int64_t t0 = now_ms();
    assert_int_equal(store_unclaim(f->s, &id, 1, now_ms() + 500, &err), 0);
    n = claim_wait(f->s, 2, 60000, 5000, &d);
    assert_int_equal(n, 2);
    assert_true(now_ms() - t0 >= 450);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i].attempt, 1); /* given back untried: still the first */
        finish(f->s, d[i].id, DELIVERY_DONE, 0, 200, NULL);
    }
    free_claims(d, n);

    store_append_result a = append(f->s, "backoffice", "r", 10, NULL, NULL, NULL);
    append(f->s, "backoffice", "r", 11, NULL, NULL, NULL);
    store_append_result c = append(f->s, "backoffice", "r", 12, NULL, NULL, NULL);
    append(f->s, "backoffice", "r", 14, NULL, NULL, NULL);
    const char *provs[] = {"backoffice"}, *types[] = {"r"};
    store_replay_opts o = {.registration = "reg-z", .since = a.position - 1, .until = c.position,
                           .providers = provs, .types = types, .n = 1, .keep = keep_even};
    int count = 0, skipped = 0;
    assert_int_equal(store_replay_range(f->s, &o, &count, &skipped, &err), 0);
    assert_int_equal(count, 2); /* 10 and 12; 11 turned away; 14 past the range */
    assert_int_equal(skipped, 1);
    n = claim_wait(f->s, 2, 60000, 3000, &d);
    assert_int_equal(n, 2);
    assert_int_equal(data_n(&d[0]) + data_n(&d[1]), 22);
    free_claims(d, n);
}

typedef struct {
    store_t *s;
    int done;
} worker_arg;

static void *finish_worker(void *ud)
{
    worker_arg *w = ud;
    for (int idle = 0; idle < 40;) {
        store_delivery *d = NULL;
        size_t n = 0;
        err_t err;
        if (store_claim(w->s, 1, 60000, &d, &n, &err) < 0 || n == 0) {
            free(d);
            idle++;
            sleep_ms(25);
            continue;
        }
        store_attempt a = {.delivery_id = d[0].id, .outcome = DELIVERY_DONE,
                           .started_ms = now_ms(), .ended_ms = now_ms(), .status_code = 200};
        if (store_finish(w->s, &a, &err) == 0) w->done++;
        free_claims(d, n);
    }
    return NULL;
}

/* Health counted by compare-and-set from several threads on two nodes at
 * once: no finish lost. */
static void test_health_concurrent(void **state)
{
    fixture *f = *state;
    store_t *b = NULL;
    err_t err;
    assert_int_equal(open_on(&f->srv, &b, &err), 0);
    for (int i = 0; i < 40; i++) append(f->s, "commerce", "t", i, NULL, "reg-c", NULL);
    pthread_t th[6];
    worker_arg w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (worker_arg){.s = i % 2 ? b : f->s};
        pthread_create(&th[i], NULL, finish_worker, &w[i]);
    }
    int total = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        total += w[i].done;
    }
    assert_int_equal(total, 40);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(b, "reg-c", &info, &err), 0);
    assert_int_equal(info.attempts_24h, 40);
    store_close(b);
}

/* ---- KV ---- */

static void test_state(void **state)
{
    fixture *f = *state;
    err_t err;
    json_t *v = json_pack("{s:i}", "x", 1);
    assert_int_equal(store_state_put(f->s, "a.b-c_d", v, 0, &err), 0);
    json_decref(v);
    json_t *got = NULL;
    assert_int_equal(store_state_get(f->s, "a.b-c_d", &got, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(got, "x")), 1);
    json_decref(got);
    /* Keys KV itself would refuse (a leading dot) are encoded. */
    v = json_string("dot");
    assert_int_equal(store_state_put(f->s, ".lead", v, 300, &err), 0);
    json_decref(v);
    assert_int_equal(store_state_get(f->s, ".lead", &got, &err), 0);
    assert_string_equal(json_string_value(got), "dot");
    json_decref(got);
    sleep_ms(400);
    assert_int_equal(store_state_get(f->s, ".lead", &got, &err), 0);
    assert_null(got);
    bool existed = false;
    assert_int_equal(store_state_delete(f->s, "a.b-c_d", &existed, &err), 0);
    assert_true(existed);
    assert_int_equal(store_state_get(f->s, "a.b-c_d", &got, &err), 0);
    assert_null(got);
    assert_int_equal(store_state_put(f->s, "bad key", json_true(), 0, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
}

static void test_regdefs_and_keys(void **state)
{
    fixture *f = *state;
    err_t err;
    int64_t g0 = -1, g1 = -1;
    assert_int_equal(store_regdef_generation(f->s, &g0, &err), 0);
    json_t *def = json_pack("{s:s}", "runtime_action", "pkg/consumer");
    bool existed = true;
    assert_int_equal(store_regdef_put(f->s, "runtime-reg", def, REGDEF_CREATE, &existed, &err), 0);
    assert_false(existed);
    assert_int_equal(store_regdef_put(f->s, "runtime-reg", def, REGDEF_CREATE, &existed, &err), 0);
    assert_true(existed);
    json_decref(def);
    json_t *all = NULL;
    assert_int_equal(store_regdef_list(f->s, &all, &g1, &err), 0);
    assert_true(g1 > g0);
    json_t *one = json_object_get(all, "runtime-reg");
    assert_string_equal(json_string_value(json_object_get(one, "runtime_action")), "pkg/consumer");
    assert_true(json_integer_value(json_object_get(one, "created")) > 0);
    json_decref(all);

    /* Deleting it turns its waiting deliveries into dead letters. */
    append(f->s, "commerce", "t", 1, NULL, "runtime-reg", NULL);
    int dropped = 0;
    assert_int_equal(store_regdef_delete(f->s, "runtime-reg", &existed, &dropped, &err), 0);
    assert_true(existed);
    assert_int_equal(dropped, 1);
    json_t *dl = NULL;
    assert_int_equal(store_deadletter_list(f->s, "runtime-reg", 10, &dl, &err), 0);
    assert_int_equal(json_array_size(dl), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dl, 0), "last_status")),
                     STORE_STATUS_REGISTRATION_GONE);
    json_decref(dl);

    unsigned char k1[32], k2[32];
    assert_int_equal(store_key_get(f->s, "jwt", k1, sizeof k1, &err), 0);
    assert_int_equal(store_key_get(f->s, "jwt", k2, sizeof k2, &err), 0);
    assert_memory_equal(k1, k2, sizeof k1);

}

/* Trigger fires claimed by compare-and-set (two nodes, one slot); events
 * a filter turned away counted per registration. */
static void test_triggers_and_filtered(void **state)
{
    fixture *f = *state;
    store_t *b = NULL;
    err_t err;
    assert_int_equal(open_on(&f->srv, &b, &err), 0);
    store_trigger_rec r;
    assert_int_equal(store_trigger_get(f->s, "every-minute", 1000, &r, &err), 0);
    assert_int_equal(r.since_ms, 1000);
    assert_int_equal(r.last_ms, 0);
    bool ca = false, cb = true;
    assert_int_equal(store_trigger_claim(f->s, "every-minute", 60000, "aaaa", &ca, &err), 0);
    assert_int_equal(store_trigger_claim(b, "every-minute", 60000, "bbbb", &cb, &err), 0);
    assert_true(ca);
    assert_false(cb);
    assert_int_equal(store_trigger_get(b, "every-minute", 5000, &r, &err), 0);
    assert_int_equal(r.since_ms, 1000);
    assert_int_equal(r.last_ms, 60000);
    assert_string_equal(r.last_id, "aaaa");
    assert_true(r.pending);
    assert_int_equal(store_trigger_done(b, "every-minute", "aaaa", &err), 0);
    assert_int_equal(store_trigger_get(f->s, "every-minute", 5000, &r, &err), 0);
    assert_false(r.pending);
    store_close(b);

    const char *filtered[] = {"reg-f"};
    json_t *data = json_pack("{s:i}", "n", 1);
    store_event_in ev = {.provider = "commerce", .type = "t", .data = data,
                         .filtered = filtered, .nfiltered = 1};
    store_append_result res;
    assert_int_equal(store_append(f->s, &ev, &res, &err), 0);
    assert_int_equal(store_append(f->s, &ev, &res, &err), 0);
    json_decref(data);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-f", &info, &err), 0);
    assert_int_equal(info.filtered, 2);
    assert_int_equal(info.backlog, 0);
}

/* ---- three servers, three replicas ---- */

/* A JetStream cluster of three nats-servers on loopback: there, and not on
 * one server, JetStream 2.9 lets two compare-and-sets expecting the same
 * revision both pass. */
typedef struct {
    pid_t pid[3];
    int port[3], route[3];
    char *dir;
    char urls[200];
} tu_cluster;

static void cluster_start(tu_cluster *c)
{
    c->dir = tu_tmpdir();
    for (int i = 0; i < 3; i++) {
        c->port[i] = tu_free_port();
        c->route[i] = tu_free_port();
    }
    char routes[160];
    snprintf(routes, sizeof routes, "nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d",
             c->route[0], c->route[1], c->route[2]);
    snprintf(c->urls, sizeof c->urls,
             "nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", c->port[0],
             c->port[1], c->port[2]);
    for (int i = 0; i < 3; i++) {
        char port[16], name[16], sd[512], cl[64];
        snprintf(port, sizeof port, "%d", c->port[i]);
        snprintf(name, sizeof name, "n%d", i);
        snprintf(sd, sizeof sd, "%s/n%d", c->dir, i);
        snprintf(cl, sizeof cl, "nats://127.0.0.1:%d", c->route[i]);
        c->pid[i] = fork();
        if (c->pid[i] == 0) {
            freopen("/dev/null", "w", stdout);
            freopen("/dev/null", "w", stderr);
            execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port, "-n", name, "-js",
                   "-sd", sd, "--cluster_name", "evkit", "--cluster", cl, "--routes", routes,
                   (char *)NULL);
            _exit(127);
        }
    }
}

static void cluster_stop(tu_cluster *c)
{
    for (int i = 0; i < 3; i++) {
        kill(c->pid[i], SIGTERM);
        waitpid(c->pid[i], NULL, 0);
    }
    tu_rmrf(c->dir);
    free(c->dir);
}

/* Opens a store on the cluster once JetStream has elected its leaders. */
static store_t *cluster_open(const tu_cluster *c)
{
    store_opts o = {.dir = c->dir, .url = c->urls, .timeout_ms = 5000};
    err_t err = {0};
    for (int64_t until = now_ms() + 90000; now_ms() < until; sleep_ms(500)) {
        store_t *s = NULL;
        if (store_open_with(&o, &s, &err) == 0) return s;
    }
    fprintf(stderr, "the cluster did not come up: %s\n", err.msg);
    abort();
}

#define NODES 2
#define THREADS 6 /* three per node */
#define ROUNDS 12

typedef struct {
    store_t *s;
    int thread;
    pthread_barrier_t *barrier;
    int claimed[ROUNDS];
    int failed;
} race_arg;

static void race_failed(race_arg *r, const char *what, const err_t *err)
{
    fprintf(stderr, "thread %d: %s: %s\n", r->thread, what, err->msg);
    r->failed++;
}

/* Each thread counts ROUNDS filtered events, all threads round by round. */
static void *filter_racer(void *ud)
{
    race_arg *r = ud;
    const char *filtered[] = {"reg-race"};
    json_t *data = json_pack("{s:i}", "n", r->thread);
    store_event_in ev = {.provider = "commerce", .type = "t", .data = data,
                         .filtered = filtered, .nfiltered = 1};
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(r->barrier);
        store_append_result res;
        err_t err;
        if (store_append(r->s, &ev, &res, &err) < 0) race_failed(r, "store_append", &err);
    }
    json_decref(data);
    return NULL;
}

/* Each thread claims each slot of a trigger, all threads at once. */
static void *slot_racer(void *ud)
{
    race_arg *r = ud;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(r->barrier);
        char id[33];
        snprintf(id, sizeof id, "t%d-s%d", r->thread, i);
        bool claimed = false;
        err_t err;
        if (store_trigger_claim(r->s, "race", 60000LL * (i + 1), id, &claimed, &err) < 0)
            race_failed(r, "store_trigger_claim", &err);
        r->claimed[i] = claimed;
    }
    return NULL;
}

/* One delivery or more, waiting for them a while (another node's consumer
 * is found within 2 s). */
static int claim_some(store_t *s, int max, store_delivery **d, size_t *n, err_t *err)
{
    for (int64_t until = now_ms() + 10000; now_ms() < until; sleep_ms(20)) {
        if (store_claim(s, max, 60000, d, n, err) < 0) return -1;
        if (*n > 0) return 0;
        free(*d);
        *d = NULL;
    }
    return 0;
}

/* Each thread records a failed attempt while one changes the state, at
 * the same instant; the state read after each round is the one set. */
static void *last_racer(void *ud)
{
    race_arg *r = ud;
    for (int i = 0; i < ROUNDS; i++) {
        err_t err;
        store_delivery *d = NULL;
        size_t n = 0;
        if (r->thread > 0 && claim_some(r->s, 1, &d, &n, &err) < 0)
            race_failed(r, "store_claim", &err);
        reg_state st = i % 2 ? REG_ACTIVE : REG_UNSTABLE;
        pthread_barrier_wait(r->barrier);
        if (r->thread == 0 && store_reg_set_state(r->s, "reg-race", st, &err) < 0)
            race_failed(r, "store_reg_set_state", &err);
        for (size_t k = 0; k < n; k++) {
            char msg[32];
            snprintf(msg, sizeof msg, "boom %d", r->thread);
            store_attempt a = {.delivery_id = d[k].id, .outcome = DELIVERY_FAILED,
                               .started_ms = now_ms(), .ended_ms = now_ms(), .status_code = 400,
                               .error = msg};
            if (store_finish(r->s, &a, &err) < 0) race_failed(r, "store_finish", &err);
        }
        free_claims(d, n);
        pthread_barrier_wait(r->barrier);
        store_reg_info info;
        if (r->thread == 0 && store_reg_info_get(r->s, "reg-race", &info, &err) == 0 &&
            info.state != st)
            r->claimed[i] = 1; /* the state change was lost */
    }
    return NULL;
}

static void race(store_t **nodes, void *(*fn)(void *), race_arg *args)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (race_arg){.s = nodes[i % NODES], .thread = i, .barrier = &barrier};
        pthread_create(&th[i], NULL, fn, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < THREADS; i++) assert_int_equal(args[i].failed, 0);
}

/* Two nodes on three replicas, three threads each, updating at the same
 * instant: the filtered count loses no event, each trigger slot is claimed
 * once, and the last errors written meanwhile lose no state change. */
typedef struct {
    tu_cluster c;
    store_t *nodes[NODES];
} cluster_fixture;

/* A fixture: stopped by its teardown also when an assertion failed. */
static int cluster_setup(void **state)
{
    cluster_fixture *f = calloc(1, sizeof *f);
    cluster_start(&f->c);
    for (int i = 0; i < NODES; i++) f->nodes[i] = cluster_open(&f->c);
    *state = f;
    return 0;
}

static int cluster_teardown(void **state)
{
    cluster_fixture *f = *state;
    for (int i = 0; i < NODES; i++) store_close(f->nodes[i]);
    cluster_stop(&f->c);
    free(f);
    return 0;
}

static void test_cluster_concurrent_updates(void **state)
{
    cluster_fixture *f = *state;
    store_t **nodes = f->nodes;
    race_arg args[THREADS];
    err_t err;

    race(nodes, filter_racer, args);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(nodes[1], "reg-race", &info, &err), 0);
    assert_int_equal(info.filtered, THREADS * ROUNDS);

    race(nodes, slot_racer, args);
    for (int i = 0; i < ROUNDS; i++) {
        int winners = 0;
        for (int t = 0; t < THREADS; t++) winners += args[t].claimed[i];
        assert_int_equal(winners, 1);
    }

    for (int i = 0; i < (THREADS - 1) * ROUNDS; i++)
        append(nodes[0], "commerce", "t", i, NULL, "reg-race", NULL);
    race(nodes, last_racer, args);
    for (int i = 0; i < ROUNDS; i++) assert_int_equal(args[0].claimed[i], 0);
    assert_int_equal(store_reg_info_get(nodes[0], "reg-race", &info, &err), 0);
    assert_non_null(strstr(info.last_error, "boom"));
    assert_true(info.last_attempt_ms > 0);
}

static void put_activation(store_t *s, const char *id, const char *name, const char *pkg,
                           int64_t start, int64_t end)
{
    store_activation_put(s, json_pack("{s:s, s:s, s:s, s:I, s:I, s:{s:b}}", "activationId", id,
                                      "name", name, "package", pkg, "start", (json_int_t)start,
                                      "end", (json_int_t)end, "response", "success", 1));
}

/* Activations by name and time, newest start first, by id, pruned; traces
 * with their filters and retention. */
static void test_activations_traces(void **state)
{
    fixture *f = *state;
    int64_t t0 = now_ms();
    put_activation(f->s, "a1", "consumer", "pkg", t0 - 50, t0 - 10); /* ends after a2 starts */
    put_activation(f->s, "a2", "handler", "pkg", t0 - 40, t0 - 30);
    put_activation(f->s, "a3", "handler", "other", t0 - 20, t0 - 5);
    store_flush(f->s);
    err_t err;
    json_t *all = NULL;
    assert_int_equal(store_activation_list(f->s, NULL, 10, &all, &err), 0);
    assert_int_equal(json_array_size(all), 3);
    const char *order[] = {"a3", "a2", "a1"}; /* by start, not by end */
    for (int i = 0; i < 3; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(all, i), "activationId")), order[i]);
    json_decref(all);
    json_t *l = NULL;
    assert_int_equal(store_activation_list(f->s, "handler", 10, &l, &err), 0);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    assert_int_equal(store_activation_list(f->s, "pkg/handler", 10, &l, &err), 0);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    assert_int_equal(store_activation_query(f->s, NULL, t0 - 45, 0, 1, 10, &l, &err), 0);
    assert_int_equal(json_array_size(l), 1); /* a3 skipped, a2 in, a1 started before */
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "activationId")),
                        "a2");
    json_decref(l);
    json_t *one = NULL;
    assert_int_equal(store_activation_get(f->s, "a2", &one, &err), 0);
    assert_string_equal(json_string_value(json_object_get(one, "name")), "handler");
    json_decref(one);
    int64_t gone = 0;
    assert_int_equal(store_activation_prune(f->s, now_ms() + 1000, &gone, &err), 0);
    assert_int_equal(gone, 3);
    assert_int_equal(store_activation_get(f->s, "a2", &one, &err), 0);
    assert_null(one);

    for (int i = 0; i < 5; i++) {
        store_trace t = {.registration = i < 4 ? "reg-t" : "reg-u", .event_id = "e", .event_type = "t",
                         .delivery_id = 100 + i, .attempt = 1, .start_ms = now_ms(),
                         .duration_ms = 3, .success = i % 2 == 0, .status_code = i % 2 ? 500 : 200,
                         .retried = i % 2 == 1, .error = i % 2 ? "boom" : NULL,
                         .request = "{\"url\":\"x\"}", .response = "{\"status\":200}"};
        store_trace_put(f->s, &t);
    }
    store_flush(f->s);
    store_trace_filter tf = {.registration = "reg-t", .outcome = -1, .retried = -1, .limit = 3};
    json_t *tr = NULL;
    bool more = false;
    assert_int_equal(store_trace_list(f->s, &tf, &tr, &more, &err), 0);
    assert_int_equal(json_array_size(tr), 3);
    assert_true(more);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tr, 0), "deliveryId")), 103);
    const char *id = json_string_value(json_object_get(json_array_get(tr, 2), "id"));
    tf.before = strtoll(id, NULL, 10);
    json_t *next = NULL;
    assert_int_equal(store_trace_list(f->s, &tf, &next, &more, &err), 0);
    assert_int_equal(json_array_size(next), 1);
    assert_false(more);
    json_t *full = NULL;
    assert_int_equal(store_trace_get(f->s, tf.before, &full, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(full, "request"), "url")),
                        "x");
    assert_string_equal(json_string_value(json_object_get(full, "outcome")), "error");
    json_decref(full);
    json_decref(next);
    json_decref(tr);
    store_trace_filter errs = {.outcome = 0, .retried = -1, .status = 500};
    assert_int_equal(store_trace_list(f->s, &errs, &tr, &more, &err), 0);
    assert_int_equal(json_array_size(tr), 2);
    json_decref(tr);
    const char *tid = "0af7651916cd43dd8448eb211c80319c";
    store_span root = {.trace_id = tid, .span_id = "b7ad6b7169203331", .kind = "event",
                       .ref = "e", .name = "t", .start_ms = 2000, .end_ms = 2001, .ok = true};
    store_span child = {.trace_id = tid, .span_id = "00f067aa0ba902b7",
                        .parent_id = "b7ad6b7169203331", .kind = "delivery", .ref = "1",
                        .name = "reg-t", .start_ms = 1000, .end_ms = 3000, .status = 500};
    store_span_put(f->s, &root);
    store_span_put(f->s, &child);
    store_flush(f->s);
    json_t *spans = NULL;
    assert_int_equal(store_span_list(f->s, tid, &spans, &err), 0);
    assert_int_equal(json_array_size(spans), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(spans, 0), "kind")),
                        "delivery"); /* by start */
    assert_true(json_is_null(json_object_get(json_array_get(spans, 1), "parentSpanId")));
    json_decref(spans);
    /* Retention keeps the newest success and error of each registration. */
    int64_t pruned = 0;
    assert_int_equal(store_trace_prune(f->s, now_ms() + 1000, 1, &pruned, &err), 0);
    assert_int_equal(pruned, 2);
    store_trace_filter any = {.outcome = -1, .retried = -1};
    assert_int_equal(store_trace_list(f->s, &any, &tr, &more, &err), 0);
    assert_int_equal(json_array_size(tr), 3);
    json_decref(tr);
    assert_int_equal(store_span_list(f->s, tid, &spans, &err), 0);
    assert_int_equal(json_array_size(spans), 0); /* spans go with the traces' window */
    json_decref(spans);
}

/* Event metadata, the I/O Management records, state as a collection,
 * browsing pages and one event with its deliveries, the rollup. */
static void test_meta_io_browse(void **state)
{
    fixture *f = *state;
    err_t err;
    store_event_meta m = {.provider = "commerce", .code = "order.placed", .label = "Order"};
    store_put_outcome o;
    assert_int_equal(store_event_meta_put(f->s, &m, &o, &err), 0);
    assert_int_equal(o, STORE_CREATED);
    assert_int_equal(store_event_meta_put(f->s, &m, &o, &err), 0);
    assert_int_equal(o, STORE_UNCHANGED);
    m.description = "placed";
    assert_int_equal(store_event_meta_put(f->s, &m, &o, &err), 0);
    assert_int_equal(o, STORE_UPDATED);
    store_event_meta m2 = {.provider = "backoffice", .code = "a"};
    assert_int_equal(store_event_meta_put(f->s, &m2, &o, &err), 0);
    json_t *metas = NULL;
    assert_int_equal(store_event_meta_list(f->s, NULL, &metas, &err), 0);
    assert_int_equal(json_array_size(metas), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(metas, 0), "provider")),
                        "backoffice");
    json_decref(metas);

    bool conflict = true;
    json_t *p1 = json_pack("{s:s, s:s, s:s}", "id", "u1", "key", "k1", "label", "L1");
    json_t *p2 = json_pack("{s:s, s:s, s:s}", "id", "u2", "key", "k2", "label", "L1");
    assert_int_equal(store_io_provider_put(f->s, p1, &conflict, &err), 0);
    assert_false(conflict);
    assert_int_equal(store_io_provider_put(f->s, p2, &conflict, &err), 0);
    assert_true(conflict);
    json_t *got = NULL;
    assert_int_equal(store_io_provider_get(f->s, "k1", &got, &err), 0);
    assert_string_equal(json_string_value(json_object_get(got, "id")), "u1");
    json_decref(got);
    json_decref(p1);
    json_decref(p2);
    json_t *r1 = json_pack("{s:s}", "name", "reg-one");
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(store_io_reg_put(f->s, "c/p/w", r1, &conflict, &id1, &err), 0);
    assert_false(conflict);
    assert_int_equal(store_io_reg_put(f->s, "c/p/w", r1, &conflict, &id2, &err), 0);
    assert_true(conflict);
    assert_int_equal(store_io_reg_put(f->s, "c/p/x", r1, &conflict, &id2, &err), 0);
    assert_true(id2 > id1);
    json_decref(r1);
    json_t *regs = NULL;
    assert_int_equal(store_io_reg_list(f->s, "c/p/w", &regs, &err), 0);
    assert_int_equal(json_array_size(regs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(regs, 0), "id")), id1);
    json_decref(regs);

    assert_int_equal(store_state_put(f->s, "k1", json_true(), 0, &err), 0);
    assert_int_equal(store_state_put(f->s, "k2", json_true(), 0, &err), 0);
    int64_t n = 0;
    assert_int_equal(store_state_count(f->s, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_state_clear(f->s, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_state_count(f->s, &n, &err), 0);
    assert_int_equal(n, 0);

    store_append_result e1 = append(f->s, "commerce", "a", 1, NULL, "reg-b", NULL);
    append(f->s, "commerce", "b", 2, NULL, NULL, NULL);
    store_append_result e3 = append(f->s, "backoffice", "a", 3, NULL, NULL, NULL);
    json_t *page = NULL;
    assert_int_equal(store_event_page(f->s, "commerce", NULL, 0, 0, false, 10, &page, &err), 0);
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "provider")),
                        "commerce");
    json_decref(page);
    assert_int_equal(store_event_page(f->s, NULL, NULL, 0, 0, true, 2, &page, &err), 0);
    assert_int_equal(json_array_size(page), 2); /* the newest two, oldest first */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 1), "position")),
                     e3.position);
    json_decref(page);
    assert_int_equal(store_event_page(f->s, NULL, "a", 0, e3.position, false, 10, &page, &err), 0);
    assert_int_equal(json_array_size(page), 1);
    json_decref(page);
    json_t *detail = NULL;
    assert_int_equal(store_event_detail(f->s, e1.id, &detail, &err), 0);
    json_t *dl = json_object_get(detail, "deliveries");
    assert_int_equal(json_array_size(dl), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "state")),
                        "pending");
    json_decref(detail);

    store_delivery *d = NULL;
    size_t k = claim_wait(f->s, 1, 60000, 3000, &d);
    assert_int_equal(k, 1);
    store_attempt at = {.delivery_id = d[0].id, .outcome = DELIVERY_DONE, .started_ms = now_ms() - 30,
                        .ended_ms = now_ms(), .status_code = 200};
    assert_int_equal(store_finish(f->s, &at, &err), 0);
    free_claims(d, k);
    assert_int_equal(store_event_detail(f->s, e1.id, &detail, &err), 0);
    dl = json_object_get(detail, "deliveries");
    assert_int_equal(json_array_size(dl), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "state")), "done");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dl, 0), "lastStatus")), 200);
    json_decref(detail);
    assert_int_equal(store_rollup_sample(f->s, now_ms(), 3600000, &err), 0);
    json_t *roll = NULL;
    assert_int_equal(store_rollup_read(f->s, "reg-b", now_ms() - 120000, &roll, &err), 0);
    assert_true(json_array_size(roll) >= 1);
    json_t *last = json_array_get(roll, json_array_size(roll) - 1);
    assert_int_equal(json_integer_value(json_object_get(last, "success")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(last, "latency"), 2)), 1);
    json_decref(roll);
}

/* Traces oldest first: one delivery's attempts in order (an event's
 * detail), and pages after a cursor. */
static void test_traces_oldest_first(void **state)
{
    fixture *f = *state;
    err_t err;
    const int64_t dlv[] = {200, 201, 200, 202, 200};
    for (int i = 0; i < 5; i++) {
        store_trace t = {.registration = i == 1 ? "reg-p" : "reg-o", .event_id = "e",
                         .event_type = "t", .delivery_id = dlv[i], .attempt = i / 2 + 1,
                         .start_ms = now_ms(), .duration_ms = 1, .success = i == 4,
                         .status_code = i == 4 ? 200 : 500, .retried = i != 4,
                         .request = "{}", .response = "{}"};
        store_trace_put(f->s, &t);
    }
    store_flush(f->s);
    for (int by_reg = 0; by_reg < 2; by_reg++) {
        store_trace_filter one = {.registration = by_reg ? "reg-o" : NULL, .outcome = -1,
                                  .retried = -1, .delivery_id = 200, .oldest_first = true};
        json_t *tr = NULL;
        bool more = true;
        assert_int_equal(store_trace_list(f->s, &one, &tr, &more, &err), 0);
        assert_int_equal(json_array_size(tr), 3);
        assert_false(more);
        for (int i = 0; i < 3; i++)
            assert_int_equal(json_integer_value(json_object_get(json_array_get(tr, i), "attempt")),
                             i + 1);
        json_decref(tr);
    }
    store_trace_filter page = {.registration = "reg-o", .outcome = -1, .retried = -1,
                               .limit = 2, .oldest_first = true};
    json_t *tr = NULL;
    bool more = false;
    assert_int_equal(store_trace_list(f->s, &page, &tr, &more, &err), 0);
    assert_int_equal(json_array_size(tr), 2);
    assert_true(more);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tr, 1), "deliveryId")), 200);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tr, 1), "attempt")), 2);
    page.before = strtoll(json_string_value(json_object_get(json_array_get(tr, 1), "id")), NULL, 10);
    json_decref(tr);
    assert_int_equal(store_trace_list(f->s, &page, &tr, &more, &err), 0);
    assert_int_equal(json_array_size(tr), 2); /* 202, then 200's success */
    assert_false(more);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tr, 0), "deliveryId")), 202);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tr, 1), "outcome")),
                        "success");
    json_decref(tr);
}

typedef struct {
    store_t *s;
    _Atomic bool stop;
    _Atomic int claims;
} claim_race;

static void *claim_loop(void *arg)
{
    claim_race *r = arg;
    while (!r->stop) {
        store_delivery *d = NULL;
        size_t n = 0;
        err_t err;
        if (store_claim(r->s, 8, 60000, &d, &n, &err) == 0) r->claims++;
        for (size_t i = 0; i < n; i++) {
            store_attempt at = {.delivery_id = d[i].id, .outcome = DELIVERY_DONE,
                                .started_ms = now_ms(), .ended_ms = now_ms(), .status_code = 200};
            store_finish(r->s, &at, &err);
        }
        free_claims(d, n);
    }
    return NULL;
}

/* A registration deleted while another thread of the node claims: the
 * claim must not use the subscription the delete let go (a use after free
 * that crashed evkit in flow.test.mjs on JetStream; valgrind and ASan see
 * it here). */
static void test_delete_while_claiming(void **state)
{
    fixture *f = *state;
    err_t err;
    claim_race r = {.s = f->s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, claim_loop, &r), 0);
    json_t *def = json_pack("{s:s}", "runtime_action", "pkg/consumer");
    int rc = 0, deleted = 0;
    for (int i = 0; i < 6 && rc == 0; i++) {
        bool existed = false;
        int dropped = 0;
        rc = store_regdef_put(f->s, "racy-reg", def, REGDEF_CREATE, &existed, &err);
        if (rc == 0) append(f->s, "commerce", "t", i, NULL, "racy-reg", NULL);
        int64_t until = now_ms() + 300;
        while (rc == 0 && now_ms() < until) sleep_ms(10); /* the claims pull on its subscription */
        if (rc == 0) rc = store_regdef_delete(f->s, "racy-reg", &existed, &dropped, &err);
        if (rc == 0 && existed) deleted++;
    }
    json_decref(def);
    r.stop = true; /* joined before any assertion: r is on this stack */
    pthread_join(t, NULL);
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(deleted, 6);
    assert_true(r.claims > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_no_server),
        cmocka_unit_test(test_open_jetstream_off),
        cmocka_unit_test(test_open_incompatible_stream),
        cmocka_unit_test(test_open_first_server_down),
        cmocka_unit_test(test_open_silent_port),
        cmocka_unit_test(test_open_cluster_without_quorum),
        cmocka_unit_test_setup_teardown(test_open_twice_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_retry_dead_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_parks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regdefs_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers_and_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activations_traces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_io_browse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_traces_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_concurrent_updates, cluster_setup,
                                        cluster_teardown),
        cmocka_unit_test_setup_teardown(test_delete_while_claiming, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_Close();
    return rc;
}
