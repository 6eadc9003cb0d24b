/* Heartbeat wire form: a snapshot of the sender's state into protobuf bytes. */
#include <stdlib.h>
#include <string.h>

#include "fleet/v1/fleet.pb-c.h"
#include "hb_private.h"
#include "lasterror.h"

_Static_assert((int)FLEET_STATE_STARTING == (int)FLEET__V1__SERVING_STATE__SERVING_STATE_STARTING &&
               (int)FLEET_STATE_DEGRADED == (int)FLEET__V1__SERVING_STATE__SERVING_STATE_DEGRADED &&
               (int)FLEET_STATE_EXITED == (int)FLEET__V1__SERVING_STATE__SERVING_STATE_EXITED,
               "fleet_serving_state must carry the wire ServingState numbers");

/* The proof entries of `snap` into proof[] (n_proofs * ENTRY bytes). */
static fleet_status prove(const struct hb_snapshot *snap, uint8_t *proof)
{
    uint8_t layout[FLEET_PROOF_LAYOUT_MAX];
    const char *names[FLEET_HB_CHECKS_MAX];
    bool ok[FLEET_HB_CHECKS_MAX];
    size_t n = snap->n_checks < FLEET_HB_CHECKS_MAX ? snap->n_checks : FLEET_HB_CHECKS_MAX;
    fleet_proof_fields f = {
        .service = snap->service, .instance = snap->instance, .version = snap->version,
        .nats_server = snap->nats_server != NULL ? snap->nats_server : "",
        .incarnation = snap->incarnation, .seq = snap->seq, .fence_epoch = snap->fence_epoch,
        .term_seen = snap->term_seen, .sent_unix_ms = snap->sent_unix_ms,
        .interval_ms = snap->interval_ms, .state = (uint32_t)snap->state, .pid = snap->pid,
        .has_exit = snap->has_exit, .exit_code = snap->exit_code, .exit_signal = snap->exit_signal,
        .exit_at_unix_ms = snap->exit_at_unix_ms,
        .check_name = names, .check_ok = ok, .n_checks = n,
    };
    size_t layout_len;
    fleet_status s;

    for (size_t k = 0; k < n; k++) {
        names[k] = snap->checks[k].name;
        ok[k] = snap->checks[k].ok;
    }
    s = fleet_proof_layout(&f, layout, sizeof(layout), &layout_len);
    if (s != FLEET_OK)
        return s;
    for (size_t k = 0; k < snap->n_proofs; k++) {
        uint8_t *entry = proof + k * FLEET_PROOF_ENTRY_BYTES;

        memcpy(entry, snap->ids[k], FLEET_PROOF_ID_BYTES);
        fleet_proof_tag(snap->mac[k], layout, layout_len, entry + FLEET_PROOF_ID_BYTES);
    }
    return FLEET_OK;
}

fleet_status hb_wire_pack(const struct hb_snapshot *snap, uint8_t **buf, size_t *cap, size_t *len)
{
    uint8_t proof[FLEET_PROOF_ENTRIES_MAX * FLEET_PROOF_ENTRY_BYTES];
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

    if (snap->key != NULL) {
        msg.incarnation_key.data = (uint8_t *)snap->key;
        msg.incarnation_key.len = FLEET_PROOF_KEY_BYTES;
        if (snap->n_proofs > 0) {
            fleet_status s = prove(snap, proof);

            if (s != FLEET_OK)
                return s;
            msg.proof.data = proof;
            msg.proof.len = snap->n_proofs * FLEET_PROOF_ENTRY_BYTES;
        }
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
