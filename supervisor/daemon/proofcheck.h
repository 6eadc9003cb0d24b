/* Checking heartbeat proofs at the edge (DESIGN.md §7; fleet/proof.h).
 *
 * Runs on NATS callback threads, before a heartbeat is queued for the core:
 * the core only learns whether a heartbeat was proven by its incarnation.
 * A key agreement (X25519, ~60 µs) is done once per incarnation key and the
 * MAC key cached (80 bytes an entry), so a proven heartbeat costs one keyed
 * BLAKE2b of ~100-150 bytes (~0.4 µs). The cache (4-way sets indexed by a
 * keyed hash, so a publisher cannot aim its keys at one set) starts small and
 * doubles whenever a key would evict another, up to a configured capacity,
 * so the keys in use stay dense in memory; past that capacity a full set
 * evicts. New agreements are rationed by a token bucket: a flood of made-up keys costs
 * bounded CPU and evicts at most what the ration allows. A heartbeat that
 * would need an agreement past the ration is taken as unproven (counted as
 * deferred); the core refuses unproven heartbeats for an incarnation it has
 * seen proven, so deferral can delay a new life's acceptance, never forge. */
#ifndef FLEET_PROOFCHECK_H
#define FLEET_PROOFCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "fleet/nkey.h"
#include "fleet/proof.h"

enum proof_result {
    PROOF_BAD_KEY,    /* the key does not stand for the heartbeat's incarnation: refuse */
    PROOF_UNPROVEN,   /* nothing to check for us: no proof entry for our key */
    PROOF_PROVEN,     /* the tag for our key is right */
    PROOF_BAD,        /* the tag for our key is wrong: refuse */
    PROOF_DEFERRED,   /* an entry for us, but the agreement ration is spent: unproven */
};

struct proofcheck_counters {
    uint64_t proven, unproven, bad, deferred;   /* a bad key is counted by the caller's refusal */
    uint64_t agreements;  /* key agreements done (cache misses) */
    uint64_t evictions;   /* cached keys dropped for newer ones */
};

struct proofcheck;

/* Takes ownership of `kp` (destroyed with the checker, also on failure).
 * `entries`: cache capacity (rounded up to a power of two, at least 64; the
 * cache starts at 64 and grows to it);
 * `agreements_per_s`: the ration (and its burst). 0 or *out on success,
 * -1 when out of memory. */
int proofcheck_create(fleet_keypair *kp, size_t entries, uint32_t agreements_per_s, struct proofcheck **out);
void proofcheck_destroy(struct proofcheck *pc);

/* Checks the heartbeat whose incarnation is `incarnation`, whose key is
 * `key`, whose proof is proof[0..proof_len) (a well-formed entry list,
 * possibly empty) and whose layout is layout[0..layout_len) (read only when
 * there is an entry for us), at monotonic `now_ms`: first that the key stands
 * for the incarnation (a cached key: one comparison; else one SHA-256), then
 * our entry. Thread-safe. */
enum proof_result proofcheck_verify(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                                    uint64_t incarnation, const uint8_t *proof, size_t proof_len,
                                    const uint8_t *layout, size_t layout_len, int64_t now_ms);

/* Snapshot of the counters. Thread-safe. */
void proofcheck_counters(struct proofcheck *pc, struct proofcheck_counters *out);

#endif
