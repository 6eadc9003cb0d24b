/* Durable per-instance policy state (DESIGN.md §8: "a supervisor restart
 * loses nothing and fences nothing twice") and its byte form.
 *
 * The observer hands a struct policy_persisted to its sink's on_persist
 * whenever an instance's durable state changes; the edge packs it with
 * persist_pack and stores it (a JetStream KV value keyed by service and
 * instance). At start the edge unpacks each stored value with persist_unpack
 * and gives it to observer_restore.
 *
 * Pure: no I/O, no clock, no allocation. Times inside a struct
 * policy_persisted are UNIX wall-clock milliseconds, because monotonic times
 * mean nothing to another process; the conversions take the offset
 * `unix_offset_ms` = unix_ms - mono_ms, read by the edge from both clocks at
 * one moment. */
#ifndef CORE_PERSIST_H
#define CORE_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"
#include "policy.h"

#define PERSIST_MAGIC 0xF7u     /* first byte of every packed record */
#define PERSIST_VERSION 2u      /* second byte: the layout below (1 is still read) */

/* Byte form, version 2. Integers little-endian, fixed width; no padding.
 *
 *   offset    size  field
 *   0         1     magic, PERSIST_MAGIC
 *   1         1     version, PERSIST_VERSION
 *   2         1     flags: bit 0 = fenced; other bits 0
 *   3         1     n = restarts in the tally, 0..POLICY_TALLY_MAX
 *   4         4     backoff_step (u32)
 *   8         8     fence_epoch_known (u64)
 *   16        8     fence_epoch_issued (u64)
 *   24        8n    restart_unix_ms[0..n-1] (i64), oldest first
 *   24+8n     1     r = length of the fence reason, 0..REASON_MAX-1
 *   25+8n     r     the fence reason's bytes (no NUL); r = 0 unless fenced
 *   25+8n+r   4     restarts (u32): new lives seen, as the feed shows them
 *
 * The length is exactly 29 + 8n + r; at most PERSIST_PACKED_MAX. Version 1
 * is the same without the last field (restarts read as 0); any other
 * version is refused: a later layout bumps it. */
#define PERSIST_HEADER_BYTES 24
#define PERSIST_PACKED_MAX (PERSIST_HEADER_BYTES + 8 * POLICY_TALLY_MAX + 1 + REASON_MAX - 1 + 4)

/* Largest wall-clock time accepted, and the largest |unix_offset_ms| the
 * conversions take: far beyond any real clock, small enough that every sum
 * and difference the core forms from them cannot overflow. */
#define PERSIST_UNIX_MS_MAX (INT64_MAX / 4)

/* One instance's durable policy state. A record may say more than was acted
 * on (written, then the process died before sending), never less: the core
 * writes it before it sends the action it describes. */
struct policy_persisted {
    uint64_t fence_epoch_known;  /* highest fence epoch known for the instance (issued by
                                    a supervisor or reported by it); the next is above it */
    uint64_t fence_epoch_issued; /* epoch of the last FENCE this supervisor issued, 0 = none;
                                    <= fence_epoch_known */
    bool fenced;                 /* a FENCE of ours (fence_epoch_issued) is in force */
    uint32_t backoff_step;       /* restarts in the current streak (0: the next is immediate) */
    uint8_t n_restarts;          /* entries used in restart_unix_ms */
    int64_t restart_unix_ms[POLICY_TALLY_MAX]; /* restarts issued, oldest first; the last one
                                                  is the time of the last restart */
    char fence_reason[REASON_MAX];     /* why it was fenced; "" unless fenced */
    uint32_t restarts;           /* new lives of the instance seen (InstanceStatus.restarts); the
                                    caller sets it after persist_from_policy */
};

/* Whether `p` is internally consistent: n_restarts <= POLICY_TALLY_MAX,
 * restart times non-decreasing and within [0, PERSIST_UNIX_MS_MAX],
 * fence_epoch_issued <= fence_epoch_known, fenced => fence_epoch_issued > 0,
 * fence_reason NUL-terminated and empty unless fenced. */
bool persist_valid(const struct policy_persisted *p);

/* Packs `p` into buf[0..cap). Returns 0 and the length in *len, or -1 (`p`
 * invalid, or cap too small; PERSIST_PACKED_MAX always suffices) with buf
 * and *len untouched. */
int persist_pack(const struct policy_persisted *p, uint8_t *buf, size_t cap, size_t *len);

/* Unpacks buf[0..len). Returns 0 and *out, or -1 (wrong magic or version,
 * a length that is not exactly the one the fields imply, unknown flag bits,
 * a reason holding a NUL, or a record persist_valid refuses) with *out
 * untouched. Never reads outside buf[0..len). */
int persist_unpack(const uint8_t *buf, size_t len, struct policy_persisted *out);

/* The durable part of policy record `p`, times converted to wall clock with
 * `unix_offset_ms`. `fenced` and `fence_reason` (may be NULL; truncated to
 * REASON_MAX - 1 bytes) are the caller's: the policy record does not
 * hold them. |unix_offset_ms| <= PERSIST_UNIX_MS_MAX; restart times that
 * would fall outside [0, PERSIST_UNIX_MS_MAX] are clamped into it. */
void persist_from_policy(const struct policy_instance *p, bool fenced, const char *fence_reason,
                         int64_t unix_offset_ms, struct policy_persisted *out);

/* Writes the durable state of valid `in` into policy record `p`
 * (|unix_offset_ms| <= PERSIST_UNIX_MS_MAX): the tally
 * (converted to monotonic with `unix_offset_ms`; a time after `now_ms`, from a
 * wall clock stepped back, is taken as `now_ms`), the streak, and the fence
 * epochs (each raised to the restored one, never lowered). Phase, timer and
 * action are left to the caller. */
void persist_to_policy(const struct policy_persisted *in, int64_t now_ms, int64_t unix_offset_ms,
                       struct policy_instance *p);

#endif
