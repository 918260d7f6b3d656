/* netpolicy: address classes and the connect-time check. See netpolicy.h. */
#include "core/netpolicy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct v4range {
    uint32_t net;
    int bits;
    unsigned cls;
} v4range;

/* Most specific first: the first match names the class in messages. */
static const v4range V4[] = {
    {0xA9FEA9FEu, 32, NET_METADATA | NET_LINK_LOCAL}, /* 169.254.169.254 */
    {0x646464C8u, 32, NET_METADATA | NET_PRIVATE}, /* 100.100.100.200 (Alibaba) */
    {0x7F000000u, 8, NET_LOOPBACK},
    {0x0A000000u, 8, NET_PRIVATE},
    {0xAC100000u, 12, NET_PRIVATE},
    {0xC0A80000u, 16, NET_PRIVATE},
    {0x64400000u, 10, NET_PRIVATE},  /* shared address space (carrier NAT) */
    {0xC6120000u, 15, NET_PRIVATE},  /* benchmarking */
    {0xA9FE0000u, 16, NET_LINK_LOCAL},
    {0xFFFFFFFFu, 32, NET_MULTICAST}, /* limited broadcast */
    {0xE0000000u, 4, NET_MULTICAST},
    {0x00000000u, 8, NET_RESERVED},  /* "this network": 0.0.0.0 reaches this host */
    {0xF0000000u, 4, NET_RESERVED},
    {0xC0000000u, 24, NET_RESERVED}, /* IETF protocol assignments */
    {0xC0000200u, 24, NET_RESERVED}, /* documentation */
    {0xC6336400u, 24, NET_RESERVED},
    {0xCB007100u, 24, NET_RESERVED},
};

static bool v4_in(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xFFFFFFFFu << (32 - bits);
    return (a & mask) == (net & mask);
}

static unsigned classify_v4(uint32_t a)
{
    for (size_t i = 0; i < sizeof V4 / sizeof V4[0]; i++)
        if (v4_in(a, V4[i].net, V4[i].bits)) return V4[i].cls;
    return 0;
}

static uint32_t v4_at(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned classify_v6(const unsigned char *a)
{
    static const unsigned char zero[16], loop[16] = {[15] = 1};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const unsigned char ec2[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x54, [14] = 0x02};
    if (!memcmp(a, zero, 16)) return NET_RESERVED;
    if (!memcmp(a, loop, 16)) return NET_LOOPBACK;
    if (!memcmp(a, ec2, 16)) return NET_METADATA | NET_PRIVATE;
    /* Forms that carry an IPv4 address: that address decides too. */
    if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) || !memcmp(a, zero, 12))
        return classify_v4(v4_at(a + 12)) | (memcmp(a, zero, 12) ? 0 : NET_RESERVED);
    if (a[0] == 0x20 && a[1] == 0x02) return classify_v4(v4_at(a + 2)); /* 6to4 */
    if (a[0] == 0xff) return NET_MULTICAST;
    if ((a[0] & 0xfe) == 0xfc) return NET_PRIVATE;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return NET_LINK_LOCAL;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return NET_PRIVATE; /* site-local (deprecated) */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return NET_RESERVED;
    if (a[0] == 0x01 && !memcmp(a + 1, zero, 7)) return NET_RESERVED; /* discard-only 100::/64 */
    return 0;
}

unsigned net_classify(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return classify_v4(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6)
        return classify_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return NET_RESERVED;
}

const char *net_class_name(unsigned c)
{
    if (c & NET_METADATA) return "a cloud metadata address";
    if (c & NET_LOOPBACK) return "loopback";
    if (c & NET_LINK_LOCAL) return "link-local";
    if (c & NET_PRIVATE) return "private";
    if (c & NET_MULTICAST) return "multicast";
    if (c & NET_RESERVED) return "reserved";
    return "public";
}

/* Parses "addr[/bits]": family, 16 address bytes (IPv4 in the first 4),
 * prefix length. */
static bool range_parse(const char *s, int *family, unsigned char *addr, int *bits)
{
    char host[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof host) return false;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(addr, 0, 16);
    int max;
    if (inet_pton(AF_INET, host, addr) == 1) {
        *family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, addr) == 1) {
        *family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    *bits = max;
    if (slash) {
        const char *p = slash + 1;
        size_t len = strlen(p);
        if (len == 0 || len > 3 || strspn(p, "0123456789") != len) return false;
        *bits = atoi(p);
        if (*bits > max) return false;
    }
    return true;
}

bool net_range_valid(const char *s)
{
    int family, bits;
    unsigned char addr[16];
    return s && range_parse(s, &family, addr, &bits);
}

static bool bits_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole)) return false;
    if (!rest) return true;
    unsigned char mask = (unsigned char)(0xFF << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool net_in_ranges(const struct sockaddr *sa, const json_t *ranges)
{
    unsigned char a4[4], a6[16];
    bool has4 = false, has6 = false;
    if (sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        has4 = true;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
        has6 = true;
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (!memcmp(a6, mapped, 12)) { /* ::ffff:a.b.c.d is a.b.c.d */
            memcpy(a4, a6 + 12, 4);
            has4 = true;
        }
    }
    size_t i;
    const json_t *r;
    json_array_foreach(ranges, i, r) {
        int family, bits;
        unsigned char net[16];
        const char *s = json_string_value(r);
        if (!s || !range_parse(s, &family, net, &bits)) continue;
        if (family == AF_INET && has4 && bits_equal(a4, net, bits)) return true;
        if (family == AF_INET6 && has6 && bits_equal(a6, net, bits)) return true;
    }
    return false;
}

static curl_socket_t open_guarded(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)purpose;
    net_policy *p = clientp;
    unsigned cls = net_classify(&addr->addr);
    if ((cls & p->refuse) && !net_in_ranges(&addr->addr, p->allow)) {
        char ip[INET6_ADDRSTRLEN] = "?";
        const void *raw = addr->family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)&addr->addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)&addr->addr)->sin_addr;
        if (addr->family == AF_INET || addr->family == AF_INET6)
            inet_ntop(addr->family, raw, ip, sizeof ip);
        snprintf(p->why, sizeof p->why, "%s is %s (not in %s)", ip, net_class_name(cls & p->refuse),
                 p->setting ? p->setting : "the allowlist");
        return CURL_SOCKET_BAD;
    }
    /* Close-on-exec: action processes must not inherit a webhook's socket. */
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

void net_policy_apply(CURL *c, net_policy *p)
{
    p->why[0] = '\0';
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, p);
}
