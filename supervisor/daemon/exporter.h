/* The daemon's side of the HTTP surface: the server and its board when
 * http.listen is set, and the owner thread's figures turned into what the
 * board shows (readiness, the loop's beat, the "metrics" blob). Owner
 * thread only; every call takes a NULL exporter (HTTP off) as a no-op.
 * Other publications ("status", "index", events) go on exporter_board. */
#ifndef FLEET_EXPORTER_H
#define FLEET_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "http_board.h"
#include "lease.h"
#include "observer.h"
#include "service_api.h"

/* What the loop knows this iteration. */
struct exporter_facts {
    struct observer *obs;
    const struct service_api_stats *stats; /* fill_stats; NULL when exporter_due said no */
    bool connected;                        /* the NATS link is up */
    bool store_ok;                         /* JetStream state usable */
    const char *store_why;                 /* why not, when !store_ok */
    enum lease_role role;
    const char *lead_why;                  /* why nobody is seen leading (LEASE_UNSURE) */
};

struct exporter;

/* Starts the HTTP server on cfg->http_listen. Returns 0 and *out (NULL when
 * http.listen is "": off), or -1 with why in err (*out untouched). */
int exporter_open(const struct supervisor_config *cfg, struct exporter **out, char *err, size_t errlen);
/* Stops the server, then frees the board. NULL: no-op. */
void exporter_close(struct exporter *e);

/* Whether the metrics are due (once per status interval): then fill
 * facts.stats for exporter_tick. */
bool exporter_due(const struct exporter *e, int64_t now_ms);
/* When they are due next (INT64_MAX when off), for the loop's timeout. */
int64_t exporter_next_due(const struct exporter *e);
/* Beat, readiness, and the metrics when facts->stats is given. */
void exporter_tick(struct exporter *e, const struct exporter_facts *facts, int64_t now_ms);
/* An instance went to DEAD: its last heartbeat -> verdict goes into
 * fleet_detection_seconds. */
void exporter_dead(struct exporter *e, const struct core_event *ev);
/* The board, for other publications; NULL when off. */
struct http_board *exporter_board(struct exporter *e);

/* The /readyz verdict (pure): connected, JetStream usable, and leading or
 * a hot standby. why[n] says why not, or the role. */
bool exporter_readiness(const struct exporter_facts *f, char *why, size_t n);

#endif
