/* netpolicy: which addresses outbound HTTP may connect to. A request
 * names a host; what is checked is each address curl is about to connect
 * to, after name resolution (CURLOPT_OPENSOCKETFUNCTION), so a name that
 * resolves to a public address for a check and to an internal one later
 * (DNS rebinding), or an address written as 127.1, 2130706433 or
 * ::ffff:127.0.0.1, is judged by where the socket would really go.
 *
 * Webhook targets refuse every internal class unless an allowlist
 * (EVKIT_WEBHOOK_ALLOW) names the range; actions' evkit.http refuses
 * link-local and cloud-metadata addresses unless EVKIT_ACTION_HTTP_ALLOW
 * names them. */
#ifndef EVKIT_CORE_NETPOLICY_H
#define EVKIT_CORE_NETPOLICY_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Address classes, as bits. */
enum {
    NET_LOOPBACK = 1u << 0,    /* 127.0.0.0/8, ::1 */
    NET_PRIVATE = 1u << 1,     /* 10/8, 172.16/12, 192.168/16, 100.64/10, 198.18/15, fc00::/7 */
    NET_LINK_LOCAL = 1u << 2,  /* 169.254/16, fe80::/10 */
    NET_MULTICAST = 1u << 3,   /* 224/4, ff00::/8, 255.255.255.255 */
    NET_METADATA = 1u << 4,    /* 169.254.169.254, fd00:ec2::254, 100.100.100.200 */
    NET_RESERVED = 1u << 5,    /* 0/8 (reaches this host), 240/4, ::, and other unroutable */
};
#define NET_INTERNAL (NET_LOOPBACK | NET_PRIVATE | NET_LINK_LOCAL | NET_MULTICAST | \
                      NET_METADATA | NET_RESERVED)
#define NET_ACTION_DEFAULT (NET_LINK_LOCAL | NET_METADATA)

/* The classes of an IPv4 or IPv6 address (0: a public one). IPv6 forms
 * that carry an IPv4 address (mapped, compatible, NAT64 64:ff9b::/96,
 * 6to4 2002::/16) are classed by that address too. Other families:
 * NET_RESERVED. */
unsigned net_classify(const struct sockaddr *sa);
/* "loopback", "cloud metadata", ... for the most telling class in c. */
const char *net_class_name(unsigned c);

/* True when s is an IPv4 or IPv6 address, optionally "/prefix". */
bool net_range_valid(const char *s);
/* True when sa is inside one of ranges (an array of such strings). */
bool net_in_ranges(const struct sockaddr *sa, const json_t *ranges);

/* What a guarded transfer may reach; why gets the refusal, if any. */
typedef struct net_policy {
    unsigned refuse;        /* NET_* classes refused ... */
    const json_t *allow;    /* ... unless inside one of these ranges (borrowed, may be NULL) */
    const char *setting;    /* the allowlist's name, for the refusal text */
    char why[192];          /* "" or "127.0.0.1 is loopback (not in EVKIT_WEBHOOK_ALLOW)" */
} net_policy;

/* Makes c open its sockets through p (which must outlive the transfer):
 * an address p refuses fails the connection (CURLE_COULDNT_CONNECT) with
 * the reason in p->why. */
void net_policy_apply(CURL *c, net_policy *p);

#endif
