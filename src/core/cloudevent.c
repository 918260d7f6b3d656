/* cloudevent: CloudEvents 1.0.2 attribute checks. See cloudevent.h. */
#include "core/cloudevent.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/json_io.h"
#include "core/util.h"

static int days_in(int year, int month)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = year % 4 == 0 && (year % 100 != 0 || (year / 100) % 4 == 0); /* Gregorian */
    return month == 2 && leap ? 29 : dim[month - 1];
}

bool rfc3339_valid(const char *s)
{
    /* full-date "T" partial-time time-offset (RFC 3339 section 5.6). */
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return false;
    int y = digits_value(s, 4), mo = digits_value(s + 5, 2), d = digits_value(s + 8, 2);
    int h = digits_value(s + 11, 2), mi = digits_value(s + 14, 2), sec = digits_value(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return false;
        while (isdigit((unsigned char)*p)) p++;
    }
    if ((*p == 'Z' || *p == 'z') && !p[1]) return true;
    if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':') return false;
    int oh = digits_value(p + 1, 2), om = digits_value(p + 4, 2);
    return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

/* RFC 2046 type "/" subtype, then parameters after ';'. */
static bool media_type_valid(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    size_t i = 0;
    for (int part = 0; part < 2; part++) {
        size_t n = 0;
        while (s[i] && (isalnum((unsigned char)s[i]) || strchr(tchar, s[i]))) i++, n++;
        if (!n || (part == 0 && s[i++] != '/')) return false;
    }
    while (s[i] == ' ' || s[i] == '\t') i++;
    if (s[i] && s[i] != ';') return false;
    for (; s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

/* An absolute URI: scheme ":" something, no spaces or controls. */
static bool absolute_uri_valid(const char *s)
{
    if (!isalpha((unsigned char)s[0])) return false;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') i++;
    if (s[i] != ':' || !s[i + 1]) return false;
    for (; s[i]; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return false;
    return true;
}

static bool ext_name_valid(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > CE_EXT_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!(k[i] >= 'a' && k[i] <= 'z') && !(k[i] >= '0' && k[i] <= '9')) return false;
    return true;
}

static int bad(err_t *err, const char *name, const char *rule)
{
    return err_code(err, EVK_INVALID, "the CloudEvent attribute '%s' %s", name, rule);
}

static int check_one(const char *k, const json_t *v, err_t *err)
{
    if (!strcmp(k, "data")) return 0;
    /* A number kept as its text is a string inside evkit, but not here. */
    const char *s = json_kept_text(v, NULL) ? NULL : json_string_value(v);
    if (!strcmp(k, "specversion") || !strcmp(k, "id") || !strcmp(k, "source") ||
        !strcmp(k, "type") || !strcmp(k, "subject"))
        return s && *s ? 0 : bad(err, k, "must be a non-empty string");
    if (!strcmp(k, "time"))
        return s && rfc3339_valid(s) ? 0
                                     : bad(err, k, "must be an RFC 3339 timestamp such as "
                                                   "2026-12-06T23:31:26Z");
    if (!strcmp(k, "data_base64")) {
        unsigned char *bytes = s ? base64_decode(s, json_string_length(v), NULL, NULL) : NULL;
        free(bytes);
        return bytes ? 0 : bad(err, k, "must be a base64 string (RFC 4648)");
    }
    if (!strcmp(k, "datacontenttype"))
        return s && media_type_valid(s) ? 0
                                        : bad(err, k, "must be a media type such as "
                                                      "application/json (RFC 2046)");
    if (!strcmp(k, "dataschema"))
        return s && absolute_uri_valid(s) ? 0 : bad(err, k, "must be an absolute URI");
    if (!ext_name_valid(k))
        return err_code(err, EVK_INVALID, "the CloudEvent extension attribute name '%.64s' is "
                                          "invalid: names are 1 to %d lower-case letters "
                                          "(a-z) or digits", k, CE_EXT_NAME_MAX);
    if (s || json_is_boolean(v)) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= -2147483648LL &&
        json_integer_value(v) <= 2147483647LL)
        return 0;
    return bad(err, k, "must be a string, a boolean or a 32-bit integer (an extension)");
}

int cloudevent_check(const json_t *ev, err_t *err)
{
    if (!json_is_object(ev))
        return err_code(err, EVK_INVALID, "a CloudEvent must be a JSON object");
    static const char *required[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < 4; i++)
        if (!json_object_get(ev, required[i]))
            return bad(err, required[i], "is required (a non-empty string)");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ev, k, v) {
        if (check_one(k, v, err) < 0) return -1;
    }
    return 0;
}
