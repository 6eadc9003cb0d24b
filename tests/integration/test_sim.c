/* fleet-sim end to end: the default 45-service fleet plus an orphan, with a
 * crash and a wrong version, seen by a plain nats.c subscriber. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fleet/v1/fleet.pb-c.h"
#include "natsd.h"
#include "proc.h"

#define MAX_SEEN 128

struct seen_instance {
    char service[65], instance[65], version[129];
    int64_t last_ms;        /* since the simulator started */
    unsigned count;
};

struct seen {
    struct seen_instance inst[MAX_SEEN];
    size_t n;
};

static struct seen_instance *find_or_add(struct seen *s, const char *service, const char *instance)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->inst[i].instance, instance) == 0 && strcmp(s->inst[i].service, service) == 0)
            return &s->inst[i];
    assert_true(s->n < MAX_SEEN);
    snprintf(s->inst[s->n].service, sizeof(s->inst[0].service), "%s", service);
    snprintf(s->inst[s->n].instance, sizeof(s->inst[0].instance), "%s", instance);
    return &s->inst[s->n++];
}

static const struct seen_instance *lookup(const struct seen *s, const char *instance)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->inst[i].instance, instance) == 0)
            return &s->inst[i];
    fail_msg("no heartbeat from %s", instance);
    return NULL;
}

static size_t distinct_services(const struct seen *s)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++) {
        bool earlier = false;

        for (size_t j = 0; j < i && !earlier; j++)
            earlier = strcmp(s->inst[j].service, s->inst[i].service) == 0;
        n += !earlier;
    }
    return n;
}

static void record(struct seen *s, natsMsg *msg, int64_t started_ms)
{
    Fleet__V1__Heartbeat *hb = fleet__v1__heartbeat__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    struct seen_instance *in;
    char subject[256];

    assert_non_null(hb);
    snprintf(subject, sizeof(subject), "fleet.v1.hb.%s.%s", hb->service, hb->instance);
    assert_string_equal(subject, natsMsg_GetSubject(msg));
    in = find_or_add(s, hb->service, hb->instance);
    snprintf(in->version, sizeof(in->version), "%s", hb->version);
    in->last_ms = proc_now_ms() - started_ms;
    in->count++;
    fleet__v1__heartbeat__free_unpacked(hb, NULL);
}

static void test_default_fleet_with_faults(void **state)
{
    static struct seen seen;
    struct natsd_client nats = { 0 };
    natsSubscription *sub = NULL;
    struct proc sim = { 0 };
    int64_t started_ms;
    int status = -1;

    (void)state;
    assert_int_equal(natsd_client_start(&nats, false), 0);
    assert_int_equal(natsConnection_SubscribeSync(&sub, nats.nc, "fleet.v1.hb.>"), NATS_OK);
    assert_int_equal(natsConnection_Flush(nats.nc), NATS_OK);

    {
        char *argv[] = { "fleet-sim", "--server", nats.d.url, "--interval-ms", "200",
                         "--duration-s", "3", "--crash", "story-teller-1@1",
                         "--wrong-version", "npc-behavior-2", "--unexpected", "ghost-svc", NULL };

        assert_int_equal(proc_start(&sim, argv, NULL), 0);
    }
    started_ms = proc_now_ms();
    while (status < 0 && proc_now_ms() - started_ms < 15000) {
        natsMsg *msg = NULL;

        if (natsSubscription_NextMsg(&msg, sub, 50) == NATS_OK) {
            record(&seen, msg, started_ms);
            natsMsg_Destroy(msg);
        }
        status = proc_wait(&sim, 0);
    }
    for (natsMsg *msg = NULL; natsSubscription_NextMsg(&msg, sub, 200) == NATS_OK; msg = NULL) {
        record(&seen, msg, started_ms);
        natsMsg_Destroy(msg);
    }

    if (status < 0) {
        char *out = proc_output(&sim);

        print_error("fleet-sim did not stop:\n%s\n", out != NULL ? out : "");
        free(out);
    }
    assert_true(status >= 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_int_equal(seen.n, 68 + 1);
    assert_int_equal(distinct_services(&seen), 45 + 1);
    assert_string_equal(lookup(&seen, "npc-behavior-2")->version, "1.3.9");
    assert_string_equal(lookup(&seen, "npc-behavior-1")->version, "1.4.2");
    assert_string_equal(lookup(&seen, "ghost-svc-1")->service, "ghost-svc");
    /* Crashed at 1 s: silent after it (process start-up adds some slack),
     * while its sibling kept sending to the end. */
    assert_in_range(lookup(&seen, "story-teller-1")->last_ms, 500, 1800);
    assert_true(lookup(&seen, "story-teller-2")->last_ms > 2500);
    assert_true(lookup(&seen, "story-teller-2")->count >= 10);

    assert_true(proc_output_clean(&sim));
    proc_kill(&sim);
    natsSubscription_Destroy(sub);
    natsd_client_stop(&nats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_fleet_with_faults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
