/* nats_dead: dead letters on JetStream: kept in EVKIT_DEAD (subject by
 * registration, id = their sequence there), listed newest first, replayed
 * as new deliveries from attempt 1 and then removed. */
#include "store/nats/nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dead_subject(const char *registration)
{
    char *subject = js_token_in("evkit.dead.", registration, "");
    return subject;
}

/* The dead letter at seq (NULL when gone). */
static int dead_at(js_t *j, uint64_t seq, json_t **rec, char **subject, err_t *err)
{
    *rec = NULL;
    natsMsg *m = NULL;
    int found = js_msg_at(j, JS_DEAD, seq, "cannot read dead letters", &m, err);
    if (found <= 0) return found;
    json_error_t je;
    *rec = json_load_kept(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je);
    if (subject) *subject = xstrdup(natsMsg_GetSubject(m));
    natsMsg_Destroy(m);
    return 0;
}

static json_t *dead_summary(uint64_t seq, const json_t *rec)
{
    /* The delivery's id, as it had while waiting and will have replayed. */
    json_int_t id = json_integer_value(json_object_get(rec, "delivery_id"));
    if (id <= 0) id = (json_int_t)seq;
    const json_t *ev = json_object_get(rec, "event");
    return json_pack("{s:I, s:O, s:s?, s:s?, s:O, s:O, s:O, s:O, s:O, s:O}", "id", id,
                     "registration", json_object_get(rec, "registration"), "event_id",
                     json_string_value(json_object_get(ev, "id")), "type",
                     json_string_value(json_object_get(ev, "type")), "attempts",
                     json_object_get(rec, "attempts"), "reason", json_object_get(rec, "reason"),
                     "last_status", json_object_get(rec, "last_status"), "last_error",
                     json_object_get(rec, "last_error") ? json_object_get(rec, "last_error")
                                                        : json_null(),
                     "first_attempt", json_object_get(rec, "first_attempt"), "last_attempt",
                     json_object_get(rec, "last_attempt"));
}

static int dead_bounds(js_t *j, uint64_t *first, uint64_t *last, err_t *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, j->js, JS_DEAD, NULL, &jerr);
    if (s != NATS_OK) return js_fail(err, s, JS_DEAD);
    *first = si->State.FirstSeq;
    *last = si->State.LastSeq;
    bool empty = si->State.Msgs == 0;
    jsStreamInfo_Destroy(si);
    if (empty) *first = *last + 1;
    return 0;
}

int js_deadletter_list(store_t *s, const char *registration, int limit, json_t **out,
                       err_t *err)
{
    js_t *j = JS(s);
    *out = NULL;
    if (limit <= 0) limit = 100;
    uint64_t first, last;
    if (dead_bounds(j, &first, &last, err) < 0) return -1;
    char *want = registration ? dead_subject(registration) : NULL;
    json_t *arr = json_array();
    for (uint64_t seq = last; seq >= first && seq > 0 && (int)json_array_size(arr) < limit; seq--) {
        json_t *rec = NULL;
        char *subject = NULL;
        if (dead_at(j, seq, &rec, &subject, err) < 0) {
            json_decref(arr);
            free(want);
            return -1;
        }
        if (rec && (!want || (subject && !strcmp(subject, want))))
            json_array_append_new(arr, dead_summary(seq, rec));
        json_decref(rec);
        free(subject);
    }
    free(want);
    *out = arr;
    return 0;
}

/* Publishes dead letter seq as a new delivery, then removes it. */
static int replay_one(js_t *j, uint64_t seq, const json_t *rec, err_t *err)
{
    const char *reg = json_string_value(json_object_get(rec, "registration"));
    const json_t *ev = json_object_get(rec, "event");
    if (!reg || !ev) return err_code(err, EVK_INTERNAL, "dead letter %llu is damaged",
                                     (unsigned long long)seq);
    if (js_publish_delivery(j, reg, json_string_value(json_object_get(rec, "order_key")), ev,
                            json_integer_value(json_object_get(rec, "position")), NULL,
                            json_integer_value(json_object_get(rec, "delivery_id")), err) < 0)
        return -1;
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(j->js, JS_DEAD, seq, NULL, &jerr);
    /* Gone already: another node replayed it at the same time (a second
     * delivery at worst, which at-least-once allows). */
    if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr)
        return js_fail(err, s, "cannot remove the replayed dead letter");
    return 0;
}

/* Every dead letter of registration (NULL: all) present now, oldest first. */
static int replay_scan(js_t *j, const char *registration, store_progress_fn progress, void *ud,
                       int *count, err_t *err)
{
    uint64_t first, last;
    if (dead_bounds(j, &first, &last, err) < 0) return -1;
    char *want = registration ? dead_subject(registration) : NULL;
    /* The total: the stream's or the registration's subject's count. */
    int64_t total = 0;
    jsStreamInfo *si = NULL;
    natsStatus st = js_subject_counts(j, JS_DEAD, want ? want : "evkit.dead.>", &si);
    for (int i = 0; st == NATS_OK && si->State.Subjects && i < si->State.Subjects->Count; i++)
        total += (int64_t)si->State.Subjects->List[i].Msgs;
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK) {
        free(want);
        return js_fail(err, st, "cannot count the dead letters");
    }
    if (progress) progress(ud, 0, total);
    int rc = 0;
    for (uint64_t seq = first; seq <= last && seq > 0 && rc == 0; seq++) {
        json_t *rec = NULL;
        char *subject = NULL;
        rc = dead_at(j, seq, &rec, &subject, err);
        if (rc == 0 && rec && (!want || (subject && !strcmp(subject, want)))) {
            rc = replay_one(j, seq, rec, err);
            if (rc == 0) (*count)++;
            if (rc == 0 && progress) progress(ud, *count, total);
        }
        json_decref(rec);
        free(subject);
    }
    free(want);
    if (*count) js_kick_all(j);
    return rc;
}

typedef struct {
    int64_t id;
    uint64_t seq;
    json_t *rec;
} find_dead;

static bool match_dead(natsMsg *m, void *ud)
{
    find_dead *f = ud;
    json_error_t je;
    json_t *rec = json_load_kept(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je);
    json_int_t id = json_integer_value(json_object_get(rec, "delivery_id"));
    if (id <= 0) id = (json_int_t)natsMsg_GetSequence(m);
    if (rec && id == f->id) {
        f->seq = natsMsg_GetSequence(m);
        f->rec = rec;
        return false;
    }
    json_decref(rec);
    return true;
}

int js_deadletter_replay(store_t *s, int64_t id, const char *registration, int *count,
                         err_t *err)
{
    js_t *j = JS(s);
    *count = 0;
    if (id <= 0) {
        if (!registration || !*registration)
            return err_code(err, EVK_INVALID, "a dead letter id or a registration is required");
        return replay_scan(j, registration, NULL, NULL, count, err);
    }
    find_dead f = {.id = id};
    char *filter = registration ? dead_subject(registration) : xstrdup("evkit.dead.>");
    int rc = js_scan_back(j, JS_DEAD, filter, 0, match_dead, &f, err);
    free(filter);
    if (rc < 0 || !f.rec) return rc;
    rc = replay_one(j, f.seq, f.rec, err);
    if (rc == 0) {
        *count = 1;
        js_kick_all(j);
    }
    json_decref(f.rec);
    return rc;
}

int js_deadletter_replay_all(store_t *s, const char *registration, store_progress_fn progress,
                             void *ud, int *count, err_t *err)
{
    *count = 0;
    return replay_scan(JS(s), registration, progress, ud, count, err);
}
