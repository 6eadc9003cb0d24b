/* The fleet-availability feed: FleetStatus on <prefix>.v1.status every
 * status interval and on change (coalesced to one per min_gap), Event on
 * <prefix>.v1.events.<service> at once, one feed_seq rising across statuses
 * and events, and the answers to status queries.
 *
 * ServiceStatus (every instance) on <prefix>.v1.status.<service> grows with
 * what changed, not with the fleet (issue 13, README "The feed"):
 * - on change: the services marked dirty, in one pass at most once per
 *   status interval (the first change after a quiet interval goes at once);
 * - on a slow refresh: every service once per refresh_ms, staggered (n /
 *   refresh_ms services per ms, round-robin), and every service at once
 *   when publishing starts or resumes after more than 3 status intervals
 *   without (start, takeover, a stalled loop).
 * The cost of a status interval is one walk of the services plus the
 * instances of the services it publishes; never a walk of every instance.
 *
 * Owner thread only. Borrows the bus and the observer (both outlive it). */
#ifndef FLEET_FEED_H
#define FLEET_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "codec.h"
#include "observer.h"

struct feed_options {
    const char *prefix;
    const char *supervisor_id;
    uint32_t status_interval_ms;
    uint32_t max_feed_bytes;
    uint32_t min_gap_ms;  /* change-driven statuses are coalesced to at most one per gap */
    uint32_t refresh_ms;  /* every ServiceStatus again at least this often; 0 = status_interval_ms */
};

struct feed_counters {
    uint64_t statuses;        /* FleetStatus published */
    uint64_t service_statuses;
    uint64_t events;
    uint64_t publish_errors;
};

struct feed;

/* Returns 0 and *out, or -1 (out of memory). Copies the strings it needs. */
int feed_create(struct bus *bus, struct observer *obs, const struct feed_options *opts,
                struct feed **out);
void feed_destroy(struct feed *f);

/* Sink for observer events: publishes the Event now and marks the feed
 * changed. `clk` must be the clock of the call that produced the event. */
void feed_event(struct feed *f, const struct core_event *ev, const struct codec_clock *clk);

/* Marks the fleet changed (e.g. the observer's own state moved). */
void feed_touch(struct feed *f);

/* Publishes whatever is due at clk->mono_ms. */
void feed_publish_due(struct feed *f, const struct codec_clock *clk);

/* Next time feed_publish_due has something to do (monotonic ms). */
int64_t feed_next_due(const struct feed *f);

/* Answers a query on `reply` with the current FleetStatus / the named
 * service's ServiceStatus (an empty ServiceStatus with name only when the
 * service is unknown). Does not advance feed_seq: a reply is not the feed. */
void feed_answer_status(struct feed *f, const char *reply, const struct codec_clock *clk);
void feed_answer_service(struct feed *f, const char *reply, const char *service,
                         const struct codec_clock *clk);

/* Updates the term stamped on what is published (leadership, later issues). */
void feed_set_term(struct feed *f, uint64_t term);

uint64_t feed_seq(const struct feed *f);
void feed_counters(const struct feed *f, struct feed_counters *out);

#endif
