/* Integration: the feed grows with what changed (issue 13 §3), and a
 * subscriber that joins late still builds the whole picture.
 *
 * A real nats-server, fleet-supervisor (status every 200 ms, per-service
 * refresh once an hour, so only changes publish detail), fleet-sim sending
 * 6 services x 4 instances and one libfleet sender in this process ("solo",
 * whose state the test changes). Once the fleet is HEALTHY a subscriber
 * joins: it subscribes to <prefix>.v1.status.* and .events.*, then builds
 * its picture from query.status (the services) and query.service (each
 * one's instances). It must list every instance; while nothing changes, no
 * ServiceStatus reaches it but for services that had an event; when solo
 * turns DEGRADED, solo's ServiceStatus (and only what changed) brings the
 * joiner's picture up to date. With a short refresh, every steady
 * service's detail comes again at the refresh rate, not faster. And a
 * standby, which publishes nothing, sleeps between its deadlines. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fleet/heartbeat.h"
#include "fleet/subjects.h"
#include "fleet/v1/fleet.pb-c.h"
#include "feedquery.h"
#include "fleetfx.h"
#include "natsd.h"
#include "proc.h"

#define SIM_SERVICES 6
#define SIM_PER_SERVICE 4
#define SERVICES (SIM_SERVICES + 1) /* + solo */
#define INSTANCES (SIM_SERVICES * SIM_PER_SERVICE + 1)
#define INTERVAL_MS 200
#define WAIT_MS 20000
#define QUERY_MS 5000
#define STEADY_STATUSES 10 /* FleetStatus messages the quiet window lasts */

/* What the late joiner knows: the latest ServiceStatus per service (from
 * its queries, then from the feed), and what reached it on the feed. Its
 * lock guards everything below it (nats.c delivers on its own thread). */
struct joiner {
    pthread_mutex_t mu;
    Fleet__V1__ServiceStatus *svc[SERVICES];
    size_t n_svc;
    int fed[SERVICES];      /* ServiceStatus messages per service since the count was reset */
    int evented[SERVICES];  /* Events per service since the count was reset */
    int fed_unknown;        /* ServiceStatus of a service not in the picture */
    int statuses;           /* FleetStatus messages since the count was reset */
    char fleet_subject[FLEET_SUBJECT_MAX];
};

static int slot(struct joiner *j, const char *name)
{
    for (size_t k = 0; k < j->n_svc; k++)
        if (strcmp(j->svc[k]->name, name) == 0)
            return (int)k;
    return -1;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct joiner *j = closure;
    const char *subject = natsMsg_GetSubject(msg);
    const uint8_t *data = (const uint8_t *)natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);

    (void)nc;
    (void)sub;
    pthread_mutex_lock(&j->mu);
    if (strcmp(subject, j->fleet_subject) == 0) {
        j->statuses++;
    } else if (strstr(subject, ".v1.events.") != NULL) {
        Fleet__V1__Event *ev = fleet__v1__event__unpack(NULL, len, data);
        int k = ev != NULL ? slot(j, ev->service) : -1;

        if (k >= 0)
            j->evented[k]++;
        fleet__v1__event__free_unpacked(ev, NULL);
    } else {
        Fleet__V1__ServiceStatus *st = fleet__v1__service_status__unpack(NULL, len, data);
        int k = st != NULL ? slot(j, st->name) : -1;

        if (k >= 0) {
            j->fed[k]++;
            fleet__v1__service_status__free_unpacked(j->svc[k], NULL);
            j->svc[k] = st;
        } else {
            j->fed_unknown++;
            fleet__v1__service_status__free_unpacked(st, NULL);
        }
    }
    pthread_mutex_unlock(&j->mu);
    natsMsg_Destroy(msg);
}

struct healthy_arg {
    natsConnection *nc;
};

static bool fleet_healthy(void *arg)
{
    struct healthy_arg *a = arg;
    Fleet__V1__FleetStatus *fs = feedquery_status(a->nc, QUERY_MS);
    bool ok = fs != NULL && fs->instances_healthy == INSTANCES;

    fleet__v1__fleet_status__free_unpacked(fs, NULL);
    return ok;
}

/* Health of `instance` in the joiner's picture of `service` (0 = absent). */
static int picture_health(struct joiner *j, const char *service, const char *instance)
{
    int health = 0, k;

    pthread_mutex_lock(&j->mu);
    k = slot(j, service);
    for (size_t i = 0; k >= 0 && i < j->svc[k]->n_instances; i++)
        if (strcmp(j->svc[k]->instances[i]->instance, instance) == 0)
            health = (int)j->svc[k]->instances[i]->health;
    pthread_mutex_unlock(&j->mu);
    return health;
}

static size_t picture_instances(struct joiner *j, int health)
{
    size_t n = 0;

    pthread_mutex_lock(&j->mu);
    for (size_t k = 0; k < j->n_svc; k++)
        for (size_t i = 0; i < j->svc[k]->n_instances; i++)
            n += health == 0 || (int)j->svc[k]->instances[i]->health == health;
    pthread_mutex_unlock(&j->mu);
    return n;
}

static int statuses_seen(struct joiner *j)
{
    int n;

    pthread_mutex_lock(&j->mu);
    n = j->statuses;
    pthread_mutex_unlock(&j->mu);
    return n;
}

struct degraded_arg {
    struct joiner *j;
};

static bool solo_degraded(void *arg)
{
    struct degraded_arg *a = arg;

    return picture_health(a->j, "solo", "solo-1") == FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEGRADED;
}

static bool enough_statuses(void *arg)
{
    return statuses_seen(arg) >= STEADY_STATUSES;
}

static void write_config(const char *path, const char *url, int refresh_ms)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "nats:\n  url: %s\nsupervisor:\n  status_interval_ms: %d\n  status_refresh_ms: %d\n"
               "detector:\n  default_interval_ms: %d\n  link_grace_ms: 1000\nservices:\n",
            url, INTERVAL_MS, refresh_ms, INTERVAL_MS);
    for (int s = 1; s <= SIM_SERVICES; s++)
        fprintf(f, "  - name: svc-%d\n    desired: %d\n", s, SIM_PER_SERVICE);
    fprintf(f, "  - name: solo\n    desired: 1\n");
    assert_int_equal(fclose(f), 0);
}

static fleet_hb *start_solo(const char *url)
{
    fleet_hb_opts *o = NULL;
    fleet_hb *hb = NULL;

    assert_int_equal(fleet_hb_opts_create(&o), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_url(o, url), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_service(o, "solo"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_instance(o, "solo-1"), FLEET_OK);
    assert_int_equal(fleet_hb_opts_set_interval_ms(o, INTERVAL_MS), FLEET_OK);
    assert_int_equal(fleet_hb_create(o, &hb), FLEET_OK);
    fleet_hb_opts_destroy(o);
    assert_int_equal(fleet_hb_set_state(hb, FLEET_STATE_SERVING), FLEET_OK);
    return hb;
}

/* The joiner's queries: every service of query.status, each one's detail. */
static void join(struct joiner *j, natsConnection *nc)
{
    Fleet__V1__FleetStatus *fs = feedquery_status(nc, QUERY_MS);

    assert_non_null(fs);
    assert_int_equal(fs->n_services, SERVICES);
    pthread_mutex_lock(&j->mu);
    for (size_t k = 0; k < fs->n_services; k++) {
        Fleet__V1__ServiceStatus *st = feedquery_service(nc, fs->services[k]->name, QUERY_MS);

        assert_non_null(st);
        assert_string_equal(st->name, fs->services[k]->name);
        j->svc[j->n_svc++] = st;
    }
    pthread_mutex_unlock(&j->mu);
    fleet__v1__fleet_status__free_unpacked(fs, NULL);
}

/* The cast: server, supervisor (refresh every `refresh_ms`), fleet-sim,
 * solo, and the joiner subscribed once the feed flows. */
struct scene {
    struct natsd_client c;
    struct proc sup, sim;
    fleet_hb *solo;
    struct joiner j;
    natsSubscription *subs[3];
    char config[sizeof(((struct natsd *)0)->dir) + 32];
};

static void scene_start(struct scene *sc, int refresh_ms)
{
    char subject[FLEET_SUBJECT_MAX], per[16], services[16], interval[16];
    char *sup_argv[] = { "fleet-supervisor", "--config", sc->config, NULL };
    char *sim_argv[] = { "fleet-sim", "--server", sc->c.d.url, "--services", services, "--instances-per-service", per,
                         "--interval-ms", interval, NULL };
    struct healthy_arg ha;

    assert_int_equal(natsd_client_start(&sc->c, false), 0);
    assert_true(snprintf(sc->config, sizeof(sc->config), "%s/supervisor.yaml", sc->c.d.dir) < (int)sizeof(sc->config));
    snprintf(services, sizeof(services), "%d", SIM_SERVICES);
    snprintf(per, sizeof(per), "%d", SIM_PER_SERVICE);
    snprintf(interval, sizeof(interval), "%d", INTERVAL_MS);
    write_config(sc->config, sc->c.d.url, refresh_ms);
    assert_int_equal(proc_start(&sc->sup, sup_argv, NULL), 0);
    assert_true(proc_wait_output(&sc->sup, "fleet-supervisor started", WAIT_MS));
    assert_int_equal(proc_start(&sc->sim, sim_argv, NULL), 0);
    sc->solo = start_solo(sc->c.d.url);
    ha.nc = sc->c.nc;
    assert_true(proc_wait_until(fleet_healthy, &ha, WAIT_MS, 100));

    /* The feed flows (the supervisor publishes once its lease says it may:
     * at first every service's detail goes out once), then the joiner comes
     * late: subscriptions first, so nothing between its queries and the
     * feed is lost, then the queries. */
    assert_int_equal(pthread_mutex_init(&sc->j.mu, NULL), 0);
    (void)fleet_subject(sc->j.fleet_subject, sizeof(sc->j.fleet_subject), FLEET_SUBJECT_STATUS, FLEET_DEFAULT_PREFIX,
                        NULL, NULL);
    assert_int_equal(natsConnection_Subscribe(&sc->subs[0], sc->c.nc, sc->j.fleet_subject, on_msg, &sc->j), NATS_OK);
    assert_true(proc_wait_until(enough_statuses, &sc->j, WAIT_MS, 20));
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS_SERVICE, FLEET_DEFAULT_PREFIX, "*", NULL);
    assert_int_equal(natsConnection_Subscribe(&sc->subs[1], sc->c.nc, subject, on_msg, &sc->j), NATS_OK);
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS_ALL, FLEET_DEFAULT_PREFIX, NULL, NULL);
    assert_int_equal(natsConnection_Subscribe(&sc->subs[2], sc->c.nc, subject, on_msg, &sc->j), NATS_OK);
    assert_int_equal(natsConnection_Flush(sc->c.nc), NATS_OK);
    join(&sc->j, sc->c.nc);
    assert_int_equal(picture_instances(&sc->j, 0), INSTANCES);
    assert_int_equal(picture_instances(&sc->j, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY), INSTANCES);
}

/* Zeroes the joiner's counts: a window starts. */
static void counts_reset(struct joiner *j)
{
    pthread_mutex_lock(&j->mu);
    j->statuses = 0;
    memset(j->fed, 0, sizeof(j->fed));
    memset(j->evented, 0, sizeof(j->evented));
    pthread_mutex_unlock(&j->mu);
}

static void scene_stop(struct scene *sc)
{
    for (int k = 0; k < 3; k++)
        natsSubscription_Destroy(sc->subs[k]);
    fleet_hb_destroy(sc->solo);
    proc_kill(&sc->sim);
    assert_int_equal(proc_signal(&sc->sup, SIGTERM), 0);
    assert_true(proc_wait(&sc->sup, 10000) >= 0);
    assert_true(proc_output_clean(&sc->sup));
    proc_kill(&sc->sup);
    for (size_t k = 0; k < sc->j.n_svc; k++)
        fleet__v1__service_status__free_unpacked(sc->j.svc[k], NULL);
    pthread_mutex_destroy(&sc->j.mu);
    natsd_client_stop(&sc->c);
}

static void test_late_joiner_builds_the_picture_and_detail_follows_change(void **state)
{
    struct scene sc = { 0 };
    struct degraded_arg da = { &sc.j };

    (void)state;
    scene_start(&sc, 3600000); /* no refresh within the test: what comes is change */

    /* Quiet: STEADY_STATUSES FleetStatus go by (2 s), and no service's
     * detail is published unless it had an event meanwhile. */
    counts_reset(&sc.j);
    assert_true(proc_wait_until(enough_statuses, &sc.j, WAIT_MS, 20));
    pthread_mutex_lock(&sc.j.mu);
    for (size_t k = 0; k < sc.j.n_svc; k++)
        if (sc.j.fed[k] != 0 && sc.j.evented[k] == 0)
            fail_msg("%s: %d ServiceStatus in a quiet window without an event", sc.j.svc[k]->name, sc.j.fed[k]);
    assert_int_equal(sc.j.fed_unknown, 0);
    pthread_mutex_unlock(&sc.j.mu);

    /* A change: solo's detail comes on the feed; the picture follows. */
    assert_int_equal(fleet_hb_set_state(sc.solo, FLEET_STATE_DEGRADED), FLEET_OK);
    assert_true(proc_wait_until(solo_degraded, &da, WAIT_MS, 20));
    assert_int_equal(picture_instances(&sc.j, 0), INSTANCES);
    {
        Fleet__V1__ServiceStatus *st = feedquery_service(sc.c.nc, "solo", QUERY_MS);

        assert_non_null(st);
        assert_int_equal(st->n_instances, 1);
        assert_int_equal(st->instances[0]->health, FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEGRADED);
        fleet__v1__service_status__free_unpacked(st, NULL);
    }
    scene_stop(&sc);
}

struct refreshed_arg {
    struct joiner *j;
    int times;
};

static bool all_refreshed(void *arg)
{
    struct refreshed_arg *a = arg;
    bool all = true;

    pthread_mutex_lock(&a->j->mu);
    for (size_t k = 0; k < a->j->n_svc; k++)
        all = all && a->j->fed[k] >= a->times;
    pthread_mutex_unlock(&a->j->mu);
    return all;
}

/* With nothing changing, every service's detail still comes once per
 * status_refresh_ms, and no faster: a joiner that never queries catches up. */
static void test_steady_services_are_refreshed_at_the_refresh_rate(void **state)
{
    enum { REFRESH_MS = SERVICES * INTERVAL_MS, TIMES = 3 }; /* one service per status interval */
    struct scene sc = { 0 };
    struct refreshed_arg ra = { &sc.j, TIMES };
    int64_t t0, elapsed;
    int total = 0;

    (void)state;
    scene_start(&sc, REFRESH_MS);
    counts_reset(&sc.j);
    t0 = proc_now_ms();
    assert_true(proc_wait_until(all_refreshed, &ra, WAIT_MS, 20));
    elapsed = proc_now_ms() - t0;
    pthread_mutex_lock(&sc.j.mu);
    for (size_t k = 0; k < sc.j.n_svc; k++)
        total += sc.j.evented[k] == 0 ? sc.j.fed[k] : 0;
    pthread_mutex_unlock(&sc.j.mu);
    /* The refresh allows SERVICES per REFRESH_MS (plus a round of slack for
     * the window's edges); every service every interval would be 7 x that. */
    if (total > SERVICES * (int)(elapsed / REFRESH_MS + 2))
        fail_msg("%d refreshes in %lld ms: more than %d services per %d ms", total, (long long)elapsed, SERVICES,
                 REFRESH_MS);
    scene_stop(&sc);
}

/* A standby does not publish; it must sleep until its next deadline like
 * the leader, not spin on the feed's (a standby once took a whole core). */
static void a_standby_sleeps_between_deadlines(void **state)
{
    enum { WINDOW_MS = 3000, MAX_PCT = 20 }; /* idle: well under 1 %; spinning: a core, or what load leaves */
    struct fleetfx_ha *h = *state;
    const char *cfg = fleetfx_config(&h->fx, "idle", "  backoff_initial_ms: 200\n", "state:\n  lease_ttl_ms: 2000\n",
                                     "  - name: web\n    desired: 1\n");
    int64_t cpu0, cpu1, t0, t1;
    double pct;

    fleetfx_supervisor(&h->fx, &h->sup[0], cfg);
    assert_true(proc_wait_output(&h->sup[0], "\"msg\":\"leading\"", WAIT_MS));
    fleetfx_supervisor(&h->fx, &h->sup[1], cfg);
    assert_true(proc_wait_output(&h->sup[1], "standby", WAIT_MS));
    cpu0 = proc_cpu_ns(h->sup[1].pid, 0);
    t0 = proc_now_ms();
    nats_Sleep(WINDOW_MS);
    cpu1 = proc_cpu_ns(h->sup[1].pid, 0);
    t1 = proc_now_ms();
    assert_true(cpu0 >= 0 && cpu1 >= cpu0);
    pct = (double)(cpu1 - cpu0) / 1e4 / (double)(t1 - t0);
    if (pct > MAX_PCT)
        fail_msg("the standby used %.1f %% of a core over %lld ms", pct, (long long)(t1 - t0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_joiner_builds_the_picture_and_detail_follows_change),
        cmocka_unit_test(test_steady_services_are_refreshed_at_the_refresh_rate),
        cmocka_unit_test_setup_teardown(a_standby_sleeps_between_deadlines, fleetfx_ha_setup_js,
                                        fleetfx_ha_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
