/* Sample fleet.v1 messages (pb_samples.h). */
#include "pb_samples.h"

#include <stdint.h>
#include <string.h>

void pb_sample_fleet(struct pb_sample_fleet *s)
{
    Fleet__V1__InstanceStatus *inst = &s->inst;
    Fleet__V1__ServiceStatus *web = &s->svc[0];
    Fleet__V1__FleetStatus *fs = &s->fs;

    fleet__v1__instance_status__init(inst);
    inst->instance = "web-1";
    inst->health = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD;
    inst->last_seen_unix_ms = 1764000000123;
    inst->phi = 8.5;
    inst->incarnation = UINT64_MAX;
    inst->restarts = 4000000000u;
    inst->fence_epoch = (1ull << 53) + 1;
    inst->version = "1.2.3";
    inst->reason = "silent 5.2s";
    inst->next_action_unix_ms = -1;
    s->insts[0] = inst;

    s->versions[0] = "1.2.3";
    s->versions[1] = "1.2.4";
    fleet__v1__service_status__init(web);
    web->name = "web";
    web->desired = 3;
    web->healthy = 2;
    web->health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_DEGRADED;
    web->instances = s->insts;
    web->n_instances = 1;
    web->availability_1h = 0.5;
    web->availability_24h = 0.25;
    web->versions = s->versions;
    web->n_versions = 2;
    web->expected = 1;
    fleet__v1__service_status__init(&s->svc[1]); /* every field at its default */
    s->svcs[0] = web;
    s->svcs[1] = &s->svc[1];

    fleet__v1__fleet_status__init(fs);
    fs->generated_unix_ms = 1764000000999;
    fs->feed_seq = 1ull << 53;
    fs->term = 7;
    fs->services = s->svcs;
    fs->n_services = 2;
    fs->services_expected = 45;
    fs->services_available = 44;
    fs->availability = 44.0 / 45.0;
    fs->observer = FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_SELF_PRESERVATION;
    fs->instances_expected = 90;
    fs->instances_healthy = 88;
    fs->supervisor_id = "sup-a-1234";
}

void pb_sample_heartbeat(struct pb_sample_heartbeat *s)
{
    static const uint8_t key[5] = { 0, 1, 0xfe, 0xff, 0x7f };

    fleet__v1__exit_info__init(&s->exit);
    s->exit.code = -1;
    s->exit.signal = 9;
    s->exit.at_unix_ms = 5;
    fleet__v1__check__init(&s->check);
    s->check.name = "http";
    s->check.ok = 1;
    s->check.detail = "200";
    s->checks[0] = &s->check;
    memcpy(s->key, key, sizeof key);
    fleet__v1__heartbeat__init(&s->hb);
    s->hb.exit = &s->exit;
    s->hb.checks = s->checks;
    s->hb.n_checks = 1;
    s->hb.incarnation_key.data = s->key;
    s->hb.incarnation_key.len = sizeof s->key;
    s->hb.state = FLEET__V1__SERVING_STATE__SERVING_STATE_SERVING;
}
