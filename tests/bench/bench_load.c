/* bench_load.h: the ingest load, /varz and $SRV.STATS. */
#include "bench_load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_util.h"
#include "fleet/proof.h"
#include "fleet/v1/fleet.pb-c.h"
#include "service_api.h"

#define POLL_MS 20
#define REQUEST_TIMEOUT_MS 2000

static int64_t now_ms(void)
{
    return bench_now_ns() / 1000000;
}

/* ---- the load ---- */

/* Frees what bench_load_build allocated; safe on a zeroed or half-built load. */
void bench_load_fini(struct bench_load *l)
{
    free(l->subject);
    free(l->arena);
    free(l->offset);
    memset(l, 0, sizeof(*l));
}

/* Per-instance proving material of a proven load. */
struct prover {
    uint8_t key[FLEET_PROOF_KEY_BYTES];
    uint8_t mac[FLEET_PROOF_TAG_BYTES];
    uint64_t incarnation;
};

/* One incarnation key per instance, its MAC key agreed with `supervisor`.
 * Returns the array (free it) or NULL with a message. */
static struct prover *provers_make(size_t n, const fleet_keypair *supervisor)
{
    struct prover *p = calloc(n, sizeof(*p));
    uint8_t pk[FLEET_PUBLIC_KEY_BYTES];

    if (p == NULL)
        return NULL;
    fleet_keypair_public_raw(supervisor, pk);
    for (size_t i = 0; i < n; i++) {
        fleet_incarnation_key *ik = NULL;

        if (fleet_incarnation_key_generate(&ik) != FLEET_OK ||
            fleet_proof_key_instance(ik, pk, p[i].mac) != FLEET_OK) {
            fprintf(stderr, "bench: incarnation key: %s\n", fleet_last_error());
            fleet_incarnation_key_destroy(ik);
            free(p);
            return NULL;
        }
        memcpy(p[i].key, fleet_incarnation_key_public(ik), sizeof(p[i].key));
        p[i].incarnation = fleet_incarnation_key_incarnation(ik);
        fleet_incarnation_key_destroy(ik);
    }
    return p;
}

/* Writes hb's proof entry for the supervisor `pk` into proof[]. */
static void prove(const Fleet__V1__Heartbeat *hb, const struct prover *p, const uint8_t *pk,
                  uint8_t proof[FLEET_PROOF_ENTRY_BYTES])
{
    uint8_t layout[FLEET_PROOF_LAYOUT_MAX];
    fleet_proof_fields f = {
        .service = hb->service, .instance = hb->instance, .version = hb->version, .nats_server = "",
        .incarnation = hb->incarnation, .seq = hb->seq, .sent_unix_ms = hb->sent_unix_ms,
        .interval_ms = hb->interval_ms, .state = (uint32_t)hb->state, .pid = hb->pid,
    };
    size_t len = 0;

    (void)fleet_proof_layout(&f, layout, sizeof(layout), &len); /* fits: short fixed strings */
    memcpy(proof, pk, FLEET_PROOF_ID_BYTES);
    fleet_proof_tag(p->mac, layout, len, proof + FLEET_PROOF_ID_BYTES);
}

/* Encodes every heartbeat of the run: message j goes to instance j % n with
 * seq j / n + 1. With `supervisor` every instance has its own incarnation
 * key and every heartbeat a proof to that key. Returns 0, or -1 with a
 * message (l left zeroed). */
int bench_load_build(uint64_t messages, uint64_t services, uint64_t per_service, const fleet_keypair *supervisor,
                     struct bench_load *l)
{
    char service[FLEET_NAME_MAX + 1], instance[FLEET_NAME_MAX + 1];
    Fleet__V1__Heartbeat hb = FLEET__V1__HEARTBEAT__INIT;
    uint8_t pk[FLEET_PUBLIC_KEY_BYTES], proof[FLEET_PROOF_ENTRY_BYTES] = { 0 };
    struct prover *provers = NULL;
    struct timespec wall;
    size_t total = 0;

    memset(l, 0, sizeof(*l));
    l->n_msgs = (size_t)messages;
    l->n_instances = (size_t)(services * per_service);
    l->subject = calloc(l->n_instances, sizeof(*l->subject));
    l->offset = calloc(l->n_msgs + 1, sizeof(*l->offset));
    if (l->subject == NULL || l->offset == NULL)
        goto out_no_memory;
    if (supervisor != NULL) {
        provers = provers_make(l->n_instances, supervisor);
        if (provers == NULL)
            goto out_no_memory;
        fleet_keypair_public_raw(supervisor, pk);
        l->proven = true;
        hb.proof = (ProtobufCBinaryData){ .len = sizeof(proof), .data = proof };
    }
    clock_gettime(CLOCK_REALTIME, &wall);
    hb.sent_unix_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    hb.interval_ms = BENCH_INTERVAL_MS;
    hb.state = FLEET__V1__SERVING_STATE__SERVING_STATE_SERVING;
    hb.version = "1.4.2";
    hb.host = "bench-host";
    hb.service = service;
    hb.instance = instance;
    /* Two passes: sizes (to allocate once), then bytes. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < l->n_msgs; j++) {
            size_t i = j % l->n_instances, len;

            bench_service_name(i % (size_t)services, service);
            bench_instance_name(i, instance);
            hb.incarnation = 0x9e3779b97f4a7c15u * (i + 1);
            hb.seq = j / l->n_instances + 1;
            hb.pid = (uint32_t)(1000 + i);
            if (provers != NULL) {
                hb.incarnation = provers[i].incarnation;
                hb.incarnation_key = (ProtobufCBinaryData){ .len = FLEET_PROOF_KEY_BYTES,
                                                            .data = provers[i].key };
                if (pass == 1)   /* sizes do not depend on the tag */
                    prove(&hb, &provers[i], pk, proof);
            }
            if (pass == 0) {
                len = fleet__v1__heartbeat__get_packed_size(&hb);
                l->offset[j] = total;
                total += len;
                l->seq_sum += hb.seq;
                if (j == 0 || len < l->min_len)
                    l->min_len = len;
                if (len > l->max_len)
                    l->max_len = len;
                if (j < l->n_instances)
                    snprintf(l->subject[i], BENCH_SUBJECT_MAX, "fleet.v1.hb.%s.%s", service, instance);
            } else {
                fleet__v1__heartbeat__pack(&hb, l->arena + l->offset[j]);
            }
        }
        if (pass == 0) {
            l->offset[l->n_msgs] = total;
            l->arena = malloc(total);
            if (l->arena == NULL)
                goto out_no_memory;
        }
    }
    free(provers);
    return 0;

out_no_memory:
    fprintf(stderr, "bench: out of memory (or no keys) for %zu heartbeats\n", l->n_msgs);
    free(provers);
    bench_load_fini(l);
    return -1;
}

/* Publishes slice `k` of `n` of the load (the heartbeats of every instance i
 * with i % n == k, in order) and waits until the server has processed them
 * (flush = PING/PONG). Writes how many it sent into *sent and their publish
 * rate into *rate. Returns 0 or -1. */
int bench_load_publish_slice(natsConnection *nc, const struct bench_load *l, size_t k, size_t n, size_t *sent,
                             double *rate)
{
    return bench_load_publish_range(nc, l, k, n, 0, l->n_msgs, sent, rate);
}

int bench_load_publish_range(natsConnection *nc, const struct bench_load *l, size_t k, size_t n, size_t from,
                             size_t to, size_t *sent, double *rate)
{
    int64_t t0 = bench_now_ns();
    natsStatus s = NATS_OK;
    size_t count = 0;

    for (size_t j = from; j < to && j < l->n_msgs && s == NATS_OK; j++) {
        size_t i = j % l->n_instances;

        if (i % n != k)
            continue;
        s = natsConnection_Publish(nc, l->subject[i], l->arena + l->offset[j],
                                   (int)(l->offset[j + 1] - l->offset[j]));
        count++;
    }
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, BENCH_PHASE_LIMIT_MS);
    if (s != NATS_OK) {
        fprintf(stderr, "bench: publishing failed: %s\n", natsStatus_GetText(s));
        return -1;
    }
    *sent = count;
    *rate = (double)count * 1e9 / (double)(bench_now_ns() - t0);
    return 0;
}

int bench_load_publish(natsConnection *nc, const struct bench_load *l, double *rate)
{
    size_t sent;

    return bench_load_publish_slice(nc, l, 0, 1, &sent, rate);
}

/* ---- the server's own view ---- */

/* Reads integer `key` of the server's /varz over plain HTTP/1.0 on loopback.
 * Returns 0 and *out, or -1 with a message. */
int bench_varz_int(int port, const char *key, int64_t *out)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    static const char request[] = "GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    struct timeval tv = { .tv_sec = 2 };
    size_t cap = 64 * 1024, len = 0;
    char *buf, *body;
    json_t *doc, *v;
    ssize_t n;
    int fd, rc = -1;

    buf = malloc(cap);
    if (buf == NULL)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        goto out_free_buf;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        write(fd, request, sizeof(request) - 1) != (ssize_t)(sizeof(request) - 1))
        goto out_close_fd;
    while ((n = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (len == cap - 1) {
            char *grown = cap < 4 * 1024 * 1024 ? realloc(buf, cap * 2) : NULL;

            if (grown == NULL)
                goto out_close_fd;
            buf = grown;
            cap *= 2;
        }
    }
    buf[len] = '\0';
    body = strstr(buf, "\r\n\r\n");
    if (body == NULL)
        goto out_close_fd;
    doc = json_loads(body + 4, 0, NULL);
    v = json_object_get(doc, key);
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        rc = 0;
    }
    json_decref(doc);
out_close_fd:
    close(fd);
out_free_buf:
    free(buf);
    if (rc != 0)
        fprintf(stderr, "bench: cannot read %s from http://127.0.0.1:%d/varz\n", key, port);
    return rc;
}

/* Asks the supervisor `id` for $SRV.STATS and reads the heartbeat endpoint.
 * Returns 0 and *out, or -1 (no answer in time, or not the expected JSON). */
int bench_supervisor_stats(natsConnection *nc, const char *id, struct bench_stats_sample *out)
{
    char subject[BENCH_SUBJECT_MAX];
    json_t *doc, *ep, *data, *refused, *v;
    natsMsg *reply = NULL;
    const char *key;
    int rc = -1;

    snprintf(subject, sizeof(subject), "$SRV.STATS.%s.%s", SERVICE_API_NAME, id);
    if (natsConnection_RequestString(&reply, nc, subject, "", REQUEST_TIMEOUT_MS) != NATS_OK)
        return -1;
    doc = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
    ep = json_array_get(json_object_get(doc, "endpoints"), 0);
    data = json_object_get(ep, "data");
    refused = json_object_get(data, "refused");
    if (json_is_object(data) && json_is_object(refused) &&
        json_is_string(json_object_get(ep, "name")) &&
        strcmp(json_string_value(json_object_get(ep, "name")), "heartbeat") == 0) {
        *out = (struct bench_stats_sample){
            .received = (uint64_t)json_integer_value(json_object_get(data, "received")),
            .accepted = (uint64_t)json_integer_value(json_object_get(data, "accepted")),
            .stale = (uint64_t)json_integer_value(json_object_get(data, "stale")),
            .sc_dropped = (uint64_t)json_integer_value(json_object_get(data, "slow_consumer_dropped")),
            .proven = (uint64_t)json_integer_value(
                json_object_get(json_object_get(data, "proofs"), "proven")),
        };
        json_object_foreach(refused, key, v) {
            size_t used = strlen(out->refused_by);

            out->refused += (uint64_t)json_integer_value(v);
            if (json_integer_value(v) > 0)
                snprintf(out->refused_by + used, sizeof(out->refused_by) - used, "%s%s=%" JSON_INTEGER_FORMAT,
                         used ? "," : "", key, json_integer_value(v));
        }
        rc = 0;
    }
    json_decref(doc);
    natsMsg_Destroy(reply);
    return rc;
}

void *bench_poll_stats(void *arg)
{
    struct bench_poller *p = arg;
    int64_t start = now_ms(), last_change = start;

    for (;;) {
        struct bench_stats_sample s;
        int64_t t = now_ms();

        if (bench_supervisor_stats(p->nc, p->id, &s) == 0) {
            int64_t at = bench_now_ns();

            if (s.accepted > p->base && p->first_ns == 0) {
                p->first_ns = at;
                p->first_accepted = s.accepted;
            }
            if (!p->answered || s.accepted != p->last.accepted || s.received != p->last.received) {
                last_change = now_ms();
                if (s.accepted != p->last.accepted)
                    p->end_ns = at;
            }
            p->answered = true;
            p->last = s;
            if (s.accepted + s.stale + s.refused >= p->target)
                break; /* every heartbeat has its verdict */
        }
        if (t - last_change > BENCH_STALL_MS || t - start > BENCH_PHASE_LIMIT_MS)
            break;
        bench_sleep_ms(POLL_MS);
    }
    return NULL;
}

/* User + system CPU of process `pid` in ns, or -1. */
int64_t bench_process_cpu_ns(pid_t pid)
{
    return proc_cpu_ns(pid, 0);
}

int64_t bench_thread_cpu_ns(pid_t pid, pid_t tid)
{
    return proc_cpu_ns(pid, tid);
}

/* Asks $SRV.PING of supervisor `id` until it answers or BENCH_START_LIMIT_MS pass. */
bool bench_supervisor_ready(natsConnection *nc, const char *id, struct proc *p)
{
    char subject[BENCH_SUBJECT_MAX];
    int64_t deadline = now_ms() + BENCH_START_LIMIT_MS;

    snprintf(subject, sizeof(subject), "$SRV.PING.%s.%s", SERVICE_API_NAME, id);
    while (now_ms() < deadline) {
        natsMsg *reply = NULL;

        if (natsConnection_RequestString(&reply, nc, subject, "", 200) == NATS_OK) {
            natsMsg_Destroy(reply);
            return true;
        }
        if (proc_wait(p, 0) >= 0)
            return false; /* it exited */
        bench_sleep_ms(50);     /* "no responders" comes back at once */
    }
    return false;
}
double bench_poller_rate(const struct bench_poller *p)
{
    if (p->first_ns == 0 || p->end_ns <= p->first_ns)
        return 0;
    return (double)(p->last.accepted - p->first_accepted) * 1e9 / (double)(p->end_ns - p->first_ns);
}
