/* The supervisor's configuration (DESIGN.md §9).
 *
 * Sources, later ones winning: built-in defaults, the YAML file, the
 * environment (NATS_URL, NATS_CREDS, FLEET_PREFIX, FLEET_SUPERVISOR_ID,
 * FLEET_STATUS_INTERVAL_MS, FLEET_LOG_LEVEL, FLEET_SIGNING_KEY_FILE,
 * FLEET_LEASE_TTL_MS, FLEET_STATE_REPLICAS), then command-line flags applied
 * by the caller through config_set. Every key is described once, in the key
 * table of config.c (type, bounds, default, environment variable); the YAML
 * schema, the checks and config_describe are all derived from it. Every key
 * has a default, so the minimal file of DESIGN.md §9 is a complete config.
 *
 * Unknown keys are errors. Error messages name the source (file path, "env
 * NAME", or nothing for config_set), the key path, the problem and what to
 * do, e.g.
 *   fleet.yaml: services[3].desired: 50000 is out of range (0..10000)
 *
 * Convention: functions return 0 or -1; out-parameters are written only on
 * success; on failure `err` (errlen bytes, may be NULL/0) holds one line of
 * text, always NUL-terminated, and nothing else was changed. */
#ifndef SUPERVISOR_CONFIG_H
#define SUPERVISOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "detector.h"
#include "fleet/admin.h"
#include "fleet/names.h"
#include "fleet/nkey.h"
#include "fleet/subjects.h"
#include "observer.h"
#include "policy.h"

/* Hard limits on the file's lists (larger files are refused). */
#define CONFIG_MAX_SERVICES 10000
#define CONFIG_MAX_DEPENDS_ON 64
#define CONFIG_MAX_OPERATORS 256
#define CONFIG_MAX_OPERATOR_SERVICES 64

/* One operator who may sign AdminCommands (config_operators.h). */
struct supervisor_operator {
    char name[FLEET_OPERATOR_MAX + 1];      /* operators[i].name: required, unique */
    char key[FLEET_NKEY_PUBLIC_LEN + 1];    /* operators[i].key: public nkey (U...), required, unique */
    uint32_t verbs;                         /* operators[i].verbs: bit 1 << fleet_admin_verb each */
    char (*services)[FLEET_NAME_MAX + 1];   /* operators[i].services: names or globs (* ?) */
    size_t n_services;
};
/* Every verb ("*"). */
#define CONFIG_OPERATOR_ALL_VERBS (((1u << FLEET_VERB_COUNT) - 1u) & ~1u)

/* How the supervisor learns a service's instances are alive
 * (services[i].probe): their heartbeats (fleet-agent, libfleet), or its
 * pings of their NATS micro $SRV.PING.<name> (micro_probe.h), whose
 * instances have no agent: their restarts and fences go to on_escalate. */
enum config_probe {
    CONFIG_PROBE_HEARTBEAT,
    CONFIG_PROBE_MICRO,
};
/* The shortest services[i].probe_interval_ms taken (0 = the default). */
#define CONFIG_PROBE_INTERVAL_MIN_MS 50

/* One configured service.
 *
 * A depends_on name that is not configured is refused when it is within two
 * edits of a configured name (a typo: "knowldge-base"), and otherwise kept
 * as an external dependency, a service run outside this supervisor's config
 * (another supervisor group's; DESIGN.md §9's minimal config has one).
 * config_describe marks such names. */
struct supervisor_service {
    char name[FLEET_NAME_MAX + 1];           /* services[i].name: required, a valid name, unique */
    uint32_t desired;                        /* services[i].desired: 0..10000, default 1 */
    char (*depends_on)[FLEET_NAME_MAX + 1];  /* services[i].depends_on, default []: valid names, */
    size_t n_depends_on;                     /*   none twice, not itself, no cycle (see below) */
    uint32_t crashloop_max;                  /* services[i].crashloop_max (1..16, default 5) restarts */
    uint32_t crashloop_window_s;             /*   within crashloop_window_s (default 600) then FENCE */
    bool restart;                            /* services[i].restart, default true; false = observe only */
    uint32_t max_interval_ms;                /* services[i].max_interval_ms: promised intervals above it
                                                are taken as it; 0 = detector.max_interval_ms */
    char probe[16];                          /* services[i].probe: "heartbeat" (default) or "micro" */
    uint32_t probe_interval_ms;              /* services[i].probe_interval_ms (micro only): ping this
                                                often; 0 = detector.default_interval_ms */
};

/* The effective configuration. Created by config_load, destroyed by
 * config_destroy; the strings and arrays belong to it. A loaded config has
 * passed every check, and config_set keeps it so. */
struct supervisor_config {
    char *path;                     /* file loaded, NULL = defaults only */
    char nats_url[512];             /* nats.url; env NATS_URL */
    char nats_creds[512];           /* nats.creds, "" = none; env NATS_CREDS */
    char nats_name[128];            /* nats.name, the NATS connection name */
    char prefix[FLEET_PREFIX_MAX + 1]; /* nats.prefix (fleet_prefix_valid); env FLEET_PREFIX */
    char supervisor_id[FLEET_SUPERVISOR_ID_MAX + 1]; /* supervisor.id, "" = main makes "<host>-<pid>-<random4>";
                                       env FLEET_SUPERVISOR_ID */
    uint32_t status_interval_ms;    /* supervisor.status_interval_ms; env FLEET_STATUS_INTERVAL_MS */
    uint32_t max_feed_bytes;        /* supervisor.max_feed_bytes */
    uint32_t status_refresh_ms;     /* supervisor.status_refresh_ms: each ServiceStatus again at least this often */
    uint32_t max_heartbeat_bytes;   /* supervisor.max_heartbeat_bytes: bigger heartbeats are refused */
    char log_level[8];              /* supervisor.log_level (log_level_parse); env FLEET_LOG_LEVEL */
    struct detector_params detector;/* detector.phi_suspect, .phi_dead, .min_std_dev_ms,
                                       .silence_intervals (-> silence_ceiling); prepared */
    uint32_t default_interval_ms;   /* detector.default_interval_ms */
    uint32_t forget_after_s;        /* detector.forget_after_s */
    uint32_t stall_ms;              /* detector.stall_ms */
    uint32_t link_grace_ms;         /* detector.link_grace_ms */
    uint32_t server_grace_ms;       /* detector.server_grace_ms: shared-fate hold on a NATS server */
    uint32_t max_interval_ms;       /* detector.max_interval_ms: the longest promised interval taken */
    char signing_key_file[512];     /* control.signing_key_file, "" = observe only;
                                       env FLEET_SIGNING_KEY_FILE */
    uint32_t control_expiry_ms;     /* control.expiry_ms: a Control is valid this long */
    char on_escalate[1024];         /* control.on_escalate: shell command, "" = none */
    uint32_t hook_timeout_ms;       /* control.hook_timeout_ms */
    struct policy_config policy;    /* policy.*: backoff, blast radius, mass silence, acks */
    uint32_t policy_sp_max_s;       /* policy.self_preservation_max_s (policy.self_preservation_max_ms) */
    char state_bucket[65];          /* state.bucket: JetStream KV of durable per-instance state */
    char lease_bucket[65];          /* state.lease_bucket: KV holding the leader lease */
    char audit_stream[65];          /* state.audit_stream: stream capturing every Event */
    char nonce_bucket[65];          /* state.nonce_bucket: KV of the admin commands carried out */
    uint32_t lease_ttl_ms;          /* state.lease_ttl_ms, renewed every quarter; env FLEET_LEASE_TTL_MS */
    uint32_t state_replicas;        /* state.replicas: 0 auto (3 on a JetStream cluster, else 1), 1..5;
                                       env FLEET_STATE_REPLICAS */
    uint32_t audit_max_age_s;       /* state.audit_max_age_s: audit retention (7 days) */
    uint32_t max_instances_per_service;   /* limits.*: what a publisher can make us track */
    uint32_t max_unexpected_services;
    uint32_t max_instances_per_unexpected;
    uint32_t max_queued_heartbeats;       /* limits.max_queued_heartbeats: waiting for the owner thread */
    uint32_t proven_keys_cached;          /* limits.proven_keys_cached: incarnation keys whose MAC key is kept */
    uint32_t key_agreements_per_s;        /* limits.key_agreements_per_s: new incarnation keys checked per second */
    uint32_t emf_interval_s;              /* metrics.emf_interval_s: CloudWatch EMF lines on stdout this often,
                                             0 = off; env FLEET_EMF_INTERVAL_S */
    char http_listen[128];                /* http.listen: ADDR:PORT of /healthz, /metrics...; "" = off;
                                             env FLEET_HTTP_LISTEN */
    bool http_instance_metrics;           /* http.instance_metrics: fleet_instance_up per instance */
    struct supervisor_service *services; /* services, in file order */
    size_t n_services;
    struct supervisor_operator *operators; /* operators, in file order; none = no admin commands */
    size_t n_operators;
};

/* Loads defaults, then the YAML file at `path` (NULL = no file), then the
 * environment, and checks the result. Returns 0 and *out (destroy with
 * config_destroy), or -1 with `err` set and *out untouched. */
int config_load(const char *path, struct supervisor_config **out, char *err, size_t errlen);

/* Sets one scalar key by its dotted path, e.g. ("nats.url", "nats://h:4222")
 * or ("supervisor.status_interval_ms", "500"), parsed and checked exactly as
 * the file's value would be, cross-key rules included (a detector.phi_suspect
 * must stay below detector.phi_dead: when raising both, set phi_dead first).
 * Services can be configured only in the file. Returns 0, or -1 with `err`
 * set and `c` unchanged. */
int config_set(struct supervisor_config *c, const char *key, const char *value, char *err,
               size_t errlen);

/* Fills the core's view of `c`. `services_buf` is caller-allocated with
 * c->n_services entries (may be NULL when there are none); out->services
 * points into it and each entry's depends_on into `c`, so both must outlive
 * every use of *out. out->policy.rng_seed is left for the caller. Cannot fail. */
void config_observer(const struct supervisor_config *c, struct service_config *services_buf,
                     struct observer_config *out);

/* The probe named `text` ("heartbeat", "micro"): 0 and *out (when not
 * NULL), or -1. */
int config_probe_parse(const char *text, enum config_probe *out);
/* Whether `s` is probed with NATS micro pings (probe: micro). */
bool config_service_micro(const struct supervisor_service *s);

/* Frees `c` and everything it owns. NULL is a no-op. */
void config_destroy(struct supervisor_config *c);

/* Writes the effective configuration to `out` as YAML that config_load
 * accepts back (--check-config). Returns 0, or -1 when writing failed. */
int config_describe(const struct supervisor_config *c, FILE *out);

#endif
