/* The daemon's bus (bus.c, bus_loop.c) against a real nats-server: the bulk
 * subscription taken by the bus's own reader, its backlog held in nats.c
 * while the taker has no room (other subscriptions and publishes going on
 * meanwhile), nothing lost or reordered, and reads, writes and the bulk
 * subscription surviving a server restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "bus.h"
#include "natsd.h"
#include "proc.h"

#define WAIT_MS 10000
#define N_BULK 2000

struct taker {
    atomic_bool room;
    atomic_int got;         /* bulk messages handed over */
    atomic_int out_of_order;
    atomic_int asked;       /* times room was asked while closed */
    atomic_int plain;       /* messages on the plain subscription */
    atomic_int ups, downs;  /* link reports */
};

static void on_bulk(void *ctx, const char *subject, const char *reply, const void *data, size_t len)
{
    struct taker *t = ctx;
    char text[16] = "";

    (void)subject;
    (void)reply;
    memcpy(text, data, len < sizeof(text) - 1 ? len : sizeof(text) - 1);
    if (atoi(text) != atomic_load(&t->got))
        atomic_fetch_add(&t->out_of_order, 1);
    atomic_fetch_add(&t->got, 1);
}

static bool has_room(void *ctx)
{
    struct taker *t = ctx;
    bool room = atomic_load(&t->room);

    if (!room)
        atomic_fetch_add(&t->asked, 1);
    return room;
}

static void on_plain(void *ctx, const char *subject, const char *reply, const void *data, size_t len)
{
    struct taker *t = ctx;

    (void)subject;
    (void)reply;
    (void)data;
    (void)len;
    atomic_fetch_add(&t->plain, 1);
}

static void on_link(void *ctx, bool up, const char *url, const char *server_id)
{
    struct taker *t = ctx;

    (void)url;
    (void)server_id;
    atomic_fetch_add(up ? &t->ups : &t->downs, 1);
}

static bool wait_count(atomic_int *n, int want)
{
    for (int64_t until = proc_now_ms() + WAIT_MS; proc_now_ms() < until; nats_Sleep(5))
        if (atomic_load(n) >= want)
            return true;
    return atomic_load(n) >= want;
}

static void publish_seq(natsConnection *nc, int from, int to)
{
    char subject[64], text[16];

    for (int k = from; k < to; k++) {
        snprintf(subject, sizeof(subject), "t.bulk.%d", k % 7);
        snprintf(text, sizeof(text), "%d", k);
        assert_int_equal(natsConnection_PublishString(nc, subject, text), NATS_OK);
    }
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
}

static struct bus *open_bus(struct natsd *d, struct taker *t)
{
    struct bus_options o = { .url = d->url, .name = "test-bus" };
    struct bus *b = NULL;
    char err[256];

    assert_int_equal(bus_open(&o, on_link, t, &b, err, sizeof(err)), 0);
    assert_int_equal(bus_subscribe_bulk(b, "t.bulk.>", on_bulk, has_room, t, err, sizeof(err)), 0);
    assert_int_equal(bus_subscribe(b, "t.plain", NULL, on_plain, t, err, sizeof(err)), 0);
    /* A second bulk subscription is refused, with a reason. */
    assert_int_equal(bus_subscribe_bulk(b, "t.other", on_bulk, NULL, t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bulk"));
    return b;
}

/* Waits until the server routes `subject` to the bus: a probe published on
 * it is answered by the count rising. */
static void wait_routed(natsConnection *pub, atomic_int *count, const char *subject)
{
    int before = atomic_load(count);

    for (int64_t until = proc_now_ms() + WAIT_MS; proc_now_ms() < until; nats_Sleep(50)) {
        assert_int_equal(natsConnection_PublishString(pub, subject, "probe"), NATS_OK);
        natsConnection_Flush(pub);
        if (atomic_load(count) > before)
            return;
    }
    fail_msg("%s never reached the bus", subject);
}

static void backlog_waits_for_room_and_the_rest_goes_on(void **state)
{
    struct natsd d = { 0 };
    struct taker t = { 0 };
    natsConnection *pub = NULL;
    natsSubscription *out = NULL;
    natsMsg *m = NULL;
    struct bus_stats st;
    struct bus *b;

    (void)state;
    assert_int_equal(natsd_start(&d, false), 0);
    assert_int_equal(natsConnection_ConnectTo(&pub, d.url), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&out, pub, "t.out"), NATS_OK);
    assert_int_equal(natsConnection_Flush(pub), NATS_OK);
    b = open_bus(&d, &t);
    wait_routed(pub, &t.plain, "t.plain");

    /* No room: the bulk messages wait in nats.c, asked about again and again. */
    publish_seq(pub, 0, N_BULK);
    assert_true(wait_count(&t.asked, 10));
    assert_int_equal(atomic_load(&t.got), 0);
    /* Meanwhile the reader still reads: another subscription's message and a
     * publish of ours both go through. */
    {
        int before = atomic_load(&t.plain);

        assert_int_equal(natsConnection_PublishString(pub, "t.plain", "x"), NATS_OK);
        assert_int_equal(natsConnection_Flush(pub), NATS_OK);
        assert_true(wait_count(&t.plain, before + 1));
    }
    assert_int_equal(bus_publish(b, "t.out", "hello", 5), 0);
    assert_int_equal(natsSubscription_NextMsg(&m, out, WAIT_MS), NATS_OK);
    assert_int_equal(natsMsg_GetDataLength(m), 5);
    natsMsg_Destroy(m);
    assert_int_equal(atomic_load(&t.got), 0);

    /* Room again: every one of them, in order, none dropped. */
    atomic_store(&t.room, true);
    assert_true(wait_count(&t.got, N_BULK));
    assert_int_equal(atomic_load(&t.out_of_order), 0);
    bus_stats(b, &st);
    assert_int_equal(st.dropped, 0);

    /* Closing with a backlog held returns. */
    atomic_store(&t.room, false);
    publish_seq(pub, N_BULK, 2 * N_BULK);
    bus_close(b, 1000);
    natsSubscription_Destroy(out);
    natsConnection_Destroy(pub);
    natsd_stop(&d, false);
}

static void a_server_restart_is_survived(void **state)
{
    struct natsd d = { 0 };
    struct taker t = { 0 };
    natsConnection *pub = NULL;
    natsSubscription *out = NULL;
    natsMsg *m = NULL;
    struct bus *b;
    int got;

    (void)state;
    atomic_store(&t.room, true);
    assert_int_equal(natsd_start(&d, false), 0);
    b = open_bus(&d, &t);
    assert_int_equal(natsConnection_ConnectTo(&pub, d.url), NATS_OK);
    wait_routed(pub, &t.got, "t.bulk.0");
    natsConnection_Destroy(pub);
    pub = NULL;

    natsd_stop(&d, true);
    assert_true(wait_count(&t.downs, 1));
    assert_int_equal(natsd_restart(&d), 0);
    assert_true(wait_count(&t.ups, 2));

    /* Reads: the bulk subscription was resent and is taken again. */
    assert_int_equal(natsConnection_ConnectTo(&pub, d.url), NATS_OK);
    got = atomic_load(&t.got);
    wait_routed(pub, &t.got, "t.bulk.1");
    assert_true(atomic_load(&t.got) > got);
    /* Writes: a publish of ours reaches the new server. */
    assert_int_equal(natsConnection_SubscribeSync(&out, pub, "t.out"), NATS_OK);
    assert_int_equal(natsConnection_Flush(pub), NATS_OK);
    assert_int_equal(bus_publish(b, "t.out", "again", 5), 0);
    assert_int_equal(natsSubscription_NextMsg(&m, out, WAIT_MS), NATS_OK);
    natsMsg_Destroy(m);

    bus_close(b, 1000);
    natsSubscription_Destroy(out);
    natsConnection_Destroy(pub);
    natsd_stop(&d, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backlog_waits_for_room_and_the_rest_goes_on),
        cmocka_unit_test(a_server_restart_is_survived),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    nats_Close();
    return rc;
}
