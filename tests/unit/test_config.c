/* Unit tests of the supervisor's configuration (supervisor/daemon/config.h).
 *
 * Files are written to a temporary path per case. The environment variables
 * the config reads are cleared before each test. FLEET_SOURCE_DIR (set by
 * ctest) locates supervisor/daemon/fleet.example.yaml. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "detector.h"
#include "fleet/admin.h"
#include "fleet/nkey.h"
#include "log.h"

#define ERR_LEN 512

/* Fails printing the message when `hay` lacks `needle`. */
#define assert_contains(hay, needle)                                                     \
    do {                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                          \
        if (strstr(h_, n_) == NULL)                                                      \
            fail_msg("\"%s\" does not contain \"%s\"", h_, n_);                          \
    } while (0)

static const char *const env_vars[] = {
    "NATS_URL", "NATS_CREDS", "FLEET_PREFIX", "FLEET_SUPERVISOR_ID",
    "FLEET_STATUS_INTERVAL_MS", "FLEET_LOG_LEVEL",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    return 0;
}

/* Writes `text` to a new temporary file; its path into path[64]. */
static void write_file(const char *text, char *path)
{
    int fd;
    size_t len = strlen(text);

    snprintf(path, 64, "/tmp/test_config_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* config_load of `text` as a file. */
static int load_text(const char *text, struct supervisor_config **out, char *err)
{
    char path[64];
    int rc;

    write_file(text, path);
    rc = config_load(path, out, err, ERR_LEN);
    unlink(path);
    return rc;
}

static struct supervisor_config *load_ok(const char *text)
{
    struct supervisor_config *c = NULL;
    char err[ERR_LEN] = "";

    if (load_text(text, &c, err) != 0)
        fail_msg("load failed: %s", err);
    assert_non_null(c);
    return c;
}

/* Loading `text` fails, leaves *out untouched, and the message holds every
 * one of the NULL-terminated needles. */
static void expect_error(const char *text, ...)
{
    struct supervisor_config sentinel, *c = &sentinel;
    char err[ERR_LEN] = "";
    const char *needle;
    va_list ap;

    assert_int_equal(load_text(text, &c, err), -1);
    assert_ptr_equal(c, &sentinel);
    assert_contains(err, "/tmp/test_config_"); /* names the file */
    va_start(ap, text);
    while ((needle = va_arg(ap, const char *)) != NULL)
        assert_contains(err, needle);
    va_end(ap);
}

static const char design_minimal[] =
    "nats:\n"
    "  url: nats://127.0.0.1:4222\n"
    "services:\n"
    "  - name: story-teller\n"
    "    desired: 2\n"
    "  - name: state-manager\n"
    "    desired: 1\n"
    "    depends_on: [knowledge-base]\n";

static void assert_defaults(const struct supervisor_config *c)
{
    struct detector_params d;

    detector_params_default(&d);
    assert_string_equal(c->nats_url, "nats://127.0.0.1:4222");
    assert_string_equal(c->nats_creds, "");
    assert_string_equal(c->nats_name, "fleet-supervisor");
    assert_string_equal(c->prefix, "fleet");
    assert_string_equal(c->supervisor_id, "");
    assert_int_equal(c->status_interval_ms, 1000);
    assert_int_equal(c->max_feed_bytes, 262144);
    assert_int_equal(c->status_refresh_ms, 60000);
    assert_int_equal(c->max_heartbeat_bytes, 65536);
    assert_string_equal(c->log_level, "info");
    /* The key table's detector defaults are the core's. */
    assert_true(c->detector.phi_suspect == d.phi_suspect);
    assert_true(c->detector.phi_dead == d.phi_dead);
    assert_int_equal(c->detector.min_std_dev_ms, d.min_std_dev_ms);
    assert_int_equal(c->detector.silence_ceiling, d.silence_ceiling);
    assert_true(c->detector.min_std_dev_ratio == d.min_std_dev_ratio);
    assert_true(c->detector.z_suspect == d.z_suspect);
    assert_true(c->detector.z_dead == d.z_dead);
    assert_int_equal(c->default_interval_ms, 1000);
    assert_int_equal(c->forget_after_s, 600);
    assert_int_equal(c->stall_ms, 3000);
}

/* ---- loading ---- */

static void test_defaults_without_file(void **state)
{
    struct supervisor_config *c = NULL;
    char err[ERR_LEN];

    (void)state;
    assert_int_equal(config_load(NULL, &c, err, sizeof err), 0);
    assert_null(c->path);
    assert_defaults(c);
    assert_int_equal(c->n_services, 0);
    assert_null(c->services);
    config_destroy(c);
}

static void test_design_minimal_config(void **state)
{
    struct supervisor_config *c = load_ok(design_minimal);

    (void)state;
    assert_non_null(c->path);
    assert_defaults(c);
    assert_int_equal(c->n_services, 2);
    assert_string_equal(c->services[0].name, "story-teller");
    assert_int_equal(c->services[0].desired, 2);
    assert_int_equal(c->services[0].n_depends_on, 0);
    assert_string_equal(c->services[1].name, "state-manager");
    assert_int_equal(c->services[1].desired, 1);
    assert_int_equal(c->services[1].n_depends_on, 1);
    assert_string_equal(c->services[1].depends_on[0], "knowledge-base"); /* external */
    config_destroy(c);
}

static void test_empty_file_and_desired_default(void **state)
{
    struct supervisor_config *c = load_ok("");

    (void)state;
    assert_defaults(c);
    config_destroy(c);
    c = load_ok("nats: {}\nservices:\n  - name: solo\n");
    assert_int_equal(c->n_services, 1);
    assert_int_equal(c->services[0].desired, 1);
    config_destroy(c);
}

static const char *const example_services[] = {
    "knowledge-base", "ai-integration", "language-system", "story-teller", "npc-behavior",
    "orchestration", "state-manager", "vocal-synthesis", "dialogue-engine", "quest-generator",
    "world-simulation", "memory-store", "emotion-model", "player-profile", "matchmaking",
    "session-broker", "inventory", "economy", "event-bus-bridge", "telemetry-ingest",
    "moderation", "translation", "lore-keeper",
    "auth-gateway", "api-gateway", "asset-cdn-sync", "leaderboard", "achievements",
    "notifications", "payments", "store-front", "friends", "chat-relay", "voice-chat",
    "analytics-export", "crash-reporter", "config-service", "feature-flags", "admin-console",
    "patch-server", "replay-store", "anti-cheat", "billing-webhooks", "email-sender", "status-page",
};

static const struct supervisor_service *find_service(const struct supervisor_config *c,
                                                     const char *name)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return &c->services[i];
    fail_msg("service %s not found", name);
    return NULL;
}

static void test_example_file(void **state)
{
    const char *src = getenv("FLEET_SOURCE_DIR");
    struct supervisor_config *c = NULL;
    const struct supervisor_service *s;
    char path[1024], err[ERR_LEN];
    uint32_t sum = 0;

    (void)state;
    snprintf(path, sizeof path, "%s/supervisor/daemon/fleet.example.yaml", src != NULL ? src : ".");
    if (config_load(path, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_defaults(c); /* the example states every default */
    assert_int_equal(c->n_services, 45);
    for (size_t i = 0; i < c->n_services; i++) {
        assert_string_equal(c->services[i].name, example_services[i]);
        assert_int_equal(c->services[i].desired, i < 23 ? 2 : 1);
        sum += c->services[i].desired;
    }
    assert_int_equal(sum, 68);
    s = find_service(c, "story-teller");
    assert_int_equal(s->n_depends_on, 2);
    assert_string_equal(s->depends_on[0], "language-system");
    assert_string_equal(s->depends_on[1], "knowledge-base");
    assert_string_equal(find_service(c, "state-manager")->depends_on[0], "knowledge-base");
    assert_string_equal(find_service(c, "npc-behavior")->depends_on[0], "state-manager");
    assert_string_equal(find_service(c, "dialogue-engine")->depends_on[0], "language-system");
    config_destroy(c);
}

static void test_every_section_key_loads(void **state)
{
    struct supervisor_config *c = load_ok(
        "services:\n  - name: a\n    desired: 0\n"
        "detector:\n  phi_suspect: 2.5\n  phi_dead: 12\n  min_std_dev_ms: 50\n  min_std_dev_ratio: 0.25\n"
        "  silence_intervals: 7\n  default_interval_ms: 2000\n  forget_after_s: 60\n  stall_ms: 900\n"
        "supervisor:\n  id: sup-1\n  status_interval_ms: 250\n  max_feed_bytes: 4096\n"
        "  max_heartbeat_bytes: 256\n  log_level: debug\n"
        "nats:\n  url: nats://a:1,nats://b:2\n  creds: /run/secrets/sup.creds\n  name: sup\n"
        "  prefix: studio.game_1\n"
        "metrics:\n  emf_interval_s: 60\n");

    (void)state;
    assert_string_equal(c->nats_url, "nats://a:1,nats://b:2");
    assert_string_equal(c->nats_creds, "/run/secrets/sup.creds");
    assert_string_equal(c->nats_name, "sup");
    assert_string_equal(c->prefix, "studio.game_1"); /* dotted, as libfleet and fleetctl accept */
    assert_string_equal(c->supervisor_id, "sup-1");
    assert_int_equal(c->status_interval_ms, 250);
    assert_int_equal(c->max_feed_bytes, 4096);
    assert_int_equal(c->max_heartbeat_bytes, 256);
    assert_string_equal(c->log_level, "debug");
    assert_true(c->detector.phi_suspect == 2.5);
    assert_true(c->detector.phi_dead == 12);
    assert_true(c->detector.z_dead > c->detector.z_suspect); /* prepared */
    assert_int_equal(c->detector.min_std_dev_ms, 50);
    assert_true(c->detector.min_std_dev_ratio == 0.25);
    assert_int_equal(c->detector.silence_ceiling, 7);
    assert_int_equal(c->default_interval_ms, 2000);
    assert_int_equal(c->forget_after_s, 60);
    assert_int_equal(c->stall_ms, 900);
    assert_int_equal(c->services[0].desired, 0);
    assert_int_equal(c->emf_interval_s, 60);
    config_destroy(c);
}

/* ---- errors: -1, *out untouched, the message names the key ---- */

static void test_error_bad_name(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n  - name: b\n  - name: story teller\n",
                 "services[2].name: \"story teller\" is not a valid name: only [A-Za-z0-9_-], 1-64 chars",
                 NULL);
    expect_error("nats:\n  prefix: a..b\n", "nats.prefix: \"a..b\" is not a subject prefix", NULL);
    expect_error("nats:\n  prefix: a.>\n", "nats.prefix: \"a.>\" is not a subject prefix", NULL);
}

static void test_error_desired_out_of_range(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n  - name: b\n  - name: c\n  - name: d\n    desired: 50000\n",
                 "services[3].desired: 50000 is out of range (0..10000)", NULL);
    expect_error("services:\n  - name: a\n    desired: 99999999999999999999\n",
                 "services[0].desired: 99999999999999999999 is out of range", NULL);
    expect_error("supervisor:\n  status_interval_ms: 99\n",
                 "supervisor.status_interval_ms: 99 is out of range (100..60000)", NULL);
    expect_error("metrics:\n  emf_interval_s: 3601\n", "metrics.emf_interval_s: 3601 is out of range (0..3600)",
                 NULL);
}

static void test_error_wrong_type(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n    desired: lots\n",
                 "services[0].desired: \"lots\" is not a whole number", NULL);
    expect_error("services:\n  - name: a\n    desired: -1\n", "services[0].desired: \"-1\"", NULL);
    expect_error("detector:\n  phi_dead: nan\n", "detector.phi_dead: \"nan\" is not a number", NULL);
    expect_error("nats:\n  url: [a, b]\n", "nats.url: expected a single value here, found a list",
                 NULL);
    expect_error("nats: 5\n", "nats: expected keys and values here, found a single value", NULL);
}

static void test_error_duplicate_service(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n  - name: story-teller\n  - name: b\n"
                 "  - name: story-teller\n",
                 "services: \"story-teller\" appears twice (services[1] and services[3])", NULL);
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n  - name: b\n    desird: 2\n",
                 "services[1]: unknown key \"desird\"", "line ", NULL);
    expect_error("nats:\n  url: nats://x\nnat:\n  url: y\n", "unknown key \"nat\"", NULL);
    expect_error("detector:\n  phi_dead: 8\n  phi_dead: 9\n", "detector.phi_dead: key given twice",
                 NULL);
}

static void test_error_missing_name(void **state)
{
    (void)state;
    expect_error("services:\n  - desired: 2\n", "services[0].name: missing", NULL);
}

static void test_error_dependency_typo(void **state)
{
    (void)state;
    expect_error("services:\n  - name: knowledge-base\n  - name: x\n    depends_on: [knowldge-base]\n",
                 "services[1].depends_on[0]: \"knowldge-base\" is not a configured service",
                 "did you mean \"knowledge-base\"", NULL);
}

static void test_error_self_and_repeated_dependency(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n  - name: b\n    depends_on: [a, b]\n",
                 "services[1].depends_on[1]: \"b\" depends on itself", NULL);
    expect_error("services:\n  - name: a\n  - name: b\n    depends_on: [a, a]\n",
                 "services[1].depends_on[1]: \"a\" is listed twice", NULL);
    expect_error("services:\n  - name: a\n    depends_on: [\"bad name\"]\n",
                 "services[0].depends_on[0]: \"bad name\" is not a valid name", NULL);
}

static void test_error_dependency_cycle(void **state)
{
    (void)state;
    expect_error("services:\n  - name: a\n    depends_on: [b]\n  - name: b\n    depends_on: [c]\n"
                 "  - name: c\n    depends_on: [a]\n",
                 "dependency cycle a -> b -> c -> a", NULL);
}

static void test_error_phi_order(void **state)
{
    (void)state;
    expect_error("detector:\n  phi_suspect: 8\n",
                 "detector.phi_suspect: 8 must be below detector.phi_dead (8)", NULL);
    expect_error("detector:\n  phi_dead: 31\n", "detector.phi_dead: 31 is out of range", NULL);
    expect_error("detector:\n  min_std_dev_ratio: 1.5\n", "detector.min_std_dev_ratio: 1.5 is out of range", NULL);
}

static void test_error_bad_log_level(void **state)
{
    (void)state;
    expect_error("supervisor:\n  log_level: verbose\n",
                 "supervisor.log_level: \"verbose\" is not a log level: use debug, info, warn or error",
                 NULL);
}

/* services[i].probe: heartbeat by default, micro for NATS micro services
 * (no agent: the core's no_agent), with its own ping interval. */
static void test_probe_keys(void **state)
{
    struct supervisor_config *c = load_ok("services:\n  - name: a\n  - name: b\n    probe: micro\n"
                                          "  - name: c\n    probe: micro\n    probe_interval_ms: 250\n");
    struct service_config buf[3];
    struct observer_config oc;

    (void)state;
    assert_string_equal(c->services[0].probe, "heartbeat");
    assert_false(config_service_micro(&c->services[0]));
    assert_true(config_service_micro(&c->services[1]));
    assert_int_equal(c->services[1].probe_interval_ms, 0);
    assert_int_equal(c->services[2].probe_interval_ms, 250);
    config_observer(c, buf, &oc);
    assert_false(buf[0].no_agent);
    assert_true(buf[1].no_agent);
    assert_true(buf[2].no_agent);
    config_destroy(c);
    expect_error("services:\n  - name: a\n    probe: ping\n",
                 "services[0].probe: \"ping\" is not a probe: use heartbeat (the service sends heartbeats) or micro",
                 NULL);
    expect_error("services:\n  - name: a\n    probe_interval_ms: 500\n",
                 "services[0].probe_interval_ms: is set but services[0].probe is heartbeat", NULL);
    expect_error("services:\n  - name: a\n    probe: micro\n    probe_interval_ms: 10\n",
                 "services[0].probe_interval_ms: 10 is below 50 ms", NULL);
}

static void test_error_missing_file(void **state)
{
    struct supervisor_config sentinel, *c = &sentinel;
    char err[ERR_LEN];

    (void)state;
    assert_int_equal(config_load("/nonexistent/fleet.yaml", &c, err, sizeof err), -1);
    assert_ptr_equal(c, &sentinel);
    assert_contains(err, "/nonexistent/fleet.yaml");
    assert_contains(err, strerror(ENOENT));
}

static void test_error_small_buffer(void **state)
{
    struct supervisor_config *c = NULL;
    char err[8];

    (void)state;
    assert_int_equal(config_load("/nonexistent/fleet.yaml", &c, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1); /* truncated, terminated */
    assert_int_equal(config_load("/nonexistent/fleet.yaml", &c, NULL, 0), -1);
    assert_null(c);
}

/* ---- environment and flags ---- */

static void test_env_overrides_file(void **state)
{
    struct supervisor_config *c;

    (void)state;
    setenv("NATS_URL", "nats://env:4222", 1);
    setenv("NATS_CREDS", "/env.creds", 1);
    setenv("FLEET_PREFIX", "envfleet", 1);
    setenv("FLEET_SUPERVISOR_ID", "sup-env", 1);
    setenv("FLEET_STATUS_INTERVAL_MS", "500", 1);
    setenv("FLEET_LOG_LEVEL", "warn", 1);
    c = load_ok("nats:\n  url: nats://file:4222\n  creds: /file.creds\n  prefix: filefleet\n"
                "supervisor:\n  id: sup-file\n  status_interval_ms: 2000\n  log_level: debug\n");
    assert_string_equal(c->nats_url, "nats://env:4222");
    assert_string_equal(c->nats_creds, "/env.creds");
    assert_string_equal(c->prefix, "envfleet");
    assert_string_equal(c->supervisor_id, "sup-env");
    assert_int_equal(c->status_interval_ms, 500);
    assert_string_equal(c->log_level, "warn");
    config_destroy(c);
}

static void test_env_bad_value_names_variable(void **state)
{
    struct supervisor_config *c = NULL;
    char err[ERR_LEN];

    (void)state;
    setenv("FLEET_STATUS_INTERVAL_MS", "fast", 1);
    assert_int_equal(config_load(NULL, &c, err, sizeof err), -1);
    assert_null(c);
    assert_contains(err, "env FLEET_STATUS_INTERVAL_MS: supervisor.status_interval_ms: \"fast\"");
}

static void test_set_overrides_env(void **state)
{
    struct supervisor_config *c;
    char err[ERR_LEN];

    (void)state;
    setenv("NATS_URL", "nats://env:4222", 1);
    c = load_ok("nats:\n  url: nats://file:4222\n");
    assert_int_equal(config_set(c, "nats.url", "nats://flag:4222", err, sizeof err), 0);
    assert_string_equal(c->nats_url, "nats://flag:4222");
    assert_int_equal(config_set(c, "supervisor.status_interval_ms", "500", err, sizeof err), 0);
    assert_int_equal(c->status_interval_ms, 500);
    /* Raising both thresholds: phi_dead first. */
    assert_int_equal(config_set(c, "detector.phi_dead", "20", err, sizeof err), 0);
    assert_int_equal(config_set(c, "detector.phi_suspect", "10", err, sizeof err), 0);
    assert_true(c->detector.phi_suspect == 10 && c->detector.phi_dead == 20);
    assert_true(c->detector.z_suspect < c->detector.z_dead);
    config_destroy(c);
}

static void expect_set_error(struct supervisor_config *c, const char *key, const char *value,
                             const char *needle)
{
    struct supervisor_config before = *c;
    char err[ERR_LEN] = "";

    assert_int_equal(config_set(c, key, value, err, sizeof err), -1);
    assert_memory_equal(c, &before, sizeof before);
    assert_contains(err, needle);
}

static void test_set_refuses_and_leaves_config(void **state)
{
    struct supervisor_config *c;
    char err[ERR_LEN];

    (void)state;
    assert_int_equal(config_load(NULL, &c, err, sizeof err), 0);
    expect_set_error(c, "supervisor.status_interval_ms", "50",
                     "supervisor.status_interval_ms: 50 is out of range (100..60000)");
    expect_set_error(c, "detector.phi_suspect", "9",
                     "detector.phi_suspect: 9 must be below detector.phi_dead (8)");
    expect_set_error(c, "supervisor.log_level", "loud", "supervisor.log_level: \"loud\"");
    expect_set_error(c, "nats.ulr", "x", "unknown key \"nats.ulr\": use one of nats.url");
    expect_set_error(c, "url", "x", "unknown key \"url\"");
    expect_set_error(c, "services[0].desired", "3", "only in the config file");
    expect_set_error(c, "nats.prefix",
                     "0123456789012345678901234567890123456789.0123456789012345678901234567890123456789."
                     "0123456789012345678901234567890123456789.0123456789",
                     "at most 128 characters");
    config_destroy(c);
}

/* ---- views ---- */

static void test_observer_maps_fields(void **state)
{
    struct supervisor_config *c = load_ok(
        "detector:\n  default_interval_ms: 700\n  forget_after_s: 90\n  stall_ms: 1500\n"
        "  phi_suspect: 4\n  silence_intervals: 6\n"
        "services:\n  - name: a\n    desired: 3\n  - name: b\n    depends_on: [a]\n");
    struct service_config buf[2];
    struct observer_config oc;

    (void)state;
    config_observer(c, buf, &oc);
    assert_int_equal(oc.default_interval_ms, 700);
    assert_int_equal(oc.forget_after_ms, 90000);
    assert_int_equal(oc.stall_ms, 1500);
    assert_true(oc.detector.phi_suspect == 4);
    assert_int_equal(oc.detector.silence_ceiling, 6);
    assert_true(oc.detector.z_suspect == c->detector.z_suspect);
    assert_ptr_equal(oc.services, buf);
    assert_int_equal(oc.n_services, 2);
    assert_string_equal(buf[0].name, "a");
    assert_int_equal(buf[0].desired, 3);
    assert_string_equal(buf[1].name, "b");
    assert_int_equal(buf[1].desired, 1);
    config_destroy(c);
}

/* config_describe of `c` written to a file and loaded back. */
static struct supervisor_config *describe_and_reload(const struct supervisor_config *c)
{
    struct supervisor_config *back = NULL;
    char path[64], err[ERR_LEN];
    FILE *f;

    snprintf(path, sizeof path, "/tmp/test_config_XXXXXX");
    close(mkstemp(path));
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(config_describe(c, f), 0);
    fclose(f);
    if (config_load(path, &back, err, sizeof err) != 0)
        fail_msg("%s", err);
    unlink(path);
    return back;
}

/* The --check-config output is YAML that loads back to the same config. */
static void test_describe_round_trips(void **state)
{
    struct supervisor_config *c, *back;
    char err[ERR_LEN];

    (void)state;
    c = load_ok("nats:\n  name: \"the \\\"sup\\\"\"\n  creds: 'C:\\path'\n"
                "detector:\n  phi_suspect: 0.1\n  phi_dead: 7.25\n"
                "services:\n  - name: a\n    desired: 3\n  - name: b\n    depends_on: [a, external-x]\n");
    assert_int_equal(config_set(c, "supervisor.id", "flag-id", err, sizeof err), 0);
    back = describe_and_reload(c);
    assert_string_equal(back->nats_name, "the \"sup\"");
    assert_string_equal(back->nats_creds, "C:\\path");
    assert_string_equal(back->supervisor_id, "flag-id");
    assert_true(back->detector.phi_suspect == 0.1 && back->detector.phi_dead == 7.25);
    assert_int_equal(back->n_services, 2);
    assert_int_equal(back->services[0].desired, 3);
    assert_int_equal(back->services[1].n_depends_on, 2);
    assert_string_equal(back->services[1].depends_on[1], "external-x");
    assert_int_equal(back->n_operators, 0);
    config_destroy(back);
    config_destroy(c);
}

/* ---- operators: who may sign admin commands ---- */

/* Two operators' public keys and a seed, made afresh for each test. */
static char key_a[FLEET_NKEY_PUBLIC_LEN + 1], key_b[FLEET_NKEY_PUBLIC_LEN + 1], seed_a[FLEET_NKEY_SEED_LEN + 1];

static int make_keys(void **state)
{
    fleet_keypair *a, *b;

    clear_env(state);
    if (fleet_keypair_generate(&a) != FLEET_OK || fleet_keypair_generate(&b) != FLEET_OK)
        return -1;
    if (fleet_keypair_public(a, key_a, sizeof key_a) != FLEET_OK ||
        fleet_keypair_public(b, key_b, sizeof key_b) != FLEET_OK ||
        fleet_keypair_seed(a, seed_a, sizeof seed_a) != FLEET_OK)
        return -1;
    fleet_keypair_destroy(a);
    fleet_keypair_destroy(b);
    return 0;
}

/* `operators:` with the entries of `fmt` (its %s are key_a, then key_b as
 * many times as it asks for a key; at most two). */
static const char *operators_yaml(const char *fmt)
{
    static char yaml[2048];

    snprintf(yaml, sizeof yaml, fmt, key_a, key_b);
    return yaml;
}

static const char two_operators[] =
    "services:\n  - name: lobby\n"
    "operators:\n"
    "  - name: alice\n    key: %s\n    verbs: [\"*\"]\n    services: [\"*\"]\n"
    "  - name: ops@studio.example\n    key: %s\n    verbs: [restart, drain, maintenance-on]\n"
    "    services: [story-*, lobby, \"game-??\"]\n";

static void assert_two_operators(const struct supervisor_config *c)
{
    const struct supervisor_operator *a = &c->operators[0], *b = &c->operators[1];

    assert_int_equal(c->n_operators, 2);
    assert_string_equal(a->name, "alice");
    assert_string_equal(a->key, key_a);
    assert_int_equal(a->verbs, CONFIG_OPERATOR_ALL_VERBS);
    for (int v = FLEET_VERB_NONE + 1; v < FLEET_VERB_COUNT; v++)
        assert_true(a->verbs & (1u << v));
    assert_false(a->verbs & (1u << FLEET_VERB_NONE));
    assert_int_equal(a->n_services, 1);
    assert_string_equal(a->services[0], "*");
    assert_string_equal(b->name, "ops@studio.example");
    assert_string_equal(b->key, key_b);
    assert_int_equal(b->verbs, (1u << FLEET_VERB_RESTART) | (1u << FLEET_VERB_DRAIN) |
                                   (1u << FLEET_VERB_MAINTENANCE_ON));
    assert_int_equal(b->n_services, 3);
    assert_string_equal(b->services[0], "story-*");
    assert_string_equal(b->services[1], "lobby");
    assert_string_equal(b->services[2], "game-??");
}

static void test_operators_load(void **state)
{
    struct supervisor_config *c = load_ok(operators_yaml(two_operators));

    (void)state;
    assert_two_operators(c);
    config_destroy(c);
    c = load_ok("operators: []\n");
    assert_int_equal(c->n_operators, 0);
    config_destroy(c);
}

static void test_operators_describe_round_trips(void **state)
{
    struct supervisor_config *c = load_ok(operators_yaml(two_operators)), *back;

    (void)state;
    back = describe_and_reload(c);
    assert_two_operators(back);
    config_destroy(back);
    config_destroy(c);
}

static void test_error_operator_name(void **state)
{
    (void)state;
    expect_error(operators_yaml("operators:\n  - key: %s\n    verbs: [restart]\n    services: [a]\n"),
                 "operators[0].name: missing: every operator needs a name", NULL);
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    verbs: [restart]\n"
                                "    services: [a]\n"
                                "  - name: al ice\n    key: %s\n    verbs: [restart]\n    services: [a]\n"),
                 "operators[1].name: is not an operator name: 1-64 printable characters, no spaces", NULL);
}

static void test_error_operator_key(void **state)
{
    struct supervisor_config sentinel, *c = &sentinel;
    char yaml[512], err[ERR_LEN] = "";

    (void)state;
    expect_error("operators:\n  - name: alice\n    verbs: [restart]\n    services: [a]\n",
                 "operators[0].key: missing: give the operator's public key (U..., from fleetctl keygen)", NULL);
    snprintf(yaml, sizeof yaml, "operators:\n  - name: alice\n    key: %s\n    verbs: [restart]\n"
             "    services: [a]\n", seed_a);
    expect_error(yaml, "operators[0].key: is not a public nkey (U..., 56 characters); never put a seed (S...) here",
                 NULL);
    /* The secret is not repeated in the message, which goes to logs. */
    assert_int_equal(load_text(yaml, &c, err), -1);
    assert_null(strstr(err, seed_a));
    assert_null(strstr(err, seed_a + 8));
}

static void test_error_operator_verbs(void **state)
{
    (void)state;
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    services: [a]\n"),
                 "operators[0].verbs: missing or empty: list the verbs allowed, or [\"*\"] for all", NULL);
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    verbs: []\n    services: [a]\n"),
                 "operators[0].verbs: missing or empty", NULL);
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    verbs: [restart, reboot]\n"
                                "    services: [a]\n"),
                 "operators[0].verbs: \"reboot\" is not a verb: restart, fence, unfence, drain, resume, "
                 "maintenance-on, maintenance-off or \"*\"", NULL);
}

static void test_error_operator_services(void **state)
{
    (void)state;
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    verbs: [restart]\n"),
                 "operators[0].services: missing or empty: list the services", NULL);
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    verbs: [restart]\n"
                                "    services: [story-*, a.b]\n"),
                 "operators[0].services[1]: \"a.b\" is not a service name or glob: 1-64 of [A-Za-z0-9_-] and * ?",
                 NULL);
}

static void test_error_operator_duplicates(void **state)
{
    (void)state;
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %s\n    verbs: [restart]\n"
                                "    services: [a]\n"
                                "  - name: alice\n    key: %s\n    verbs: [fence]\n    services: [b]\n"),
                 "operators[1].name: this name is also operators[0]'s", NULL);
    /* The same key twice: %s is key_a both times. */
    expect_error(operators_yaml("operators:\n  - name: alice\n    key: %1$s\n    verbs: [restart]\n"
                                "    services: [a]\n"
                                "  - name: bob\n    key: %1$s\n    verbs: [fence]\n    services: [b]\n"),
                 "operators[1].key: this key is also operators[0]'s", NULL);
}

static void test_destroy_null(void **state)
{
    (void)state;
    config_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_without_file, clear_env),
        cmocka_unit_test_setup(test_design_minimal_config, clear_env),
        cmocka_unit_test_setup(test_empty_file_and_desired_default, clear_env),
        cmocka_unit_test_setup(test_example_file, clear_env),
        cmocka_unit_test_setup(test_every_section_key_loads, clear_env),
        cmocka_unit_test_setup(test_error_bad_name, clear_env),
        cmocka_unit_test_setup(test_error_desired_out_of_range, clear_env),
        cmocka_unit_test_setup(test_error_wrong_type, clear_env),
        cmocka_unit_test_setup(test_error_duplicate_service, clear_env),
        cmocka_unit_test_setup(test_error_unknown_key, clear_env),
        cmocka_unit_test_setup(test_error_missing_name, clear_env),
        cmocka_unit_test_setup(test_error_dependency_typo, clear_env),
        cmocka_unit_test_setup(test_error_self_and_repeated_dependency, clear_env),
        cmocka_unit_test_setup(test_error_dependency_cycle, clear_env),
        cmocka_unit_test_setup(test_error_phi_order, clear_env),
        cmocka_unit_test_setup(test_error_bad_log_level, clear_env),
        cmocka_unit_test_setup(test_probe_keys, clear_env),
        cmocka_unit_test_setup(test_error_missing_file, clear_env),
        cmocka_unit_test_setup(test_error_small_buffer, clear_env),
        cmocka_unit_test_setup(test_env_overrides_file, clear_env),
        cmocka_unit_test_setup(test_env_bad_value_names_variable, clear_env),
        cmocka_unit_test_setup(test_set_overrides_env, clear_env),
        cmocka_unit_test_setup(test_set_refuses_and_leaves_config, clear_env),
        cmocka_unit_test_setup(test_observer_maps_fields, clear_env),
        cmocka_unit_test_setup(test_describe_round_trips, clear_env),
        cmocka_unit_test_setup(test_operators_load, make_keys),
        cmocka_unit_test_setup(test_operators_describe_round_trips, make_keys),
        cmocka_unit_test_setup(test_error_operator_name, make_keys),
        cmocka_unit_test_setup(test_error_operator_key, make_keys),
        cmocka_unit_test_setup(test_error_operator_verbs, make_keys),
        cmocka_unit_test_setup(test_error_operator_services, make_keys),
        cmocka_unit_test_setup(test_error_operator_duplicates, make_keys),
        cmocka_unit_test(test_destroy_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
