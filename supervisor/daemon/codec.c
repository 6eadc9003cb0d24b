#include "codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/heartbeat.h"
#include "fleet/subjects.h"
#include "fleet/v1/fleet.pb-c.h"

/* The core's enums are the wire's numbers, so the codec casts between them
 * (heartbeat state in; health, observer state and action out). Every value
 * is held equal here: a proto change that moves one fails the build. */
#define SAME(core, wire) _Static_assert((int)(core) == (int)(wire), #core " must equal " #wire)
SAME(SERVING_UNSPECIFIED, FLEET__V1__SERVING_STATE__SERVING_STATE_UNSPECIFIED);
SAME(SERVING_STARTING, FLEET__V1__SERVING_STATE__SERVING_STATE_STARTING);
SAME(SERVING_SERVING, FLEET__V1__SERVING_STATE__SERVING_STATE_SERVING);
SAME(SERVING_DEGRADED, FLEET__V1__SERVING_STATE__SERVING_STATE_DEGRADED);
SAME(SERVING_DRAINING, FLEET__V1__SERVING_STATE__SERVING_STATE_DRAINING);
SAME(SERVING_STOPPING, FLEET__V1__SERVING_STATE__SERVING_STATE_STOPPING);
SAME(SERVING_FENCED, FLEET__V1__SERVING_STATE__SERVING_STATE_FENCED);
SAME(SERVING_EXITED, FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED);
SAME(SERVING_STATE_COUNT, FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED + 1);
SAME(INST_UNSPECIFIED, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_UNSPECIFIED);
SAME(INST_STARTING, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STARTING);
SAME(INST_HEALTHY, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY);
SAME(INST_DEGRADED, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEGRADED);
SAME(INST_SUSPECT, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_SUSPECT);
SAME(INST_DEAD, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD);
SAME(INST_RESTARTING, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_RESTARTING);
SAME(INST_FENCED, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_FENCED);
SAME(INST_DRAINING, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DRAINING);
SAME(INST_STOPPED, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STOPPED);
SAME(INST_HEALTH_COUNT, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STOPPED + 1);
SAME(SVC_UNSPECIFIED, FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNSPECIFIED);
SAME(SVC_AVAILABLE, FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_AVAILABLE);
SAME(SVC_DEGRADED, FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_DEGRADED);
SAME(SVC_UNAVAILABLE, FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNAVAILABLE);
SAME(SVC_MISSING, FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_MISSING);
SAME(SVC_UNEXPECTED, FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNEXPECTED);
SAME(OBSERVER_UNSPECIFIED, FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_UNSPECIFIED);
SAME(OBSERVER_WARMING_UP, FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_WARMING_UP);
SAME(OBSERVER_NORMAL, FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_NORMAL);
SAME(OBSERVER_SELF_PRESERVATION, FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_SELF_PRESERVATION);
SAME(OBSERVER_STANDBY, FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_STANDBY);
SAME(CORE_ACT_RESTART, FLEET__V1__ACTION__ACTION_RESTART);
SAME(CORE_ACT_FENCE, FLEET__V1__ACTION__ACTION_FENCE);
SAME(CORE_ACT_UNFENCE, FLEET__V1__ACTION__ACTION_UNFENCE);
SAME(CORE_ACT_DRAIN, FLEET__V1__ACTION__ACTION_DRAIN);
SAME(CORE_ACT_RESUME, FLEET__V1__ACTION__ACTION_RESUME);
#undef SAME

/* Rough encoded size of one InstanceStatus, to skip building instance lists
 * that could never fit. */
#define INSTANCE_STATUS_EST_BYTES 90u

const char *codec_refusal_name(enum hb_refusal r)
{
    static const char *const names[HB_REFUSAL_COUNT] = {
        [HB_OK] = "ok",
        [HB_REFUSE_TOO_LARGE] = "too_large",
        [HB_REFUSE_SUBJECT] = "bad_subject",
        [HB_REFUSE_DECODE] = "malformed",
        [HB_REFUSE_NAME] = "bad_name",
        [HB_REFUSE_MISMATCH] = "subject_mismatch",
        [HB_REFUSE_FIELD] = "bad_field",
        [HB_REFUSE_OVERLOAD] = "overload",
        [HB_REFUSE_KEY] = "bad_key",
        [HB_REFUSE_PROOF] = "bad_proof",
    };

    return (unsigned)r < HB_REFUSAL_COUNT ? names[r] : "unknown";
}

/* Splits "<service>.<instance>" (the subject after the prefix and ".v1.hb.")
 * into two valid tokens copied into out. */
static enum hb_refusal parse_subject_tail(const char *tail, struct hb_input *out)
{
    const char *dot = strchr(tail, '.');
    size_t svc_len, inst_len;

    if (dot == NULL || strchr(dot + 1, '.') != NULL)
        return HB_REFUSE_SUBJECT;
    svc_len = (size_t)(dot - tail);
    inst_len = strlen(dot + 1);
    if (!fleet_name_valid_n(tail, svc_len) || !fleet_name_valid_n(dot + 1, inst_len))
        return HB_REFUSE_NAME;
    memcpy(out->service, tail, svc_len);
    out->service[svc_len] = '\0';
    memcpy(out->instance, dot + 1, inst_len + 1);
    return HB_OK;
}

/* A server id or name: at most FLEET_SERVER_ID_MAX printable, non-blank bytes. */
static bool server_id_ok(const char *id)
{
    size_t n = strnlen(id, FLEET_SERVER_ID_MAX + 1);

    if (n > FLEET_SERVER_ID_MAX)
        return false;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)id[k] <= 0x20 || (unsigned char)id[k] >= 0x7f)
            return false;
    return true;
}

static void first_failing_check(const Fleet__V1__Heartbeat *hb, struct hb_input *out)
{
    out->checks_ok = true;
    out->failed_check[0] = '\0';
    for (size_t k = 0; k < hb->n_checks; k++) {
        const Fleet__V1__Check *c = hb->checks[k];

        if (c == NULL || c->ok)
            continue;
        out->checks_ok = false;
        snprintf(out->failed_check, sizeof(out->failed_check), "check %.32s failed: %s",
                 c->name ? c->name : "?", c->detail ? c->detail : "");
        return;
    }
}

/* Fields 16-17: the key must be this incarnation's (checked here only when
 * nobody will check it after us); the layout is built only when there is
 * something to check it against. */
static enum hb_refusal take_proof(const Fleet__V1__Heartbeat *hb, struct codec_hb_proof *p)
{
    const char *names[FLEET_PROOF_CHECKS_MAX];
    bool ok[FLEET_PROOF_CHECKS_MAX];
    fleet_proof_fields f;

    if (hb->incarnation_key.len == 0) {
        if (p != NULL) {
            p->has_key = false;
            p->proof_len = 0;
        }
        return HB_OK;   /* an unproven sender: whatever field 17 says means nothing */
    }
    if (hb->incarnation_key.len != FLEET_PROOF_KEY_BYTES)
        return HB_REFUSE_KEY;
    if (!fleet_proof_well_formed(hb->proof.len))
        return HB_REFUSE_FIELD;
    if (p == NULL)   /* nobody after us checks the binding */
        return fleet_proof_incarnation(hb->incarnation_key.data) == hb->incarnation ? HB_OK : HB_REFUSE_KEY;
    p->has_key = true;
    memcpy(p->key, hb->incarnation_key.data, FLEET_PROOF_KEY_BYTES);
    p->incarnation = hb->incarnation;
    p->proof_len = hb->proof.len;
    if (hb->proof.len == 0)
        return HB_OK;
    memcpy(p->proof, hb->proof.data, hb->proof.len);
    if (hb->n_checks > FLEET_PROOF_CHECKS_MAX)
        return HB_REFUSE_FIELD;
    for (size_t k = 0; k < hb->n_checks; k++) {
        names[k] = hb->checks[k]->name;
        ok[k] = hb->checks[k]->ok;
    }
    f = (fleet_proof_fields){
        .service = hb->service, .instance = hb->instance, .version = hb->version,
        .nats_server = hb->nats_server, .incarnation = hb->incarnation, .seq = hb->seq,
        .fence_epoch = hb->fence_epoch, .term_seen = hb->term_seen, .sent_unix_ms = hb->sent_unix_ms,
        .interval_ms = hb->interval_ms, .state = (uint32_t)hb->state, .pid = hb->pid,
        .has_exit = hb->exit != NULL, .exit_code = hb->exit ? hb->exit->code : 0,
        .exit_signal = hb->exit ? hb->exit->signal : 0, .exit_at_unix_ms = hb->exit ? hb->exit->at_unix_ms : 0,
        .check_name = names, .check_ok = ok, .n_checks = hb->n_checks,
    };
    if (fleet_proof_layout(&f, p->layout, sizeof(p->layout), &p->layout_len) != FLEET_OK)
        return HB_REFUSE_FIELD;
    return HB_OK;
}

/* A heartbeat is unpacked into a bump arena on the decoding thread's stack,
 * not into one malloc per field: what does not fit (a heartbeat far bigger
 * than any sender makes) falls back to the heap, and only then is there
 * anything to free. */
#define UNPACK_ARENA_BYTES 8192

struct unpack_arena {
    ProtobufCAllocator allocator;     /* allocator_data points back here */
    size_t used;
    size_t on_heap;                   /* allocations that did not fit */
    _Alignas(16) unsigned char buf[UNPACK_ARENA_BYTES];
};

static void *arena_alloc(void *ctx, size_t size)
{
    struct unpack_arena *a = ctx;
    size_t at = (a->used + 15) & ~(size_t)15;

    if (at <= sizeof(a->buf) && size <= sizeof(a->buf) - at) {
        a->used = at + size;
        return a->buf + at;
    }
    a->on_heap++;
    return malloc(size);
}

static void arena_free(void *ctx, void *p)
{
    struct unpack_arena *a = ctx;
    uintptr_t at = (uintptr_t)p, start = (uintptr_t)a->buf;

    if (at < start || at >= start + sizeof(a->buf))
        free(p);
}

enum hb_refusal codec_heartbeat_decode(const char *subject, size_t prefix_len, const void *data,
                                       size_t len, size_t max_len, struct hb_input *out,
                                       struct codec_hb_proof *proof)
{
    const char *tail = fleet_subject_tail(subject, prefix_len, FLEET_SUBJECT_HB);
    struct unpack_arena arena;
    Fleet__V1__Heartbeat *hb;
    enum hb_refusal r;

    if (len > max_len)
        return HB_REFUSE_TOO_LARGE;
    if (tail == NULL)
        return HB_REFUSE_SUBJECT;
    r = parse_subject_tail(tail, out);
    if (r != HB_OK)
        return r;
    arena.allocator = (ProtobufCAllocator){ .alloc = arena_alloc, .free = arena_free, .allocator_data = &arena };
    arena.used = arena.on_heap = 0;
    hb = fleet__v1__heartbeat__unpack(&arena.allocator, len, data);
    if (hb == NULL)
        return HB_REFUSE_DECODE;
    if (strcmp(hb->service, out->service) != 0 || strcmp(hb->instance, out->instance) != 0) {
        r = HB_REFUSE_MISMATCH;
        goto out_free_hb;
    }
    if (hb->interval_ms > FLEET_HB_INTERVAL_MAX_MS || strlen(hb->version) > VERSION_MAX ||
        (unsigned)hb->state >= SERVING_STATE_COUNT || !server_id_ok(hb->nats_server)) {
        r = HB_REFUSE_FIELD;
        goto out_free_hb;
    }
    r = take_proof(hb, proof);
    if (r != HB_OK)
        goto out_free_hb;
    out->proven = false;
    out->sent_unix_ms = hb->sent_unix_ms;
    out->incarnation = hb->incarnation;
    out->seq = hb->seq;
    out->fence_epoch = hb->fence_epoch;
    out->term_seen = hb->term_seen;
    out->interval_ms = hb->interval_ms;
    out->pid = hb->pid;
    out->state = (enum serving_state)hb->state;
    memcpy(out->version, hb->version, strlen(hb->version) + 1);
    memcpy(out->nats_server, hb->nats_server, strlen(hb->nats_server) + 1);
    first_failing_check(hb, out);
    out->has_exit = hb->exit != NULL;
    out->exit_code = hb->exit ? hb->exit->code : 0;
    out->exit_signal = hb->exit ? hb->exit->signal : 0;
    r = HB_OK;

out_free_hb:
    if (arena.on_heap > 0)
        fleet__v1__heartbeat__free_unpacked(hb, &arena.allocator);
    return r;
}

/* ---- encoding ---- */

static int64_t to_unix(const struct codec_clock *clk, int64_t mono_ms)
{
    return clk->unix_ms - (clk->mono_ms - mono_ms);
}

/* Fills `is` from `i`; strings point into the registry (valid until the
 * registry changes, i.e. for the duration of one pack). */
static void fill_instance(struct observer *obs, const struct instance *i, const struct codec_clock *clk,
                          Fleet__V1__InstanceStatus *is)
{
    fleet__v1__instance_status__init(is);
    is->instance = (char *)i->name;
    is->health = (Fleet__V1__InstanceHealth)i->health;
    is->last_seen_unix_ms = to_unix(clk, i->last_seen_ms);
    is->phi = observer_phi(obs, i, clk->mono_ms);
    is->incarnation = i->incarnation;
    is->restarts = i->restarts;
    is->fence_epoch = i->fence_epoch;
    is->version = (char *)i->version;
    is->reason = (char *)i->reason;
    is->next_action_unix_ms = i->next_action_ms ? to_unix(clk, i->next_action_ms) : 0;
}

/* A ServiceStatus tree in caller storage; instance arrays are malloc'd and
 * released by service_tree_free. */
struct service_tree {
    Fleet__V1__ServiceStatus msg;
    Fleet__V1__InstanceStatus *instances;
    Fleet__V1__InstanceStatus **instance_ptrs;
    char *version_ptrs[SERVICE_VERSIONS_MAX];
};

static int service_tree_build(struct observer *obs, struct service *s, const struct codec_clock *clk,
                              bool with_instances, struct service_tree *t)
{
    size_t k = 0;

    memset(t, 0, sizeof(*t));
    fleet__v1__service_status__init(&t->msg);
    t->msg.name = s->name;
    t->msg.desired = s->desired;
    t->msg.healthy = s->count[INST_HEALTHY];
    t->msg.health = (Fleet__V1__ServiceHealth)s->health;
    t->msg.expected = s->expected;
    observer_service_availability(obs, s, clk->mono_ms, &t->msg.availability_1h, &t->msg.availability_24h);
    for (uint32_t v = 0; v < s->n_versions; v++)
        t->version_ptrs[v] = s->versions[v];
    t->msg.versions = t->version_ptrs;
    t->msg.n_versions = s->n_versions;
    if (!with_instances || s->n_instances == 0)
        return 0;
    t->instances = calloc(s->n_instances, sizeof(*t->instances));
    t->instance_ptrs = calloc(s->n_instances, sizeof(*t->instance_ptrs));
    if (t->instances == NULL || t->instance_ptrs == NULL) {
        free(t->instances);
        free(t->instance_ptrs);
        return -1;
    }
    for (const struct instance *i = s->first; i != NULL; i = i->next, k++) {
        fill_instance(obs, i, clk, &t->instances[k]);
        t->instance_ptrs[k] = &t->instances[k];
    }
    t->msg.instances = t->instance_ptrs;
    t->msg.n_instances = k;
    return 0;
}

static void service_tree_free(struct service_tree *t)
{
    free(t->instances);
    free(t->instance_ptrs);
}

/* Packs any protobuf-c message into a malloc'd buffer. */
static int pack_message(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);

    if (b == NULL)
        return -1;
    protobuf_c_message_pack(m, b);
    *buf = b;
    *len = n;
    return 0;
}

int codec_service_status_pack(struct observer *obs, struct service *s, const struct codec_clock *clk,
                              uint8_t **buf, size_t *len)
{
    struct service_tree t;
    int rc;

    if (service_tree_build(obs, s, clk, true, &t) != 0)
        return -1;
    rc = pack_message(&t.msg.base, buf, len);
    service_tree_free(&t);
    return rc;
}

/* How much of the fleet a FleetStatus carries. */
enum status_detail {
    STATUS_FULL,     /* every service with its instances */
    STATUS_COUNTS,   /* every service, counts only */
    STATUS_HEADER,   /* the fleet's figures only: no service list */
};

static int fleet_status_try(struct observer *obs, const struct codec_fleet_header *hdr,
                            const struct codec_clock *clk, enum status_detail detail, uint8_t **buf,
                            size_t *len)
{
    const struct registry *reg = observer_registry(obs);
    size_t n = detail == STATUS_HEADER ? 0 : registry_service_count(reg), built = 0;
    bool with_instances = detail == STATUS_FULL;
    struct service_tree *trees = calloc(n ? n : 1, sizeof(*trees));
    Fleet__V1__ServiceStatus **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    struct observer_summary sum;
    Fleet__V1__FleetStatus fs;
    int rc = -1;

    if (trees == NULL || ptrs == NULL)
        goto out_free_arrays;
    for (; built < n; built++) {
        if (service_tree_build(obs, registry_service_at(reg, built), clk, with_instances, &trees[built]) != 0)
            goto out_free_trees;
        ptrs[built] = &trees[built].msg;
    }
    observer_summary(obs, &sum);
    fleet__v1__fleet_status__init(&fs);
    fs.generated_unix_ms = clk->unix_ms;
    fs.feed_seq = hdr->feed_seq;
    fs.term = hdr->term;
    fs.services = ptrs;
    fs.n_services = n;
    fs.services_expected = sum.services_expected;
    fs.services_available = sum.services_available;
    fs.availability = sum.availability;
    fs.observer = (Fleet__V1__ObserverState)observer_state(obs);
    fs.instances_expected = sum.instances_expected;
    fs.instances_healthy = sum.instances_healthy;
    fs.supervisor_id = (char *)hdr->supervisor_id;
    rc = pack_message(&fs.base, buf, len);

out_free_trees:
    for (size_t k = 0; k < built; k++)
        service_tree_free(&trees[k]);
out_free_arrays:
    free(trees);
    free(ptrs);
    return rc;
}

int codec_fleet_status_pack(struct observer *obs, const struct codec_fleet_header *hdr,
                            const struct codec_clock *clk, size_t max_bytes, uint8_t **buf,
                            size_t *len)
{
    size_t instances = registry_instance_count(observer_registry(obs));
    uint8_t *b;
    size_t n;

    if (instances * INSTANCE_STATUS_EST_BYTES <= max_bytes) {
        if (fleet_status_try(obs, hdr, clk, STATUS_FULL, &b, &n) != 0)
            return -1;
        if (n <= max_bytes) {
            *buf = b;
            *len = n;
            return 0;
        }
        free(b);
    }
    if (fleet_status_try(obs, hdr, clk, STATUS_COUNTS, &b, &n) != 0)
        return -1;
    if (n <= max_bytes) {
        *buf = b;
        *len = n;
        return 0;
    }
    /* Detail goes first, never the message: the per-service subjects still
     * carry every service. */
    free(b);
    return fleet_status_try(obs, hdr, clk, STATUS_HEADER, buf, len);
}

int codec_unknown_service_pack(const char *name, uint8_t **buf, size_t *len)
{
    Fleet__V1__ServiceStatus unknown;

    fleet__v1__service_status__init(&unknown);
    unknown.name = (char *)name;
    return pack_message(&unknown.base, buf, len);
}

int codec_event_pack(const struct core_event *ev, uint64_t feed_seq, uint64_t term,
                     const struct codec_clock *clk, uint8_t **buf, size_t *len)
{
    Fleet__V1__Event e;

    fleet__v1__event__init(&e);
    e.feed_seq = feed_seq;
    e.unix_ms = to_unix(clk, ev->at_ms);
    e.service = (char *)ev->service->name;
    e.instance = ev->instance ? (char *)ev->instance->name : "";
    e.from = (Fleet__V1__InstanceHealth)ev->from;
    e.to = (Fleet__V1__InstanceHealth)ev->to;
    e.action = (Fleet__V1__Action)ev->action;
    e.reason = (char *)(ev->reason ? ev->reason : "");
    e.term = term;
    e.operator_ = (char *)(ev->operator_name ? ev->operator_name : "");
    return pack_message(&e.base, buf, len);
}

int codec_admin_reply_pack(bool ok, const char *error, const char *result, uint8_t **buf, size_t *len)
{
    Fleet__V1__AdminReply r;

    fleet__v1__admin_reply__init(&r);
    r.ok = ok;
    r.error = (char *)(error != NULL ? error : "");
    r.result = (char *)(result != NULL ? result : "");
    return pack_message(&r.base, buf, len);
}

/* Reads a base-128 varint at *p (< end). Returns 0 and advances, or -1. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;

        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int codec_status_publisher(const void *data, size_t len, uint64_t *term, char *id, size_t n)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t t = 0;

    if (n == 0)
        return -1;
    id[0] = '\0';
    while (p < end) {
        uint64_t key, v;

        if (read_varint(&p, end, &key) != 0)
            return -1;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &v) != 0)
                return -1;
            if (key >> 3 == 3)
                t = v;
            break;
        case 1:
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 2:
            if (read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return -1;
            if (key >> 3 == 11) {
                size_t k = v < n - 1 ? (size_t)v : n - 1;

                memcpy(id, p, k);
                id[k] = '\0';
            }
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        default:
            return -1;
        }
    }
    *term = t;
    return 0;
}

int codec_ack_decode(const void *data, size_t len, struct codec_ack *out)
{
    Fleet__V1__ControlAck *ack = fleet__v1__control_ack__unpack(NULL, len, data);
    int rc = -1;

    if (ack == NULL)
        return -1;
    if (strlen(ack->service) <= FLEET_NAME_MAX && strlen(ack->instance) <= FLEET_NAME_MAX) {
        memcpy(out->service, ack->service, strlen(ack->service) + 1);
        memcpy(out->instance, ack->instance, strlen(ack->instance) + 1);
        out->seq = ack->seq;
        out->accepted = ack->accepted;
        snprintf(out->error, sizeof(out->error), "%s", ack->error);
        rc = 0;
    }
    fleet__v1__control_ack__free_unpacked(ack, NULL);
    return rc;
}
