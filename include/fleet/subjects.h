/* The wire vocabulary (DESIGN.md §3): every subject a fleet program
 * publishes or subscribes, the defaults every program starts from, and the
 * sizes of what the supervisor keeps. The daemon, fleet-agent, fleetctl,
 * fleet-sim and libfleet build their subjects here and nowhere else.
 *
 * Adding a subject: a `fleet_subject` kind and its row in subjects.c's
 * table; nothing else formats "<prefix>.v1...." by hand. */
#ifndef FLEET_SUBJECTS_H
#define FLEET_SUBJECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "fleet/names.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a fleet program connects when neither its flags nor $NATS_URL say. */
#define FLEET_DEFAULT_URL "nats://127.0.0.1:4222"
/* The subject prefix every program uses unless configured otherwise. */
#define FLEET_DEFAULT_PREFIX "fleet"
/* JetStream assets of the supervisor (config keys state.bucket,
 * state.lease_bucket, state.audit_stream, state.nonce_bucket). The nonce
 * bucket holds one key per admin command a leader carried out (the nonce in
 * hex), kept until no supervisor could still accept that command: a command
 * is carried out once across replicas, restarts and link gaps. */
#define FLEET_DEFAULT_STATE_BUCKET "fleet_state"
#define FLEET_DEFAULT_LEASE_BUCKET "fleet_leader"
#define FLEET_DEFAULT_AUDIT_STREAM "FLEET_AUDIT"
#define FLEET_DEFAULT_NONCE_BUCKET "fleet_admin_nonces"
/* Keys of the state bucket: "inst.<service>.<instance>" holds an
 * instance's durable record (the supervisor's own), "maint.<service>" and
 * "maint.<service>.<instance>" a maintenance flag whose value is the reason. */
#define FLEET_KV_INSTANCE_PREFIX "inst."
#define FLEET_KV_MAINT_PREFIX "maint."
/* Bytes of a buffer that holds any of those keys, NUL included. */
#define FLEET_KV_KEY_MAX (sizeof(FLEET_KV_MAINT_PREFIX) + 2 * FLEET_NAME_MAX + 2)

/* The NATS micro protocol's ping subject (micro's, not ours: no prefix);
 * "$SRV.PING.<name>" is answered by every instance of micro service <name>
 * (the supervisor's `probe: micro`, supervisor/daemon/micro_probe.h). */
#define FLEET_MICRO_PING "$SRV.PING"

/* Longest subject prefix, in bytes without the NUL. */
#define FLEET_PREFIX_MAX 128
/* Bytes of a buffer that holds any subject fleet_subject builds from a
 * valid prefix and names, NUL included. */
#define FLEET_SUBJECT_MAX (FLEET_PREFIX_MAX + 2 * FLEET_NAME_MAX + 24)
/* Longest reason the supervisor keeps and shows (a health reason, a fence
 * reason, a maintenance reason), in bytes without the NUL; longer ones are
 * cut on a UTF-8 character boundary. */
#define FLEET_KEPT_REASON_MAX 96

enum fleet_subject {
    FLEET_SUBJECT_HB,             /* <prefix>.v1.hb.<service>.<instance> */
    FLEET_SUBJECT_HB_ALL,         /* <prefix>.v1.hb.> */
    FLEET_SUBJECT_CTL,            /* <prefix>.v1.ctl.<service>.<instance> */
    FLEET_SUBJECT_STATUS,         /* <prefix>.v1.status */
    FLEET_SUBJECT_STATUS_SERVICE, /* <prefix>.v1.status.<service> */
    FLEET_SUBJECT_EVENTS,         /* <prefix>.v1.events.<service> */
    FLEET_SUBJECT_EVENTS_ALL,     /* <prefix>.v1.events.> */
    FLEET_SUBJECT_QUERY_STATUS,   /* <prefix>.v1.query.status */
    FLEET_SUBJECT_QUERY_SERVICE,  /* <prefix>.v1.query.service */
    FLEET_SUBJECT_ADMIN,          /* <prefix>.v1.admin.<verb> (the verb in the `service` argument) */
    FLEET_SUBJECT_ADMIN_ALL,      /* <prefix>.v1.admin.* */
    FLEET_SUBJECT_KINDS
};

/* Writes the subject of `kind` into out[0..n) and returns its length.
 * `service` and `instance` are used by the kinds that name them (ignored,
 * may be NULL, for the others). Returns 0 and leaves `out` untouched when
 * a name the kind needs is NULL, or the subject does not fit in n bytes
 * (never with a valid prefix and names and n >= FLEET_SUBJECT_MAX). The
 * names are not validated here: fleet_name_check does that at the edges. */
size_t fleet_subject(char *out, size_t n, enum fleet_subject kind, const char *prefix,
                     const char *service, const char *instance);

/* For a subject known to start with a prefix of `prefix_len` bytes (the
 * subscription guarantees it): the variable tail after the fixed part of
 * `kind` (e.g. "<service>.<instance>" for FLEET_SUBJECT_HB), or NULL when
 * the subject is not of that kind. */
const char *fleet_subject_tail(const char *subject, size_t prefix_len, enum fleet_subject kind);

/* True when `prefix` is one or more name tokens joined by single dots (no
 * wildcards, no empty token) of at most FLEET_PREFIX_MAX bytes. */
bool fleet_prefix_valid(const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
