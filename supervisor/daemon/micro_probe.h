/* Zero-code supervision of NATS micro services (services[i].probe: micro).
 *
 * Services built on NATS micro (nats.go, nats.py, nats.js `micro`) answer
 * $SRV.PING.<name>, every instance of them, with its id and version. For
 * each service configured `probe: micro` this edge pings that subject every
 * probe interval (services[i].probe_interval_ms, else
 * detector.default_interval_ms) as a request whose reply subject is
 * "<inbox>.<service>", and turns every answer micro_reply_parse accepts into
 * the instance's liveness fact: an hb_input (instance = the answer's id,
 * version = its version, state SERVING, the probe interval as the promised
 * interval) handed to the owner thread through the ingest queue, as a
 * heartbeat is. The core's detector, health, availability, feed and
 * metrics then work unchanged; an instance that stops answering is silence
 * to the detector, like one that stops sending heartbeats.
 *
 * Threads: micro_probe_configure, micro_probe_tick, micro_probe_next_due,
 * micro_probe_log are the owner thread's; the answers are judged on the
 * subscription's nats.c delivery thread, which only reads the probed-service
 * table (under the probe's mutex) and appends to the ingest queue. Counters
 * are atomics, readable from any thread.
 *
 * Bounds (DESIGN.md §7): the edge keeps nothing per instance. What answers
 * can make the supervisor track is bounded by the core's instance limits
 * (limits.max_instances_per_service; past it an answer is refused there as
 * limit_instances) and the ingest queue (limits.max_queued_heartbeats; past
 * it, overload). An answer is no proof: anyone allowed to subscribe to
 * $SRV.PING.<name> can answer for any id. That is why such instances are
 * never sent a Control (they have no agent to obey anyway): the core
 * escalates their restarts and fences to on_escalate (service_config
 * no_agent) instead. */
#ifndef FLEET_MICRO_PROBE_H
#define FLEET_MICRO_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "ingest.h"
#include "micro_reply.h"

struct micro_probe_counters {
    uint64_t pings;                       /* pings published */
    uint64_t ping_failed;                 /* pings the bus would not take */
    uint64_t answers;                     /* answers received (any content) */
    uint64_t accepted;                    /* handed to the core as liveness facts */
    uint64_t no_responders;               /* pings nobody answered (NATS no-responders status) */
    uint64_t refused[MICRO_REFUSAL_COUNT];/* per reason; [MICRO_OK] unused */
    uint64_t controls_withheld;           /* Controls the core asked to send to a micro service: not sent */
};

struct micro_probe;

/* Makes an inbox and subscribes "<inbox>.*" on `b` for the answers, which
 * go to `q` (both borrowed: they must outlive the probe; destroy it only
 * after bus_close, when no handler runs). Probes nothing until
 * micro_probe_configure. Returns 0 and *out, or -1 with `err` set (*out
 * untouched). */
int micro_probe_create(struct bus *b, struct ingest *q, struct micro_probe **out, char *err, size_t errlen);

/* Frees the probe. NULL is a no-op. */
void micro_probe_destroy(struct micro_probe *p);

/* Probes the services of `cfg` configured `probe: micro` from now on (at
 * start and on SIGHUP). A service already probed keeps its schedule; a new
 * one is pinged at once. Returns 0, or -1 (out of memory) with the old set
 * kept. */
int micro_probe_configure(struct micro_probe *p, const struct supervisor_config *cfg, int64_t now_ms);

/* Whether `service` is probed (its instances have no agent). */
bool micro_probe_has(struct micro_probe *p, const char *service);

/* Pings every service due at monotonic `now_ms`. Owner thread. */
void micro_probe_tick(struct micro_probe *p, int64_t now_ms);

/* When the next ping is due (INT64_MAX when nothing is probed). */
int64_t micro_probe_next_due(const struct micro_probe *p);

/* Counts a Control withheld from a probed service (daemon.c). */
void micro_probe_withheld(struct micro_probe *p);

void micro_probe_counters(struct micro_probe *p, struct micro_probe_counters *out);

/* Logs the refusals counted since the last call, at most once a second
 * (per reason: how many, the total and the last one's subject). */
void micro_probe_log(struct micro_probe *p, int64_t now_ms);

#endif
