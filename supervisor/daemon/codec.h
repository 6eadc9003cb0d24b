/* Wire codec of the daemon: the only place that knows protobuf.
 *
 * Decoding turns untrusted bytes into a validated core input or a named
 * refusal; encoding turns core state into fleet.v1 messages.
 *
 * Every codec_*_pack: on 0, *buf is a new malloc'd buffer of *len bytes that
 * the caller owns and frees with free(); on -1 (out of memory) *buf and
 * *len are left untouched and nothing is allocated. */
#ifndef FLEET_CODEC_H
#define FLEET_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/proof.h"
#include "observer.h"

/* Why a heartbeat was refused; every refusal is counted by reason. */
enum hb_refusal {
    HB_OK = 0,
    HB_REFUSE_TOO_LARGE,  /* payload over max_heartbeat_bytes */
    HB_REFUSE_SUBJECT,    /* not <prefix>.v1.hb.<service>.<instance> */
    HB_REFUSE_DECODE,     /* not a valid Heartbeat protobuf */
    HB_REFUSE_NAME,       /* service/instance not a valid name */
    HB_REFUSE_MISMATCH,   /* body service/instance differ from the subject */
    HB_REFUSE_FIELD,      /* a field out of bounds (interval, version length, state, server id) */
    HB_REFUSE_OVERLOAD,   /* the supervisor could not keep up (queue full) */
    HB_REFUSE_KEY,        /* incarnation_key not 32 bytes, or not the key of this incarnation */
    HB_REFUSE_PROOF,      /* the proof for our key is wrong (forged or corrupted) */
    HB_REFUSAL_COUNT
};

/* Stable snake_case name of a refusal, for logs and metrics. */
const char *codec_refusal_name(enum hb_refusal r);

/* What a heartbeat offers to be checked against (fleet/proof.h). */
struct codec_hb_proof {
    bool has_key;        /* incarnation_key set, 32 bytes; its binding is the caller's to check */
    uint8_t key[FLEET_PROOF_KEY_BYTES];
    uint64_t incarnation;  /* the heartbeat's, which the key must stand for */
    size_t proof_len;    /* 0: no proof; else whole entries */
    uint8_t proof[FLEET_PROOF_ENTRIES_MAX * FLEET_PROOF_ENTRY_BYTES];
    size_t layout_len;   /* set when has_key and proof_len > 0 */
    uint8_t layout[FLEET_PROOF_LAYOUT_MAX];
};

/* Decodes and validates one heartbeat that arrived on `subject` (which must
 * have `prefix_len` bytes of prefix then ".v1.hb."). Fills *out (arrival_ms
 * and `proven` left for the caller) and, when `proof` is not NULL, *proof;
 * returns HB_OK, or returns the refusal and leaves both in an unspecified
 * state. An incarnation key of the wrong size is HB_REFUSE_KEY; a key that
 * does not stand for the heartbeat's incarnation (fleet_proof_incarnation)
 * is HB_REFUSE_KEY here when `proof` is NULL, and otherwise left to the
 * caller, who checks it once per key (proofcheck_verify). A proof that is
 * not whole entries, or a proven heartbeat with no layout, is
 * HB_REFUSE_FIELD. Thread-safe (no shared state). */
enum hb_refusal codec_heartbeat_decode(const char *subject, size_t prefix_len, const void *data,
                                       size_t len, size_t max_len, struct hb_input *out,
                                       struct codec_hb_proof *proof);

/* Clocks for encoding: `mono_ms` is the core's time, `unix_ms` the wall clock
 * at the same instant, used to turn core times into wall-clock fields. */
struct codec_clock {
    int64_t mono_ms;
    int64_t unix_ms;
};

/* Header fields of a FleetStatus. */
struct codec_fleet_header {
    uint64_t feed_seq;
    uint64_t term;
    const char *supervisor_id;
};

/* FleetStatus of the whole fleet. Instance lists are included while the
 * message fits in `max_bytes`, otherwise services carry counts only, and
 * past that the message carries the fleet's figures alone (no services).
 * Returns 0 with *buf (the caller's to free) and *len set, or -1. */
int codec_fleet_status_pack(struct observer *obs, const struct codec_fleet_header *hdr,
                            const struct codec_clock *clk, size_t max_bytes, uint8_t **buf,
                            size_t *len);

/* ServiceStatus of one service with all its instances. Returns 0 with *buf
 * (the caller's to free) and *len, or -1. */
int codec_service_status_pack(struct observer *obs, struct service *s, const struct codec_clock *clk,
                              uint8_t **buf, size_t *len);

/* ServiceStatus for a service the supervisor does not know: the name and
 * health UNSPECIFIED, so a querier can tell "unknown" from "down". Returns
 * 0 with *buf (the caller's to free) and *len, or -1. */
int codec_unknown_service_pack(const char *name, uint8_t **buf, size_t *len);

/* AdminReply: `ok`, and `error` (when refused) or `result` (what was done);
 * NULL is "". Returns 0 with *buf (the caller's to free) and *len, or -1. */
int codec_admin_reply_pack(bool ok, const char *error, const char *result, uint8_t **buf, size_t *len);

/* Event for one core event. Returns 0 with *buf (the caller's to free) and
 * *len, or -1. */
int codec_event_pack(const struct core_event *ev, uint64_t feed_seq, uint64_t term,
                     const struct codec_clock *clk, uint8_t **buf, size_t *len);

/* Reads who published a FleetStatus (its term, field 3, and supervisor_id,
 * field 11) by scanning the wire form, without decoding the services.
 * `id` gets at most n - 1 bytes, NUL-terminated. Returns 0, or -1 when the
 * bytes are not a well-formed message. Thread-safe. */
int codec_status_publisher(const void *data, size_t len, uint64_t *term, char *id, size_t n);

/* A decoded ControlAck; strings NUL-terminated, cut to fit. */
struct codec_ack {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    uint64_t seq;
    bool accepted;
    char error[128];
};

/* Decodes a ControlAck into *out and returns 0, or -1 when the bytes are
 * not a ControlAck (or name a service or instance longer than a name). */
int codec_ack_decode(const void *data, size_t len, struct codec_ack *out);

#endif
