/* Health vocabulary of the core and the instance state machine as data.
 *
 * The enum values equal the wire numbers of fleet.v1 (DESIGN.md §4) so the
 * codec maps them 1:1, but the core never sees a protobuf header. */
#ifndef CORE_HEALTH_H
#define CORE_HEALTH_H

#include <stdbool.h>

#include "fleet/subjects.h"

/* Bytes of a buffer that holds any reason the core keeps (an instance's
 * health reason, a fence reason), NUL included: the supervisor-wide
 * FLEET_KEPT_REASON_MAX plus the NUL. */
#define REASON_MAX (FLEET_KEPT_REASON_MAX + 1)

enum serving_state {
    SERVING_UNSPECIFIED = 0,
    SERVING_STARTING = 1,
    SERVING_SERVING = 2,
    SERVING_DEGRADED = 3,
    SERVING_DRAINING = 4,
    SERVING_STOPPING = 5,
    SERVING_FENCED = 6,
    SERVING_EXITED = 7,
};
#define SERVING_STATE_COUNT 8

enum inst_health {
    INST_UNSPECIFIED = 0,
    INST_STARTING = 1,
    INST_HEALTHY = 2,
    INST_DEGRADED = 3,
    INST_SUSPECT = 4,
    INST_DEAD = 5,
    INST_RESTARTING = 6,
    INST_FENCED = 7,
    INST_DRAINING = 8,
    INST_STOPPED = 9,
};
#define INST_HEALTH_COUNT 10

enum svc_health {
    SVC_UNSPECIFIED = 0,
    SVC_AVAILABLE = 1,
    SVC_DEGRADED = 2,
    SVC_UNAVAILABLE = 3,
    SVC_MISSING = 4,
    SVC_UNEXPECTED = 5,
};

enum observer_state {
    OBSERVER_UNSPECIFIED = 0,
    OBSERVER_WARMING_UP = 1,
    OBSERVER_NORMAL = 2,
    OBSERVER_SELF_PRESERVATION = 3,
    OBSERVER_STANDBY = 4,
};

/* What the supervisor asks an instance to do; the values are the wire
 * numbers of fleet.v1 Action (0 = ACTION_UNSPECIFIED: no action). */
enum core_action_kind {
    CORE_ACT_RESTART = 1,
    CORE_ACT_FENCE = 2,
    CORE_ACT_UNFENCE = 3,
    CORE_ACT_DRAIN = 4,
    CORE_ACT_RESUME = 5,
};

/* An answer to a Control, as the edge classifies it (observer_action_result). */
enum core_ack {
    CORE_ACK_NONE = 0,        /* (no answer yet) */
    CORE_ACK_RETRYABLE,       /* refused for a reason a new attempt can cure, or not sent */
    CORE_ACK_NO_RESPONDERS,   /* nobody subscribes to the instance's control subject */
    CORE_ACK_REFUSED,         /* refused for good (signature, target, the application...) */
    CORE_ACK_ACCEPTED,        /* the instance carries it out */
};

/* What happened to an instance, as input to the state machine. */
enum inst_event {
    EV_HB_STARTING,   /* heartbeat says STARTING */
    EV_HB_SERVING,    /* heartbeat says SERVING and every check passes */
    EV_HB_DEGRADED,   /* heartbeat says DEGRADED, or a check fails */
    EV_HB_DRAINING,   /* heartbeat says DRAINING */
    EV_HB_STOPPING,   /* heartbeat says STOPPING: a deliberate stop */
    EV_HB_FENCED,     /* heartbeat says FENCED */
    EV_HB_EXITED,     /* agent reports the process exited */
    EV_LATE,          /* phi crossed the suspect threshold */
    EV_SILENT,        /* phi crossed the dead threshold, or the silence ceiling */
};
#define INST_EVENT_COUNT 9

/* The next health after `event` in `from`. Returns `from` when the event
 * changes nothing (e.g. EV_LATE on a STOPPED instance). */
enum inst_health health_next(enum inst_health from, enum inst_event event);

/* Maps a heartbeat's state (and whether its checks all pass) to its event. */
enum inst_event health_event_of_heartbeat(enum serving_state state, bool checks_ok);

/* True for the health values the detector watches for silence. */
bool health_is_watched(enum inst_health h);

/* Service health from its counts (DESIGN.md §4 ServiceHealth). `impaired`
 * counts instances serving but DEGRADED: a service whose instances all report
 * degraded is DEGRADED, not UNAVAILABLE (they still answer). */
enum svc_health health_of_service(bool expected, bool ever_seen, unsigned healthy,
                                  unsigned impaired, unsigned desired);

/* Upper-case names without prefix ("HEALTHY", "SELF_PRESERVATION"), for logs. */
const char *health_inst_name(enum inst_health h);
const char *health_svc_name(enum svc_health h);
const char *health_observer_name(enum observer_state s);
const char *health_action_name(enum core_action_kind a); /* "RESTART", "FENCE", ... */

#endif
