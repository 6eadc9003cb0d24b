/* Test fixture: the supervisor's status queries, as a late joiner asks
 * them (<prefix>.v1.query.status and <prefix>.v1.query.service). */
#ifndef TESTS_FEEDQUERY_H
#define TESTS_FEEDQUERY_H

#include <nats/nats.h>

#include "fleet/v1/fleet.pb-c.h"

/* The FleetStatus answered on the default prefix within `timeout_ms`, the
 * caller's (free_unpacked), or NULL: no answer, or not a FleetStatus. */
Fleet__V1__FleetStatus *feedquery_status(natsConnection *nc, int timeout_ms);

/* The ServiceStatus of `name` (every instance), likewise. */
Fleet__V1__ServiceStatus *feedquery_service(natsConnection *nc, const char *name, int timeout_ms);

#endif
