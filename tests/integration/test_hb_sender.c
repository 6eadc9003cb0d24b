/* libfleet heartbeat sender against a real nats-server: cadence, sequence,
 * immediate sends, incarnations and surviving a server restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fleet/heartbeat.h"
#include "fleet/v1/fleet.pb-c.h"
#include "natsd.h"
#include "proc.h"

/* What a test needs from one received heartbeat (copied: the message is
 * freed in the function that unpacked it). */
struct got_hb {
    char subject[256];
    char service[65], instance[65], version[129];
    uint64_t incarnation, seq;
    uint32_t interval_ms;
    int state;
    size_t n_checks;
    bool check0_ok;
    bool has_exit;
    int32_t exit_code;
    int64_t received_ms;
};

struct fixture {
    struct natsd natsd;
    natsConnection *sub_conn;
    natsSubscription *sub;
};

static struct fixture fx;

static int start_server(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    return natsd_start(&fx.natsd, false);
}

static int stop_server(void **state)
{
    (void)state;
    natsd_stop(&fx.natsd, false);
    nats_Close();
    return 0;
}

/* A subscriber on every heartbeat that reconnects like the sender does. */
static int subscribe(void **state)
{
    natsOptions *o = NULL;

    (void)state;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, fx.natsd.url) != NATS_OK ||
        natsOptions_SetMaxReconnect(o, -1) != NATS_OK || natsOptions_SetReconnectWait(o, 100) != NATS_OK ||
        natsConnection_Connect(&fx.sub_conn, o) != NATS_OK ||
        natsConnection_SubscribeSync(&fx.sub, fx.sub_conn, "fleet.v1.hb.>") != NATS_OK ||
        natsConnection_Flush(fx.sub_conn) != NATS_OK) {
        natsOptions_Destroy(o);
        return -1;
    }
    natsOptions_Destroy(o);
    return 0;
}

static int unsubscribe(void **state)
{
    (void)state;
    natsSubscription_Destroy(fx.sub);
    natsConnection_Destroy(fx.sub_conn);
    fx.sub = NULL;
    fx.sub_conn = NULL;
    return 0;
}

/* Waits up to `timeout_ms` for the next heartbeat. True when one arrived. */
static bool next_hb(int timeout_ms, struct got_hb *out)
{
    natsMsg *msg = NULL;
    Fleet__V1__Heartbeat *hb;

    if (natsSubscription_NextMsg(&msg, fx.sub, timeout_ms) != NATS_OK)
        return false;
    memset(out, 0, sizeof(*out));
    out->received_ms = proc_now_ms();
    snprintf(out->subject, sizeof(out->subject), "%s", natsMsg_GetSubject(msg));
    hb = fleet__v1__heartbeat__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                      (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    assert_non_null(hb);
    snprintf(out->service, sizeof(out->service), "%s", hb->service);
    snprintf(out->instance, sizeof(out->instance), "%s", hb->instance);
    snprintf(out->version, sizeof(out->version), "%s", hb->version);
    out->incarnation = hb->incarnation;
    out->seq = hb->seq;
    out->interval_ms = hb->interval_ms;
    out->state = (int)hb->state;
    out->n_checks = hb->n_checks;
    out->check0_ok = hb->n_checks > 0 && hb->checks[0]->ok;
    out->has_exit = hb->exit != NULL;
    out->exit_code = hb->exit != NULL ? hb->exit->code : 0;
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
    return true;
}

static fleet_hb *make_sender(const char *instance, uint32_t interval_ms)
{
    fleet_hb_opts *o = NULL;
    fleet_hb *hb = NULL;

    assert_int_equal(fleet_hb_opts_create(&o), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_url(o, fx.natsd.url), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_service(o, "story-teller"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_instance(o, instance), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, interval_ms), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_version(o, "1.4.2"), FLEET_OK);
    if (fleet_hb_create(o, &hb) != FLEET_OK)
        fail_msg("fleet_hb_create: %s", fleet_last_error());
    fleet_hb_opts_destroy(o);
    return hb;
}

static void test_autonomous_cadence(void **state)
{
    fleet_hb *hb = make_sender("story-teller-1", 100);
    struct got_hb first, got;
    uint64_t prev_seq;

    (void)state;
    assert_true(next_hb(2000, &first));
    assert_string_equal(first.subject, "fleet.v1.hb.story-teller.story-teller-1");
    assert_string_equal(first.service, "story-teller");
    assert_string_equal(first.instance, "story-teller-1");
    assert_string_equal(first.version, "1.4.2");
    assert_int_equal(first.seq, 1);
    assert_int_not_equal(first.incarnation, 0);
    assert_int_equal(first.incarnation, fleet_hb_incarnation(hb));
    assert_int_equal(first.interval_ms, 100);
    assert_int_equal(first.state, FLEET_STATE_STARTING);

    prev_seq = first.seq;
    for (int i = 0; i < 10; i++) {
        assert_true(next_hb(1000, &got));
        assert_int_equal(got.seq, prev_seq + 1);
        assert_int_equal(got.incarnation, first.incarnation);
        assert_int_equal(got.interval_ms, 100);
        prev_seq = got.seq;
    }
    /* 10 intervals of 100 ms: neither flooding nor lagging. */
    assert_in_range(got.received_ms - first.received_ms, 800, 1500);
    fleet_hb_destroy(hb);
}

static void test_changes_send_at_once(void **state)
{
    fleet_hb *hb = make_sender("story-teller-2", 1000);
    struct got_hb first, got;
    int64_t called;

    (void)state;
    assert_true(next_hb(2000, &first));         /* the one sent at create */

    called = proc_now_ms();
    assert_int_equal(fleet_hb_set_state(hb, FLEET_STATE_DEGRADED), FLEET_OK);
    assert_true(next_hb(900, &got));
    assert_int_equal(got.state, FLEET_STATE_DEGRADED);
    assert_int_equal(got.seq, first.seq + 1);
    assert_in_range(got.received_ms - called, 0, 50);

    /* Same state again: nothing extra; the cadence restarted from the change. */
    assert_int_equal(fleet_hb_set_state(hb, FLEET_STATE_DEGRADED), FLEET_OK);
    assert_true(next_hb(2000, &got));
    assert_int_equal(got.seq, first.seq + 2);
    assert_in_range(got.received_ms - called, 800, 1300);

    called = proc_now_ms();
    assert_int_equal(fleet_hb_set_check(hb, "http", false, "GET /health: 503"), FLEET_OK);
    assert_true(next_hb(900, &got));
    assert_in_range(got.received_ms - called, 0, 50);
    assert_int_equal(got.n_checks, 1);
    assert_false(got.check0_ok);

    called = proc_now_ms();
    assert_int_equal(fleet_hb_set_exit(hb, 3, 0, 1700000000000), FLEET_OK);
    assert_true(next_hb(900, &got));
    assert_in_range(got.received_ms - called, 0, 50);
    assert_int_equal(got.state, FLEET_STATE_EXITED);
    assert_true(got.has_exit);
    assert_int_equal(got.exit_code, 3);
    fleet_hb_destroy(hb);
}

static void test_new_incarnation_restarts_seq(void **state)
{
    fleet_hb *hb = make_sender("story-teller-3", 100);
    struct got_hb got;
    uint64_t old_incarnation, new_incarnation;
    int64_t deadline;

    (void)state;
    assert_true(next_hb(2000, &got));
    assert_true(next_hb(1000, &got));
    old_incarnation = got.incarnation;
    assert_int_equal(fleet_hb_new_incarnation(hb), FLEET_OK);
    new_incarnation = fleet_hb_incarnation(hb);
    assert_int_not_equal(new_incarnation, old_incarnation);
    assert_int_not_equal(new_incarnation, 0);

    deadline = proc_now_ms() + 2000;
    do {
        assert_true(next_hb(1000, &got));
    } while (got.incarnation == old_incarnation && proc_now_ms() < deadline);
    assert_int_equal(got.incarnation, new_incarnation);
    assert_int_equal(got.seq, 1);
    assert_int_equal(got.state, FLEET_STATE_STARTING);
    assert_true(next_hb(1000, &got));
    assert_int_equal(got.incarnation, new_incarnation);
    assert_int_equal(got.seq, 2);
    fleet_hb_destroy(hb);
}

static void test_survives_server_restart(void **state)
{
    fleet_hb *hb = make_sender("story-teller-4", 100);
    struct got_hb got;
    uint64_t incarnation, last_seq;
    int64_t deadline;
    fleet_hb_counters counters;

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_true(next_hb(2000, &got));
    incarnation = got.incarnation;
    last_seq = got.seq;

    natsd_stop(&fx.natsd, true);
    while (next_hb(50, &got))       /* drain what was in flight */
        last_seq = got.seq;
    assert_int_equal(natsd_restart(&fx.natsd), 0);

    /* Both sides reconnect (250 ms waits); heartbeats resume, seq still rising. */
    deadline = proc_now_ms() + 10000;
    while (!next_hb(100, &got))
        assert_true(proc_now_ms() < deadline);
    assert_int_equal(got.incarnation, incarnation);
    assert_true(got.seq > last_seq);
    last_seq = got.seq;
    for (int i = 0; i < 3; i++) {
        assert_true(next_hb(1000, &got));
        assert_int_equal(got.seq, last_seq + 1);
        last_seq = got.seq;
    }
    assert_int_equal(fleet_hb_stats(hb, &counters), FLEET_OK);
    assert_true(counters.sent >= last_seq - counters.failed);
    fleet_hb_destroy(hb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_autonomous_cadence, subscribe, unsubscribe),
        cmocka_unit_test_setup_teardown(test_changes_send_at_once, subscribe, unsubscribe),
        cmocka_unit_test_setup_teardown(test_new_incarnation_restarts_seq, subscribe, unsubscribe),
        cmocka_unit_test_setup_teardown(test_survives_server_restart, subscribe, unsubscribe),
    };

    return cmocka_run_group_tests(tests, start_server, stop_server);
}
