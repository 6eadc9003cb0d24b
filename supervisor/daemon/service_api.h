/* Request/reply surface of the supervisor: <prefix>.v1.query.status,
 * <prefix>.v1.query.service, operators' <prefix>.v1.admin.<verb> (handed to
 * admin_exec) and the NATS micro discovery subjects
 * $SRV.PING|INFO|STATS[.fleet-supervisor[.<id>]] (hand-made JSON: nats.c 3.4
 * has no micro API, so the schema is kept here, field for field).
 *
 * Subscriptions hand requests to the owner thread through ingest; the owner
 * answers with feed_answer_* or service_api_srv_json. */
#ifndef FLEET_SERVICE_API_H
#define FLEET_SERVICE_API_H

#include <stddef.h>
#include <stdint.h>

#include "actuator.h"
#include "admin.h"
#include "bus.h"
#include "feed.h"
#include "ingest.h"
#include "micro_probe.h"
#include "observer.h"

#define SERVICE_API_NAME "fleet-supervisor"
/* The version $SRV.INFO and /metrics (fleet_build_info) report. */
#define SERVICE_API_VERSION "0.1.0"

enum api_request {
    API_QUERY_STATUS,
    API_QUERY_SERVICE,
    API_SRV_PING,
    API_SRV_INFO,
    API_SRV_STATS,
};

/* Everything $SRV.STATS reports; filled by the owner thread. */
struct service_api_stats {
    const char *prefix;
    const char *id;
    int64_t started_unix_ms;
    struct ingest_counters ingest;
    struct observer_counters observer;
    struct feed_counters feed;
    struct bus_stats bus;
    struct actuator_counters control; /* Controls sent and their answers */
    struct admin_counters admin;      /* operators' commands done and refused */
    struct proofcheck_counters proofs; /* heartbeat proofs checked (zeros without a key) */
    struct micro_probe_counters micro; /* probe: micro pings and their answers */
    uint64_t queries;           /* status + service queries answered */
    const char *last_refusal;   /* "" when none */
    enum observer_state state;
    const char *state_reason;   /* why the observer is in its state */
    bool leader;                /* holds the lease (or JetStream is down and it publishes) */
    uint64_t term;
    const char *store;          /* "available", or why JetStream state is not */
    bool can_act;               /* a signing key is loaded */
};

/* Subscribes the query and $SRV subjects, handing requests to `q`.
 * Returns 0 or -1 with a message in err. */
int service_api_subscribe(struct bus *b, struct ingest *q, const char *prefix, const char *id,
                          char *err, size_t errlen);

/* The JSON reply of a $SRV request (PING, INFO or STATS), malloc'd and
 * NUL-terminated (caller frees), or NULL when out of memory. */
char *service_api_srv_json(enum api_request kind, const struct service_api_stats *st);

#endif
