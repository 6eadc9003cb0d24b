/* The supervisor's configuration (config.h).
 *
 * One table, config_keys[], describes every scalar key: where it lands, its
 * type and bounds, its default and its environment variable. Everything else
 * is derived from it: the libcyaml schema (built from the table at load
 * time), the defaults, the environment overrides, config_set and
 * config_describe. service_keys[] does the same for the keys of one entry of
 * `services`.
 *
 * libcyaml checks the file's shape (sections, key names, lists, each key
 * once) and reads every scalar as text; the table's parser then turns text
 * into values for all sources alike, so a value is judged by the same code
 * and the same messages whether it came from the file, the environment or a
 * flag. Cross-key rules (detector thresholds, service names and
 * dependencies) run after the scalars are in place. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cyaml/cyaml.h>

#include "config_operators.h"
#include "fleet/conn.h"
#include "fleet/subjects.h"
#include "http.h"
#include "log.h"

/* A bigger file is refused rather than read (the 45-service fleet is ~10 KiB). */
#define CONFIG_MAX_FILE_BYTES (4u * 1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

/* Where messages go and whom they blame. `origin` is the file path, "env
 * NAME", or NULL for config_set (the caller knows its flag). */
struct err_out {
    char *buf;
    size_t len;
    const char *origin;
};

/* Writes "<origin>: <keypath>: <formatted>" (either prefix omitted when NULL)
 * into e->buf, truncating to fit. Returns -1 so callers can `return fail(...)`. */
static int fail(const struct err_out *e, const char *keypath, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(const struct err_out *e, const char *keypath, const char *fmt, ...)
{
    size_t n = 0;
    va_list ap;

    if (e->buf == NULL || e->len == 0)
        return -1;
    e->buf[0] = '\0';
    if (e->origin != NULL)
        n += (size_t)snprintf(e->buf, e->len, "%s: ", e->origin);
    if (keypath != NULL && n < e->len)
        n += (size_t)snprintf(e->buf + n, e->len - n, "%s: ", keypath);
    if (n < e->len) {
        va_start(ap, fmt);
        vsnprintf(e->buf + n, e->len - n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int fail_no_memory(const struct err_out *e)
{
    return fail(e, NULL, "out of memory while loading the configuration");
}

/* ------------------------------------------------------------------------ */
/* Text checks: NULL when `v` is acceptable, else why not (after the value). */

typedef const char *(*text_check_fn)(const char *v);

static bool has_control(const char *v, bool space_too)
{
    for (; *v != '\0'; v++) {
        unsigned char ch = (unsigned char)*v;

        if (ch < 0x20 || ch == 0x7f || (space_too && ch == ' '))
            return true;
    }
    return false;
}

static const char *check_name(const char *v)
{
    return fleet_name_valid(v) ? NULL : "is not a valid name: only [A-Za-z0-9_-], 1-64 chars";
}

static const char *check_prefix(const char *v)
{
    return fleet_prefix_valid(v) ? NULL
                                 : "is not a subject prefix: dot-separated names of [A-Za-z0-9_-], "
                                   "no wildcards, at most 128 bytes";
}

/* A URL or a comma-separated list of them, split exactly as the connection
 * will split it (fleet/conn.h). */
static const char *check_url(const char *v)
{
    static _Thread_local char why[256];
    char **urls = NULL;
    int n = 0;

    if (v[0] == '\0' || has_control(v, false))
        return "is not a NATS URL: give one such as " FLEET_DEFAULT_URL " (several: comma-separated)";
    if (fleet_conn_urls_parse(v, &urls, &n) != FLEET_OK) {
        snprintf(why, sizeof(why), "is not a NATS URL list: %s", fleet_last_error());
        return why;
    }
    fleet_conn_urls_free(urls, n);
    return NULL;
}

static const char *check_label(const char *v)
{
    if (v[0] == '\0' || has_control(v, false))
        return "is not usable: give a non-empty name without control characters";
    return NULL;
}

static const char *check_path(const char *v)
{
    return has_control(v, false) ? "contains control characters: give a file path, or \"\" for none" : NULL;
}

static const char *check_id(const char *v)
{
    return has_control(v, true)
               ? "contains spaces or control characters: give a single word, or \"\" to generate one"
               : NULL;
}

static const char *check_command(const char *v)
{
    return has_control(v, false) ? "contains control characters: give one shell command line, or \"\" for none"
                                 : NULL;
}

/* "" (off) or what the HTTP server will listen on, parsed as it will be. */
static const char *check_listen(const char *v)
{
    static _Thread_local char why[256];
    struct sockaddr_storage addr;
    socklen_t len;

    if (v[0] == '\0')
        return NULL;
    if (http_listen_parse(v, &addr, &len, why, sizeof(why)) != 0)
        return why;
    return NULL;
}

static const char *check_probe(const char *v)
{
    return config_probe_parse(v, NULL) == 0 ? NULL
                                            : "is not a probe: use heartbeat (the service sends heartbeats) or "
                                              "micro (the supervisor pings its NATS micro $SRV.PING)";
}

int config_probe_parse(const char *text, enum config_probe *out)
{
    static const char *const names[] = { [CONFIG_PROBE_HEARTBEAT] = "heartbeat", [CONFIG_PROBE_MICRO] = "micro" };

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        if (strcmp(text, names[k]) == 0) {
            if (out != NULL)
                *out = (enum config_probe)k;
            return 0;
        }
    }
    return -1;
}

bool config_service_micro(const struct supervisor_service *s)
{
    enum config_probe p;

    return config_probe_parse(s->probe, &p) == 0 && p == CONFIG_PROBE_MICRO;
}

static const char *check_log_level(const char *v)
{
    enum log_level lvl;

    return log_level_parse(v, &lvl) == 0 ? NULL : "is not a log level: use debug, info, warn or error";
}

/* ------------------------------------------------------------------------ */
/* The key table                                                            */

enum key_section {
    SEC_NATS, SEC_SUPERVISOR, SEC_DETECTOR, SEC_CONTROL, SEC_POLICY, SEC_STATE, SEC_LIMITS, SEC_METRICS,
    SEC_HTTP, N_SECTIONS,
    SEC_SERVICE = N_SECTIONS
};

static const char *const section_names[N_SECTIONS] = {
    [SEC_NATS] = "nats",
    [SEC_SUPERVISOR] = "supervisor",
    [SEC_DETECTOR] = "detector",
    [SEC_CONTROL] = "control",
    [SEC_POLICY] = "policy",
    [SEC_STATE] = "state",
    [SEC_LIMITS] = "limits",
    [SEC_METRICS] = "metrics",
    [SEC_HTTP] = "http",
};

enum key_type {
    KEY_TEXT,   /* char[size]: at most size - 1 bytes, then `check` */
    KEY_UINT32, /* uint32_t, decimal digits only, min..max */
    KEY_REAL,   /* double, finite, min..max */
    KEY_BOOL,   /* bool: true or false */
};

struct key_def {
    enum key_section section;
    const char *name;    /* key within its section */
    enum key_type type;
    size_t offset;       /* where the value lands in the target struct */
    size_t size;         /* of that member */
    double min, max;     /* numbers: inclusive bounds */
    text_check_fn check; /* text: further rule, NULL = any text that fits */
    const char *dflt;    /* default, as text parsed like any value; NULL = required */
    const char *env;     /* environment variable overriding the file, or NULL */
};

#define MEMBER_SIZE(T, m) sizeof(((T *)NULL)->m)
#define BOOL_KEY(T, sec, key, m, dflt_)                                                  \
    { .section = (sec), .name = (key), .type = KEY_BOOL, .offset = offsetof(T, m),      \
      .size = MEMBER_SIZE(T, m), .dflt = (dflt_) }
#define TEXT_KEY(T, sec, key, m, check_, dflt_, env_)                                   \
    { .section = (sec), .name = (key), .type = KEY_TEXT, .offset = offsetof(T, m),      \
      .size = MEMBER_SIZE(T, m), .check = (check_), .dflt = (dflt_), .env = (env_) }
#define UINT_KEY(T, sec, key, m, lo, hi, dflt_, env_)                                   \
    { .section = (sec), .name = (key), .type = KEY_UINT32, .offset = offsetof(T, m),    \
      .size = MEMBER_SIZE(T, m), .min = (lo), .max = (hi), .dflt = (dflt_), .env = (env_) }
#define REAL_KEY(T, sec, key, m, lo, hi, dflt_, env_)                                   \
    { .section = (sec), .name = (key), .type = KEY_REAL, .offset = offsetof(T, m),      \
      .size = MEMBER_SIZE(T, m), .min = (lo), .max = (hi), .dflt = (dflt_), .env = (env_) }

/* A core default (a plain literal macro) as the key table's text. */
#define DFLT(macro) DFLT_TEXT(macro)
#define DFLT_TEXT(literal) #literal

#define CFG struct supervisor_config
/* Grouped by section, sections in enum order (the schema builder relies on it).
 * The detector and policy defaults are the core's own (detector.h, policy.h),
 * taken as text by DFLT. */
static const struct key_def config_keys[] = {
    TEXT_KEY(CFG, SEC_NATS, "url", nats_url, check_url, FLEET_DEFAULT_URL, "NATS_URL"),
    TEXT_KEY(CFG, SEC_NATS, "creds", nats_creds, check_path, "", "NATS_CREDS"),
    TEXT_KEY(CFG, SEC_NATS, "name", nats_name, check_label, "fleet-supervisor", NULL),
    TEXT_KEY(CFG, SEC_NATS, "prefix", prefix, check_prefix, FLEET_DEFAULT_PREFIX, "FLEET_PREFIX"),

    TEXT_KEY(CFG, SEC_SUPERVISOR, "id", supervisor_id, check_id, "", "FLEET_SUPERVISOR_ID"),
    UINT_KEY(CFG, SEC_SUPERVISOR, "status_interval_ms", status_interval_ms, 100, 60000, "1000",
             "FLEET_STATUS_INTERVAL_MS"),
    UINT_KEY(CFG, SEC_SUPERVISOR, "max_feed_bytes", max_feed_bytes, 4096, 1048576, "262144", NULL),
    UINT_KEY(CFG, SEC_SUPERVISOR, "status_refresh_ms", status_refresh_ms, 100, 3600000, "60000", NULL),
    UINT_KEY(CFG, SEC_SUPERVISOR, "max_heartbeat_bytes", max_heartbeat_bytes, 256, 1048576, "65536",
             NULL),
    TEXT_KEY(CFG, SEC_SUPERVISOR, "log_level", log_level, check_log_level, "info", "FLEET_LOG_LEVEL"),

    REAL_KEY(CFG, SEC_DETECTOR, "phi_suspect", detector.phi_suspect, 0.1, 30, DFLT(DETECTOR_DEFAULT_PHI_SUSPECT), NULL),
    REAL_KEY(CFG, SEC_DETECTOR, "phi_dead", detector.phi_dead, 0.1, 30, DFLT(DETECTOR_DEFAULT_PHI_DEAD), NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "min_std_dev_ms", detector.min_std_dev_ms, 1, 60000,
             DFLT(DETECTOR_DEFAULT_MIN_STD_DEV_MS), NULL),
    REAL_KEY(CFG, SEC_DETECTOR, "min_std_dev_ratio", detector.min_std_dev_ratio, 0, 1,
             DFLT(DETECTOR_DEFAULT_MIN_STD_DEV_RATIO), NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "silence_intervals", detector.silence_ceiling, 2, 100,
             DFLT(DETECTOR_DEFAULT_SILENCE_CEILING), NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "default_interval_ms", default_interval_ms, 50, 600000, "1000", NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "forget_after_s", forget_after_s, 10, 604800, "600", NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "stall_ms", stall_ms, 500, 600000, "3000", NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "link_grace_ms", link_grace_ms, 0, 600000, "5000", NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "server_grace_ms", server_grace_ms, 0, 600000, "10000", NULL),
    UINT_KEY(CFG, SEC_DETECTOR, "max_interval_ms", max_interval_ms, 100, 600000, "30000", NULL),

    TEXT_KEY(CFG, SEC_CONTROL, "signing_key_file", signing_key_file, check_path, "",
             "FLEET_SIGNING_KEY_FILE"),
    UINT_KEY(CFG, SEC_CONTROL, "expiry_ms", control_expiry_ms, 1000, 600000, "10000", NULL),
    TEXT_KEY(CFG, SEC_CONTROL, "on_escalate", on_escalate, check_command, "", NULL),
    UINT_KEY(CFG, SEC_CONTROL, "hook_timeout_ms", hook_timeout_ms, 1000, 3600000, "60000", NULL),

    UINT_KEY(CFG, SEC_POLICY, "backoff_initial_ms", policy.backoff_initial_ms, 100, 600000,
             DFLT(POLICY_DEFAULT_BACKOFF_INITIAL_MS), NULL),
    UINT_KEY(CFG, SEC_POLICY, "backoff_max_ms", policy.backoff_max_ms, 1000, 3600000,
             DFLT(POLICY_DEFAULT_BACKOFF_MAX_MS), NULL),
    REAL_KEY(CFG, SEC_POLICY, "backoff_jitter", policy.backoff_jitter, 0.01, 0.5, DFLT(POLICY_DEFAULT_BACKOFF_JITTER), NULL),
    UINT_KEY(CFG, SEC_POLICY, "stable_after_ms", policy.stable_after_ms, 1000, 86400000,
             DFLT(POLICY_DEFAULT_STABLE_AFTER_MS), NULL),
    UINT_KEY(CFG, SEC_POLICY, "max_concurrent_actions", policy.max_concurrent, 0, 10000,
             DFLT(POLICY_DEFAULT_MAX_CONCURRENT), NULL),
    REAL_KEY(CFG, SEC_POLICY, "mass_silence_ratio", policy.mass_silence_ratio, 0.01, 0.99,
             DFLT(POLICY_DEFAULT_MASS_SILENCE_RATIO), NULL),
    UINT_KEY(CFG, SEC_POLICY, "mass_silence_min", policy.mass_silence_min, 1, 10000,
             DFLT(POLICY_DEFAULT_MASS_SILENCE_MIN), NULL),
    UINT_KEY(CFG, SEC_POLICY, "ack_timeout_ms", policy.ack_timeout_ms, 100, 60000, DFLT(POLICY_DEFAULT_ACK_TIMEOUT_MS), NULL),
    UINT_KEY(CFG, SEC_POLICY, "ack_attempts", policy.ack_attempts, 1, 10, DFLT(POLICY_DEFAULT_ACK_ATTEMPTS), NULL),
    UINT_KEY(CFG, SEC_POLICY, "restart_timeout_ms", policy.restart_timeout_ms, 1000, 600000,
             DFLT(POLICY_DEFAULT_RESTART_TIMEOUT_MS), NULL),
    UINT_KEY(CFG, SEC_POLICY, "degraded_limit_ms", policy.degraded_limit_ms, 0, 86400000,
             DFLT(POLICY_DEFAULT_DEGRADED_LIMIT_MS), NULL),
    UINT_KEY(CFG, SEC_POLICY, "self_preservation_max_s", policy_sp_max_s, 10, 86400,
             DFLT(POLICY_DEFAULT_SELF_PRESERVATION_MAX_S), NULL),

    TEXT_KEY(CFG, SEC_STATE, "bucket", state_bucket, check_name, FLEET_DEFAULT_STATE_BUCKET, NULL),
    TEXT_KEY(CFG, SEC_STATE, "lease_bucket", lease_bucket, check_name, FLEET_DEFAULT_LEASE_BUCKET, NULL),
    TEXT_KEY(CFG, SEC_STATE, "audit_stream", audit_stream, check_name, FLEET_DEFAULT_AUDIT_STREAM, NULL),
    TEXT_KEY(CFG, SEC_STATE, "nonce_bucket", nonce_bucket, check_name, FLEET_DEFAULT_NONCE_BUCKET, NULL),
    UINT_KEY(CFG, SEC_STATE, "lease_ttl_ms", lease_ttl_ms, 1000, 600000, "2000", "FLEET_LEASE_TTL_MS"),
    UINT_KEY(CFG, SEC_STATE, "replicas", state_replicas, 0, 5, "0", "FLEET_STATE_REPLICAS"),
    UINT_KEY(CFG, SEC_STATE, "audit_max_age_s", audit_max_age_s, 60, 31536000, "604800", NULL),

    UINT_KEY(CFG, SEC_LIMITS, "max_instances_per_service", max_instances_per_service, 1, 100000, "256", NULL),
    UINT_KEY(CFG, SEC_LIMITS, "max_unexpected_services", max_unexpected_services, 0, 10000, "16", NULL),
    UINT_KEY(CFG, SEC_LIMITS, "max_instances_per_unexpected_service", max_instances_per_unexpected, 1, 10000, "16",
             NULL),
    UINT_KEY(CFG, SEC_LIMITS, "max_queued_heartbeats", max_queued_heartbeats, 1024, 4194304, "131072", NULL),
    UINT_KEY(CFG, SEC_LIMITS, "proven_keys_cached", proven_keys_cached, 64, 16777216, "262144", NULL),
    UINT_KEY(CFG, SEC_LIMITS, "key_agreements_per_s", key_agreements_per_s, 10, 1000000, "20000", NULL),

    UINT_KEY(CFG, SEC_METRICS, "emf_interval_s", emf_interval_s, 0, 3600, "0", "FLEET_EMF_INTERVAL_S"),
    TEXT_KEY(CFG, SEC_HTTP, "listen", http_listen, check_listen, "", "FLEET_HTTP_LISTEN"),
    BOOL_KEY(CFG, SEC_HTTP, "instance_metrics", http_instance_metrics, "false"),
};
#undef CFG
#define N_CONFIG_KEYS (sizeof config_keys / sizeof config_keys[0])

#define SVC struct supervisor_service
/* The scalar keys of one entry of `services`; depends_on is a list, below. */
static const struct key_def service_keys[] = {
    TEXT_KEY(SVC, SEC_SERVICE, "name", name, check_name, NULL, NULL),
    UINT_KEY(SVC, SEC_SERVICE, "desired", desired, 0, 10000, "1", NULL),
    UINT_KEY(SVC, SEC_SERVICE, "crashloop_max", crashloop_max, 1, 16, "5", NULL),
    UINT_KEY(SVC, SEC_SERVICE, "crashloop_window_s", crashloop_window_s, 1, 86400, "600", NULL),
    BOOL_KEY(SVC, SEC_SERVICE, "restart", restart, "true"),
    UINT_KEY(SVC, SEC_SERVICE, "max_interval_ms", max_interval_ms, 0, 600000, "0", NULL),
    TEXT_KEY(SVC, SEC_SERVICE, "probe", probe, check_probe, "heartbeat", NULL),
    UINT_KEY(SVC, SEC_SERVICE, "probe_interval_ms", probe_interval_ms, 0, 600000, "0", NULL),
};
#undef SVC
#define N_SERVICE_KEYS (sizeof service_keys / sizeof service_keys[0])

/* One entry of services[i].depends_on, stored into a char[FLEET_NAME_MAX + 1]. */
static const struct key_def dependency_key = {
    .section = SEC_SERVICE, .name = "depends_on", .type = KEY_TEXT, .offset = 0,
    .size = FLEET_NAME_MAX + 1, .check = check_name,
};

/* "section.name" of a config key into buf. */
static void key_path(const struct key_def *k, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s", section_names[k->section], k->name);
}

/* The config key named by a dotted path, or NULL. */
static const struct key_def *key_find(const char *path)
{
    const char *dot = strchr(path, '.');

    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        const char *sec = section_names[config_keys[i].section];

        if (strlen(sec) == (size_t)(dot - path) && strncmp(path, sec, (size_t)(dot - path)) == 0 &&
            strcmp(dot + 1, config_keys[i].name) == 0)
            return &config_keys[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Parsing one value                                                        */

union key_value {
    const char *text; /* borrowed from the caller's string */
    uint32_t u32;
    double real;
    bool flag;
};

/* Decimal digits only (no sign, no spaces). Values above UINT32_MAX come out
 * as UINT32_MAX + 1 so the range check reports them. */
static bool parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            v = (uint64_t)UINT32_MAX + 1;
    }
    *out = v;
    return true;
}

/* A finite decimal number, nothing around it. */
static bool parse_real(const char *s, double *out)
{
    char *end;
    double v;

    if (*s == '\0' || *s == ' ' || *s == '\t')
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Parses and checks `text` as the value of `k`; `keypath` names it in the
 * message. Returns 0 and *out, or -1 with the reason in e. */
static int key_parse(const struct key_def *k, const char *keypath, const char *text,
                     union key_value *out, const struct err_out *e)
{
    uint64_t u;
    double d;
    const char *why;

    switch (k->type) {
    case KEY_TEXT:
        if (strlen(text) > k->size - 1)
            return fail(e, keypath, "\"%.40s...\" is too long: at most %zu characters", text,
                        k->size - 1);
        why = k->check != NULL ? k->check(text) : NULL;
        if (why != NULL)
            return fail(e, keypath, "\"%.80s\" %s", text, why);
        out->text = text;
        return 0;
    case KEY_UINT32:
        if (!parse_uint(text, &u))
            return fail(e, keypath, "\"%.80s\" is not a whole number: give one in %.0f..%.0f", text,
                        k->min, k->max);
        if ((double)u < k->min || (double)u > k->max)
            return fail(e, keypath, "%.80s is out of range (%.0f..%.0f)", text, k->min, k->max);
        out->u32 = (uint32_t)u;
        return 0;
    case KEY_REAL:
        if (!parse_real(text, &d))
            return fail(e, keypath, "\"%.80s\" is not a number: give one in %g..%g", text, k->min,
                        k->max);
        if (d < k->min || d > k->max)
            return fail(e, keypath, "%.80s is out of range (%g..%g)", text, k->min, k->max);
        out->real = d;
        return 0;
    case KEY_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
            out->flag = text[0] == 't';
            return 0;
        }
        return fail(e, keypath, "\"%.80s\" is not a truth value: use true or false", text);
    }
    return fail(e, keypath, "has an unknown type (bug in the key table)");
}

static void key_store(const struct key_def *k, void *base, const union key_value *v)
{
    char *at = (char *)base + k->offset;

    switch (k->type) {
    case KEY_TEXT:
        memcpy(at, v->text, strlen(v->text) + 1);
        break;
    case KEY_UINT32:
        assert(k->size == sizeof(uint32_t));
        memcpy(at, &v->u32, sizeof v->u32);
        break;
    case KEY_REAL:
        assert(k->size == sizeof(double));
        memcpy(at, &v->real, sizeof v->real);
        break;
    case KEY_BOOL:
        assert(k->size == sizeof(bool));
        memcpy(at, &v->flag, sizeof v->flag);
        break;
    }
}

/* Parses `text` for `k` and stores it into `base` (the struct k describes).
 * Returns 0, or -1 with `base` untouched. */
static int key_apply(const struct key_def *k, void *base, const char *keypath, const char *text,
                     const struct err_out *e)
{
    union key_value v = { 0 };

    if (key_parse(k, keypath, text, &v, e) != 0)
        return -1;
    key_store(k, base, &v);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Defaults, environment, cross-key rules                                   */

static int config_apply_defaults(struct supervisor_config *c, const struct err_out *e)
{
    char path[64];

    detector_params_default(&c->detector); /* members no key sets (the derived z's) */
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        key_path(&config_keys[i], path, sizeof path);
        if (key_apply(&config_keys[i], c, path, config_keys[i].dflt, e) != 0)
            return -1;
    }
    return 0;
}

static int config_apply_env(struct supervisor_config *c, const struct err_out *e)
{
    char path[64], origin[64];

    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        const struct key_def *k = &config_keys[i];
        const char *value = k->env != NULL ? getenv(k->env) : NULL;
        struct err_out env_e = *e;

        if (value == NULL)
            continue;
        snprintf(origin, sizeof origin, "env %s", k->env);
        env_e.origin = origin;
        key_path(k, path, sizeof path);
        if (key_apply(k, c, path, value, &env_e) != 0)
            return -1;
    }
    return 0;
}

/* Rules over several scalar keys. Prepares c->detector; -1 leaves c as it was.
 * (With flags, raise policy.backoff_max_ms before backoff_initial_ms.) */
static int config_check(struct supervisor_config *c, const struct err_out *e)
{
    struct detector_params p = c->detector;

    if (detector_params_prepare(&p) != 0)
        return fail(e, "detector.phi_suspect",
                    "%g must be below detector.phi_dead (%g): lower phi_suspect or raise phi_dead",
                    p.phi_suspect, p.phi_dead);
    if (c->policy.backoff_max_ms < c->policy.backoff_initial_ms)
        return fail(e, "policy.backoff_max_ms",
                    "%" PRIu32 " is below policy.backoff_initial_ms (%" PRIu32 "): raise it or lower the initial",
                    c->policy.backoff_max_ms, c->policy.backoff_initial_ms);
    c->detector = p;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Services: names unique; dependencies not self, not twice, no cycle        */

struct service_index {
    const struct supervisor_service **by_name; /* sorted by name, then by position */
    size_t n;
};

static int service_order(const void *a, const void *b)
{
    const struct supervisor_service *x = *(const struct supervisor_service *const *)a;
    const struct supervisor_service *y = *(const struct supervisor_service *const *)b;
    int r = strcmp(x->name, y->name);

    return r != 0 ? r : (x > y) - (x < y);
}

static int service_name_order(const void *key, const void *elem)
{
    return strcmp(key, (*(const struct supervisor_service *const *)elem)->name);
}

/* Builds the index of c's services; free ix->by_name. Returns 0 or -1. */
static int service_index_init(struct service_index *ix, const struct supervisor_config *c)
{
    ix->by_name = malloc(c->n_services * sizeof *ix->by_name);
    if (ix->by_name == NULL)
        return -1;
    for (size_t i = 0; i < c->n_services; i++)
        ix->by_name[i] = &c->services[i];
    qsort(ix->by_name, c->n_services, sizeof *ix->by_name, service_order);
    ix->n = c->n_services;
    return 0;
}

static const struct supervisor_service *service_find(const struct service_index *ix, const char *name)
{
    const struct supervisor_service *const *hit =
        bsearch(name, ix->by_name, ix->n, sizeof *ix->by_name, service_name_order);

    return hit != NULL ? *hit : NULL;
}

/* Names are unique: equal names sit next to each other in the index. */
static int services_check_unique(const struct supervisor_config *c, const struct service_index *ix,
                                 const struct err_out *e)
{
    for (size_t i = 1; i < ix->n; i++) {
        if (strcmp(ix->by_name[i - 1]->name, ix->by_name[i]->name) == 0)
            return fail(e, "services",
                        "\"%s\" appears twice (services[%td] and services[%td]): list each service once",
                        ix->by_name[i]->name, ix->by_name[i - 1] - c->services,
                        ix->by_name[i] - c->services);
    }
    return 0;
}

/* Edit distance between a and b, or `limit` + 1 once it is certainly above
 * `limit` (names are at most FLEET_NAME_MAX long). */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b), prev[FLEET_NAME_MAX + 1], cur[FLEET_NAME_MAX + 1];

    if (la > FLEET_NAME_MAX || lb > FLEET_NAME_MAX || (la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t row_min = cur[0] = i;

        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (cur[j] < row_min)
                row_min = cur[j];
        }
        if (row_min > limit)
            return limit + 1;
        memcpy(prev, cur, (lb + 1) * sizeof cur[0]);
    }
    return prev[lb];
}

/* A configured service whose name is within two edits of `name`, or NULL. */
static const struct supervisor_service *service_near(const struct supervisor_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (edit_distance(name, c->services[i].name, 2) <= 2)
            return &c->services[i];
    return NULL;
}

/* Dependencies are listed once, are not the service itself, and do not look
 * like a misspelt configured service. A name far from every configured one
 * is accepted as an external dependency: a service this supervisor does not
 * run (another supervisor group's, DESIGN.md §8), as in the minimal config
 * of DESIGN.md §9 where state-manager depends on an unlisted knowledge-base. */
static int services_check_dependencies(const struct supervisor_config *c,
                                       const struct service_index *ix, const struct err_out *e)
{
    char path[96];

    for (size_t i = 0; i < c->n_services; i++) {
        const struct supervisor_service *s = &c->services[i];

        for (size_t j = 0; j < s->n_depends_on; j++) {
            const char *dep = s->depends_on[j];
            const struct supervisor_service *target = service_find(ix, dep), *near;

            snprintf(path, sizeof path, "services[%zu].depends_on[%zu]", i, j);
            if (target == s)
                return fail(e, path, "\"%s\" depends on itself: remove it from its own depends_on", dep);
            if (target == NULL && (near = service_near(c, dep)) != NULL)
                return fail(e, path,
                            "\"%s\" is not a configured service (did you mean \"%s\"?): "
                            "fix the spelling or add it to services",
                            dep, near->name);
            for (size_t k = 0; k < j; k++)
                if (strcmp(s->depends_on[k], dep) == 0)
                    return fail(e, path, "\"%s\" is listed twice (also depends_on[%zu]): list it once",
                                dep, k);
        }
    }
    return 0;
}

struct dfs_frame {
    size_t node;     /* index into c->services */
    size_t next_dep; /* next depends_on entry to follow */
};

/* Reports the cycle stack[from..depth-1] -> stack[from]. Returns -1. */
static int fail_cycle(const struct supervisor_config *c, const struct dfs_frame *stack, size_t depth,
                      size_t from, const struct err_out *e)
{
    char chain[512], path[64];
    size_t n = 0;

    chain[0] = '\0';
    for (size_t i = from; i < depth && n < sizeof chain; i++)
        n += (size_t)snprintf(chain + n, sizeof chain - n, "%s -> ", c->services[stack[i].node].name);
    if (n < sizeof chain)
        snprintf(chain + n, sizeof chain - n, "%s", c->services[stack[from].node].name);
    snprintf(path, sizeof path, "services[%zu].depends_on", stack[from].node);
    return fail(e, path, "dependency cycle %s: remove one of these depends_on entries", chain);
}

/* Depth-first search over depends_on between configured services
 * (iterative: a long chain must not exhaust the stack). */
static int services_check_cycles(const struct supervisor_config *c, const struct service_index *ix,
                                 const struct err_out *e)
{
    enum { UNSEEN, ON_PATH, DONE };
    size_t n = c->n_services, depth;
    unsigned char *mark = calloc(n, 1);
    struct dfs_frame *stack = malloc(n * sizeof *stack);
    int rc = 0;

    if (mark == NULL || stack == NULL) {
        rc = fail_no_memory(e);
        goto out_free_search;
    }
    for (size_t root = 0; root < n && rc == 0; root++) {
        if (mark[root] != UNSEEN)
            continue;
        mark[root] = ON_PATH;
        stack[0] = (struct dfs_frame){ root, 0 };
        depth = 1;
        while (depth > 0 && rc == 0) {
            struct dfs_frame *top = &stack[depth - 1];
            const struct supervisor_service *s = &c->services[top->node], *target;
            size_t dep;

            if (top->next_dep == s->n_depends_on) {
                mark[top->node] = DONE;
                depth--;
                continue;
            }
            target = service_find(ix, s->depends_on[top->next_dep++]);
            if (target == NULL)
                continue; /* external: not ours, no edge to follow */
            dep = (size_t)(target - c->services);
            if (mark[dep] == UNSEEN) {
                mark[dep] = ON_PATH;
                stack[depth++] = (struct dfs_frame){ dep, 0 };
            } else if (mark[dep] == ON_PATH) {
                size_t from = 0;

                while (stack[from].node != dep)
                    from++;
                rc = fail_cycle(c, stack, depth, from, e);
            }
        }
    }
out_free_search:
    free(stack);
    free(mark);
    return rc;
}

static int services_check(const struct supervisor_config *c, const struct err_out *e)
{
    struct service_index ix;
    int rc;

    if (c->n_services == 0)
        return 0;
    for (size_t i = 0; i < c->n_services; i++) {
        const struct supervisor_service *s = &c->services[i];
        char path[64];

        snprintf(path, sizeof path, "services[%zu].probe_interval_ms", i);
        if (s->probe_interval_ms != 0 && !config_service_micro(s))
            return fail(e, path, "is set but services[%zu].probe is heartbeat: heartbeat senders promise their "
                        "own interval; remove it or set probe: micro", i);
        if (s->probe_interval_ms != 0 && s->probe_interval_ms < CONFIG_PROBE_INTERVAL_MIN_MS)
            return fail(e, path, "%" PRIu32 " is below %d ms: ping no faster than that (0 = "
                        "detector.default_interval_ms)", s->probe_interval_ms, CONFIG_PROBE_INTERVAL_MIN_MS);
    }
    if (service_index_init(&ix, c) != 0)
        return fail_no_memory(e);
    rc = services_check_unique(c, &ix, e);
    if (rc == 0)
        rc = services_check_dependencies(c, &ix, e);
    if (rc == 0)
        rc = services_check_cycles(c, &ix, e);
    free(ix.by_name);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The YAML file                                                            */

/* The file as libcyaml reads it: every scalar as text, NULL when absent.
 * value[i] belongs to config_keys[i] (service_keys[i] in a service). */
struct raw_service {
    char *value[N_SERVICE_KEYS];
    char **depends_on;
    unsigned depends_on_count;
};

struct raw_doc {
    char *value[N_CONFIG_KEYS];
    struct raw_service *services;
    unsigned services_count;
    struct raw_operator *operators;
    unsigned operators_count;
};

/* The libcyaml schema, derived from the key tables. It points into itself:
 * build it in place (yaml_schema_init) and never copy it. */
struct yaml_schema {
    cyaml_schema_field_t section_fields[N_SECTIONS][N_CONFIG_KEYS + 1];
    cyaml_schema_field_t top_fields[N_SECTIONS + 3];
    cyaml_schema_field_t service_fields[N_SERVICE_KEYS + 2];
    cyaml_schema_value_t service_entry;
    cyaml_schema_value_t doc;
};

static const cyaml_schema_value_t dependency_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

/* An optional key whose value is read as text into the char * at `offset`. */
static cyaml_schema_field_t scalar_field(const char *key, size_t offset)
{
    return (cyaml_schema_field_t){
        .key = key,
        .data_offset = (uint32_t)offset,
        .value = { CYAML_VALUE_STRING(CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, char, 0,
                                      CYAML_UNLIMITED) },
    };
}

/* Section `sec` as a mapping over raw_doc.value[first .. first + count - 1]. */
static cyaml_schema_field_t section_field(struct yaml_schema *s, enum key_section sec, size_t first,
                                          size_t count)
{
    for (size_t j = 0; j < count; j++)
        s->section_fields[sec][j] = scalar_field(config_keys[first + j].name, j * sizeof(char *));
    s->section_fields[sec][count] = (cyaml_schema_field_t)CYAML_FIELD_END;
    return (cyaml_schema_field_t){
        .key = section_names[sec],
        .data_offset = (uint32_t)(offsetof(struct raw_doc, value) + first * sizeof(char *)),
        .value = {
            .type = CYAML_MAPPING,
            .flags = CYAML_FLAG_OPTIONAL,
            .data_size = (uint32_t)(count * sizeof(char *)),
            .mapping = { .fields = s->section_fields[sec] },
        },
    };
}

static void yaml_schema_init_services(struct yaml_schema *s)
{
    size_t i;

    for (i = 0; i < N_SERVICE_KEYS; i++)
        s->service_fields[i] = scalar_field(service_keys[i].name, i * sizeof(char *));
    s->service_fields[i++] = (cyaml_schema_field_t)CYAML_FIELD_SEQUENCE(
        "depends_on", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_service, depends_on,
        &dependency_entry, 0, CONFIG_MAX_DEPENDS_ON);
    s->service_fields[i] = (cyaml_schema_field_t)CYAML_FIELD_END;
    s->service_entry = (cyaml_schema_value_t){
        CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_service, s->service_fields),
    };
}

/* Builds the schema from the key tables. Returns 0, or -1 when config_keys
 * is not grouped by section (a bug caught by the unit tests). */
static int yaml_schema_init(struct yaml_schema *s)
{
    size_t n_top = 0, first = 0;

    for (size_t i = 1; i <= N_CONFIG_KEYS; i++) {
        if (i < N_CONFIG_KEYS && config_keys[i].section == config_keys[first].section)
            continue;
        if (i < N_CONFIG_KEYS && config_keys[i].section < config_keys[first].section)
            return -1;
        s->top_fields[n_top++] = section_field(s, config_keys[first].section, first, i - first);
        first = i;
    }
    yaml_schema_init_services(s);
    s->top_fields[n_top++] = (cyaml_schema_field_t)CYAML_FIELD_SEQUENCE(
        "services", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_doc, services,
        &s->service_entry, 0, CONFIG_MAX_SERVICES);
    s->top_fields[n_top++] = (cyaml_schema_field_t)CYAML_FIELD_SEQUENCE(
        "operators", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_doc, operators,
        &config_operator_entry, 0, CONFIG_MAX_OPERATORS);
    s->top_fields[n_top] = (cyaml_schema_field_t)CYAML_FIELD_END;
    s->doc = (cyaml_schema_value_t){
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_doc, s->top_fields),
    };
    return 0;
}

/* What libcyaml said about a failure, collected from its log callback:
 *   Load: Unexpected key: desird
 *   Load: Backtrace:
 *     in mapping (line: 4, column: 11)
 *     in sequence entry '2' (line: 3, column: 5)
 *     in mapping field 'services' (line: 2, column: 3)
 * Frames come innermost first; a sequence entry is counted from 1. */
struct yaml_report {
    char message[256];   /* the first error, without "Load: " */
    struct yaml_frame {
        unsigned entry;  /* sequence entry (from 1), or 0 for a mapping field */
        char key[48];
    } frames[8];
    size_t n_frames;
    unsigned line;       /* of the innermost frame; 0 = unknown */
};

static void yaml_report_frame(struct yaml_report *r, const char *text)
{
    struct yaml_frame f = { 0 };
    unsigned line = 0;

    if (sscanf(text, "  in mapping field '%47[^']' (line: %u", f.key, &line) == 2 ||
        sscanf(text, "  in sequence entry '%u' (line: %u", &f.entry, &line) == 2) {
        if (r->n_frames < sizeof r->frames / sizeof r->frames[0])
            r->frames[r->n_frames++] = f;
    } else if (sscanf(text, "  in mapping (line: %u", &line) != 1) {
        return;
    }
    if (r->line == 0)
        r->line = line;
}

/* libcyaml's log_fn: one call per line of text. */
static void yaml_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    struct yaml_report *r = ctx;
    char text[256];
    size_t len;

    if (level < CYAML_LOG_ERROR)
        return;
    vsnprintf(text, sizeof text, fmt, args);
    len = strlen(text);
    while (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (strncmp(text, "  in ", 5) == 0)
        yaml_report_frame(r, text);
    else if (r->message[0] == '\0' && strstr(text, "Backtrace:") == NULL)
        snprintf(r->message, sizeof r->message, "%s",
                 strncmp(text, "Load: ", 6) == 0 ? text + 6 : text);
}

/* The key path of the report ("services[1].depends_on"), outermost first.
 * `skip_entry`: drop an innermost sequence entry (the one that overflowed). */
static void yaml_report_path(const struct yaml_report *r, bool skip_entry, char *buf, size_t len)
{
    size_t n = 0, innermost = 0;

    buf[0] = '\0';
    if (skip_entry && r->n_frames > 0 && r->frames[0].entry != 0)
        innermost = 1;
    for (size_t i = r->n_frames; i > innermost && n < len; i--) {
        const struct yaml_frame *f = &r->frames[i - 1];

        if (f->entry != 0)
            n += (size_t)snprintf(buf + n, len - n, "[%u]", f->entry - 1);
        else
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 0 ? "." : "", f->key);
    }
}

/* libcyaml's event and type names in words. */
static const char *yaml_kind(const char *name)
{
    static const struct { const char *cyaml, *words; } kinds[] = {
        { "STRING", "a single value" },  { "SCALAR", "a single value" },
        { "MAPPING", "keys and values" }, { "MAPPING_START", "keys and values" },
        { "SEQUENCE", "a list" },         { "SEQUENCE_START", "a list" },
        { "ALIAS", "an alias (*name), which is not supported" },
    };

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, kinds[i].cyaml) == 0)
            return kinds[i].words;
    return name;
}

/* Turns the report into "<origin>: near line N: <path>: <problem>: <what to do>". */
static int fail_yaml(const struct yaml_report *r, cyaml_err_t rc, const struct err_out *e)
{
    const char *m = r->message;
    char want[32], got[32], what[320], path[160], where[200];
    unsigned max;
    bool overflow = sscanf(m, "Excessive entries (%u max)", &max) == 1;

    if (strncmp(m, "Unexpected key: ", 16) == 0)
        snprintf(what, sizeof what,
                 "unknown key \"%s\": check its spelling and indentation "
                 "(every key is described in fleet.example.yaml)", m + 16);
    else if (strncmp(m, "Mapping field already seen: ", 28) == 0)
        snprintf(what, sizeof what, "key given twice: keep one");
    else if (sscanf(m, "Expecting %31[A-Z_], got event: %31[A-Z_]", want, got) == 2)
        snprintf(what, sizeof what, "expected %s here, found %s%s", yaml_kind(want), yaml_kind(got),
                 strcmp(got, "SCALAR") == 0 ? " (an empty section is written {}, an empty list [])" : "");
    else if (overflow)
        snprintf(what, sizeof what, "has more than %u entries, the most allowed", max);
    else if (strncmp(m, "libyaml: ", 9) == 0)
        snprintf(what, sizeof what, "YAML syntax error: %s", m + 9);
    else
        snprintf(what, sizeof what, "%s", m[0] != '\0' ? m : cyaml_strerror(rc));

    yaml_report_path(r, overflow, path, sizeof path);
    if (r->line != 0)
        snprintf(where, sizeof where, "near line %u%s%s", r->line, path[0] != '\0' ? ": " : "", path);
    else
        snprintf(where, sizeof where, "%s", path);
    return fail(e, where[0] != '\0' ? where : NULL, "%s", what);
}

/* Reads the whole file into a new NUL-terminated buffer (free it). Returns
 * 0, or -1 naming the errno text (e->origin is the path). */
static int file_read(const char *path, char **out, size_t *out_len, const struct err_out *e)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *grown;
    size_t len = 0, cap = 0, got;
    int rc = -1;

    if (f == NULL)
        return fail(e, NULL, "cannot open: %s", strerror(errno));
    do {
        if (len == cap) {
            cap = cap == 0 ? 16384 : cap * 2;
            if (cap > CONFIG_MAX_FILE_BYTES + 1) {
                fail(e, NULL, "is larger than %u bytes: is this the right file?", CONFIG_MAX_FILE_BYTES);
                goto out_free_buf;
            }
            grown = realloc(buf, cap);
            if (grown == NULL) {
                fail_no_memory(e);
                goto out_free_buf;
            }
            buf = grown;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    if (ferror(f)) {
        fail(e, NULL, "cannot read: %s", strerror(errno));
        goto out_free_buf;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out_free_buf:
    free(buf);
    fclose(f);
    return rc;
}

/* Copies the file's scalars and services into c (whose own checks follow). */
static int config_apply_raw(struct supervisor_config *c, const struct raw_doc *raw,
                            const struct err_out *e);

/* Loads the file at c->path over c. Returns 0, or -1 with e set. */
static int config_apply_file(struct supervisor_config *c, const struct err_out *e)
{
    struct yaml_schema schema;
    struct yaml_report report = { 0 };
    cyaml_config_t cy = {
        .log_fn = yaml_log,
        .log_ctx = &report,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_NO_ALIAS, /* aliases can multiply a small file into a huge load */
    };
    struct raw_doc *raw = NULL;
    char *text = NULL;
    size_t len = 0;
    cyaml_err_t rc;
    int ret;

    if (yaml_schema_init(&schema) != 0)
        return fail(e, NULL, "config.c: key table not grouped by section (bug)");
    if (file_read(c->path, &text, &len, e) != 0)
        return -1;
    rc = cyaml_load_data((const uint8_t *)text, len, &cy, &schema.doc, (cyaml_data_t **)&raw, NULL);
    if (rc != CYAML_OK) {
        ret = fail_yaml(&report, rc, e);
        goto out_free_text;
    }
    ret = raw != NULL ? config_apply_raw(c, raw, e) : 0; /* an empty file is all defaults */
    cyaml_free(&cy, &schema.doc, raw, 0);
out_free_text:
    free(text);
    return ret;
}

/* services[i].depends_on into s (which owns the array once it is set). */
static int service_apply_dependencies(struct supervisor_service *s, const struct raw_service *raw,
                                      size_t i, const struct err_out *e)
{
    char path[96];

    if (raw->depends_on_count == 0)
        return 0;
    s->depends_on = calloc(raw->depends_on_count, sizeof *s->depends_on);
    if (s->depends_on == NULL)
        return fail_no_memory(e);
    s->n_depends_on = raw->depends_on_count;
    for (size_t j = 0; j < s->n_depends_on; j++) {
        snprintf(path, sizeof path, "services[%zu].depends_on[%zu]", i, j);
        if (key_apply(&dependency_key, s->depends_on[j], path, raw->depends_on[j], e) != 0)
            return -1;
    }
    return 0;
}

static int service_apply(struct supervisor_service *s, const struct raw_service *raw, size_t i,
                         const struct err_out *e)
{
    char path[96];

    for (size_t k = 0; k < N_SERVICE_KEYS; k++) {
        const char *text = raw->value[k] != NULL ? raw->value[k] : service_keys[k].dflt;

        snprintf(path, sizeof path, "services[%zu].%s", i, service_keys[k].name);
        if (text == NULL)
            return fail(e, path, "missing: every service needs a %s", service_keys[k].name);
        if (key_apply(&service_keys[k], s, path, text, e) != 0)
            return -1;
    }
    return service_apply_dependencies(s, raw, i, e);
}

static int config_apply_raw(struct supervisor_config *c, const struct raw_doc *raw,
                            const struct err_out *e)
{
    char path[64], message[256];

    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        if (raw->value[i] == NULL)
            continue;
        key_path(&config_keys[i], path, sizeof path);
        if (key_apply(&config_keys[i], c, path, raw->value[i], e) != 0)
            return -1;
    }
    if (config_operators_apply(c, raw->operators, raw->operators_count, path, sizeof path, message,
                               sizeof message) != 0)
        return fail(e, path, "%s", message);
    if (raw->services_count == 0)
        return 0;
    c->services = calloc(raw->services_count, sizeof *c->services);
    if (c->services == NULL)
        return fail_no_memory(e);
    c->n_services = raw->services_count;
    for (size_t i = 0; i < c->n_services; i++)
        if (service_apply(&c->services[i], &raw->services[i], i, e) != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

int config_load(const char *path, struct supervisor_config **out, char *err, size_t errlen)
{
    struct err_out e = { err, errlen, path };
    struct supervisor_config *c = calloc(1, sizeof *c);

    if (c == NULL)
        return fail_no_memory(&e);
    if (config_apply_defaults(c, &e) != 0)
        goto out_destroy_config;
    if (path != NULL) {
        c->path = strdup(path);
        if (c->path == NULL) {
            fail_no_memory(&e);
            goto out_destroy_config;
        }
        if (config_apply_file(c, &e) != 0 || services_check(c, &e) != 0)
            goto out_destroy_config;
    }
    if (config_apply_env(c, &e) != 0 || config_check(c, &e) != 0)
        goto out_destroy_config;
    *out = c;
    return 0;

out_destroy_config:
    config_destroy(c);
    return -1;
}

/* The message for a key config_set does not know, listing those it does. */
static int fail_unknown_key(const char *key, const struct err_out *e)
{
    char list[512], path[64];
    size_t n = 0;

    if (strncmp(key, "services", 8) == 0)
        return fail(e, key, "services can be configured only in the config file");
    list[0] = '\0';
    for (size_t i = 0; i < N_CONFIG_KEYS && n < sizeof list; i++) {
        key_path(&config_keys[i], path, sizeof path);
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i > 0 ? ", " : "", path);
    }
    return fail(e, NULL, "unknown key \"%.64s\": use one of %s", key, list);
}

int config_set(struct supervisor_config *c, const char *key, const char *value, char *err,
               size_t errlen)
{
    struct err_out e = { err, errlen, NULL };
    const struct key_def *k = key_find(key);
    struct supervisor_config trial;

    if (k == NULL)
        return fail_unknown_key(key, &e);
    if (value == NULL)
        return fail(&e, key, "has no value");
    /* Try on a shallow copy so a failed cross-key rule leaves c as it was;
     * only scalar members change, the shared pointers are not touched. */
    trial = *c;
    if (key_apply(k, &trial, key, value, &e) != 0 || config_check(&trial, &e) != 0)
        return -1;
    *c = trial;
    return 0;
}

void config_observer(const struct supervisor_config *c, struct service_config *services_buf,
                     struct observer_config *out)
{
    for (size_t i = 0; i < c->n_services; i++) {
        const struct supervisor_service *s = &c->services[i];

        services_buf[i] = (struct service_config){
            .desired = s->desired,
            .crashloop_max = s->crashloop_max,
            .crashloop_window_ms = s->crashloop_window_s * 1000u,
            .restart_disabled = !s->restart,
            .no_agent = config_service_micro(s),
            .max_interval_ms = s->max_interval_ms,
            .depends_on = (const char (*)[FLEET_NAME_MAX + 1])s->depends_on,
            .n_depends_on = s->n_depends_on,
        };
        memcpy(services_buf[i].name, s->name, sizeof services_buf[i].name);
    }
    *out = (struct observer_config){
        .detector = c->detector,
        .policy = c->policy,
        .default_interval_ms = c->default_interval_ms,
        .forget_after_ms = (int64_t)c->forget_after_s * 1000,
        .stall_ms = c->stall_ms,
        .link_grace_ms = c->link_grace_ms,
        .server_grace_ms = c->server_grace_ms,
        .max_interval_ms = c->max_interval_ms,
        .max_instances_per_service = c->max_instances_per_service,
        .max_unexpected_services = c->max_unexpected_services,
        .max_instances_per_unexpected = c->max_instances_per_unexpected,
        .services = services_buf,
        .n_services = c->n_services,
    };
    out->policy.self_preservation_max_ms = c->policy_sp_max_s * 1000u;
}

void config_destroy(struct supervisor_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_services; i++)
        free(c->services[i].depends_on);
    free(c->services);
    config_operators_free(c);
    free(c->path);
    free(c);
}

/* ---- config_describe ---- */

/* `s` as a YAML double-quoted scalar. */
static void yaml_write_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

/* A double in the fewest digits that read back as the same value. */
static void yaml_write_real(FILE *out, double v)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, out);
}

static void key_write(FILE *out, const struct key_def *k, const void *base)
{
    const char *at = (const char *)base + k->offset;
    uint32_t u;
    double d;

    switch (k->type) {
    case KEY_TEXT:
        yaml_write_quoted(out, at);
        break;
    case KEY_UINT32:
        memcpy(&u, at, sizeof u);
        fprintf(out, "%" PRIu32, u);
        break;
    case KEY_REAL:
        memcpy(&d, at, sizeof d);
        yaml_write_real(out, d);
        break;
    case KEY_BOOL:
        fputs(*(const bool *)at ? "true" : "false", out);
        break;
    }
}

/* "  # not configured here: a, b" after a depends_on list naming external
 * services; nothing when there are none or the index is missing. */
static void dependencies_describe_external(const struct supervisor_service *s,
                                           const struct service_index *ix, FILE *out)
{
    const char *sep = "  # not configured here: ";

    if (ix->by_name == NULL)
        return;
    for (size_t j = 0; j < s->n_depends_on; j++) {
        if (service_find(ix, s->depends_on[j]) == NULL) {
            fprintf(out, "%s%s", sep, s->depends_on[j]);
            sep = ", ";
        }
    }
}

static void services_describe(const struct supervisor_config *c, FILE *out)
{
    struct service_index ix = { NULL, 0 };
    uint64_t desired = 0;

    for (size_t i = 0; i < c->n_services; i++)
        desired += c->services[i].desired;
    fprintf(out, "services:%s  # %zu services, %" PRIu64 " instances desired\n",
            c->n_services == 0 ? " []" : "", c->n_services, desired);
    if (c->n_services > 0 && service_index_init(&ix, c) != 0)
        ix.by_name = NULL; /* out of memory: describe without the external notes */
    for (size_t i = 0; i < c->n_services; i++) {
        const struct supervisor_service *s = &c->services[i];

        for (size_t k = 0; k < N_SERVICE_KEYS; k++) {
            fprintf(out, "%s%s: ", k == 0 ? "  - " : "    ", service_keys[k].name);
            key_write(out, &service_keys[k], s);
            fputc('\n', out);
        }
        if (s->n_depends_on == 0)
            continue;
        fputs("    depends_on: [", out);
        for (size_t j = 0; j < s->n_depends_on; j++)
            fprintf(out, "%s%s", j > 0 ? ", " : "", s->depends_on[j]);
        fputc(']', out);
        dependencies_describe_external(s, &ix, out);
        fputc('\n', out);
    }
    free(ix.by_name);
}

int config_describe(const struct supervisor_config *c, FILE *out)
{
    fputs("# effective configuration (defaults < file < environment < flags)\n# file: ", out);
    if (c->path != NULL)
        yaml_write_quoted(out, c->path);
    else
        fputs("none, built-in defaults", out);
    fputc('\n', out);
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        const struct key_def *k = &config_keys[i];

        if (i == 0 || k->section != config_keys[i - 1].section)
            fprintf(out, "%s:\n", section_names[k->section]);
        fprintf(out, "  %s: ", k->name);
        key_write(out, k, c);
        if (k->env != NULL)
            fprintf(out, "  # env %s", k->env);
        fputc('\n', out);
    }
    services_describe(c, out);
    config_operators_describe(c, out);
    return ferror(out) ? -1 : 0;
}
