/* Private to libfleet: the pieces the heartbeat sender is built from.
 *
 * hb_opts.c owns the option struct; hb_wire.c turns a snapshot into Heartbeat
 * bytes; hb_conn.c opens the sender's own NATS connection; heartbeat.c is
 * the object, its lock and its cadence thread. */
#ifndef FLEET_HB_PRIVATE_H
#define FLEET_HB_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "fleet/heartbeat.h"
#include "fleet/names.h"
#include "fleet/nkey.h"
#include "fleet/proof.h"
#include "fleet/subjects.h"

struct fleet_hb_opts {
    char *url;                  /* NULL: $NATS_URL, else FLEET_DEFAULT_URL (fleet/conn.h) */
    char *creds;                /* NULL: $NATS_CREDS; "": none */
    natsConnection *conn;       /* borrowed; NULL: open our own */
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    char prefix[FLEET_PREFIX_MAX + 1];
    char version[FLEET_HB_VERSION_MAX + 1];
    char host[FLEET_HB_HOST_MAX + 1];
    uint32_t interval_ms;
    uint32_t pid;
    bool autonomous;
    uint64_t incarnation;       /* 0: from a fresh incarnation key; else fixed, unproven */
    uint8_t trusted[FLEET_PROOF_ENTRIES_MAX][FLEET_PUBLIC_KEY_BYTES]; /* supervisors proven to */
    size_t n_trusted;
};

/* hb_opts.c: fills the trusted keys from $FLEET_TRUSTED_KEYS when none were
 * given (a const opts is copied first). FLEET_ERR_DECODE/TOO_LARGE naming
 * the variable when it is malformed. */
fleet_status hb_opts_trusted_from_env(fleet_hb_opts *opts);

/* One named check as carried on the wire. */
struct hb_check {
    char name[FLEET_NAME_MAX + 1];
    char detail[FLEET_HB_DETAIL_MAX + 1];
    bool ok;
};

/* Everything one Heartbeat says; borrowed pointers, valid for one encode. */
struct hb_snapshot {
    const char *service, *instance, *version, *host;
    const char *nats_server;    /* id of the server the connection is on, "" unknown */
    uint64_t incarnation, seq, fence_epoch, term_seen;
    int64_t sent_unix_ms;
    uint32_t interval_ms, pid;
    fleet_serving_state state;
    const struct hb_check *checks;
    size_t n_checks;
    bool has_exit;
    int32_t exit_code, exit_signal;
    int64_t exit_at_unix_ms;
    const uint8_t *key;         /* incarnation_key (FLEET_PROOF_KEY_BYTES), NULL: none */
    const uint8_t (*mac)[FLEET_PROOF_TAG_BYTES]; /* n_proofs MAC keys, ids[k] naming each */
    const uint8_t (*ids)[FLEET_PUBLIC_KEY_BYTES];
    size_t n_proofs;
};

/* hb_wire.c: packs `snap` into `*buf`, with its proof entries (one per MAC
 * key) when it carries a key (grown with realloc as needed; the
 * caller frees it). Writes the length to `*len`. FLEET_ERR_NO_MEMORY leaves
 * `*buf` valid and unchanged. */
fleet_status hb_wire_pack(const struct hb_snapshot *snap, uint8_t **buf, size_t *cap, size_t *len);

/* hb_conn.c: opens a connection named "fleet-hb/<service>/<instance>" to
 * `url` with `creds` (NULLs: from the environment, see fleet/conn.h) that
 * reconnects forever and keeps retrying a first connect in the background.
 * The caller destroys it with natsConnection_Destroy. FLEET_ERR_NATS or
 * FLEET_ERR_INVALID_ARG with detail on failure. */
fleet_status hb_conn_open(const char *url, const char *creds, const char *service, const char *instance,
                          natsConnection **out);

/* hb_random.c: a random non-zero 64-bit value from getrandom(2). */
fleet_status hb_random_nonzero(uint64_t *out);

/* heartbeat.c, for the rest of libfleet (obey.c): the sender's connection
 * (owned by the sender or its creator; valid until fleet_hb_destroy), its
 * subject prefix and names (constants after create), and the highest fence
 * epoch recorded so far. */
natsConnection *hb_connection(const fleet_hb *hb);
const char *hb_prefix(const fleet_hb *hb);
const char *hb_service(const fleet_hb *hb);
const char *hb_instance(const fleet_hb *hb);
uint64_t hb_fence_epoch(fleet_hb *hb);

/* hb_opts.c: true when `s` is at most `max` bytes with no control characters. */
bool hb_text_ok(const char *s, size_t max);

#endif
