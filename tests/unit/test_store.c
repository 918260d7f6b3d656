/* Store: the journal, dedup, group commit, delivery claims with ordering and
 * leases, registration health, dead letters, replay, activations and action
 * state, on a fresh SQLite store in a temporary folder. */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <zstd.h>

#include "core/json_io.h"
#include "core/util.h"
#include "store/backend.h"
#include "store/sqlite/sqlite_int.h"
#include "store/store.h"
#include "tu_store.h"


static void reopen(fixture *f)
{
    store_close(f->s);
    err_t err;
    f->s = NULL;
    assert_int_equal(store_open(f->dir, &f->s, &err), 0);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Appends an event of provider/type with data {"sku": sku, "n": n} and one
 * delivery per registration name in regs (NULL-terminated), all with
 * order key okey. */
static store_append_result append(store_t *s, const char *provider, const char *type,
                                  const char *sku, int n, const char *idem, const char *const *regs,
                                  const char *okey)
{
    store_delivery_spec specs[8];
    size_t nd = 0;
    for (; regs && regs[nd]; nd++) {
        specs[nd].registration = regs[nd];
        specs[nd].order_key = okey;
    }
    json_t *data = json_pack("{s:s, s:i}", "sku", sku, "n", n);
    store_event_in ev = {.provider = provider, .type = type, .data = data,
                         .idempotency_key = idem, .deliveries = specs, .ndeliveries = nd};
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
                       .error = error, .activation_id = "0123456789abcdef0123456789abcdef"};
    err_t err;
    int rc = store_finish(s, &a, &err);
    if (rc < 0) fprintf(stderr, "store_finish: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static size_t journal_count(store_t *s, const char *provider)
{
    json_t *arr = NULL;
    err_t err;
    assert_int_equal(store_read(s, provider, 0, 100000, &arr, &err), 0);
    size_t n = json_array_size(arr);
    json_decref(arr);
    return n;
}

static const char *const REG_A[] = {"reg-a", NULL};

/* ---- journal ---- */

static void test_append_read(void **state)
{
    fixture *f = *state;
    err_t err;
    char uuid[37];
    assert_int_equal(store_provider_id(f->s, "commerce", uuid, &err), 0);
    assert_int_equal(strlen(uuid), 36);

    int64_t before = now_ms();
    store_append_result r1 = append(f->s, "commerce", "com.adobe.commerce.observer.product_save",
                                    "SKU-1", 1, NULL, NULL, NULL);
    store_append_result r2 = append(f->s, "backoffice", "be-observer.catalog_product_create",
                                    "SKU-2", 2, NULL, NULL, NULL);
    store_append_result r3 = append(f->s, "commerce", "com.adobe.commerce.observer.product_save",
                                    "SKU-3", 3, NULL, NULL, NULL);
    assert_true(r1.position >= 1);
    assert_true(r2.position > r1.position);
    assert_true(r3.position > r2.position);
    assert_false(r1.duplicate);
    assert_int_equal(strlen(r1.id), 36);
    assert_int_equal(r1.id[14], '4'); /* UUID v4 */
    assert_string_not_equal(r1.id, r2.id);

    json_t *arr = NULL;
    assert_int_equal(store_read(f->s, NULL, 0, 0, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 3);
    json_t *first = json_array_get(arr, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "position")), r1.position);
    json_t *ev = json_object_get(first, "event");
    assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(ev, "id")), r1.id);
    char source[64];
    snprintf(source, sizeof source, "urn:uuid:%s", uuid);
    assert_string_equal(json_string_value(json_object_get(ev, "source")), source);
    assert_string_equal(json_string_value(json_object_get(ev, "type")),
                        "com.adobe.commerce.observer.product_save");
    assert_string_equal(json_string_value(json_object_get(ev, "datacontenttype")),
                        "application/json");
    const char *t = json_string_value(json_object_get(ev, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 24); /* 2026-11-28T05:05:41.123Z */
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], '.');
    assert_int_equal(t[23], 'Z');
    char iso[32];
    time_iso(before, iso, sizeof iso);
    assert_true(strcmp(t, iso) >= 0);
    json_t *want = json_pack("{s:s, s:i}", "sku", "SKU-1", "n", 1);
    assert_true(json_equal(json_object_get(ev, "data"), want));
    json_decref(want);
    json_decref(arr);

    /* Provider filter, since (exclusive) and limit. */
    assert_int_equal(store_read(f->s, "commerce", 0, 0, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    assert_int_equal(store_read(f->s, NULL, r1.position, 1, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "position")),
                     r2.position);
    json_decref(arr);
    assert_int_equal(store_read(f->s, NULL, r3.position, 10, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);

    /* By id. */
    json_t *got = NULL;
    assert_int_equal(store_event_get(f->s, r2.id, &got, &err), 0);
    assert_non_null(got);
    assert_string_equal(json_string_value(json_object_get(got, "type")),
                        "be-observer.catalog_product_create");
    json_decref(got);
    assert_int_equal(store_event_get(f->s, "00000000-0000-4000-8000-000000000000", &got, &err), 0);
    assert_null(got);

    /* Seek by time. */
    int64_t pos = -1;
    assert_int_equal(store_position_before(f->s, before - 60000, &pos, &err), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(store_position_before(f->s, now_ms() + 60000, &pos, &err), 0);
    assert_int_equal(pos, r3.position);

    /* Invalid input says why. */
    store_event_in bad = {.provider = "commerce", .type = ""};
    store_append_result res;
    assert_int_equal(store_append(f->s, &bad, &res, &err), -1);
    assert_non_null(strstr(err.msg, "type"));
}

static void test_provider_stable(void **state)
{
    fixture *f = *state;
    err_t err;
    char a[37], b[37], a2[37];
    assert_int_equal(store_provider_id(f->s, "commerce", a, &err), 0);
    assert_int_equal(store_provider_id(f->s, "backoffice", b, &err), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(store_provider_id(f->s, "commerce", a2, &err), 0);
    assert_string_equal(a, a2);
    reopen(f);
    assert_int_equal(store_provider_id(f->s, "commerce", a2, &err), 0);
    assert_string_equal(a, a2);
    /* A second store on the same folder (another process) sees the same. */
    store_t *other = NULL;
    assert_int_equal(store_open(f->dir, &other, &err), 0);
    assert_int_equal(store_provider_id(other, "backoffice", a2, &err), 0);
    assert_string_equal(b, a2);
    store_close(other);
    assert_int_equal(store_provider_id(f->s, "", a2, &err), -1);
}

static void test_event_metadata(void **state)
{
    fixture *f = *state;
    err_t err;
    char id[37], id2[37];
    bool found = true;
    assert_int_equal(store_provider_find(f->s, "commerce", id, &found, &err), 0);
    assert_false(found);
    assert_string_equal(id, "");
    assert_int_equal(store_provider_id(f->s, "commerce", id, &err), 0);
    assert_int_equal(store_provider_find(f->s, "commerce", id2, &found, &err), 0);
    assert_true(found);
    assert_string_equal(id, id2);

    json_t *sample = json_loads("{\"sku\":\"S-1\",\"price\":1.5}", 0, NULL);
    store_event_meta m = {.provider = "backoffice", .code = "be.x", .label = "X",
                          .description = "an x", .sample = sample};
    store_put_outcome out;
    assert_int_equal(store_event_meta_put(f->s, &m, &out, &err), 0);
    assert_int_equal(out, STORE_CREATED);
    assert_int_equal(store_event_meta_put(f->s, &m, &out, &err), 0);
    assert_int_equal(out, STORE_UNCHANGED);
    json_object_set_new(sample, "price", json_real(2.5));
    assert_int_equal(store_event_meta_put(f->s, &m, &out, &err), 0);
    assert_int_equal(out, STORE_UPDATED);
    store_event_meta m2 = {.provider = "commerce", .code = "com.y"}; /* label: the code */
    assert_int_equal(store_event_meta_put(f->s, &m2, &out, &err), 0);
    assert_int_equal(out, STORE_CREATED);
    store_event_meta bad = {.provider = "", .code = "c"};
    assert_int_equal(store_event_meta_put(f->s, &bad, &out, &err), -1);
    reopen(f);
    json_t *list;
    assert_int_equal(store_event_meta_list(f->s, NULL, &list, &err), 0);
    char *text = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text,
                        "[{\"code\":\"be.x\",\"description\":\"an x\",\"label\":\"X\","
                        "\"provider\":\"backoffice\",\"sample\":{\"price\":2.5,\"sku\":\"S-1\"}},"
                        "{\"code\":\"com.y\",\"description\":\"\",\"label\":\"com.y\","
                        "\"provider\":\"commerce\",\"sample\":null}]");
    free(text);
    json_decref(list);
    assert_int_equal(store_event_meta_list(f->s, "commerce", &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    json_decref(sample);
}

static void test_dedup(void **state)
{
    fixture *f = *state;
    store_append_result r1 = append(f->s, "commerce", "t", "S", 1, "key-1", REG_A, NULL);
    store_append_result r2 = append(f->s, "commerce", "t", "S", 2, "key-1", REG_A, NULL);
    assert_false(r1.duplicate);
    assert_true(r2.duplicate);
    assert_string_equal(r1.id, r2.id);
    assert_int_equal(r1.position, r2.position);
    store_append_result r3 = append(f->s, "backoffice", "t", "S", 1, "key-1", REG_A, NULL);
    assert_false(r3.duplicate);
    assert_string_not_equal(r1.id, r3.id);
    store_append_result r4 = append(f->s, "commerce", "t", "S", 1, "key-2", REG_A, NULL);
    assert_false(r4.duplicate);
    /* The provider and the key do not run into each other. */
    store_append_result r6 = append(f->s, "commerc", "t", "S", 1, "ekey-1", NULL, NULL);
    assert_false(r6.duplicate);
    assert_int_equal(journal_count(f->s, NULL), 4);
    /* The duplicate created no delivery. */
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 3);
    free_claims(d, n);
    /* Still a duplicate after a reopen. */
    reopen(f);
    store_append_result r5 = append(f->s, "commerce", "t", "S", 1, "key-1", REG_A, NULL);
    assert_true(r5.duplicate);
    assert_string_equal(r5.id, r1.id);
}

/* A batch is one write: one commit for all its events, a key repeated
 * inside it a duplicate of the first, and none stored when one is refused
 * or the registrations' generation is stale. */
static void test_append_batch(void **state)
{
    fixture *f = *state;
    err_t err;
    store_delivery_spec spec = {.registration = "reg-a"};
    json_t *data = json_pack("{s:s}", "sku", "B");
    store_event_in evs[10];
    for (int i = 0; i < 10; i++)
        evs[i] = (store_event_in){.provider = "commerce", .type = "t", .data = data,
                                  .idempotency_key = i == 7 ? "batch-3" : NULL,
                                  .deliveries = &spec, .ndeliveries = 1};
    evs[3].idempotency_key = "batch-3";
    store_append_result res[10];
    char uuid[37]; /* made first, in a write of its own */
    assert_int_equal(store_provider_id(f->s, "commerce", uuid, &err), 0);
    store_stats before, after;
    store_stats_get(f->s, &before);
    assert_int_equal(store_append_batch(f->s, evs, 10, res, &err), 0);
    store_stats_get(f->s, &after);
    assert_int_equal(after.commits - before.commits, 1);
    assert_int_equal(after.events - before.events, 9);
    for (int i = 1; i < 10; i++)
        if (i != 7) assert_true(res[i].position > res[i - (i == 8 ? 2 : 1)].position);
    assert_true(res[7].duplicate);
    assert_string_equal(res[7].id, res[3].id);
    assert_int_equal(journal_count(f->s, NULL), 9);

    /* A refused event: none of the batch. */
    evs[3].idempotency_key = NULL;
    evs[7].idempotency_key = NULL;
    evs[5].type = "";
    assert_int_equal(store_append_batch(f->s, evs, 10, res, &err), -1);
    assert_int_equal(err.code, EVK_INVALID);
    assert_int_equal(journal_count(f->s, NULL), 9);
    evs[5].type = "t";
    /* A stale generation: none either, and the first result says so. */
    for (int i = 0; i < 10; i++) {
        evs[i].check_generation = true;
        evs[i].generation = 99;
    }
    assert_int_equal(store_append_batch(f->s, evs, 10, res, &err), 0);
    assert_true(res[0].stale);
    assert_int_equal(journal_count(f->s, NULL), 9);
    for (int i = 0; i < 10; i++) evs[i].generation = 0; /* no registration ever changed */
    assert_int_equal(store_append_batch(f->s, evs, 10, res, &err), 0);
    assert_false(res[0].stale);
    assert_int_equal(journal_count(f->s, NULL), 19);
    json_decref(data);
}

/* The stored CloudEvent is written directly: byte for byte the text of the
 * object it stands for (evkit's attributes first, the publisher's time and
 * datacontenttype in their places, the other attributes in their order,
 * the data last), and the old path's refusal for a type that is not UTF-8. */
static void test_cloudevent_text(void **state)
{
    (void)state;
    err_t err;
    const char *in = "{\"price\":99.99,\"big\":123456789012345678901234567890,"
                     "\"name\":\"caf\u00e9 \\\"q\\\" \\u0001\",\"n\":[1,-2.5e-300]}";
    json_t *data = json_load_kept(in, strlen(in), 0, NULL);
    assert_non_null(data);
    json_t *attrs = json_pack("{s:s, s:s, s:s, s:s, s:s}", "traceparent",
                              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "time",
                              "2026-01-02T03:04:05Z", "id", "ignored", "subject", "sku/1",
                              "datacontenttype", "application/json; charset=utf-8");
    for (int variant = 0; variant < 3; variant++) {
        store_event_in ev = {.provider = "commerce", .type = "t.\xc3\xa9", .data = data,
                             .attributes = variant == 1 ? NULL : attrs};
        if (variant == 2) ev.data = NULL;
        char id[37];
        int64_t t = 1700000000123;
        char *text = store_cloudevent_text(&ev, "11111111-2222-4333-8444-555555555555", id, t, &err);
        assert_non_null(text);
        char iso[32];
        time_iso(t, iso, sizeof iso);
        json_t *ce = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", id,
                               "source", "urn:uuid:11111111-2222-4333-8444-555555555555", "type",
                               ev.type, "time", iso, "datacontenttype", "application/json");
        const char *k;
        json_t *v;
        json_object_foreach(ev.attributes, k, v)
            if (strcmp(k, "specversion") && strcmp(k, "id") && strcmp(k, "source") &&
                strcmp(k, "type") && strcmp(k, "data"))
                json_object_set(ce, k, v);
        if (ev.data) json_object_set(ce, "data", ev.data);
        char *want = json_text(ce, JSON_COMPACT);
        assert_string_equal(text, want);
        free(want);
        free(text);
        json_decref(ce);
    }
    store_event_in bad = {.provider = "commerce", .type = "\xc3(", .data = data};
    char id[37];
    assert_null(store_cloudevent_text(&bad, "u", id, 1, &err));
    assert_int_equal(err.code, EVK_INVALID);
    json_decref(attrs);
    json_decref(data);
}

/* ---- group commit ---- */

#define NTHREADS 16
#define PER_THREAD 150

typedef struct {
    store_t *s;
    int idx;
    int64_t positions[PER_THREAD];
    int failures;
} worker_arg;

static void *append_worker(void *p)
{
    worker_arg *w = p;
    store_delivery_spec spec = {.registration = "reg-a", .order_key = NULL};
    for (int i = 0; i < PER_THREAD; i++) {
        json_t *data = json_pack("{s:i, s:i}", "thread", w->idx, "i", i);
        /* Every 10th publish repeats a key another thread also uses: the
         * writer must see both inside its transaction. */
        char key[32];
        snprintf(key, sizeof key, "shared-%d", i);
        store_event_in ev = {.provider = "commerce", .type = "t", .data = data,
                             .idempotency_key = i % 10 == 0 ? key : NULL,
                             .deliveries = &spec, .ndeliveries = 1};
        store_append_result res;
        err_t err;
        if (store_append(w->s, &ev, &res, &err) < 0) w->failures++;
        w->positions[i] = res.duplicate ? -res.position : res.position;
        json_decref(data);
    }
    return NULL;
}

static void test_concurrent_group_commit(void **state)
{
    fixture *f = *state;
    store_stats before;
    store_stats_get(f->s, &before);
    pthread_t th[NTHREADS];
    worker_arg *args = calloc(NTHREADS, sizeof *args);
    for (int i = 0; i < NTHREADS; i++) {
        args[i].s = f->s;
        args[i].idx = i;
        assert_int_equal(pthread_create(&th[i], NULL, append_worker, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    size_t stored = 0, dups = 0;
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(args[i].failures, 0);
        for (int k = 0; k < PER_THREAD; k++) {
            if (args[i].positions[k] > 0) stored++;
            else dups++;
        }
    }
    /* One event per shared key across all threads, the rest duplicates. */
    size_t keys = (PER_THREAD + 9) / 10;
    assert_int_equal(dups, keys * (NTHREADS - 1));
    assert_int_equal(stored, (size_t)NTHREADS * PER_THREAD - dups);

    store_stats after;
    store_stats_get(f->s, &after);
    uint64_t events = after.events - before.events, commits = after.commits - before.commits;
    assert_int_equal(events, stored);
    fprintf(stderr, "    %llu events in %llu commits\n", (unsigned long long)events,
            (unsigned long long)commits);
    assert_true(commits < events);

    /* Positions are unique; everything is there after a reopen. */
    int64_t *all = calloc(stored, sizeof *all);
    size_t k = 0;
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            if (args[i].positions[j] > 0) all[k++] = args[i].positions[j];
    for (size_t i = 0; i < stored; i++)
        for (size_t j = i + 1; j < stored; j++) assert_true(all[i] != all[j]);
    free(all);
    free(args);
    reopen(f);
    assert_int_equal(journal_count(f->s, NULL), stored);
    store_reg_info info;
    err_t err;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.backlog, (int64_t)stored);
}

/* ---- deliveries ---- */

static void test_claim_finish_retry(void **state)
{
    fixture *f = *state;
    err_t err;
    assert_true(store_next_due(f->s) == INT64_MAX);
    const char *regs[] = {"reg-a", "reg-b", NULL};
    store_append_result r = append(f->s, "commerce", "t", "S", 1, NULL, regs, NULL);
    assert_true(store_next_due(f->s) <= now_ms());

    store_delivery *d = NULL;
    size_t n = claim(f->s, 1, 60000, &d);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].registration, "reg-a");
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(d[0].first_attempt_ms, 0);
    assert_int_equal(d[0].position, r.position);
    assert_null(d[0].order_key);
    assert_string_equal(json_string_value(json_object_get(d[0].event, "id")), r.id);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(d[0].event, "data"), "sku")), "S");
    int64_t id_a = d[0].id;
    free_claims(d, n);

    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].registration, "reg-b");
    int64_t id_b = d[0].id;
    free_claims(d, n);
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    assert_null(d);
    /* Running deliveries count by their lease. */
    int64_t nd = store_next_due(f->s);
    assert_true(nd > now_ms() + 50000 && nd <= now_ms() + 60000);

    /* A retry in the future is not claimable, and is the next due time. */
    int64_t later = now_ms() + 3600000;
    finish(f->s, id_a, DELIVERY_RETRY, later, 503, "unavailable");
    finish(f->s, id_b, DELIVERY_DONE, 0, 200, NULL);
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    assert_true(store_next_due(f->s) == later);

    /* Due again: attempt 2, first attempt kept. */
    finish(f->s, id_a, DELIVERY_RETRY, now_ms() - 1, 500, "boom");
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, id_a);
    assert_int_equal(d[0].attempt, 2);
    assert_true(d[0].first_attempt_ms > 0);
    free_claims(d, n);
    finish(f->s, id_a, DELIVERY_DONE, 0, 200, NULL);
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    assert_true(store_next_due(f->s) == INT64_MAX);

    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.state, REG_ACTIVE);
    assert_int_equal(info.attempts_24h, 3);
    assert_int_equal(info.failures_24h, 2);
    assert_int_equal(info.backlog, 0);
    assert_int_equal(info.dead, 0);
    assert_string_equal(info.last_error, "boom");
    assert_true(info.last_attempt_ms > 0);
    assert_int_equal(store_reg_info_get(f->s, "reg-b", &info, &err), 0);
    assert_int_equal(info.attempts_24h, 1);
    assert_int_equal(info.failures_24h, 0);
    assert_string_equal(info.last_error, "");
    /* A registration never seen is ACTIVE and empty. */
    assert_int_equal(store_reg_info_get(f->s, "nobody", &info, &err), 0);
    assert_int_equal(info.state, REG_ACTIVE);
    assert_int_equal(info.backlog, 0);

    store_attempt bad = {.delivery_id = 999999, .outcome = DELIVERY_DONE};
    assert_int_equal(store_finish(f->s, &bad, &err), -1);
    assert_non_null(strstr(err.msg, "999999"));
}

static void test_lease_expiry(void **state)
{
    fixture *f = *state;
    append(f->s, "commerce", "t", "S", 1, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 300, &d);
    assert_int_equal(n, 1);
    int64_t id = d[0].id;
    free_claims(d, n);
    assert_int_equal(claim(f->s, 10, 300, &d), 0);
    sleep_ms(400);
    /* The claiming process "crashed": the lease ran out. */
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, id);
    assert_int_equal(d[0].attempt, 2);
    assert_true(d[0].first_attempt_ms > 0);
    free_claims(d, n);
}

static void test_release_claims(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *regs[] = {"reg-a", NULL};
    append(f->s, "commerce", "t", "S", 1, NULL, regs, NULL);
    store_delivery *d = NULL;
    assert_int_equal(claim(f->s, 10, 3600000, &d), 1);
    int64_t id = d[0].id;
    free_claims(d, 1);
    /* A crashed daemon's claim: reopened, it is released at once, not in an hour. */
    reopen(f);
    assert_int_equal(claim(f->s, 10, 3600000, &d), 0);
    int released = -1;
    assert_int_equal(store_release_claims(f->s, &released, &err), 0);
    assert_int_equal(released, 1);
    assert_int_equal(claim(f->s, 10, 3600000, &d), 1);
    assert_int_equal(d[0].id, id);
    assert_int_equal(d[0].attempt, 2);
    free_claims(d, 1);
}

static void test_journal_retention(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *done_reg[] = {"reg-done", NULL};
    const char *open_reg[] = {"reg-open", NULL};
    append(f->s, "commerce", "t", "no-deliveries", 1, NULL, NULL, NULL);
    store_append_result kept = append(f->s, "commerce", "t", "pending", 2, NULL, open_reg, NULL);
    append(f->s, "commerce", "t", "delivered", 3, NULL, done_reg, NULL);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].registration, "reg-done")) finish(f->s, d[i].id, DELIVERY_DONE, 0, 200, NULL);
        else finish(f->s, d[i].id, DELIVERY_RETRY, now_ms() + 3600000, 503, "later");
    free_claims(d, n);
    int64_t floor = -1;
    assert_int_equal(store_journal_floor(f->s, &floor, &err), 0);
    assert_int_equal(floor, 0);

    /* Nothing is older than an hour ago. */
    int64_t deleted = -1;
    assert_int_equal(store_journal_prune(f->s, now_ms() - 3600000, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(journal_count(f->s, NULL), 3);

    /* Everything is older than a second from now: the event with an open
     * delivery stays, the other two go, and the floor rises past them. */
    sleep_ms(5);
    assert_int_equal(store_journal_prune(f->s, now_ms() + 1000, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    json_t *left = NULL;
    assert_int_equal(store_read(f->s, NULL, 0, 100, &left, &err), 0);
    assert_int_equal(json_array_size(left), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(left, 0), "position")),
                     kept.position);
    json_decref(left);
    assert_int_equal(store_journal_floor(f->s, &floor, &err), 0);
    assert_int_equal(floor, 3);
    /* New events keep counting up. */
    store_append_result later = append(f->s, "commerce", "t", "after", 4, NULL, NULL, NULL);
    assert_int_equal(later.position, 4);
}

static void test_ordering(void **state)
{
    fixture *f = *state;
    append(f->s, "commerce", "t", "K", 1, NULL, REG_A, "k");
    append(f->s, "commerce", "t", "K", 2, NULL, REG_A, "k");
    append(f->s, "commerce", "t", "K", 3, NULL, REG_A, "k");
    append(f->s, "commerce", "t", "O", 4, NULL, REG_A, "other");
    append(f->s, "commerce", "t", "U", 5, NULL, REG_A, NULL);
    /* The same key for another registration is independent. */
    const char *regb[] = {"reg-b", NULL};
    append(f->s, "commerce", "t", "K", 6, NULL, regb, "k");

    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 4);
    int64_t first_k = 0;
    for (size_t i = 0; i < n; i++) {
        int sn = (int)json_integer_value(json_object_get(json_object_get(d[i].event, "data"), "n"));
        assert_true(sn == 1 || sn == 4 || sn == 5 || sn == 6);
        if (sn == 1) {
            first_k = d[i].id;
            assert_string_equal(d[i].order_key, "k");
        }
    }
    free_claims(d, n);
    /* Blocked behind a running one: no work, and no busy loop either. */
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    assert_true(store_next_due(f->s) > now_ms() + 50000);

    finish(f->s, first_k, DELIVERY_DONE, 0, 200, NULL);
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d[0].event, "data"), "n")), 2);
    int64_t second = d[0].id;
    free_claims(d, n);

    /* A pending one that is not due yet still blocks the ones after it. */
    int64_t later = now_ms() + 3600000;
    finish(f->s, second, DELIVERY_RETRY, later, 500, "later");
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);

    /* A dead letter does not block. */
    finish(f->s, second, DELIVERY_RETRY, now_ms() - 1, 500, "now");
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, second);
    free_claims(d, n);
    finish(f->s, second, DELIVERY_DEAD, 0, 500, "gave up");
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d[0].event, "data"), "n")), 3);
    free_claims(d, n);
}

static void test_disabled_parks(void **state)
{
    fixture *f = *state;
    err_t err;
    /* Pending work of a registration that gets disabled is parked too. */
    append(f->s, "commerce", "t", "S", 1, NULL, REG_A, NULL);
    assert_int_equal(store_reg_set_state(f->s, "reg-a", REG_DISABLED, &err), 0);
    append(f->s, "commerce", "t", "S", 2, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    assert_true(store_next_due(f->s) == INT64_MAX);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.state, REG_DISABLED);
    assert_int_equal(info.parked, 2);
    assert_int_equal(info.backlog, 2);
    assert_string_equal(reg_state_name(info.state), "DISABLED");

    /* Unstable is still delivered. */
    assert_int_equal(store_reg_set_state(f->s, "reg-u", REG_UNSTABLE, &err), 0);
    const char *regu[] = {"reg-u", NULL};
    append(f->s, "commerce", "t", "S", 3, NULL, regu, NULL);
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].registration, "reg-u");
    free_claims(d, n);

    /* Enabling (from another process, say) resumes them. */
    int resumed = 0;
    assert_int_equal(store_reg_enable(f->s, "reg-a", &resumed, &err), 0);
    assert_int_equal(resumed, 2);
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 2);
    free_claims(d, n);
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.state, REG_ACTIVE);
    assert_int_equal(info.parked, 0);
    assert_int_equal(info.backlog, 2);
}

static void test_health_window_restarts(void **state)
{
    fixture *f = *state;
    err_t err;
    for (int i = 0; i < 3; i++) append(f->s, "commerce", "t", "S", i, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) finish(f->s, d[i].id, DELIVERY_FAILED, 0, 500, "x");
    free_claims(d, n);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.attempts_24h, 3);
    assert_int_equal(info.failures_24h, 3);
    assert_int_equal(info.dead, 3);
    assert_int_equal(store_reg_set_state(f->s, "reg-a", REG_DISABLED, &err), 0);
    assert_int_equal(store_reg_enable(f->s, "reg-a", NULL, &err), 0);
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.attempts_24h, 0);
    assert_int_equal(info.failures_24h, 0);
    assert_int_equal(info.dead, 3);
}

static void test_deadletters(void **state)
{
    fixture *f = *state;
    err_t err;
    store_append_result r1 = append(f->s, "commerce", "t1", "S", 1, NULL, REG_A, NULL);
    const char *regb[] = {"reg-b", NULL};
    append(f->s, "commerce", "t2", "S", 2, NULL, regb, NULL);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 2);
    int64_t id_a = 0, id_b = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(d[i].registration, "reg-a")) id_a = d[i].id;
        else id_b = d[i].id;
    }
    free_claims(d, n);
    finish(f->s, id_a, DELIVERY_FAILED, 0, 400, "bad request");
    sleep_ms(2);
    finish(f->s, id_b, DELIVERY_DEAD, 0, 503, "still down");

    json_t *list = NULL;
    assert_int_equal(store_deadletter_list(f->s, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_t *newest = json_array_get(list, 0), *oldest = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(newest, "registration")), "reg-b");
    assert_string_equal(json_string_value(json_object_get(newest, "reason")), "expired");
    assert_string_equal(json_string_value(json_object_get(oldest, "reason")), "rejected");
    assert_int_equal(json_integer_value(json_object_get(oldest, "id")), id_a);
    assert_string_equal(json_string_value(json_object_get(oldest, "event_id")), r1.id);
    assert_string_equal(json_string_value(json_object_get(oldest, "type")), "t1");
    assert_int_equal(json_integer_value(json_object_get(oldest, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(oldest, "last_status")), 400);
    assert_string_equal(json_string_value(json_object_get(oldest, "last_error")), "bad request");
    assert_true(json_integer_value(json_object_get(oldest, "first_attempt")) > 0);
    assert_true(json_integer_value(json_object_get(oldest, "last_attempt")) > 0);
    json_decref(list);
    assert_int_equal(store_deadletter_list(f->s, "reg-a", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);

    /* Replay one by id: from attempt 1, due now. */
    int count = 0;
    assert_int_equal(store_deadletter_replay(f->s, id_a, NULL, &count, &err), 0);
    assert_int_equal(count, 1);
    assert_int_equal(store_deadletter_replay(f->s, id_a, NULL, &count, &err), 0);
    assert_int_equal(count, 0);
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, id_a);
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(d[0].first_attempt_ms, 0);
    free_claims(d, n);
    /* All of a registration's. */
    assert_int_equal(store_deadletter_replay(f->s, 0, "reg-b", &count, &err), 0);
    assert_int_equal(count, 1);
    assert_int_equal(store_deadletter_list(f->s, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

/* An event that can never be delivered: a dead letter at once, kept out of
 * the registration's health counts. */
static void test_undeliverable(void **state)
{
    fixture *f = *state;
    err_t err;
    store_append_result r = append(f->s, "commerce", "t1", "S", 1, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    assert_int_equal(claim(f->s, 10, 60000, &d), 1);
    int64_t id = d[0].id;
    free_claims(d, 1);
    finish(f->s, id, DELIVERY_UNDELIVERABLE, 0, 422, "the params nest too deep");
    json_t *list = NULL;
    assert_int_equal(store_deadletter_list(f->s, "reg-a", 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "event_id")), r.id);
    json_decref(list);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.dead, 1);
    assert_int_equal(info.failures_24h, 0);
    assert_int_equal(info.attempts_24h, 0);
    assert_int_equal(info.backlog, 0);
}

static void test_replay(void **state)
{
    fixture *f = *state;
    err_t err;
    store_append_result first = append(f->s, "commerce", "t1", "A", 1, NULL, NULL, NULL);
    append(f->s, "commerce", "t1", "B", 2, NULL, NULL, NULL);
    append(f->s, "commerce", "t2", "C", 3, NULL, NULL, NULL);
    append(f->s, "backoffice", "t1", "D", 4, NULL, NULL, NULL);
    /* A real number that is integral keys as an integer. */
    json_t *data = json_pack("{s:f}", "sku", 7.0);
    store_event_in ev = {.provider = "commerce", .type = "t1", .data = data};
    store_append_result res;
    assert_int_equal(store_append(f->s, &ev, &res, &err), 0);
    json_decref(data);

    const char *providers[] = {"commerce", "backoffice"};
    const char *types[] = {"t1", "t1"};
    int count = 0;
    assert_int_equal(store_replay(f->s, "reg-r", first.position, providers, types, 1, "data.sku",
                                  &count, &err), 0);
    assert_int_equal(count, 2); /* B and 7, not A (since is exclusive), not C, not D */
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].registration, "reg-r");
    assert_string_equal(d[0].order_key, "B");
    assert_string_equal(d[1].order_key, "7");
    assert_true(d[0].position < d[1].position);
    free_claims(d, n);

    assert_int_equal(store_replay(f->s, "reg-s", 0, providers, types, 2, NULL, &count, &err), 0);
    assert_int_equal(count, 4);
    n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 4);
    assert_null(d[0].order_key);
    free_claims(d, n);
}

static bool keep_not_c(void *ud, const json_t *event)
{
    (void)ud;
    return strcmp(json_string_value(json_object_get(json_object_get(event, "data"), "sku")), "C");
}

/* Replay of a position range with a predicate; claims that leave
 * registrations out; claims given back untried. */
static void test_replay_range_and_flow(void **state)
{
    fixture *f = *state;
    err_t err;
    store_append_result a = append(f->s, "commerce", "t1", "A", 1, NULL, NULL, NULL);
    append(f->s, "commerce", "t1", "B", 2, NULL, NULL, NULL);
    append(f->s, "commerce", "t1", "C", 3, NULL, NULL, NULL);
    store_append_result d = append(f->s, "commerce", "t1", "D", 4, NULL, NULL, NULL);
    append(f->s, "commerce", "t1", "E", 5, NULL, NULL, NULL);
    const char *providers[] = {"commerce"};
    const char *types[] = {"t1"};
    store_replay_opts o = {.registration = "reg-x", .since = a.position, .until = d.position,
                           .providers = providers, .types = types, .n = 1,
                           .order_key_path = "data.sku", .keep = keep_not_c};
    int count = 0, skipped = 0;
    assert_int_equal(store_replay_range(f->s, &o, &count, &skipped, &err), 0);
    assert_int_equal(count, 2);     /* B and D: not A (exclusive), not C (kept out), not E */
    assert_int_equal(skipped, 1);
    o.registration = "reg-y";
    o.keep = NULL;
    o.until = 0;
    assert_int_equal(store_replay_range(f->s, &o, &count, NULL, &err), 0);
    assert_int_equal(count, 4);     /* B, C, D, E */

    /* Leaving reg-y out: only reg-x's; reg-y's next due is not counted as work. */
    const char *skip[] = {"reg-y"};
    store_delivery *got = NULL;
    size_t n = 0;
    assert_int_equal(store_claim_except(f->s, 10, 60000, skip, 1, &got, &n, &err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) assert_string_equal(got[i].registration, "reg-x");
    assert_true(store_next_due_except(f->s, skip, 1) > now_ms() + 30000); /* only the leases */
    assert_true(store_next_due(f->s) <= now_ms());
    /* Given back: pending again at the given time, its attempt not counted. */
    int64_t ids[] = {got[0].id, got[1].id};
    int64_t later = now_ms() + 3600000;
    assert_int_equal(store_unclaim(f->s, ids, 2, later, &err), 0);
    free_claims(got, n);
    const char *skip_none[] = {"nobody"};
    assert_int_equal(store_claim_except(f->s, 10, 60000, skip_none, 1, &got, &n, &err), 0);
    assert_int_equal(n, 4);         /* reg-y's four; reg-x's wait an hour */
    for (size_t i = 0; i < n; i++) assert_string_equal(got[i].registration, "reg-y");
    free_claims(got, n);
    assert_true(store_next_due_except(f->s, skip, 1) >= later);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-x", &info, &err), 0);
    assert_int_equal(info.backlog, 2);
}

/* ---- activations ---- */

static json_t *activation(const char *id, const char *pkg, const char *name, int64_t start)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", pkg, name);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:{s:s, s:b}}", "activationId", id,
                     "namespace", "evkit", "name", name, "package", pkg, "path", path, "start",
                     (json_int_t)start, "end", (json_int_t)(start + 5), "duration", (json_int_t)5,
                     "response", "status", "success", "success", 1);
}

static void test_activations(void **state)
{
    fixture *f = *state;
    err_t err;
    store_activation_put(f->s, activation("a1", "product-backoffice", "consumer", 1000));
    store_activation_put(f->s, activation("a2", "product-commerce", "consumer", 3000));
    store_activation_put(f->s, activation("a3", "product-backoffice", "created", 2000));
    /* The brief's own form: name "pkg/action" without a path. */
    store_activation_put(f->s, json_pack("{s:s, s:s, s:s, s:I, s:I}", "activationId", "a4", "name",
                                         "customer-backoffice/consumer", "namespace", "evkit",
                                         "start", (json_int_t)4000, "end", (json_int_t)4100));
    store_activation_put(f->s, json_pack("{s:s}", "name", "no-id")); /* dropped */
    store_flush(f->s);

    json_t *list = NULL;
    assert_int_equal(store_activation_list(f->s, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 4);
    const char *order[] = {"a4", "a2", "a3", "a1"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i),
                                                              "activationId")), order[i]);
    json_decref(list);
    assert_int_equal(store_activation_list(f->s, "consumer", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    assert_int_equal(store_activation_list(f->s, "product-backoffice/consumer", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "activationId")),
                        "a1");
    json_decref(list);
    assert_int_equal(store_activation_list(f->s, "customer-backoffice/consumer", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(store_activation_list(f->s, NULL, 2, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);

    json_t *rec = NULL;
    assert_int_equal(store_activation_get(f->s, "a3", &rec, &err), 0);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "response"), "status")),
                        "success");
    json_decref(rec);
    assert_int_equal(store_activation_get(f->s, "nope", &rec, &err), 0);
    assert_null(rec);

    int64_t deleted = 0;
    assert_int_equal(store_activation_prune(f->s, 2500, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(store_activation_list(f->s, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);

    /* Many records from many calls land in few commits. */
    store_stats before, after;
    store_stats_get(f->s, &before);
    for (int i = 0; i < 500; i++) {
        char id[33];
        hex_id32(id);
        store_activation_put(f->s, activation(id, "p", "a", 10000 + i));
    }
    store_flush(f->s);
    store_stats_get(f->s, &after);
    assert_int_equal(after.activations - before.activations, 500);
    assert_true(after.commits - before.commits < 500);
}

/* ---- compressed records ---- */

/* An activation record with logs like the sample app's: mostly the same
 * text as its neighbours, a few ids and numbers apart. */
static json_t *chatty_activation(int i)
{
    char id[33], line[512];
    hex_id32(id);
    json_t *logs = json_array();
    for (int k = 0; k < 4; k++) {
        snprintf(line, sizeof line,
                 "2026-12-07T00:48:26.%03dZ stdout: [DEBUG] product-backoffice/consumer: "
                 "Consumer main params: {\"LOG_LEVEL\":\"debug\",\"data\":{\"sku\":\"SKU-%d\","
                 "\"name\":\"Product SKU\",\"price\":%d},\"line\":%d}",
                 i % 1000, i, i * 7, k);
        json_array_append_new(logs, json_string(line));
    }
    json_t *a = activation(id, "product-backoffice", "consumer", 100000 + i);
    json_object_set_new(a, "logs", logs);
    return a;
}

/* Closes f's store and runs sql on its database file, as an older evkit
 * or a hand would have left it. */
static void rewrite_store(fixture *f, const char *sql)
{
    if (f->s) store_close(f->s);
    f->s = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/evkit.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "%s\n", msg);
    sqlite3_free(msg);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

static int64_t db_int(const char *dir, const char *sql)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/evkit.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- a failing write among others ---- */

typedef struct {
    store_t *s;
    int idx, ok, failed;
} boom_arg;

static void *boom_worker(void *p)
{
    boom_arg *w = p;
    for (int i = 0; i < 40; i++) {
        /* Every other event's delivery is refused by the trigger, after the
         * event itself was written: the whole append must go. */
        store_delivery_spec spec = {.registration = i % 2 ? "boom" : "fine"};
        json_t *data = json_pack("{s:i, s:i}", "thread", w->idx, "i", i);
        store_event_in ev = {.provider = "commerce", .type = "t", .data = data,
                             .deliveries = &spec, .ndeliveries = 1};
        store_append_result res;
        err_t err;
        if (store_append(w->s, &ev, &res, &err) < 0) w->failed++;
        else w->ok++;
        json_decref(data);
    }
    return NULL;
}

/* An op that fails half-way leaves nothing, whether it was the first of its
 * transaction (rolled back whole) or a later one (its savepoint), and the
 * ops committed with it stay. */
static void test_failed_op_leaves_nothing(void **state)
{
    fixture *f = *state;
    rewrite_store(f, "CREATE TRIGGER boom AFTER INSERT ON deliveries"
                     " WHEN NEW.registration = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END;");
    err_t err;
    assert_int_equal(store_open(f->dir, &f->s, &err), 0);
    enum { T = 8 };
    pthread_t th[T];
    boom_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (boom_arg){.s = f->s, .idx = i};
        assert_int_equal(pthread_create(&th[i], NULL, boom_worker, &args[i]), 0);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        assert_int_equal(args[i].ok, 20);
        assert_int_equal(args[i].failed, 20);
    }
    reopen(f);
    assert_int_equal(journal_count(f->s, NULL), T * 20);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM deliveries WHERE registration = 'fine'"),
                     T * 20);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM events"), T * 20);
}

/* ---- what the writer remembers of its rows ---- */

static size_t span_count(store_t *s, const char *trace_id)
{
    err_t err;
    json_t *spans = NULL;
    assert_int_equal(store_span_list(s, trace_id, &spans, &err), 0);
    size_t n = json_array_size(spans);
    json_decref(spans);
    return n;
}

/* The writer keeps the next span id of recent traces and the greatest
 * activation key: another process writing the same trace and millisecond
 * between two of its batches, or retention removing the trace, must not
 * make it lose a row. */
static void test_writer_caches_other_process(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *tid = "0af7651916cd43dd8448eb211c80319c";
    char sid[17];
    store_t *other = NULL;
    assert_int_equal(store_open(f->dir, &other, &err), 0);
    for (int i = 0; i < 6; i++) {
        snprintf(sid, sizeof sid, "b7ad6b71692033%02d", i);
        store_span sp = {.trace_id = tid, .span_id = sid, .kind = "activation", .ref = "r",
                         .name = "n", .start_ms = 10 + i, .end_ms = 20 + i, .ok = true};
        store_t *s = i % 2 ? other : f->s;
        store_span_put(s, &sp);
        store_flush(s);
        char id[33];
        snprintf(id, sizeof id, "%031d%d", 0, i);
        store_activation_put(s, activation(id, "pkg", "act", 1800000000000));
        store_flush(s);
    }
    store_close(other);
    store_span last = {.trace_id = tid, .span_id = "b7ad6b7169203306", .kind = "activation",
                       .ref = "r", .name = "n", .start_ms = 30, .end_ms = 40, .ok = true};
    store_span_put(f->s, &last); /* the trace is in the writer's cache again */
    store_flush(f->s);
    assert_int_equal(span_count(f->s, tid), 7);
    json_t *list = NULL;
    assert_int_equal(store_activation_list(f->s, "pkg/act", 100, &list, &err), 0);
    assert_int_equal(json_array_size(list), 6);
    json_decref(list);
    /* Retention removes the trace; its next span makes it again. */
    int64_t deleted = 0;
    assert_int_equal(store_trace_prune(f->s, 1000, 0, &deleted, &err), 0);
    assert_int_equal(span_count(f->s, tid), 0);
    store_span sp = {.trace_id = tid, .span_id = "b7ad6b7169203399", .kind = "activation",
                     .ref = "r", .name = "n", .start_ms = 2000, .end_ms = 2001, .ok = true};
    store_span_put(f->s, &sp);
    store_flush(f->s);
    assert_int_equal(span_count(f->s, tid), 1);
}

/* Callers compress a value before the hand-off, against a dictionary the
 * writer committed (never one of a transaction still open): none before
 * the first value of the group is committed, that one's after. */
static void test_compress_on_caller(void **state)
{
    fixture *f = *state;
    err_t err;
    json_t *rec = chatty_activation(1);
    char *text = json_dumps(rec, JSON_COMPACT);
    zip_buf z = {0};
    zip_shared *zs = SQ(f->s)->zshared;
    assert_false(zip_pre(zs, "activation:product-backoffice/consumer", text, &z));
    assert_null(z.data);
    store_activation_put(f->s, rec);
    store_flush(f->s);
    assert_true(zip_pre(zs, "activation:product-backoffice/consumer", text, &z));
    /* The stored form: the dictionary's id first, a fraction of the text. */
    int64_t dict = db_int(f->dir, "SELECT id FROM zdicts WHERE key ="
                                  " 'activation:product-backoffice/consumer'");
    assert_true(dict > 0 && dict < 128);
    assert_int_equal(((unsigned char *)z.data)[0], dict);
    assert_true(z.len * 4 < strlen(text));
    free(z.data);
    assert_false(zip_pre(zs, "activation:another/action", text, &z));
    free(text);
    /* Records compressed so are read back as they were put. */
    json_t *want = chatty_activation(2);
    const char *id = json_string_value(json_object_get(want, "activationId"));
    store_activation_put(f->s, json_incref(want));
    store_flush(f->s);
    json_t *got = NULL;
    assert_int_equal(store_activation_get(f->s, id, &got, &err), 0);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void test_compressed_records(void **state)
{
    fixture *f = *state;
    err_t err;
    enum { N = 60 };
    json_t *want[N];
    size_t text_bytes = 0;
    for (int i = 0; i < N; i++) {
        want[i] = chatty_activation(i);
        char *t = json_dumps(want[i], JSON_COMPACT);
        text_bytes += strlen(t);
        free(t);
        store_activation_put(f->s, json_incref(want[i]));
        /* Callers compress against the dictionaries the writer has
         * committed: let it commit the entropy one before the later records
         * (else a slow writer, as under ASan, leaves them on the first). */
        if (i == 19) store_flush(f->s);
    }
    char req[600], res[300];
    for (int i = 0; i < N; i++) {
        snprintf(req, sizeof req,
                 "{\"params\":{\"LOG_LEVEL\":\"debug\",\"specversion\":\"1.0\",\"id\":\"ev-%d\","
                 "\"type\":\"be-observer.catalog_product_create\",\"data\":{\"sku\":\"SKU-%d\","
                 "\"name\":\"Product SKU\",\"price\":%d}},\"truncated\":false}", i, i, i);
        snprintf(res, sizeof res,
                 "{\"statusCode\":200,\"body\":{\"response\":{\"success\":true,\"message\":"
                 "\"dry run: POST V1/products %d\"}},\"truncated\":false}", i);
        store_trace t = {.registration = "product-backoffice", .event_id = "ev", .event_type = "t",
                         .delivery_id = i + 1, .attempt = 1, .start_ms = 1000 + i,
                         .success = true, .status_code = 200, .request = req, .response = res};
        store_trace_put(f->s, &t);
    }
    store_span sp = {.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .span_id = "00f067aa0ba902b7",
                     .kind = "delivery", .ref = "42", .name = "product-backoffice",
                     .start_ms = 5, .end_ms = 9, .ok = true, .status = 200};
    store_span_put(f->s, &sp);
    sp.span_id = "00f067aa0ba902b8";
    sp.parent_id = "00f067aa0ba902b7";
    sp.ref = "Not-Hex_ref";
    store_span_put(f->s, &sp);
    store_append_result ev[N];
    for (int i = 0; i < N; i++) ev[i] = append(f->s, "zp", "zip.type", "SKU-zip", i, NULL, NULL, NULL);
    store_flush(f->s);
    reopen(f); /* the dictionaries come back from the file */
    store_activation_put(f->s, chatty_activation(N));
    store_flush(f->s);

    /* Frames are stored without zstd's magic number. */
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM activations WHERE typeof(body) = 'blob'"
                                    " AND substr(body, 2, 4) = X'28b52ffd'"),
                     0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM events WHERE typeof(body) = 'blob'"
                                    " AND substr(body, 2, 4) = X'28b52ffd'"),
                     0);
    /* Stored as blobs, a fraction of the text's size. */
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM activations WHERE typeof(body) = 'blob'"),
                     N + 1);
    int64_t stored = db_int(f->dir, "SELECT sum(length(body)) FROM activations");
    assert_true(stored * 4 < (int64_t)text_bytes);
    /* The first record is the plain dictionary; after 8 more, a dictionary
     * with entropy tables (zstd's format) takes over, read back after the
     * reopen as such (no third one). Its values are smaller. */
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM zdicts WHERE key LIKE 'activation:%'"), 2);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM zdicts WHERE key LIKE 'activation:%'"
                                    " AND substr(data, 1, 4) = X'37a430ec'"),
                     1);
    assert_true(db_int(f->dir, "SELECT avg(length(body)) FROM activations WHERE k IN"
                               " (SELECT k FROM activations ORDER BY k LIMIT 8 OFFSET 1)") >
                db_int(f->dir, "SELECT avg(length(body)) FROM activations WHERE k IN"
                               " (SELECT k FROM activations ORDER BY k LIMIT 8 OFFSET 20)"));
    assert_true(db_int(f->dir, "SELECT count(*) FROM traces WHERE typeof(request) = 'blob'"
                               " AND typeof(response) = 'blob'") >= N - 1);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM events WHERE typeof(body) = 'blob'"), N);
    for (int i = 0; i < N; i++) {
        json_t *e = NULL;
        assert_int_equal(store_event_get(f->s, ev[i].id, &e, &err), 0);
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "id")), ev[i].id);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "data"), "n")), i);
        json_decref(e);
    }
    json_t *spans = NULL;
    assert_int_equal(store_span_list(f->s, "4bf92f3577b34da6a3ce929d0e0e4736", &spans, &err), 0);
    assert_int_equal(json_array_size(spans), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(spans, 0), "ref")), "42");
    assert_string_equal(json_string_value(json_object_get(json_array_get(spans, 1), "ref")),
                        "Not-Hex_ref");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(spans, 1), "parentSpanId")),
        "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(json_array_get(spans, 1), "name")),
                        "product-backoffice");
    json_decref(spans);
    json_t *page = NULL;
    assert_int_equal(store_read(f->s, NULL, 0, 1000, &page, &err), 0);
    assert_int_equal(json_array_size(page), N);
    json_decref(page);

    /* Every record reads back exactly as it was put. */
    for (int i = 0; i < N; i++) {
        json_t *got = NULL;
        const char *id = json_string_value(json_object_get(want[i], "activationId"));
        assert_int_equal(store_activation_get(f->s, id, &got, &err), 0);
        assert_non_null(got);
        assert_true(json_equal(got, want[i]));
        json_decref(got);
        json_decref(want[i]);
    }
    json_t *list = NULL;
    assert_int_equal(store_activation_list(f->s, "consumer", 100, &list, &err), 0);
    assert_int_equal(json_array_size(list), N + 1);
    json_decref(list);
    store_trace_filter tf = {.outcome = -1, .retried = -1, .limit = 100, .oldest_first = true};
    bool more = false;
    assert_int_equal(store_trace_list(f->s, &tf, &list, &more, &err), 0);
    assert_int_equal(json_array_size(list), N);
    for (int i = 0; i < N; i++) {
        int64_t tid = atoll(json_string_value(json_object_get(json_array_get(list, i), "id")));
        json_t *tr = NULL;
        assert_int_equal(store_trace_get(f->s, tid, &tr, &err), 0);
        assert_non_null(tr);
        json_t *p = json_object_get(json_object_get(tr, "request"), "params");
        char sku[32];
        snprintf(sku, sizeof sku, "SKU-%d", i);
        assert_string_equal(json_string_value(json_object_get(json_object_get(p, "data"), "sku")),
                            sku);
        snprintf(sku, sizeof sku, "dry run: POST V1/products %d", i);
        json_t *r = json_object_get(json_object_get(json_object_get(tr, "response"), "body"),
                                    "response");
        assert_string_equal(json_string_value(json_object_get(r, "message")), sku);
        json_decref(tr);
    }
    json_decref(list);
}

/* A store of schema version 1 (activations with names and ids as text,
 * records as text) opens: its records are upgraded and read as before. */
static void test_schema_v1_upgrade(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *v1 =
        "DROP TABLE activations; DROP TABLE strings; DROP TABLE dedup;"
        "CREATE TABLE dedup(provider TEXT NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL,"
        "  position INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
        "  PRIMARY KEY(provider, key)) WITHOUT ROWID;"
        "CREATE INDEX dedup_created ON dedup(created_ms);"
        "CREATE TABLE activations("
        "  id TEXT PRIMARY KEY, name TEXT NOT NULL, action TEXT NOT NULL, namespace TEXT,"
        "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, body TEXT NOT NULL);"
        "CREATE INDEX activations_start ON activations(start_ms);"
        "CREATE INDEX activations_name ON activations(name, start_ms);"
        "CREATE INDEX activations_action ON activations(action, start_ms);"
        "INSERT INTO activations VALUES('0123456789abcdef0123456789abcdef', 'p/a', 'a', 'evkit',"
        "  5, 6, '{\"activationId\":\"0123456789abcdef0123456789abcdef\",\"logs\":[\"kept\"]}');"
        "INSERT INTO activations VALUES('old-2', 'q/a', 'a', NULL, 7, 8,"
        "  '{\"activationId\":\"old-2\"}');"
        /* Spans as version 2 kept them, as text. */
        "DROP TABLE spans;"
        "CREATE TABLE spans(trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT,"
        "  kind TEXT NOT NULL, ref TEXT NOT NULL, name TEXT NOT NULL, start_ms INTEGER NOT NULL,"
        "  end_ms INTEGER NOT NULL, ok INTEGER NOT NULL, status INTEGER NOT NULL);"
        "CREATE INDEX spans_trace ON spans(trace_id, start_ms);"
        "CREATE INDEX spans_end ON spans(end_ms);"
        "INSERT INTO spans VALUES('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', NULL,"
        "  'event', 'b7ef827c-96c0-41c2-90e7-3397274aa1b3', 'be-observer.x', 10, 10, 1, 0);"
        "INSERT INTO spans VALUES('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b8',"
        "  '00f067aa0ba902b7', 'activation', '0123456789abcdef0123456789abcdef', 'p/a', 11, 12,"
        "  1, 200);"
        /* Traces as versions 1 to 4 kept them. */
        "DROP TABLE traces;"
        "CREATE TABLE traces(id INTEGER PRIMARY KEY AUTOINCREMENT, registration TEXT NOT NULL,"
        "  event_id TEXT NOT NULL, event_type TEXT NOT NULL, delivery_id INTEGER NOT NULL,"
        "  attempt INTEGER NOT NULL, start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
        "  ok INTEGER NOT NULL, status INTEGER NOT NULL, retried INTEGER NOT NULL,"
        "  activation_id TEXT, error TEXT, request TEXT NOT NULL, response TEXT NOT NULL);"
        "CREATE INDEX traces_reg ON traces(registration, id);"
        "CREATE INDEX traces_reg_ok ON traces(registration, ok, id);"
        "CREATE INDEX traces_delivery ON traces(delivery_id, id);"
        "CREATE INDEX traces_start ON traces(start_ms);"
        "INSERT INTO traces VALUES(7, 'old-reg', 'ev-1', 'old.type', 3, 1, 100, 5, 0, 500, 1,"
        "  '0123456789abcdef0123456789abcdef', 'boom', '{\"params\":{}}', '{\"statusCode\":500}');"
        "PRAGMA user_version = 1;";
    rewrite_store(f, v1);

    assert_int_equal(store_open(f->dir, &f->s, &err), 0);
    assert_int_equal(db_int(f->dir, "PRAGMA user_version"), 9);
    json_t *tr = NULL;
    assert_int_equal(store_trace_get(f->s, 7, &tr, &err), 0);
    assert_non_null(tr);
    assert_string_equal(json_string_value(json_object_get(tr, "registration")), "old-reg");
    assert_string_equal(json_string_value(json_object_get(tr, "eventType")), "old.type");
    assert_string_equal(json_string_value(json_object_get(tr, "activationId")),
                        "0123456789abcdef0123456789abcdef");
    assert_string_equal(json_string_value(json_object_get(tr, "error")), "boom");
    assert_string_equal(json_string_value(json_object_get(tr, "eventId")), "ev-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(tr, "response"), "statusCode")),
                     500);
    json_decref(tr);
    store_trace_filter tf = {.registration = "old-reg", .outcome = 0, .retried = -1};
    json_t *tl = NULL;
    assert_int_equal(store_trace_list(f->s, &tf, &tl, NULL, &err), 0);
    assert_int_equal(json_array_size(tl), 1);
    json_decref(tl);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM sqlite_schema WHERE name = 'attempts'"), 0);
    json_t *spans = NULL;
    assert_int_equal(store_span_list(f->s, "4bf92f3577b34da6a3ce929d0e0e4736", &spans, &err), 0);
    assert_int_equal(json_array_size(spans), 2);
    json_t *sp0 = json_array_get(spans, 0), *sp1 = json_array_get(spans, 1);
    assert_string_equal(json_string_value(json_object_get(sp0, "ref")),
                        "b7ef827c-96c0-41c2-90e7-3397274aa1b3");
    assert_true(json_is_null(json_object_get(sp0, "parentSpanId")) ||
                !json_object_get(sp0, "parentSpanId"));
    assert_string_equal(json_string_value(json_object_get(sp1, "parentSpanId")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(sp1, "spanId")), "00f067aa0ba902b8");
    assert_string_equal(json_string_value(json_object_get(sp1, "ref")),
                        "0123456789abcdef0123456789abcdef");
    assert_string_equal(json_string_value(json_object_get(sp1, "kind")), "activation");
    assert_string_equal(json_string_value(json_object_get(sp1, "name")), "p/a");
    assert_int_equal(json_integer_value(json_object_get(sp1, "status")), 200);
    json_decref(spans);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM span_traces WHERE"
                                    " typeof(trace_id) = 'blob' AND length(trace_id) = 16"),
                     1);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM spans WHERE typeof(ref) = 'blob'"), 2);
    /* Retention works on the upgraded traces (and takes the spans along). */
    int64_t pruned = 0;
    assert_int_equal(store_trace_prune(f->s, 1000, 0, &pruned, &err), 0);
    assert_int_equal(pruned, 1);
    json_t *rec = NULL;
    assert_int_equal(store_activation_get(f->s, "0123456789abcdef0123456789abcdef", &rec, &err), 0);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "logs"), 0)), "kept");
    json_decref(rec);
    assert_int_equal(store_activation_get(f->s, "old-2", &rec, &err), 0);
    assert_non_null(rec);
    json_decref(rec);
    json_t *list = NULL;
    assert_int_equal(store_activation_list(f->s, "a", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    assert_int_equal(store_activation_list(f->s, "q/a", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    /* New records go beside them; a newer version's store is refused. */
    store_activation_put(f->s, activation("a-new", "p", "a", 9));
    store_flush(f->s);
    assert_int_equal(store_activation_list(f->s, "p/a", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    rewrite_store(f, "PRAGMA user_version = 99");
    assert_int_equal(store_open(f->dir, &f->s, &err), -1);
    assert_non_null(strstr(err.msg, "newer evkit"));
    rewrite_store(f, "PRAGMA user_version = 9");
    assert_int_equal(store_open(f->dir, &f->s, &err), 0);
}

/* A value compressed before version 7 (a whole zstd frame, its magic
 * number included) still reads. */
static void test_zip_old_frames(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *text = "{\"activationId\":\"old-frame\",\"logs\":[\"kept kept kept kept kept kept"
                       " kept kept kept kept kept kept kept kept kept kept kept kept kept\"]}";
    unsigned char frame[512];
    size_t n = ZSTD_compress(frame, sizeof frame, text, strlen(text), 1);
    assert_false(ZSTD_isError(n));
    assert_memory_equal(frame, "\x28\xb5\x2f\xfd", 4);
    char sql[2048];
    int w = snprintf(sql, sizeof sql,
                     "INSERT INTO activations(k, id, fn, act, dur_ms, body) VALUES(4096, 'old-frame',"
                     " 1, 1, 0, X'00");
    for (size_t i = 0; i < n; i++) w += snprintf(sql + w, sizeof sql - (size_t)w, "%02x", frame[i]);
    snprintf(sql + w, sizeof sql - (size_t)w, "')");
    rewrite_store(f, sql);
    assert_int_equal(store_open(f->dir, &f->s, &err), 0);
    json_t *rec = NULL;
    assert_int_equal(store_activation_get(f->s, "old-frame", &rec, &err), 0);
    assert_non_null(rec);
    json_t *want = json_loads(text, 0, NULL);
    assert_true(json_equal(rec, want));
    json_decref(want);
    json_decref(rec);
}

/* The spans of a trace, as "spanId:ref:start:end" joined by spaces. */
static char *span_summary(store_t *s, const char *trace_id)
{
    err_t err;
    json_t *spans = NULL;
    assert_int_equal(store_span_list(s, trace_id, &spans, &err), 0);
    buf_t b;
    buf_init(&b, 0);
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp) {
        buf_printf(&b, "%s%s:%s:%lld:%lld", i ? " " : "",
                   json_string_value(json_object_get(sp, "spanId")),
                   json_string_value(json_object_get(sp, "ref")),
                   (long long)json_integer_value(json_object_get(sp, "start")),
                   (long long)json_integer_value(json_object_get(sp, "end")));
        assert_string_equal(json_string_value(json_object_get(sp, "traceId")), trace_id);
    }
    json_decref(spans);
    char *out = xstrdup(b.data ? b.data : "");
    buf_free(&b);
    return out;
}

/* A store of schema version 5 (spans with their trace id on every row and
 * two indexes) opens: its spans keep their order and values, new spans
 * join their trace, and retention takes a trace whole. */
static void test_schema_v5_upgrade(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *v5 =
        "DROP TABLE spans; DROP TABLE span_traces; DROP TABLE activations;"
        /* Activations as versions 2 to 6 kept them: one with its id first
         * in the record (as the runtime writes it), as text. */
        "CREATE TABLE activations("
        "  id NOT NULL UNIQUE, fn INTEGER NOT NULL, act INTEGER NOT NULL, ns INTEGER,"
        "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, body NOT NULL);"
        "CREATE INDEX activations_start ON activations(start_ms);"
        "CREATE INDEX activations_fn ON activations(fn, start_ms);"
        "CREATE INDEX activations_act ON activations(act, start_ms);"
        "INSERT INTO strings(id, s) VALUES(903, 'p/a'), (904, 'a'), (905, 'q/a');"
        "INSERT INTO activations VALUES(X'0123456789abcdef0123456789abcdef', 903, 904, NULL, 50,"
        "  60, '{\"activationId\":\"0123456789abcdef0123456789abcdef\",\"n\":1}');"
        "INSERT INTO activations VALUES('text-id', 905, 904, NULL, 50, 2000,"
        "  '{\"activationId\":\"text-id\",\"n\":2}');"
        "INSERT INTO activations VALUES('neg', 905, 904, NULL, -5, 0, '{\"n\":3}');"
        "INSERT INTO activations VALUES('early', 903, 904, NULL, 40, 45, '{\"n\":4}');"
        "CREATE TABLE spans(trace_id NOT NULL, span_id NOT NULL, parent_id, kind INTEGER NOT NULL,"
        "  ref NOT NULL, name INTEGER NOT NULL, start_ms INTEGER NOT NULL,"
        "  end_ms INTEGER NOT NULL, ok INTEGER NOT NULL, status INTEGER NOT NULL);"
        "CREATE INDEX spans_trace ON spans(trace_id, start_ms);"
        "CREATE INDEX spans_end ON spans(end_ms);"
        "INSERT INTO strings(id, s) VALUES(901, 'event'), (902, 'be-observer.x');"
        /* Two traces interleaved; equal starts keep the order of writing. */
        "INSERT INTO spans VALUES(X'4bf92f3577b34da6a3ce929d0e0e4736', X'00000000000000a1', NULL,"
        "  901, 'b7ef827c-96c0-41c2-90e7-3397274aa1b3', 902, 100, 105, 1, 0);"
        "INSERT INTO spans VALUES(X'0af7651916cd43dd8448eb211c80319c', X'00000000000000b1', NULL,"
        "  901, X'0123456789abcdef0123456789abcdef01', 902, 5000, 5001, 1, 200);"
        "INSERT INTO spans VALUES(X'4bf92f3577b34da6a3ce929d0e0e4736', X'00000000000000a2',"
        "  X'00000000000000a1', 901, X'1001', 902, 90, 120, 0, 500);"
        "INSERT INTO spans VALUES(X'4bf92f3577b34da6a3ce929d0e0e4736', X'00000000000000a3',"
        "  X'00000000000000a1', 901, 'Not-Hex', 902, 100, 101, 1, 0);"
        "INSERT INTO spans VALUES(X'0af7651916cd43dd8448eb211c80319c', X'00000000000000b2', NULL,"
        "  901, X'1002', 902, 10, 20, 1, 0);"
        /* A trace of version 5: the event id as text, a 34-digit
         * activation id packed in 17 bytes (ending as a packed UUID does). */
        "INSERT INTO traces(id, reg, event_id, etype, delivery_id, attempt, start_ms, duration_ms,"
        "  ok, status, retried, activation_id, error, request, response) VALUES(3, 902,"
        "  'b7ef827c-96c0-41c2-90e7-3397274aa1b3', 902, 1, 1, 100, 5, 1, 200, 0,"
        "  X'0123456789abcdef0123456789abcdef75', NULL, '{}', '{}');"
        /* Idempotency keys as versions 1 to 7 kept them: one live, one
         * expired (housekeeping at open removes it). */
        "DROP TABLE dedup;"
        "CREATE TABLE dedup(provider TEXT NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL,"
        "  position INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
        "  PRIMARY KEY(provider, key)) WITHOUT ROWID;"
        "CREATE INDEX dedup_created ON dedup(created_ms);"
        "INSERT INTO dedup VALUES('p1', 'k1', 'b7ef827c-96c0-41c2-90e7-3397274aa1b3', 77,"
        "  CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));"
        "INSERT INTO dedup VALUES('p1', 'k2', 'c7ef827c-96c0-41c2-90e7-3397274aa1b3', 78, 1000);"
        /* An event as versions 1 to 7 kept it, its id as text. */
        "INSERT INTO events(id, provider, type, time_ms, body) VALUES("
        "  'd7ef827c-96c0-41c2-90e7-3397274aa1b3', 'p1', 't', 5,"
        "  '{\"id\":\"d7ef827c-96c0-41c2-90e7-3397274aa1b3\",\"n\":7}');"
        "PRAGMA user_version = 5;";
    rewrite_store(f, v5);

    assert_int_equal(store_open(f->dir, &f->s, &err), 0);
    assert_int_equal(db_int(f->dir, "PRAGMA user_version"), 9);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM span_traces"), 2);
    json_t *tr = NULL;
    assert_int_equal(store_trace_get(f->s, 3, &tr, &err), 0);
    assert_non_null(tr);
    assert_string_equal(json_string_value(json_object_get(tr, "eventId")),
                        "b7ef827c-96c0-41c2-90e7-3397274aa1b3");
    assert_string_equal(json_string_value(json_object_get(tr, "activationId")),
                        "0123456789abcdef0123456789abcdef75");
    json_decref(tr);
    assert_int_equal(db_int(f->dir, "SELECT length(event_id) FROM traces WHERE id = 3"), 17);

    /* An event id of before is found as text, a new one is packed. */
    json_t *ev = NULL;
    assert_int_equal(store_event_get(f->s, "d7ef827c-96c0-41c2-90e7-3397274aa1b3", &ev, &err), 0);
    assert_non_null(ev);
    assert_int_equal(json_integer_value(json_object_get(ev, "n")), 7);
    json_decref(ev);
    assert_int_equal(store_event_detail(f->s, "d7ef827c-96c0-41c2-90e7-3397274aa1b3", &ev, &err),
                     0);
    assert_non_null(ev);
    json_decref(ev);
    store_append_result nev = append(f->s, "p1", "t", "S", 1, NULL, NULL, NULL);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM events WHERE typeof(id) = 'blob'"
                                    " AND length(id) = 17"),
                     1);
    assert_int_equal(store_event_get(f->s, nev.id, &ev, &err), 0);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "id")), nev.id);
    json_decref(ev);
    assert_int_equal(store_event_detail(f->s, nev.id, &ev, &err), 0);
    assert_non_null(ev);
    json_decref(ev);
    /* The live key still finds its event; the expired one is pruned. */
    store_append_result dup = append(f->s, "p1", "t", "S", 1, "k1", NULL, NULL);
    assert_true(dup.duplicate);
    assert_string_equal(dup.id, "b7ef827c-96c0-41c2-90e7-3397274aa1b3");
    assert_int_equal(dup.position, 77);
    for (int i = 0; i < 100 && db_int(f->dir, "SELECT count(*) FROM dedup WHERE position = 78");
         i++)
        usleep(50000);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM dedup WHERE position = 78"), 0);
    store_append_result fresh = append(f->s, "p1", "t", "S", 1, "k2", NULL, NULL);
    assert_false(fresh.duplicate);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                    " 'dedup_created'"), 0);
    /* Activations: newest start first, equal starts newest written first. */
    json_t *list = NULL;
    assert_int_equal(store_activation_list(f->s, NULL, 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 4);
    int want_n[] = {2, 1, 4, 3};
    for (int i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(list, i), "n")),
                         want_n[i]);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 1), "activationId")),
        "0123456789abcdef0123456789abcdef");
    json_decref(list);
    assert_int_equal(store_activation_list(f->s, "p/a", 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    assert_int_equal(store_activation_query(f->s, "a", 45, 50, 0, 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    json_t *rec = NULL;
    assert_int_equal(store_activation_get(f->s, "text-id", &rec, &err), 0);
    assert_non_null(rec);
    assert_int_equal(json_integer_value(json_object_get(rec, "n")), 2);
    json_decref(rec);
    /* A new record starting at 50 goes after the two of its millisecond;
     * stored without its id, it reads back whole. */
    json_t *a50 = json_pack("{s:s, s:s, s:s, s:I, s:I, s:[s]}", "activationId",
                            "fedcba9876543210fedcba9876543210", "name", "a", "package", "p",
                            "start", (json_int_t)50, "end", (json_int_t)70, "logs", "kept");
    store_activation_put(f->s, json_incref(a50));
    store_flush(f->s);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM activations"
                                    " WHERE k = (50 - 1767225600000) * 1024 + 2"),
                     1);
    assert_int_equal(store_activation_get(f->s, "fedcba9876543210fedcba9876543210", &rec, &err),
                     0);
    assert_true(json_equal(rec, a50));
    json_decref(rec);
    json_decref(a50);
    assert_int_equal(store_activation_list(f->s, "a", 1, &list, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 0), "activationId")),
        "fedcba9876543210fedcba9876543210");
    json_decref(list);
    int64_t gone = 0;
    /* A start of late 2026 keys within 6 bytes (below 2^47) in each index. */
    store_activation_put(f->s, json_pack("{s:s, s:s, s:s, s:I, s:I}", "activationId",
                                         "abcdef0123456789abcdef0123456789", "name", "a",
                                         "package", "p", "start", (json_int_t)1796611792326,
                                         "end", (json_int_t)1796611792339));
    store_flush(f->s);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM activations WHERE k >= 0"
                                    " AND k < 140737488355328"),
                     1);
    assert_int_equal(store_activation_query(f->s, "p/a", 1796611792326, 1796611792326, 0, 10,
                                            &list, &err),
                     0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    /* Retention: what ended before 100 goes (not text-id, which ran on). */
    assert_int_equal(store_activation_prune(f->s, 100, &gone, &err), 0);
    assert_int_equal(gone, 4);
    assert_int_equal(store_activation_list(f->s, NULL, 10, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "n")), 2);
    json_decref(list);
    /* The late 2026 record ended at ...339: kept at that cutoff, gone after. */
    assert_int_equal(store_activation_prune(f->s, 1796611792339, &gone, &err), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(store_activation_prune(f->s, 1796611792340, &gone, &err), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                    " ('spans_trace', 'spans_end')"), 0);
    char *a = span_summary(f->s, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(a, "00000000000000a2:1001:90:120"
                           " 00000000000000a1:b7ef827c-96c0-41c2-90e7-3397274aa1b3:100:105"
                           " 00000000000000a3:Not-Hex:100:101");
    free(a);
    /* 34 digits were 17 bytes before version 6, the length of a packed
     * UUID now: they read back as the same digits. */
    char *b = span_summary(f->s, "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(b, "00000000000000b2:1002:10:20"
                           " 00000000000000b1:0123456789abcdef0123456789abcdef01:5000:5001");
    free(b);

    /* A new span joins its upgraded trace, after the spans starting with it. */
    store_span sp = {.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .span_id = "00000000000000a4",
                     .kind = "event", .ref = "c0ffee00-96c0-41c2-90e7-3397274aa1b3",
                     .name = "be-observer.x", .start_ms = 100, .end_ms = 130, .ok = true};
    store_span_put(f->s, &sp);
    store_flush(f->s);
    a = span_summary(f->s, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(a, "00000000000000a2:1001:90:120"
                           " 00000000000000a1:b7ef827c-96c0-41c2-90e7-3397274aa1b3:100:105"
                           " 00000000000000a3:Not-Hex:100:101"
                           " 00000000000000a4:c0ffee00-96c0-41c2-90e7-3397274aa1b3:100:130");
    free(a);

    /* Retention: the first trace ended at 130, the second at 5001 (one of
     * its spans ended at 20): a cutoff of 1000 takes the first whole and
     * keeps the second whole. */
    int64_t pruned = 0;
    assert_int_equal(store_trace_prune(f->s, 1000, 0, &pruned, &err), 0);
    a = span_summary(f->s, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(a, "");
    free(a);
    b = span_summary(f->s, "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(b, "00000000000000b2:1002:10:20"
                           " 00000000000000b1:0123456789abcdef0123456789abcdef01:5000:5001");
    free(b);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM span_traces"), 1);
    assert_int_equal(store_trace_prune(f->s, 6000, 0, &pruned, &err), 0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM spans"), 0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM span_traces"), 0);
}

/* ---- action state ---- */

static void test_state(void **state)
{
    fixture *f = *state;
    err_t err;
    assert_true(store_state_key_valid("fp.product-1_A"));
    assert_false(store_state_key_valid(""));
    assert_false(store_state_key_valid("a b"));
    assert_false(store_state_key_valid("a/b"));
    assert_false(store_state_key_valid(NULL));
    char longkey[1026];
    memset(longkey, 'k', 1025);
    longkey[1025] = '\0';
    assert_false(store_state_key_valid(longkey));
    longkey[1024] = '\0';
    assert_true(store_state_key_valid(longkey));

    json_t *v = json_pack("{s:s, s:i}", "fp", "abc", "n", 1);
    assert_int_equal(store_state_put(f->s, "k1", v, 0, &err), 0);
    json_t *got = NULL;
    assert_int_equal(store_state_get(f->s, "k1", &got, &err), 0);
    assert_true(json_equal(got, v));
    json_decref(got);
    json_decref(v);
    /* Scalars are values too; a put replaces. */
    json_t *str = json_string("x");
    assert_int_equal(store_state_put(f->s, "k1", str, 0, &err), 0);
    json_decref(str);
    assert_int_equal(store_state_get(f->s, "k1", &got, &err), 0);
    assert_string_equal(json_string_value(got), "x");
    json_decref(got);

    json_t *t = json_true();
    assert_int_equal(store_state_put(f->s, "ttl", t, 300, &err), 0);
    assert_int_equal(store_state_get(f->s, "ttl", &got, &err), 0);
    assert_true(json_is_true(got));
    json_decref(got);
    sleep_ms(400);
    assert_int_equal(store_state_get(f->s, "ttl", &got, &err), 0);
    assert_null(got);
    bool existed = true;
    assert_int_equal(store_state_delete(f->s, "ttl", &existed, &err), 0);
    assert_false(existed);

    assert_int_equal(store_state_delete(f->s, "k1", &existed, &err), 0);
    assert_true(existed);
    assert_int_equal(store_state_get(f->s, "k1", &got, &err), 0);
    assert_null(got);
    assert_int_equal(store_state_delete(f->s, "k1", &existed, &err), 0);
    assert_false(existed);

    assert_int_equal(store_state_put(f->s, "bad key", t, 0, &err), -1);
    assert_non_null(strstr(err.msg, "key"));
    assert_int_equal(store_state_get(f->s, "bad/key", &got, &err), -1);
    assert_int_equal(store_state_delete(f->s, "", &existed, &err), -1);
}

/* ---- the work signal ---- */

static void *late_append(void *p)
{
    sleep_ms(50);
    append(p, "commerce", "t", "S", 1, NULL, REG_A, NULL);
    return NULL;
}

static void test_wait_work(void **state)
{
    fixture *f = *state;
    int64_t t0 = mono_ms();
    store_wait_work(f->s, now_ms() + 60);
    assert_true(mono_ms() - t0 >= 50);

    /* An empty claim, then work arrives: the wait ends at once. */
    store_delivery *d = NULL;
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_append, f->s), 0);
    t0 = mono_ms();
    store_wait_work(f->s, now_ms() + 10000);
    assert_true(mono_ms() - t0 < 5000);
    pthread_join(th, NULL);
    /* Work that arrived between the claim and the wait is not lost. */
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    free_claims(d, n);
    append(f->s, "commerce", "t", "S", 2, NULL, REG_A, NULL);
    t0 = mono_ms();
    store_wait_work(f->s, now_ms() + 10000);
    assert_true(mono_ms() - t0 < 1000);

    store_kick(f->s);
    t0 = mono_ms();
    store_wait_work(f->s, now_ms() + 30);
    assert_true(mono_ms() - t0 < 1000);
}

/* ---- claims that wait for work ---- */

/* Something another thread does after a short pause. */
typedef struct later_arg {
    store_t *s;
    int what;        /* 0 append (order key k), 1 finish id done, 2 kick */
    int n;
    int64_t id;
} later_arg;

static void *later(void *p)
{
    later_arg *a = p;
    sleep_ms(50);
    if (a->what == 0) append(a->s, "commerce", "t", "K", a->n, NULL, REG_A, "k");
    else if (a->what == 1) finish(a->s, a->id, DELIVERY_DONE, 0, 200, NULL);
    else store_kick(a->s);
    return NULL;
}

/* store_claim_wait with until ms from now, while th does a; returns n. */
static size_t claim_wait_during(store_t *s, later_arg *a, int64_t until, store_delivery **d,
                                int64_t *took_ms)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, later, a), 0);
    size_t n = 0;
    err_t err;
    int64_t t0 = mono_ms();
    assert_int_equal(store_claim_wait(s, 10, 60000, NULL, 0, now_ms() + until, d, &n, &err), 0);
    *took_ms = mono_ms() - t0;
    pthread_join(th, NULL);
    return n;
}

static void test_claim_wait(void **state)
{
    fixture *f = *state;
    store_delivery *d = NULL;
    size_t n = 0;
    err_t err;
    int64_t t0 = mono_ms(), took;
    assert_int_equal(store_claim_wait(f->s, 10, 60000, NULL, 0, now_ms() + 60, &d, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_true(mono_ms() - t0 >= 50);

    /* An event appended while the claim waits is claimed in its own
     * commit: no commit of the claim's after it (the provider exists). */
    append(f->s, "commerce", "t", "P", 0, NULL, NULL, NULL);
    store_stats before, after;
    store_stats_get(f->s, &before);
    later_arg a = {.s = f->s, .what = 0, .n = 1};
    n = claim_wait_during(f->s, &a, 10000, &d, &took);
    store_stats_get(f->s, &after);
    assert_int_equal(n, 1);
    assert_true(took < 5000);
    assert_true(after.commits - before.commits <= 2);
    int64_t first = d[0].id;
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d[0].event, "data"), "n")), 1);
    free_claims(d, n);
    assert_int_equal(claim(f->s, 10, 60000, &d), 0); /* it is running */

    /* The next event of the same key waits for the first to end (its
     * commit may end the wait, with nothing claimed)... */
    a.n = 2;
    n = claim_wait_during(f->s, &a, 300, &d, &took);
    assert_int_equal(n, 0);
    assert_int_equal(store_claim_wait(f->s, 10, 60000, NULL, 0, now_ms() + 100, &d, &n, &err), 0);
    assert_int_equal(n, 0);
    /* ...and is claimed in the commit of that end. */
    a = (later_arg){.s = f->s, .what = 1, .id = first};
    n = claim_wait_during(f->s, &a, 10000, &d, &took);
    assert_int_equal(n, 1);
    assert_true(took < 5000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d[0].event, "data"), "n")), 2);
    int64_t second = d[0].id;
    free_claims(d, n);

    /* A retry is claimed when due, not at the deadline. */
    finish(f->s, second, DELIVERY_RETRY, now_ms() + 200, 500, "later");
    t0 = mono_ms();
    assert_int_equal(store_claim_wait(f->s, 10, 300, NULL, 0, now_ms() + 10000, &d, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, second);
    assert_true(mono_ms() - t0 < 5000);
    free_claims(d, n);

    /* Claimed by a process that died (its lease of 300 ms runs out): it
     * goes again. */
    t0 = mono_ms();
    assert_int_equal(store_claim_wait(f->s, 10, 60000, NULL, 0, now_ms() + 10000, &d, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, second);
    assert_int_equal(d[0].attempt, 3);
    assert_true(mono_ms() - t0 >= 200 && mono_ms() - t0 < 5000);
    free_claims(d, n);

    /* store_kick ends the wait. */
    a = (later_arg){.s = f->s, .what = 2};
    n = claim_wait_during(f->s, &a, 10000, &d, &took);
    assert_int_equal(n, 0);
    assert_true(took < 5000);
}

/* A claim that waits for a retry due in a few ms stands until then; when
 * the deadline passes after its run but before its batch ends (another
 * thread keeps the writer busy), it must answer when the batch ends:
 * nobody is left to withdraw it once it stands. A watchdog kicks a claim
 * that waited 2 s and counts it. */
typedef struct claim_watch {
    store_t *s;
    _Atomic int64_t started; /* mono ms of the claim under way, 0: none */
    _Atomic int kicked;
    _Atomic bool stop;
} claim_watch;

static void *claim_watchdog(void *p)
{
    claim_watch *w = p;
    while (!w->stop) {
        sleep_ms(20);
        int64_t st = w->started;
        if (st && mono_ms() - st > 2000) {
            w->kicked++;
            w->started = 0;
            store_kick(w->s);
        }
    }
    return NULL;
}

static void *busy_writer(void *p)
{
    claim_watch *w = p;
    json_t *v = json_string("busy");
    for (int i = 0; !w->stop; i++) {
        err_t err;
        char key[32];
        snprintf(key, sizeof key, "busy.%d", i % 16);
        assert_int_equal(store_state_put(w->s, key, v, 60000, &err), 0);
    }
    json_decref(v);
    return NULL;
}

static void test_claim_wait_deadline_in_writer(void **state)
{
    fixture *f = *state;
    append(f->s, "commerce", "t", "R", 1, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    assert_int_equal(claim(f->s, 10, 60000, &d), 1);
    int64_t id = d[0].id;
    free_claims(d, 1);
    claim_watch w = {.s = f->s};
    pthread_t th, busy;
    assert_int_equal(pthread_create(&th, NULL, claim_watchdog, &w), 0);
    assert_int_equal(pthread_create(&busy, NULL, busy_writer, &w), 0);
    int got = 0;
    for (int i = 0; i < 200 && !w.kicked; i++) {
        finish(f->s, id, DELIVERY_RETRY, now_ms() + 1 + i % 4, 500, "again");
        size_t n = 0;
        err_t err;
        w.started = mono_ms();
        /* Work committed meanwhile may end a wait with nothing claimed. */
        do {
            assert_int_equal(store_claim_wait(f->s, 10, 60000, NULL, 0, now_ms() + 10000, &d, &n,
                                              &err), 0);
        } while (n == 0 && !w.kicked);
        w.started = 0;
        got += (int)n;
        if (n) assert_int_equal(d[0].id, id);
        free_claims(d, n);
    }
    w.stop = true;
    pthread_join(th, NULL);
    pthread_join(busy, NULL);
    assert_int_equal(w.kicked, 0);
    assert_int_equal(got, 200);
}

/* ---- persistence ---- */

static void test_reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    err_t err;
    store_append_result r = append(f->s, "commerce", "t", "S", 1, NULL, REG_A, "k");
    const char *regd[] = {"reg-d", NULL};
    assert_int_equal(store_reg_set_state(f->s, "reg-d", REG_DISABLED, &err), 0);
    append(f->s, "commerce", "t", "S", 2, NULL, regd, NULL);
    json_t *v = json_integer(42);
    assert_int_equal(store_state_put(f->s, "answer", v, 3600000, &err), 0);
    json_decref(v);
    store_activation_put(f->s, activation("act-1", "p", "a", 5));
    /* No flush: close must write the queued record. */
    reopen(f);

    json_t *got = NULL;
    assert_int_equal(store_event_get(f->s, r.id, &got, &err), 0);
    assert_non_null(got);
    json_decref(got);
    assert_int_equal(store_state_get(f->s, "answer", &got, &err), 0);
    assert_int_equal(json_integer_value(got), 42);
    json_decref(got);
    assert_int_equal(store_activation_get(f->s, "act-1", &got, &err), 0);
    assert_non_null(got);
    json_decref(got);
    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-d", &info, &err), 0);
    assert_int_equal(info.state, REG_DISABLED);
    assert_int_equal(info.parked, 1);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].position, r.position);
    assert_string_equal(d[0].order_key, "k");
    free_claims(d, n);
    /* Positions continue after the old ones. */
    store_append_result r2 = append(f->s, "commerce", "t", "S", 3, NULL, NULL, NULL);
    assert_true(r2.position > r.position + 1);
}

/* ---- the delivery rollup and triggers (store_flows.c) ---- */

static json_t *rollup(store_t *s, const char *reg, size_t want_rows)
{
    json_t *rows = NULL;
    err_t err;
    assert_int_equal(store_rollup_read(s, reg, now_ms() - 3600000, &rows, &err), 0);
    assert_int_equal(json_array_size(rows), want_rows);
    return rows;
}

static int64_t field(const json_t *row, const char *k)
{
    return json_integer_value(json_object_get(row, k));
}

static void test_rollup(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *regs[] = {"reg-a", "reg-b", NULL};
    append(f->s, "commerce", "t", "S", 1, NULL, regs, NULL);
    append(f->s, "commerce", "t", "S", 2, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 3);
    int64_t t = now_ms();
    for (size_t i = 0; i < n; i++) {
        bool a = !strcmp(d[i].registration, "reg-a");
        /* reg-a: a success in 30 ms, then a retry taking 600 ms; reg-b: dead after 70 s. */
        store_attempt at = {.delivery_id = d[i].id, .ended_ms = t,
                            .started_ms = t - (a ? (d[i].position == 1 ? 30 : 600) : 70000),
                            .status_code = a ? 200 : 400,
                            .outcome = a ? (d[i].position == 1 ? DELIVERY_DONE : DELIVERY_RETRY)
                                         : DELIVERY_FAILED,
                            .next_due_ms = t + 3600000};
        if (at.outcome == DELIVERY_RETRY) at.status_code = 503;
        assert_int_equal(store_finish(f->s, &at, &err), 0);
    }
    free_claims(d, n);
    /* One pending delivery (the retry) is reg-a's backlog. */
    assert_int_equal(store_rollup_sample(f->s, t, 86400000, &err), 0);
    json_t *a = rollup(f->s, "reg-a", 1), *b = rollup(f->s, "reg-b", 1), *all = rollup(f->s, NULL, 1);
    const json_t *ra = json_array_get(a, 0), *rb = json_array_get(b, 0), *rs = json_array_get(all, 0);
    assert_int_equal(field(ra, "success"), 1);
    assert_int_equal(field(ra, "retry"), 1);
    assert_int_equal(field(ra, "dead"), 0);
    assert_int_equal(field(ra, "backlog"), 1);
    assert_int_equal(field(rb, "dead"), 1);
    assert_int_equal(field(rb, "backlog"), 0);
    assert_int_equal(field(rs, "success") + field(rs, "retry") + field(rs, "dead"), 3);
    assert_int_equal(field(rs, "minute") % 60000, 0);
    /* Durations in their buckets: 30 ms in (25, 50], 600 ms in (500, 1000], 70 s past 60 s. */
    const json_t *la = json_object_get(ra, "latency"), *lb = json_object_get(rb, "latency");
    assert_int_equal(json_array_size(la), STORE_LATENCY_BUCKETS);
    assert_int_equal(STORE_LATENCY_BOUNDS[2], 50);
    assert_int_equal(json_integer_value(json_array_get(la, 2)), 1);
    assert_int_equal(json_integer_value(json_array_get(la, 6)), 1);
    assert_int_equal(json_integer_value(json_array_get(lb, STORE_LATENCY_BUCKETS - 1)), 1);
    json_decref(a);
    json_decref(b);
    json_decref(all);
    /* Minutes past keep_ms are dropped by the next sample. */
    assert_int_equal(store_rollup_sample(f->s, now_ms() + 7200000, 3600000, &err), 0);
    json_t *rows = NULL;
    assert_int_equal(store_rollup_read(f->s, NULL, 0, &rows, &err), 0);
    for (size_t i = 0; i < json_array_size(rows); i++)
        assert_true(field(json_array_get(rows, i), "minute") >= now_ms() + 3000000);
    json_decref(rows);
}

/* store_finish_batch: one write for many attempts sums each registration's
 * minute once, skips a delivery that is gone, and leaves what n single
 * finishes would: states, health counts, last error, rollup. */
static void test_finish_batch(void **state)
{
    fixture *f = *state;
    err_t err;
    const char *regs[] = {"reg-a", "reg-b", NULL};
    append(f->s, "commerce", "t", "S", 1, NULL, regs, NULL);
    append(f->s, "commerce", "t", "S", 2, NULL, REG_A, NULL);
    append(f->s, "commerce", "t", "S", 3, NULL, REG_A, NULL);
    store_delivery *d = NULL;
    size_t n = claim(f->s, 10, 60000, &d);
    assert_int_equal(n, 4);
    int64_t t = now_ms();
    store_attempt at[5];
    for (size_t i = 0; i < n; i++) {
        bool a = !strcmp(d[i].registration, "reg-a");
        at[i] = (store_attempt){.delivery_id = d[i].id, .started_ms = t - 30, .ended_ms = t,
                                .status_code = 200, .outcome = DELIVERY_DONE};
        if (!a) {
            at[i].outcome = DELIVERY_FAILED;
            at[i].status_code = 400;
            at[i].error = "rejected";
        } else if (d[i].position == 2) {
            at[i].outcome = DELIVERY_RETRY;
            at[i].status_code = 503;
            at[i].next_due_ms = t + 3600000;
        }
    }
    at[4] = (store_attempt){.delivery_id = 999999, .outcome = DELIVERY_DONE, .ended_ms = t};
    size_t recorded = 0;
    assert_int_equal(store_finish_batch(f->s, at, 5, &recorded, &err), 0);
    assert_int_equal(recorded, 4);
    free_claims(d, n);

    store_reg_info info;
    assert_int_equal(store_reg_info_get(f->s, "reg-a", &info, &err), 0);
    assert_int_equal(info.attempts_24h, 3);
    assert_int_equal(info.failures_24h, 1);
    assert_int_equal(info.backlog, 1);          /* the retry, due in an hour */
    assert_string_equal(info.last_error, "status 503");
    assert_int_equal(info.last_attempt_ms, t);
    assert_int_equal(store_reg_info_get(f->s, "reg-b", &info, &err), 0);
    assert_int_equal(info.attempts_24h, 1);
    assert_int_equal(info.failures_24h, 1);
    assert_int_equal(info.dead, 1);
    assert_string_equal(info.last_error, "rejected");
    json_t *a = rollup(f->s, "reg-a", 1), *b = rollup(f->s, "reg-b", 1);
    const json_t *ra = json_array_get(a, 0), *rb = json_array_get(b, 0);
    assert_int_equal(field(ra, "success"), 2);
    assert_int_equal(field(ra, "retry"), 1);
    assert_int_equal(field(rb, "dead"), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(ra, "latency"), 2)), 3);
    json_decref(a);
    json_decref(b);
    /* Nothing is claimable now: the done and failed ones are over, the retry not due. */
    assert_int_equal(claim(f->s, 10, 60000, &d), 0);
    free_claims(d, 0);
    /* An empty batch writes nothing. */
    assert_int_equal(store_finish_batch(f->s, at, 0, &recorded, &err), 0);
    assert_int_equal(recorded, 0);
}

static void test_trigger_claims(void **state)
{
    fixture *f = *state;
    err_t err;
    store_trigger_rec r;
    assert_int_equal(store_trigger_get(f->s, "tick", 1000, &r, &err), 0);
    assert_int_equal(r.since_ms, 1000);
    assert_int_equal(r.last_ms, 0);
    assert_false(r.pending);
    /* A second look keeps when it was first seen. */
    assert_int_equal(store_trigger_get(f->s, "tick", 5000, &r, &err), 0);
    assert_int_equal(r.since_ms, 1000);
    bool claimed = false;
    assert_int_equal(store_trigger_claim(f->s, "tick", 60000, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &claimed, &err), 0);
    assert_true(claimed);
    /* The same slot, or an earlier one, is never claimed twice. */
    assert_int_equal(store_trigger_claim(f->s, "tick", 60000, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", &claimed, &err), 0);
    assert_false(claimed);
    assert_int_equal(store_trigger_claim(f->s, "tick", 30000, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", &claimed, &err), 0);
    assert_false(claimed);
    assert_int_equal(store_trigger_get(f->s, "tick", 9, &r, &err), 0);
    assert_int_equal(r.last_ms, 60000);
    assert_string_equal(r.last_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_true(r.pending);
    /* Across a reopen: still claimed and pending until done. */
    reopen(f);
    assert_int_equal(store_trigger_get(f->s, "tick", 9, &r, &err), 0);
    assert_true(r.pending);
    assert_int_equal(store_trigger_done(f->s, "tick", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &err), 0);
    assert_int_equal(store_trigger_get(f->s, "tick", 9, &r, &err), 0);
    assert_false(r.pending);
    assert_int_equal(store_trigger_claim(f->s, "tick", 120000, "cccccccccccccccccccccccccccccccc", &claimed, &err), 0);
    assert_true(claimed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_batch, setup, teardown),
        cmocka_unit_test(test_cloudevent_text),
        cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_finish_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_parks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_window_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undeliverable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadletters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_range_and_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_v1_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_v5_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip_old_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_wait_deadline_in_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_caches_other_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_op_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compress_on_caller, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
