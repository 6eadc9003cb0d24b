/* fleetctl's views of the feed: the status table, event lines and their JSON
 * mirrors. Pure: no NATS, no clock (the caller passes `now`), no globals, so
 * the unit tests render in-memory messages and compare text.
 *
 * Messages are only read; nothing here keeps a pointer into them. */
#ifndef FLEETCTL_RENDER_H
#define FLEETCTL_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "fleet/status.h"
#include "fleet/v1/fleet.pb-c.h"

struct render_opts {
    bool color;         /* ANSI colour escapes (caller decides: tty and no NO_COLOR) */
    int64_t now_ms;     /* wall clock for "last seen" ages, Unix ms */
    uint64_t feed_gap;  /* feed messages known missed; > 0 adds "(feed gap: N missed)" */
};

/* Value name of `value` in `desc` with the enum's own prefix stripped
 * ("INSTANCE_HEALTH_DEAD" -> "DEAD"), or NULL for a number the descriptor does
 * not know (a newer peer). Static storage; never freed. */
const char *render_enum_name(const ProtobufCEnumDescriptor *desc, int value);

/* Writes the header line, one row per service (unhealthy first, then by name)
 * and an indented line per non-HEALTHY instance when the message carries
 * instances. Returns FLEET_OK, FLEET_ERR_NO_MEMORY (nothing written), or
 * FLEET_ERR_SYSTEM when `out` reports a write error (output may be partial). */
fleet_status render_status_table(FILE *out, const Fleet__V1__FleetStatus *st,
                                 const struct render_opts *o);

/* One line, no newline at the end:
 * "12:01:03 story-teller/story-teller-1 HEALTHY→DEAD RESTART (silent 2.1s)",
 * time in local time. Returns as render_status_table. */
fleet_status render_event_line(FILE *out, const Fleet__V1__Event *ev, bool color);

/* JSON mirrors of the messages: proto field names (snake_case), enums as
 * their stripped value names (an unknown number stays a number), 64-bit
 * integers as JSON integers, non-finite doubles as null. A uint64 above
 * INT64_MAX, which jansson cannot hold, becomes a decimal string. Every field
 * is present, zero or not. Return a new reference (caller json_decref()s) or
 * NULL when out of memory. */
json_t *render_status_json(const Fleet__V1__FleetStatus *st);
json_t *render_event_json(const Fleet__V1__Event *ev);

/* json_dump* flags for these mirrors: one line, 15 significant digits
 * (availability 0.98 prints as 0.98, not 0.97999999999999998). */
#define RENDER_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Feed-sequence accounting (feedseq.c). Status and event subscriptions are
 * delivered on different nats.c threads, so sequence numbers can arrive out
 * of order; a number counts as missed only once it falls out of a window of
 * FEEDSEQ_WINDOW behind the highest seen. Numbers before the first one seen
 * are not owed, unless an earlier one arrives late (then those between it and
 * the first are). A jump backwards past the window
 * (a restarted supervisor) starts counting afresh, keeping the total. */
#define FEEDSEQ_WINDOW 64

struct feedseq {
    uint64_t high;    /* highest feed_seq seen; 0 = none yet */
    uint64_t low;     /* lowest seen since the window started: nothing below is owed */
    uint64_t seen;    /* bit i set = (high - i) was seen, or is below low */
    uint64_t missed;  /* numbers that left the window unseen, in total */
};

/* Caller-owned storage; nothing to free. */
void feedseq_init(struct feedseq *f);

/* Accounts for `seq` (0, the proto3 absent value, is ignored). */
void feedseq_note(struct feedseq *f, uint64_t seq);

/* The next number starts a fresh window (a different publisher, e.g. a new
 * supervisor_id); holes of the old window count as missed. */
void feedseq_rebase(struct feedseq *f);

/* Missed so far, counting the holes still inside the window: what a header
 * should show now. */
uint64_t feedseq_missed(const struct feedseq *f);

#endif
