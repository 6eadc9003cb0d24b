/* Helper for pbjson.test.mjs: prints messages of fleet.proto, one a line, as
 *
 *   <message name> <its protobuf bytes in hex> <pbjson_render of it>
 *
 * so protobufjs can decode the bytes on its own and compare its JSON form
 * with ours. The messages carry what the mapping has rules for: 64-bit
 * values past 2^53, enum names and an unknown enum number, NaN and the
 * infinities, bytes, defaults, empty and nested repeated fields, an absent
 * and a present sub-message. Exits 0, or 1 when out of memory. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fleet/v1/fleet.pb-c.h"
#include "pb_samples.h"
#include "pbjson.h"

static int print(const char *name, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    char *json = pbjson_render(m);
    int rc = -1;

    if (buf == NULL || json == NULL)
        goto out_free_both;
    protobuf_c_message_pack(m, buf);
    printf("%s ", name);
    for (size_t k = 0; k < n; k++)
        printf("%02x", buf[k]);
    printf(" %s\n", json);
    rc = 0;
out_free_both:
    free(buf);
    free(json);
    return rc;
}

int main(void)
{
    struct pb_sample_fleet sample;
    Fleet__V1__Event ev;
    Fleet__V1__Heartbeat hb;
    struct pb_sample_heartbeat sample_hb;
    int rc = 0;

    pb_sample_fleet(&sample);
    rc |= print("FleetStatus", &sample.fs.base);
    /* The numbers JSON has no literal for, and a text to escape. */
    sample.svc[0].availability_1h = NAN;
    sample.svc[1].availability_1h = INFINITY;
    sample.svc[1].availability_24h = -INFINITY;
    sample.inst.reason = "late: \"phi\" 3.25 \xc3\xa9";
    rc |= print("FleetStatus", &sample.fs.base);

    fleet__v1__event__init(&ev);
    rc |= print("Event", &ev.base); /* every field at its default */
    ev.feed_seq = 18446744073709551615ull;
    ev.unix_ms = INT64_MIN;
    ev.service = "web";
    ev.instance = "web-1";
    ev.from = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    ev.to = (Fleet__V1__InstanceHealth)77;
    ev.action = FLEET__V1__ACTION__ACTION_FENCE;
    ev.reason = "crashloop";
    ev.term = 9;
    ev.operator_ = "alice";
    rc |= print("Event", &ev.base);

    fleet__v1__heartbeat__init(&hb);
    rc |= print("Heartbeat", &hb.base); /* no exit: null */
    pb_sample_heartbeat(&sample_hb);
    sample_hb.hb.pid = 4242;
    rc |= print("Heartbeat", &sample_hb.hb.base);
    return rc != 0;
}
