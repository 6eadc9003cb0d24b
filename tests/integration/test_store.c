/* store.c against a real nats-server with JetStream (file store): state
 * round trip and compare-and-set, the leader lease and its failover, degraded
 * mode without -js (and recovery), durability across a server restart, and
 * the audit stream; terms above a lost lease bucket; records changed by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "natsd.h"
#include "proc.h"
#include "leadership.h"
#include "store.h"

#define TTL_MS 1000   /* the minimum: keeps the failover tests short */

static natsConnection *connect_to(const char *url)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;

    assert_int_equal(natsOptions_Create(&opts), NATS_OK);
    assert_int_equal(natsOptions_SetURL(opts, url), NATS_OK);
    assert_int_equal(natsOptions_SetMaxReconnect(opts, -1), NATS_OK);
    assert_int_equal(natsOptions_SetReconnectWait(opts, 50), NATS_OK);
    assert_int_equal(natsConnection_Connect(&nc, opts), NATS_OK);
    natsOptions_Destroy(opts);
    return nc;
}

static struct store *open_store(natsConnection *nc, const char *id)
{
    struct store_options o = { .prefix = "fleet", .lease_ttl_ms = TTL_MS, .supervisor_id = id };
    struct store *s = NULL;
    char err[256] = "";

    if (store_open(nc, &o, &s, err, sizeof(err)) != 0)
        fail_msg("store_open: %s", err);
    return s;
}

/* ---- state ---- */

struct loaded {
    int n;
    char keys[16][160];
    char values[16][64];
};

static void collect(void *ctx, const char *service, const char *instance, const void *data, size_t len)
{
    struct loaded *l = ctx;

    assert_true(l->n < 16);
    assert_true(len < sizeof(l->values[0]));
    snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s/%s", service, instance);
    memcpy(l->values[l->n], data, len);
    l->values[l->n][len] = '\0';
    l->n++;
}

static const char *find(const struct loaded *l, const char *key)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0)
            return l->values[i];
    return NULL;
}

static void test_state_round_trip(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc1, *nc2;
    struct store *a, *b;
    struct loaded l = { 0 };

    assert_int_equal(natsd_start(&d, true), 0);
    nc1 = connect_to(d.url);
    nc2 = connect_to(d.url);
    a = open_store(nc1, "sup-a");
    assert_true(store_available(a));
    assert_string_equal(store_unavailable_reason(a), "");

    assert_int_equal(store_put_instance(a, "story-teller", "st-1", "epoch=1", 7), STORE_WRITTEN);
    assert_int_equal(store_put_instance(a, "story-teller", "st-2", "epoch=2", 7), STORE_WRITTEN);
    assert_int_equal(store_put_instance(a, "state-manager", "sm-1", "", 0), STORE_WRITTEN);
    assert_int_equal(store_put_instance(a, "story-teller", "st-1", "epoch=3", 7), STORE_WRITTEN); /* update */
    assert_int_equal(store_put_instance(a, "bad.name", "x", "v", 1), STORE_FAILED);

    b = open_store(nc2, "sup-b");
    assert_int_equal(store_load_all(b, collect, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(find(&l, "story-teller/st-1"), "epoch=3");
    assert_string_equal(find(&l, "story-teller/st-2"), "epoch=2");
    assert_string_equal(find(&l, "state-manager/sm-1"), "");

    /* Delete, and deleting what is known absent is a no-op. */
    assert_int_equal(store_delete_instance(a, "story-teller", "st-2"), 0);
    assert_int_equal(store_delete_instance(a, "story-teller", "st-2"), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_load_all(b, collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_null(find(&l, "story-teller/st-2"));

    /* Compare-and-set: b saw st-1 at some revision; a writes it again; b's
     * stale write is refused instead of replacing a's, and b re-reads what
     * a wrote, so it can decide again and its next write goes through. */
    assert_int_equal(store_put_instance(a, "story-teller", "st-1", "epoch=4", 7), STORE_WRITTEN);
    assert_int_equal(store_put_instance(b, "story-teller", "st-1", "epoch=9", 7), STORE_CONFLICT);
    assert_non_null(strstr(store_last_error(b), "written by someone else"));
    assert_non_null(strstr(store_last_error(b), "wrong last sequence")); /* nats.c's own text */
    {
        const void *rec;
        size_t len;

        store_conflict_record(b, &rec, &len);
        assert_int_equal(len, 7);
        assert_memory_equal(rec, "epoch=4", 7);
    }
    assert_int_equal(store_put_instance(b, "story-teller", "st-1", "epoch=5", 7), STORE_WRITTEN);
    /* A deleted key can be created again. */
    assert_int_equal(store_put_instance(b, "story-teller", "st-2", "epoch=6", 7), STORE_WRITTEN);

    store_close(a);
    store_close(b);
    natsConnection_Destroy(nc1);
    natsConnection_Destroy(nc2);
    natsd_stop(&d, false);
}

/* ---- the lease ---- */

static struct leadership *lead_on(struct store *s)
{
    struct leadership *l = NULL;

    assert_int_equal(leadership_create(s, proc_now_ms(), &l), 0);
    return l;
}

static enum lease_role tick(struct leadership *l)
{
    return leadership_tick(l, proc_now_ms(), 0);
}

/* Ticks `l` (as its owner loop would, at leadership_next_ms, and the store
 * at store_next_tick) until it leads or `timeout_ms` passes. Returns the
 * term, 0 if it never led. */
static uint64_t tick_until_leader(struct store *s, struct leadership *l, int timeout_ms)
{
    int64_t end = proc_now_ms() + timeout_ms;

    while (proc_now_ms() < end) {
        int64_t now = proc_now_ms(), next = leadership_next_ms(l);

        store_tick(s, now);
        if (store_next_tick(s) < next)
            next = store_next_tick(s);
        if (next > now) {
            struct timespec ts = { 0, (long)((next - now < 20 ? next - now : 20) * 1000000) };
            nanosleep(&ts, NULL);
            continue;
        }
        if (tick(l) == LEASE_LEADER)
            return leadership_term(l);
    }
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

static void test_lease_failover(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc1, *nc2;
    struct store *a, *b;
    struct leadership *la, *lb;
    uint64_t ta = 0, tb = 0;
    int64_t t0, paused_at;

    assert_int_equal(natsd_start(&d, true), 0);
    nc1 = connect_to(d.url);
    nc2 = connect_to(d.url);
    a = open_store(nc1, "sup-a");
    b = open_store(nc2, "sup-b");
    la = lead_on(a);
    lb = lead_on(b);

    /* Exactly one leader. */
    assert_int_equal(tick(la), LEASE_LEADER);
    ta = leadership_term(la);
    assert_true(ta > 0);
    assert_int_equal(tick(lb), LEASE_STANDBY);
    assert_int_equal(leadership_term(lb), 0);
    assert_false(leadership_may_act(lb, proc_now_ms()));
    assert_true(leadership_may_act(la, proc_now_ms()));

    /* Both ticking at their own pace for 3 TTLs: a renews, b never leads. */
    t0 = proc_now_ms();
    while (proc_now_ms() - t0 < 3 * TTL_MS) {
        int64_t now = proc_now_ms();

        if (now >= leadership_next_ms(la)) {
            assert_int_equal(tick(la), LEASE_LEADER);
            assert_int_equal(leadership_term(la), ta);   /* renewals keep the term */
        }
        if (now >= leadership_next_ms(lb))
            assert_int_equal(tick(lb), LEASE_STANDBY);
        assert_false(leadership_may_act(la, now) && leadership_may_act(lb, now));
        sleep_ms(10);
    }

    /* a pauses (stops ticking): its own deadline passes before anyone else
     * can lead, so it stops acting on its own... */
    paused_at = proc_now_ms();
    tb = tick_until_leader(b, lb, 5 * TTL_MS);
    assert_true(tb > ta);                                  /* a higher term */
    assert_true(proc_now_ms() - paused_at >= TTL_MS / 2);
    assert_false(leadership_may_act(la, proc_now_ms()));   /* even before a ticks */
    assert_true(leadership_may_act(lb, proc_now_ms()));

    /* ...and when it ticks again it is STANDBY at once: never two leaders. */
    assert_int_equal(tick(la), LEASE_STANDBY);
    assert_int_equal(leadership_term(la), 0);
    assert_int_equal(tick(lb), LEASE_LEADER);
    assert_int_equal(leadership_term(lb), tb);

    /* b resigns: the lease is released, so a leads well before a TTL. */
    leadership_resign(lb, proc_now_ms());
    assert_false(leadership_may_act(lb, proc_now_ms()));
    t0 = proc_now_ms();
    ta = tick_until_leader(a, la, 3 * TTL_MS);
    assert_true(ta > tb);
    assert_true(proc_now_ms() - t0 < TTL_MS);
    assert_int_equal(tick(lb), LEASE_RESIGNED);            /* resigned for good */
    assert_int_equal(leadership_term(lb), 0);

    /* Resigning when not leading releases nothing: a keeps leading. */
    leadership_resign(lb, proc_now_ms());
    sleep_ms(TTL_MS / 4 + 50);
    assert_int_equal(tick(la), LEASE_LEADER);
    assert_int_equal(leadership_term(la), ta);

    leadership_destroy(la);
    leadership_destroy(lb);
    store_close(a);
    store_close(b);
    natsConnection_Destroy(nc1);
    natsConnection_Destroy(nc2);
    natsd_stop(&d, false);
}

/* Our own lease, found by a store that reopened (the state bucket was lost
 * and recreated, say) is taken back at once, not waited out. */
static void test_own_lease_is_taken_back(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    struct store *s;
    struct leadership *l;
    uint64_t first;

    assert_int_equal(natsd_start(&d, true), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    l = lead_on(s);
    assert_int_equal(tick(l), LEASE_LEADER);
    first = leadership_term(l);
    leadership_destroy(l);
    store_close(s);

    s = open_store(nc, "sup-a");
    l = lead_on(s);
    assert_int_equal(tick(l), LEASE_LEADER);   /* CREATE conflicts, READ finds ours, UPDATE */
    assert_true(leadership_term(l) > first);   /* a new leadership all the same */

    leadership_destroy(l);
    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

/* The lease bucket deleted while leading at a high term: revisions start
 * from 1 again, the term does not (the floor in the state bucket). */
static void test_term_survives_lease_bucket_loss(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    struct store *s;
    struct leadership *l;
    uint64_t high, after, rev, generation;

    assert_int_equal(natsd_start(&d, true), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    /* A long history in the lease bucket: the lease's revision is high. */
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, "fleet_leader"), NATS_OK);
    for (int k = 0; k < 60; k++)
        assert_int_equal(kvStore_PutString(&rev, kv, "filler", "x"), NATS_OK);
    kvStore_Destroy(kv);
    l = lead_on(s);
    assert_int_equal(tick(l), LEASE_LEADER);
    high = leadership_term(l);
    generation = leadership_generation(l);
    assert_true(high > 60);

    /* Gone: the leader notices, the store recreates the bucket, and a new
     * leadership (revision 1 in the new bucket) has a term above the old. */
    assert_int_equal(js_DeleteStream(js, "KV_fleet_leader", NULL, NULL), NATS_OK);
    after = 0;
    for (int64_t end = proc_now_ms() + 10 * TTL_MS; leadership_generation(l) == generation && proc_now_ms() < end;)
        after = tick_until_leader(s, l, 200);
    assert_true(leadership_generation(l) != generation);
    assert_true(after > high);

    jsCtx_Destroy(js);
    leadership_destroy(l);
    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

/* A record rewritten or deleted by hand: the next write conflicts, re-reads
 * what is there, and the one after goes through. */
static void test_records_changed_by_hand_are_reread(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    struct store *s;
    const void *rec;
    size_t len;
    uint64_t rev;

    assert_int_equal(natsd_start(&d, true), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, "fleet_state"), NATS_OK);

    assert_int_equal(store_put_instance(s, "svc", "i-1", "ours-1", 6), STORE_WRITTEN);
    assert_int_equal(kvStore_PutString(&rev, kv, "inst.svc.i-1", "by-hand"), NATS_OK);
    assert_int_equal(store_put_instance(s, "svc", "i-1", "ours-2", 6), STORE_CONFLICT);
    store_conflict_record(s, &rec, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(rec, "by-hand", 7);
    assert_int_equal(store_put_instance(s, "svc", "i-1", "ours-3", 6), STORE_WRITTEN);

    assert_int_equal(kvStore_Delete(kv, "inst.svc.i-1"), NATS_OK);
    assert_int_equal(store_put_instance(s, "svc", "i-1", "ours-4", 6), STORE_CONFLICT);
    store_conflict_record(s, &rec, &len);
    assert_int_equal(len, 0);
    assert_int_equal(store_put_instance(s, "svc", "i-1", "ours-5", 6), STORE_WRITTEN);

    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

/* ---- degraded ---- */

static void test_degraded_without_jetstream(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    struct store *s;
    struct leadership *l;
    struct loaded l_ = { 0 };
    int rs, rl, ra;

    assert_int_equal(natsd_start(&d, false), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    l = lead_on(s);
    assert_false(store_available(s));
    assert_non_null(strstr(store_unavailable_reason(s), "-js"));
    assert_int_equal(store_put_instance(s, "svc", "i-1", "x", 1), STORE_FAILED);
    assert_non_null(strstr(store_last_error(s), "JetStream unavailable"));
    assert_int_equal(store_delete_instance(s, "svc", "i-1"), -1);
    assert_int_equal(store_load_all(s, collect, &l_), -1);
    assert_int_equal(l_.n, 0);
    assert_int_equal(tick(l), LEASE_STANDBY);   /* nobody seen yet: not publishing at once */
    assert_int_equal(leadership_term(l), 0);
    sleep_ms(TTL_MS + 50);
    assert_int_equal(tick(l), LEASE_UNSURE);    /* nobody seen leading for a TTL: publish, never act */
    assert_false(leadership_may_act(l, proc_now_ms()));
    store_replicas(s, &rs, &rl, &ra);
    assert_int_equal(rs + rl + ra, 0);
    leadership_destroy(l);

    /* The server comes back with JetStream: the store opens on a tick. */
    natsConnection_Destroy(nc);
    natsd_stop(&d, true);
    d.jetstream = true;
    assert_int_equal(natsd_restart(&d), 0);
    store_close(s);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    l = lead_on(s);
    assert_true(store_available(s));
    assert_true(tick_until_leader(s, l, 2 * TTL_MS) > 0);
    /* A single server: auto replicas are 1. */
    store_replicas(s, &rs, &rl, &ra);
    assert_int_equal(rs, 1);
    assert_int_equal(rl, 1);
    assert_int_equal(ra, 1);

    leadership_destroy(l);
    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

static void test_degraded_recovers_on_tick(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    struct store *s;
    struct leadership *l;

    assert_int_equal(natsd_start(&d, false), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    l = lead_on(s);
    assert_false(store_available(s));

    /* Same connection: nats.c reconnects to the restarted server. */
    natsd_stop(&d, true);
    d.jetstream = true;
    assert_int_equal(natsd_restart(&d), 0);
    assert_true(tick_until_leader(s, l, 5000 + 2 * TTL_MS) > 0);
    assert_true(store_available(s));
    assert_int_equal(store_put_instance(s, "svc", "i-1", "x", 1), STORE_WRITTEN);

    leadership_destroy(l);
    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

/* ---- durability ---- */

static void test_state_survives_server_restart(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    struct store *s;
    struct loaded l = { 0 };

    assert_int_equal(natsd_start(&d, true), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    assert_int_equal(store_put_instance(s, "svc", "i-1", "epoch=7", 7), STORE_WRITTEN);
    assert_int_equal(store_put_instance(s, "svc", "i-2", "epoch=8", 7), STORE_WRITTEN);
    store_close(s);
    natsConnection_Destroy(nc);

    natsd_stop(&d, true);
    assert_int_equal(natsd_restart(&d), 0);

    nc = connect_to(d.url);
    s = open_store(nc, "sup-b");
    assert_true(store_available(s));
    assert_int_equal(store_load_all(s, collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(find(&l, "svc/i-1"), "epoch=7");
    assert_string_equal(find(&l, "svc/i-2"), "epoch=8");

    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

/* ---- audit stream ---- */

static void test_audit_stream_captures_events(void **state)
{
    struct natsd d = { 0 };
    natsConnection *nc;
    jsCtx *js = NULL;
    natsMsg *m = NULL;
    struct store *s;
    natsStatus st = NATS_NOT_FOUND;
    static const char payload[] = "an-event";

    assert_int_equal(natsd_start(&d, true), 0);
    nc = connect_to(d.url);
    s = open_store(nc, "sup-a");
    assert_true(store_available(s));

    assert_int_equal(natsConnection_Publish(nc, "fleet.v1.events.svc", payload, sizeof(payload)), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    for (int i = 0; i < 50 && st != NATS_OK; i++) {
        st = js_GetLastMsg(&m, js, "FLEET_AUDIT", "fleet.v1.events.svc", NULL, NULL);
        if (st != NATS_OK)
            sleep_ms(20);
    }
    assert_int_equal(st, NATS_OK);
    assert_int_equal(natsMsg_GetDataLength(m), (int)sizeof(payload));
    assert_memory_equal(natsMsg_GetData(m), payload, sizeof(payload));
    natsMsg_Destroy(m);

    /* Opening again binds the same stream and buckets. */
    store_close(s);
    s = open_store(nc, "sup-b");
    assert_true(store_available(s));

    jsCtx_Destroy(js);
    store_close(s);
    natsConnection_Destroy(nc);
    natsd_stop(&d, false);
}

static int teardown_all(void **state)
{
    nats_Close();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_lease_failover),
        cmocka_unit_test(test_own_lease_is_taken_back),
        cmocka_unit_test(test_term_survives_lease_bucket_loss),
        cmocka_unit_test(test_records_changed_by_hand_are_reread),
        cmocka_unit_test(test_degraded_without_jetstream),
        cmocka_unit_test(test_degraded_recovers_on_tick),
        cmocka_unit_test(test_state_survives_server_restart),
        cmocka_unit_test(test_audit_stream_captures_events),
    };

    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
