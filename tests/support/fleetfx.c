#include "fleetfx.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

enum { SS_SERVING = 2, SS_FENCED = 6 };

static int write_file(const char *path, mode_t mode, const char *fmt, ...)
{
    va_list ap;
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return chmod(path, mode);
}

/* A fresh key pair: its seed into `path` (0600), its public key into pub. */
static int key_file(const char *path, char pub[FLEET_NKEY_PUBLIC_LEN + 1])
{
    char seed[FLEET_NKEY_SEED_LEN + 1];
    fleet_keypair *kp = NULL;
    int rc = -1;

    if (fleet_keypair_generate(&kp) == FLEET_OK && fleet_keypair_seed(kp, seed, sizeof(seed)) == FLEET_OK &&
        fleet_keypair_public(kp, pub, FLEET_NKEY_PUBLIC_LEN + 1) == FLEET_OK)
        rc = write_file(path, 0600, "%s\n", seed);
    memset(seed, 0, sizeof(seed));
    fleet_keypair_destroy(kp);
    return rc;
}

static int make_key(struct fleetfx *fx)
{
    return key_file(fx->seed_path, fx->public_key);
}

void fleetfx_operator_key(struct fleetfx *fx, const char *name, struct fleetfx_operator *out)
{
    snprintf(out->seed_path, sizeof(out->seed_path), "%s/%s.seed", fx->dir, name);
    assert_int_equal(key_file(out->seed_path, out->public_key), 0);
}

static int prepare(struct fleetfx *fx)
{
    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fleet-fx-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->seed_path, sizeof(fx->seed_path), "%s/seed", fx->dir);
    snprintf(fx->hook_path, sizeof(fx->hook_path), "%s/hook.out", fx->dir);
    return make_key(fx);
}

int fleetfx_start(struct fleetfx *fx, bool jetstream)
{
    if (prepare(fx) != 0 || natsd_start(&fx->natsd, jetstream) != 0)
        return -1;
    snprintf(fx->url, sizeof(fx->url), "%s", fx->natsd.url);
    fx->watch = feedwatch_start(fx->url);
    return fx->watch != NULL ? 0 : -1;
}

int fleetfx_start_cluster(struct fleetfx *fx, int n)
{
    size_t used = 0;

    if (prepare(fx) != 0 || natsd_cluster_start(&fx->cluster, n) != 0)
        return -1;
    for (int k = 0; k < n; k++)
        used += (size_t)snprintf(fx->url + used, sizeof(fx->url) - used, "%s%s", k ? ", " : "",
                                 fx->cluster.node[k].url);
    fx->watch = feedwatch_start(fx->url);
    return fx->watch != NULL ? 0 : -1;
}

void fleetfx_stop(struct fleetfx *fx)
{
    char cmd[128];

    feedwatch_stop(fx->watch);
    fx->watch = NULL;
    natsd_stop(&fx->natsd, false);
    natsd_cluster_stop(&fx->cluster);
    if (fx->dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fx->dir);
    }
}

const char *fleetfx_config(struct fleetfx *fx, const char *name, const char *policy, const char *extra,
                           const char *services)
{
    static char paths[4][128];
    static int next;
    char *path = paths[next++ % 4];

    snprintf(path, sizeof(paths[0]), "%s/%s.yaml", fx->dir, name);
    assert_int_equal(write_file(path, 0644,
                                "nats:\n  url: %s\n"
                                "supervisor:\n  status_interval_ms: 200\n"
                                "detector:\n  default_interval_ms: 200\n  link_grace_ms: 1000\n"
                                "control:\n  signing_key_file: %s\n"
                                "  on_escalate: 'echo \"$FLEET_SERVICE $FLEET_INSTANCE $FLEET_REASON\" >> %s'\n"
                                "policy:\n%s"
                                "%s"
                                "services:\n%s",
                                fx->url, fx->seed_path, fx->hook_path, policy, extra, services),
                     0);
    return path;
}

void fleetfx_supervisor(struct fleetfx *fx, struct proc *p, const char *config)
{
    char *argv[] = { "fleet-supervisor", "--config", (char *)config, NULL };

    (void)fx;
    assert_int_equal(proc_start(p, argv, NULL), 0);
    assert_true(proc_wait_output(p, "fleet-supervisor started", FLEETFX_WAIT_MS));
}

void fleetfx_agent(struct fleetfx *fx, struct proc *p, const char *service, const char *instance,
                   const char *command)
{
    fleetfx_agent_at(fx, p, fx->url, service, instance, NULL, command);
}

void fleetfx_agent_at(struct fleetfx *fx, struct proc *p, const char *url, const char *service,
                      const char *instance, const char *version, const char *command)
{
    char url_env[sizeof(fx->url) + 16];
    char *env[] = { url_env, NULL };
    char *argv[] = { "fleet-agent", "--service", (char *)service, "--instance", (char *)instance,
                     "--version", (char *)version, "--trust", fx->public_key, "--interval-ms", "200",
                     "--grace-ms", "1000", "--", "/bin/sh", "-c", (char *)command, NULL };

    if (version == NULL) /* leave the pair out: the agent reports its default */
        memmove(&argv[5], &argv[7], sizeof(argv) - 7 * sizeof(argv[0]));
    snprintf(url_env, sizeof(url_env), "NATS_URL=%s", url);
    assert_int_equal(proc_start(p, argv, env), 0);
}

struct feedwatch_heartbeat fleetfx_wait_heartbeat(struct fleetfx *fx, const char *service, const char *instance,
                                                  bool (*ok)(const struct feedwatch_heartbeat *, const void *),
                                                  const void *arg)
{
    struct feedwatch_heartbeat hb = { 0 };

    for (int64_t deadline = proc_now_ms() + FLEETFX_WAIT_MS; proc_now_ms() < deadline; nats_Sleep(10))
        if (feedwatch_last_heartbeat(fx->watch, service, instance, &hb) && ok(&hb, arg))
            return hb;
    fail_msg("no heartbeat from %s/%s matching in %d ms (last pid %u incarnation %llu state %d)", service,
             instance, FLEETFX_WAIT_MS, hb.pid, (unsigned long long)hb.incarnation, hb.state);
    return hb;
}

bool fleetfx_serving(const struct feedwatch_heartbeat *hb, const void *arg)
{
    (void)arg;
    return hb->state == SS_SERVING && hb->pid > 0;
}

bool fleetfx_new_life(const struct feedwatch_heartbeat *hb, const void *arg)
{
    const struct feedwatch_heartbeat *old = arg;

    return hb->state == SS_SERVING && hb->pid != old->pid && hb->incarnation != old->incarnation;
}

bool fleetfx_fenced(const struct feedwatch_heartbeat *hb, const void *arg)
{
    (void)arg;
    return hb->state == SS_FENCED && hb->fence_epoch > 0;
}

bool fleetfx_stop_proc(struct proc *p)
{
    bool clean;

    if (proc_signal(p, SIGCONT) == 0 && proc_signal(p, SIGTERM) == 0)
        proc_wait(p, 5000);
    clean = proc_output_clean(p);
    if (!clean || getenv("FLEET_TEST_VERBOSE") != NULL) {
        char *out = proc_output(p);

        fprintf(stderr, "--- output of %s ---\n%s\n", p->out_path, out);
        free(out);
    }
    proc_kill(p);
    return clean;
}

static int ha_setup(void **state, bool jetstream)
{
    struct fleetfx_ha *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    assert_int_equal(fleetfx_start(&h->fx, jetstream), 0);
    *state = h;
    return 0;
}

int fleetfx_ha_setup_js(void **state) { return ha_setup(state, true); }
int fleetfx_ha_setup_no_js(void **state) { return ha_setup(state, false); }

int fleetfx_ha_teardown(void **state)
{
    struct fleetfx_ha *h = *state;
    bool clean = fleetfx_stop_proc(&h->agent);

    clean = fleetfx_stop_proc(&h->sup[0]) && clean;
    clean = fleetfx_stop_proc(&h->sup[1]) && clean;
    fleetfx_stop(&h->fx);
    free(h);
    assert_true(clean);
    return 0;
}

int fleetfx_run(char *const argv[], char **output)
{
    bool clean;
    int st = proc_run(argv, FLEETFX_RUN_MS, output, &clean);

    if (st < 0)
        fail_msg("%s did not run to its end within %d ms", argv[0], FLEETFX_RUN_MS);
    assert_true(clean);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}
