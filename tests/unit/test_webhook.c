/* test_webhook: delivery/webhook.c: Standard Webhooks signatures, batch
 * sizing, the challenge answer, and the transport's codes when no answer
 * comes. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>

#include "core/netpolicy.h"
#include "core/util.h"
#include "delivery/webhook.h"
#include "manifest/manifest.h"

/* ---- signatures ---- */

static void test_signature_vector(void **state)
{
    (void)state;
    /* The Standard Webhooks reference vector; the second signature was made
     * by the official `standardwebhooks` npm package. */
    char *secrets[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGVzdC1zZWNyZXQtdHdv"};
    const char *body = "{\"test\": 2432232314}";
    err_t err;
    char *sig = webhook_signature(secrets, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                  strlen(body), &err);
    assert_non_null(sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(sig);
    /* During a rotation: both, space-separated, oldest first. */
    sig = webhook_signature(secrets, 2, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                            strlen(body), &err);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
                             "v1,EjXI96lLP+nKHS3p+T2kAHzQIQCWz8I32OfNvW/eAkg=");
    free(sig);
    /* Any change to id, time or body changes it. */
    sig = webhook_signature(secrets, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                            strlen(body), &err);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(sig);
    char *bad[] = {"whsec_***"};
    assert_null(webhook_signature(bad, 1, "m", 1, "", 0, &err));
    assert_non_null(strstr(err.msg, "base64"));
    assert_null(strstr(err.msg, "***")); /* never echoes the secret */
    char *plain[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    assert_null(webhook_signature(plain, 1, "m", 1, "", 0, &err));
    assert_null(webhook_signature(secrets, 0, "m", 1, "", 0, &err));
}

/* ---- batches and the challenge ---- */

static void test_batch_take(void **state)
{
    (void)state;
    size_t sizes[45];
    for (size_t i = 0; i < 45; i++) sizes[i] = 100;
    assert_int_equal(webhook_batch_take(sizes, 45, 20, 2 * 1024 * 1024), 20);
    assert_int_equal(webhook_batch_take(sizes + 40, 5, 20, 2 * 1024 * 1024), 5);
    assert_int_equal(webhook_batch_take(sizes, 0, 20, 1000), 0);
    /* "[" + 100 + "," + 100 + "]" = 203 bytes */
    assert_int_equal(webhook_batch_take(sizes, 45, 20, 203), 2);
    assert_int_equal(webhook_batch_take(sizes, 45, 20, 202), 1);
    /* One event over the limit still goes, alone. */
    size_t big[] = {5000, 10};
    assert_int_equal(webhook_batch_take(big, 2, 20, 1000), 1);
    assert_int_equal(webhook_batch_take(big + 1, 1, 20, 1000), 1);
    /* 2 MB: 700 KB events go two at a time (three would pass 2 MB). */
    size_t mb[] = {700 * 1024, 700 * 1024, 700 * 1024, 700 * 1024};
    assert_int_equal(webhook_batch_take(mb, 4, 20, WEBHOOK_BATCH_MAX_BYTES), 2);
}

static void test_challenge_answer(void **state)
{
    (void)state;
    const char *c = "9f7c0e5e-2a0b-4c47-9d55-0c6b1d2b5d11";
    assert_true(webhook_challenge_ok(c, strlen(c), c));
    char *padded = xasprintf("  %s\n", c);
    assert_true(webhook_challenge_ok(padded, strlen(padded), c));
    free(padded);
    char *j = xasprintf("{\"challenge\": \"%s\"}", c);
    assert_true(webhook_challenge_ok(j, strlen(j), c));
    free(j);
    assert_false(webhook_challenge_ok("", 0, c));
    assert_false(webhook_challenge_ok("ok", 2, c));
    assert_false(webhook_challenge_ok("{\"challenge\": \"x\"}", 18, c));
    assert_false(webhook_challenge_ok(c, strlen(c) - 1, c));
}

/* ---- the transport without an answer ---- */

/* A loopback socket that listens but never answers (the kernel completes
 * connections from its backlog); *port gets its port. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_no_answer_codes(void **state)
{
    (void)state;
    int port;
    int fd = silent_listener(&port);
    char *url = xasprintf("http://127.0.0.1:%d/hook", port);
    json_t *h = json_pack("{s:s}", "content-type", "application/cloudevents+json");
    json_t *allow = json_pack("[s]", "127.0.0.0/8");
    webhook_response r;
    webhook_post(url, h, "{}", 2, 300, allow, &r);
    assert_int_equal(r.status, DELIVERY_STATUS_TIMEOUT);
    assert_non_null(strstr(r.error, "no answer within 300 ms"));
    assert_int_equal(delivery_classify_status(r.status), VERDICT_RETRY);
    webhook_response_free(&r);
    err_t err;
    assert_int_equal(webhook_challenge(url, 300, allow, &err), -1);
    char silent[sizeof err.msg];
    snprintf(silent, sizeof silent, "%s", err.msg);
    assert_non_null(strstr(err.msg, "did not pass the challenge"));
    close(fd);
    /* Now nothing listens there: a connection failure. */
    webhook_post(url, h, "{}", 2, 300, allow, &r);
    assert_int_equal(r.status, DELIVERY_STATUS_CONNECT);
    assert_non_null(strstr(r.error, "connection failed"));
    webhook_response_free(&r);
    /* The challenge's answer says the same for a closed port as for a
     * silent one: it cannot be used to map ports. */
    assert_int_equal(webhook_challenge(url, 300, allow, &err), -1);
    assert_string_equal(err.msg, silent);
    json_decref(allow);
    json_decref(h);
    free(url);
}

/* ---- where webhooks may connect ---- */

static unsigned cls4(const char *text)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    assert_int_equal(inet_aton(text, &a.sin_addr), 1); /* 127.1, 2130706433 as a resolver reads them */
    return net_classify((struct sockaddr *)&a);
}

static unsigned cls6(const char *text)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
    return net_classify((struct sockaddr *)&a);
}

static void test_address_classes(void **state)
{
    (void)state;
    assert_int_equal(cls4("127.0.0.1"), NET_LOOPBACK);
    assert_int_equal(cls4("127.1"), NET_LOOPBACK);
    assert_int_equal(cls4("2130706433"), NET_LOOPBACK);
    assert_int_equal(cls4("0x7f000001"), NET_LOOPBACK);
    assert_int_equal(cls4("10.1.2.3"), NET_PRIVATE);
    assert_int_equal(cls4("172.31.255.255"), NET_PRIVATE);
    assert_int_equal(cls4("172.32.0.1"), 0);
    assert_int_equal(cls4("192.168.7.7"), NET_PRIVATE);
    assert_int_equal(cls4("100.64.0.1"), NET_PRIVATE);
    assert_true(cls4("169.254.169.254") & NET_METADATA);
    assert_true(cls4("100.100.100.200") & NET_METADATA);
    assert_int_equal(cls4("169.254.1.1"), NET_LINK_LOCAL);
    assert_int_equal(cls4("224.0.0.1"), NET_MULTICAST);
    assert_int_equal(cls4("255.255.255.255"), NET_MULTICAST);
    assert_int_equal(cls4("0.0.0.0"), NET_RESERVED);
    assert_int_equal(cls4("8.8.8.8"), 0);
    assert_int_equal(cls6("::1"), NET_LOOPBACK);
    assert_int_equal(cls6("::"), NET_RESERVED);
    assert_int_equal(cls6("::ffff:127.0.0.1"), NET_LOOPBACK);
    assert_true(cls6("::ffff:169.254.169.254") & NET_METADATA);
    assert_true(cls6("64:ff9b::a9fe:a9fe") & NET_METADATA);
    assert_int_equal(cls6("2002:7f00:1::"), NET_LOOPBACK);
    assert_true(cls6("fd00:ec2::254") & NET_METADATA);
    assert_int_equal(cls6("fd12::1"), NET_PRIVATE);
    assert_int_equal(cls6("fe80::1"), NET_LINK_LOCAL);
    assert_int_equal(cls6("ff02::1"), NET_MULTICAST);
    assert_int_equal(cls6("2606:4700:4700::1111"), 0);
    assert_string_equal(net_class_name(cls4("169.254.169.254")), "a cloud metadata address");

    assert_true(net_range_valid("127.0.0.0/8"));
    assert_true(net_range_valid("::1"));
    assert_true(net_range_valid("fd00::/8"));
    assert_false(net_range_valid("127.0.0.0/33"));
    assert_false(net_range_valid("localhost"));
    assert_false(net_range_valid("10.0.0.0/"));
    assert_false(net_range_valid(""));
    json_t *r = json_pack("[s, s]", "10.1.0.0/16", "::1");
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.1.200.3", &a.sin_addr);
    assert_true(net_in_ranges((struct sockaddr *)&a, r));
    inet_pton(AF_INET, "10.2.0.3", &a.sin_addr);
    assert_false(net_in_ranges((struct sockaddr *)&a, r));
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.1.0.9", &b.sin6_addr);
    assert_true(net_in_ranges((struct sockaddr *)&b, r));
    inet_pton(AF_INET6, "::2", &b.sin6_addr);
    assert_false(net_in_ranges((struct sockaddr *)&b, r));
    json_decref(r);
}

/* A loopback listener no request may reach: every spelling of its address
 * is refused before connecting, unless the allowlist names loopback. */
static void test_loopback_refused(void **state)
{
    (void)state;
    int port;
    int fd = silent_listener(&port);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    const char *hosts[] = {"127.0.0.1", "127.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]",
                           "localhost"};
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        char *url = xasprintf("http://%s:%d/hook", hosts[i], port);
        webhook_response r;
        webhook_post(url, NULL, "{}", 2, 2000, NULL, &r);
        assert_true(r.refused);
        assert_int_equal(r.status, DELIVERY_STATUS_CONNECT);
        assert_non_null(strstr(r.error, "address not allowed"));
        assert_non_null(strstr(r.error, "EVKIT_WEBHOOK_ALLOW"));
        webhook_response_free(&r);
        err_t err;
        assert_int_equal(webhook_challenge(url, 2000, NULL, &err), -1);
        assert_non_null(strstr(err.msg, "EVKIT_WEBHOOK_ALLOW"));
        free(url);
        assert_true(accept(fd, NULL, NULL) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    /* Named in the allowlist, it is reached (and times out: it never answers). */
    json_t *allow = json_pack("[s]", "127.0.0.1/32");
    char *url = xasprintf("http://127.1:%d/hook", port);
    webhook_response r;
    webhook_post(url, NULL, "{}", 2, 300, allow, &r);
    assert_false(r.refused);
    assert_int_equal(r.status, DELIVERY_STATUS_TIMEOUT);
    webhook_response_free(&r);
    int c = accept(fd, NULL, NULL);
    assert_true(c >= 0);
    close(c);
    free(url);
    json_decref(allow);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vector),
        cmocka_unit_test(test_batch_take),
        cmocka_unit_test(test_challenge_answer),
        cmocka_unit_test(test_no_answer_codes),
        cmocka_unit_test(test_address_classes),
        cmocka_unit_test(test_loopback_refused),
    };
    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
