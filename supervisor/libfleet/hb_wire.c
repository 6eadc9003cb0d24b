/* Heartbeat wire form: a snapshot of the sender's state into protobuf bytes. */
#include <stdlib.h>

#include "fleet/v1/fleet.pb-c.h"
#include "hb_private.h"
#include "lasterror.h"

_Static_assert((int)FLEET_STATE_STARTING == (int)FLEET__V1__SERVING_STATE__SERVING_STATE_STARTING &&
               (int)FLEET_STATE_DEGRADED == (int)FLEET__V1__SERVING_STATE__SERVING_STATE_DEGRADED &&
               (int)FLEET_STATE_EXITED == (int)FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED,
               "fleet_serving_state must carry the wire ServingState numbers");

fleet_status hb_wire_pack(const struct hb_snapshot *snap, uint8_t **buf, size_t *cap, size_t *len)
{
    Fleet__V1__Heartbeat msg = FLEET__V1__HEARTBEAT__INIT;
    Fleet__V1__ExitInfo exit_info = FLEET__V1__EXIT_INFO__INIT;
    Fleet__V1__Check checks[FLEET_HB_CHECKS_MAX];
    Fleet__V1__Check *check_ptrs[FLEET_HB_CHECKS_MAX];
    size_t need;

    /* protobuf-c's message fields are non-const char *; it only reads them. */
    msg.service = (char *)snap->service;
    msg.instance = (char *)snap->instance;
    msg.incarnation = snap->incarnation;
    msg.seq = snap->seq;
    msg.sent_unix_ms = snap->sent_unix_ms;
    msg.interval_ms = snap->interval_ms;
    msg.state = (Fleet__V1__ServingState)snap->state;
    msg.fence_epoch = snap->fence_epoch;
    msg.version = (char *)snap->version;
    msg.host = (char *)snap->host;
    msg.pid = snap->pid;
    msg.term_seen = snap->term_seen;
    msg.nats_server = (char *)(snap->nats_server != NULL ? snap->nats_server : "");
    for (size_t i = 0; i < snap->n_checks && i < FLEET_HB_CHECKS_MAX; i++, msg.n_checks++) {
        fleet__v1__check__init(&checks[i]);
        checks[i].name = (char *)snap->checks[i].name;
        checks[i].ok = snap->checks[i].ok;
        checks[i].detail = (char *)snap->checks[i].detail;
        check_ptrs[i] = &checks[i];
    }
    msg.checks = msg.n_checks > 0 ? check_ptrs : NULL;
    if (snap->has_exit) {
        exit_info.code = snap->exit_code;
        exit_info.signal = snap->exit_signal;
        exit_info.at_unix_ms = snap->exit_at_unix_ms;
        msg.exit = &exit_info;
    }

    need = fleet__v1__heartbeat__get_packed_size(&msg);
    if (need > *cap) {
        uint8_t *grown = realloc(*buf, need);

        if (grown == NULL)
            return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory encoding a heartbeat (%zu bytes)", need);
        *buf = grown;
        *cap = need;
    }
    *len = fleet__v1__heartbeat__pack(&msg, *buf);
    return FLEET_OK;
}
