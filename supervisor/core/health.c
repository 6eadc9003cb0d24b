#include "health.h"

#define S INST_STARTING
#define H INST_HEALTHY
#define G INST_DEGRADED
#define U INST_SUSPECT
#define D INST_DEAD
#define F INST_FENCED
#define R INST_DRAINING
#define P INST_STOPPED

/* The instance state machine, as s6-supervise drives a service: one row per
 * current health, one column per event. A heartbeat says what the instance
 * is doing, so heartbeat columns mostly agree down the rows; silence only
 * escalates (late → SUSPECT, silent → DEAD) and never touches an instance
 * that stopped or is known dead. An instance that announced its stop
 * (STOPPING) stays STOPPED through the exit reports of that shutdown (ECS
 * stops a task with SIGTERM to its agent, whose child then exits); a new
 * life is judged from STARTING (observer.c), so its own exit is a death. */
static const unsigned char next_health[INST_HEALTH_COUNT][INST_EVENT_COUNT] = {
    /*                    START SERVE DEGR DRAIN STOP FENCE EXIT LATE SILENT */
    [INST_UNSPECIFIED] = { S,    H,    G,   R,    P,   F,    D,   INST_UNSPECIFIED, INST_UNSPECIFIED },
    [INST_STARTING]    = { S,    H,    G,   R,    P,   F,    D,   U,    D },
    [INST_HEALTHY]     = { S,    H,    G,   R,    P,   F,    D,   U,    D },
    [INST_DEGRADED]    = { S,    H,    G,   R,    P,   F,    D,   U,    D },
    [INST_SUSPECT]     = { S,    H,    G,   R,    P,   F,    D,   U,    D },
    [INST_DEAD]        = { S,    H,    G,   R,    P,   F,    D,   D,    D },
    [INST_RESTARTING]  = { S,    H,    G,   R,    P,   F,    D,   INST_RESTARTING, D },
    [INST_FENCED]      = { S,    H,    G,   R,    P,   F,    D,   U,    D },
    [INST_DRAINING]    = { S,    H,    G,   R,    P,   F,    D,   U,    D },
    [INST_STOPPED]     = { S,    H,    G,   R,    P,   F,    P,   P,    P },
};

#undef S
#undef H
#undef G
#undef U
#undef D
#undef F
#undef R
#undef P

enum inst_health health_next(enum inst_health from, enum inst_event event)
{
    if ((unsigned)from >= INST_HEALTH_COUNT || (unsigned)event >= INST_EVENT_COUNT)
        return from;
    return (enum inst_health)next_health[from][event];
}

enum inst_event health_event_of_heartbeat(enum serving_state state, bool checks_ok)
{
    switch (state) {
    case SERVING_STARTING: return EV_HB_STARTING;
    case SERVING_DEGRADED: return EV_HB_DEGRADED;
    case SERVING_DRAINING: return EV_HB_DRAINING;
    case SERVING_STOPPING: return EV_HB_STOPPING;
    case SERVING_FENCED: return EV_HB_FENCED;
    case SERVING_EXITED: return EV_HB_EXITED;
    case SERVING_SERVING:
    case SERVING_UNSPECIFIED:
        break;
    }
    /* An unspecified state from a minimal client is taken as serving: its
     * heartbeats arriving is the claim. */
    return checks_ok ? EV_HB_SERVING : EV_HB_DEGRADED;
}

bool health_is_watched(enum inst_health h)
{
    return h != INST_DEAD && h != INST_STOPPED && h != INST_UNSPECIFIED;
}

enum svc_health health_of_service(bool expected, bool ever_seen, unsigned healthy,
                                  unsigned impaired, unsigned desired)
{
    if (!expected)
        return SVC_UNEXPECTED;
    if (desired == 0)
        return SVC_AVAILABLE; /* scaled to zero on purpose */
    if (!ever_seen)
        return SVC_MISSING;
    if (healthy >= desired)
        return SVC_AVAILABLE;
    if (healthy > 0 || impaired > 0)
        return SVC_DEGRADED;
    return SVC_UNAVAILABLE;
}

const char *health_inst_name(enum inst_health h)
{
    static const char *const names[INST_HEALTH_COUNT] = {
        "UNSPECIFIED", "STARTING", "HEALTHY", "DEGRADED", "SUSPECT",
        "DEAD", "RESTARTING", "FENCED", "DRAINING", "STOPPED",
    };

    return (unsigned)h < INST_HEALTH_COUNT ? names[h] : "?";
}

const char *health_svc_name(enum svc_health h)
{
    static const char *const names[] = {
        "UNSPECIFIED", "AVAILABLE", "DEGRADED", "UNAVAILABLE", "MISSING", "UNEXPECTED",
    };

    return (unsigned)h < sizeof(names) / sizeof(names[0]) ? names[h] : "?";
}

const char *health_observer_name(enum observer_state s)
{
    static const char *const names[] = {
        "UNSPECIFIED", "WARMING_UP", "NORMAL", "SELF_PRESERVATION", "STANDBY",
    };

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *health_action_name(enum core_action_kind a)
{
    static const char *const names[] = {
        "UNSPECIFIED", "RESTART", "FENCE", "UNFENCE", "DRAIN", "RESUME",
    };

    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}
