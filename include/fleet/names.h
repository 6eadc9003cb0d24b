/* Service and instance names (DESIGN.md §3).
 *
 * A name is one NATS subject token: 1 to FLEET_NAME_MAX characters from
 * [A-Za-z0-9_-]. Both the library and the supervisor use this one check. */
#ifndef FLEET_NAMES_H
#define FLEET_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "fleet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FLEET_NAME_MAX 64

/* Longest `version` string a heartbeat may carry (bytes, without the NUL);
 * the supervisor refuses longer ones, so the library refuses them first. */
#define FLEET_VERSION_MAX 128
/* Longest NATS server id or name a heartbeat reports (Heartbeat.nats_server);
 * nats-server ids are 56 characters. */
#define FLEET_SERVER_ID_MAX 64
/* Longest supervisor id (FleetStatus.supervisor_id, the lease holder),
 * bytes without the NUL. */
#define FLEET_SUPERVISOR_ID_MAX 127

/* Longest operator name (AdminCommand.operator, Event.operator), bytes
 * without the NUL. A name is printable ASCII without spaces, quotes or
 * backslashes (fleet_operator_name_valid in fleet/admin.h). */
#define FLEET_OPERATOR_MAX 64

/* True when `name` (NUL-terminated) is a valid service or instance name. */
bool fleet_name_valid(const char *name);

/* Same check on a counted string that need not be NUL-terminated. */
bool fleet_name_valid_n(const char *name, size_t len);

/* FLEET_OK, or FLEET_ERR_BAD_NAME with fleet_last_error() naming `what`
 * (e.g. "service") and why, in words an operator can act on. */
fleet_status fleet_name_check(const char *what, const char *name);

#ifdef __cplusplus
}
#endif
#endif
