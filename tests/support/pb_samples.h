/* Sample fleet.v1 messages with values the JSON mapping has rules for
 * (64-bit values at and past 2^53, enum names, defaults, nesting), shared
 * by the unit test of pbjson and the protobufjs comparison's helper
 * (tests/js/pbjson_fixture.c), so both judge the same message. */
#ifndef TESTS_PB_SAMPLES_H
#define TESTS_PB_SAMPLES_H

#include <stdint.h>

#include "fleet/v1/fleet.pb-c.h"

/* A FleetStatus of two services: "web" (degraded, one DEAD instance, two
 * versions) and one with every field at its default. The message points
 * into the struct itself: fill it where it stays. Nothing is allocated. */
struct pb_sample_fleet {
    Fleet__V1__FleetStatus fs;
    Fleet__V1__ServiceStatus svc[2];
    Fleet__V1__ServiceStatus *svcs[2];
    Fleet__V1__InstanceStatus inst;
    Fleet__V1__InstanceStatus *insts[1];
    char *versions[2];
};

void pb_sample_fleet(struct pb_sample_fleet *s);

/* A Heartbeat with a nested ExitInfo (code -1, signal 9, at 5), one Check
 * ("http", ok, "200"), 5 bytes of incarnation key and state SERVING; the
 * rest at defaults. Points into the struct itself, as above. */
struct pb_sample_heartbeat {
    Fleet__V1__Heartbeat hb;
    Fleet__V1__ExitInfo exit;
    Fleet__V1__Check check;
    Fleet__V1__Check *checks[1];
    uint8_t key[5];
};

void pb_sample_heartbeat(struct pb_sample_heartbeat *s);

#endif
