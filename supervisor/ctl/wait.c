/* fleetctl wait: the deploy gate. The judgement is gate.c's; this file is
 * its edge: flags, the initial query, the live feed, the output.
 *
 * Order: subscribe to <prefix>.v1.status.<service> and .events.<service>
 * first, then query each service (query.service; query.status first to list
 * them for --all), so nothing that happens between the answer and the feed
 * is lost; the gate drops what is older than it knows.
 *
 * Threads: as in watch.c, nats.c callbacks only copy into the inbox; the main
 * thread owns the gate and the output and waits in ppoll() on the inbox, the
 * gate's next deadline and SIGINT/SIGTERM (blocked everywhere else). */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/names.h"
#include "fleet/subjects.h"

#include "ctl.h"
#include "duration.h"
#include "gate.h"
#include "render.h"

#define WAIT_MAX_DURATION_MS (30LL * 86400 * 1000)

struct wait {
    const struct ctl_opts *o;
    struct inbox inbox;
    struct gate *gate;
    bool closed;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void wait_usage(FILE *out)
{
    char mh[DURATION_TEXT_MAX], to[DURATION_TEXT_MAX];

    fprintf(out,
            "usage: fleetctl wait SERVICE... | --all [--version V] [--healthy N]\n"
            "                     [--min-healthy-time D] [--timeout D] [--max-failures N]\n"
            "                     [--bake D] [--json] [global flags]\n"
            "\n"
            "The deploy gate: waits until the services run healthy (on version V), and fails\n"
            "fast when the new version crash-loops. Durations: 90s, 15m, 1m30s, 500ms.\n"
            "\n"
            "  --all                   every service in the supervisor's config\n"
            "  --version V             count only instances reporting version V (default: all)\n"
            "  --healthy N             counted instances required per service (default: its desired)\n"
            "  --min-healthy-time D    each one HEALTHY without a break this long (default %s)\n"
            "  --timeout D             give up (exit 3) when not ready by then (default %s)\n"
            "  --max-failures N        deaths of counted instances tolerated per service before\n"
            "                          failing (default max(3, ceil(desired/2)), the ECS circuit\n"
            "                          breaker's rule); 0 = none tolerated: the first death fails\n"
            "  --bake D                once ready, keep watching this long: any death fails\n"
            "  --json                  one JSON object on stdout at the end\n"
            "\n"
            "A counted instance that is fenced (crash loop) fails the wait at once.\n"
            "Progress goes to stderr on every change; the last line says the verdict and why.\n"
            "\n"
            "exit codes: 0 ready (and baked), 1 failed, 2 usage, 3 timed out (or interrupted),\n"
            "            4 unknown service or no supervisor answered\n",
            duration_format(GATE_DEFAULT_MIN_HEALTHY_MS, mh, sizeof(mh)),
            duration_format(GATE_DEFAULT_TIMEOUT_MS, to, sizeof(to)));
}

static int parse_count(const char *flag, const char *value, int64_t min, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > 1000000)
        return ctl_usage_error("wait", "%s wants a whole number from %lld, not '%s'", flag, (long long)min, value);
    *out = v;
    return CTL_EXIT_OK;
}

static int parse_dur(const char *flag, const char *value, bool positive, int64_t *out)
{
    if (duration_parse(value, WAIT_MAX_DURATION_MS, out) != 0 || (positive && *out <= 0))
        return ctl_usage_error("wait", "%s wants a duration like 10s, 5m or 1m30s%s, not '%s'", flag,
                               positive ? " (above 0)" : "", value);
    return CTL_EXIT_OK;
}

/* Stores one of wait's own flags into the gate_opts `arg` (ctl_cmd_flags). */
static int take_flag(void *arg, const char *flag, const char *value)
{
    struct gate_opts *g = arg;
    int64_t n = 0;
    int rc = CTL_EXIT_OK;

    if (strcmp(flag, "--all") == 0) {
        g->fleet = true;
    } else if (strcmp(flag, "--version") == 0) {
        if (value[0] == '\0' || strlen(value) > FLEET_VERSION_MAX)
            return ctl_usage_error("wait", "--version wants 1-%d characters", FLEET_VERSION_MAX);
        g->version = value;
    } else if (strcmp(flag, "--healthy") == 0) {
        rc = parse_count(flag, value, 1, &n);
        if (rc == CTL_EXIT_OK)   /* n is written only on success */
            g->healthy = (uint32_t)n;
    } else if (strcmp(flag, "--max-failures") == 0) {
        rc = parse_count(flag, value, 0, &g->max_failures);
    } else if (strcmp(flag, "--min-healthy-time") == 0) {
        rc = parse_dur(flag, value, false, &g->min_healthy_ms);
    } else if (strcmp(flag, "--timeout") == 0) {
        rc = parse_dur(flag, value, true, &g->timeout_ms);
    } else {
        rc = parse_dur(flag, value, false, &g->bake_ms);
    }
    return rc;
}

static const char *const wait_switches[] = { "--all" };
static const char *const wait_with_value[] = { "--version", "--healthy", "--min-healthy-time", "--timeout",
                                               "--max-failures", "--bake" };
static const struct ctl_cmd_flags wait_flags = {
    "wait", wait_switches, sizeof(wait_switches) / sizeof(wait_switches[0]),
    wait_with_value, sizeof(wait_with_value) / sizeof(wait_with_value[0]), take_flag, wait_usage,
};

/* Requests <prefix>.v1.query.service for `name`. CTL_EXIT_OK with *out the
 * caller's (free_unpacked), or CTL_EXIT_NO_TARGET after saying why. */
static int query_service(natsConnection *nc, const struct ctl_opts *o, const char *name,
                         Fleet__V1__ServiceStatus **out)
{
    char subject[FLEET_SUBJECT_MAX];
    Fleet__V1__ServiceStatus *st;
    natsMsg *reply = NULL;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_SERVICE, o->prefix, NULL, NULL);
    if (natsConnection_Request(&reply, nc, subject, name, (int)strlen(name), o->timeout_ms) != NATS_OK) {
        fprintf(stderr, "fleetctl wait: no supervisor answered on %s within %lld ms: is fleet-supervisor "
                        "running and connected to %s?\n", subject, (long long)o->timeout_ms, o->server_shown);
        return CTL_EXIT_NO_TARGET;
    }
    st = fleet__v1__service_status__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                           (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    if (st == NULL) {
        fprintf(stderr, "fleetctl wait: the reply on %s is not a ServiceStatus: is something else "
                        "answering there?\n", subject);
        return CTL_EXIT_NO_TARGET;
    }
    /* The supervisor answers a name it does not know with a bare status. */
    if (st->health == FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNSPECIFIED) {
        fprintf(stderr, "fleetctl wait: unknown service '%s': not in the supervisor's config and never "
                        "heard from (see 'fleetctl status')\n", name);
        fleet__v1__service_status__free_unpacked(st, NULL);
        return CTL_EXIT_NO_TARGET;
    }
    *out = st;
    return CTL_EXIT_OK;
}

/* --all: the services of the supervisor's config, from query.status. */
static int add_fleet(struct wait *w, natsConnection *nc)
{
    Fleet__V1__FleetStatus *fs = NULL;
    fleet_status s = ctl_query_status(nc, w->o, &fs);
    int rc = CTL_EXIT_OK;

    if (s != FLEET_OK) {
        ctl_explain_no_answer(w->o);
        return CTL_EXIT_NO_TARGET;
    }
    for (size_t k = 0; k < fs->n_services && rc == CTL_EXIT_OK; k++)
        if (fs->services[k]->expected && fleet_name_valid(fs->services[k]->name) &&
            gate_add_service(w->gate, fs->services[k]->name) != FLEET_OK)
            rc = CTL_EXIT_FAIL;
    if (rc == CTL_EXIT_OK && gate_service_count(w->gate) == 0) {
        fprintf(stderr, "fleetctl wait: the supervisor's config lists no service\n");
        rc = CTL_EXIT_NO_TARGET;
    }
    fleet__v1__fleet_status__free_unpacked(fs, NULL);
    return rc;
}

static int subscribe(struct wait *w, natsConnection *nc, const char *service, natsSubscription **subs)
{
    char subject[FLEET_SUBJECT_MAX];

    /* "*" stands for every service: the builder formats, NATS matches. */
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS_SERVICE, w->o->prefix, service, NULL);
    if (natsConnection_Subscribe(&subs[0], nc, subject, inbox_on_service_status, &w->inbox) != NATS_OK)
        goto out_fail;
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS, w->o->prefix, service, NULL);
    if (natsConnection_Subscribe(&subs[1], nc, subject, inbox_on_event, &w->inbox) != NATS_OK)
        goto out_fail;
    return CTL_EXIT_OK;

out_fail:
    fprintf(stderr, "fleetctl wait: cannot subscribe to %s: %s\n", subject, nats_GetLastError(NULL));
    return CTL_EXIT_FAIL;
}

static void take_item(struct wait *w, const struct inbox_item *it, int64_t now)
{
    Fleet__V1__ServiceStatus *st;
    Fleet__V1__Event *ev;

    switch (it->kind) {
    case INBOX_SERVICE_STATUS:
        st = fleet__v1__service_status__unpack(NULL, it->len, it->data);
        if (st != NULL) {
            (void)gate_status(w->gate, st, now);
            fleet__v1__service_status__free_unpacked(st, NULL);
        }
        return;
    case INBOX_EVENT:
        ev = fleet__v1__event__unpack(NULL, it->len, it->data);
        if (ev != NULL) {
            (void)gate_event(w->gate, ev, now);
            fleet__v1__event__free_unpacked(ev, NULL);
        }
        return;
    case INBOX_LINK_DOWN:
        fprintf(stderr, "fleetctl wait: NATS connection lost: reconnecting\u2026\n");
        return;
    case INBOX_LINK_UP:
        fprintf(stderr, "fleetctl wait: NATS connection back\n");
        return;
    case INBOX_CLOSED:
        w->closed = true;
        return;
    case INBOX_STATUS:
        return;
    }
}

static void drain_inbox(struct wait *w)
{
    uint64_t dropped;
    struct inbox_item *it = inbox_take_all(&w->inbox, &dropped);
    int64_t now = fleet_mono_ms();

    /* Drops cost only timeliness: the next status's incarnation and
     * restarts reveal any death they hid. */
    while (it != NULL) {
        struct inbox_item *next = it->next;

        take_item(w, it, now);
        free(it);
        it = next;
    }
}

static int exit_code(enum gate_verdict v)
{
    switch (v) {
    case GATE_READY: return CTL_EXIT_OK;
    case GATE_FAILED: return CTL_EXIT_FAIL;
    default: return CTL_EXIT_TIMED_OUT;
    }
}

/* The --json verdict object on stdout; false on a write or memory error. */
static bool print_json(const struct wait *w, enum gate_verdict v, const char *reason, const char *version)
{
    json_t *j = json_object(), *svcs = json_array();
    bool ok = j != NULL && svcs != NULL;

    for (size_t k = 0; ok && k < gate_service_count(w->gate); k++) {
        struct gate_service_view sv;

        gate_service(w->gate, k, &sv);
        ok = json_array_append_new(svcs, json_pack("{s:s, s:I, s:I, s:I, s:s?, s:I, s:I, s:b}", "name", sv.name,
                                                   "healthy", (json_int_t)sv.stable, "required",
                                                   (json_int_t)sv.required, "healthy_now", (json_int_t)sv.healthy,
                                                   "version", version, "failures", (json_int_t)sv.failures,
                                                   "max_failures", (json_int_t)sv.max_failures, "ready",
                                                   sv.ready)) == 0;
    }
    if (ok)
        ok = json_object_set_new(j, "verdict", json_string(gate_verdict_name(v))) == 0 &&
             json_object_set_new(j, "exit", json_integer(exit_code(v))) == 0 &&
             json_object_set_new(j, "reason", json_string(reason)) == 0 &&
             json_object_set(j, "services", svcs) == 0;
    ok = ok && json_dumpf(j, stdout, RENDER_JSON_FLAGS) == 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0;
    json_decref(svcs);
    json_decref(j);
    return ok;
}

static int run(struct wait *w, const sigset_t *waitmask, const char *version)
{
    struct pollfd pfd = { .fd = inbox_fd(&w->inbox), .events = POLLIN };
    char line[GATE_REASON_MAX], reason[GATE_REASON_MAX + 32];
    uint64_t shown = 0;
    enum gate_verdict v;

    for (;;) {
        int64_t now = fleet_mono_ms(), left;
        struct timespec ts;
        int r;

        v = gate_update(w->gate, now);
        if (v == GATE_READY || v == GATE_FAILED || v == GATE_TIMED_OUT)
            break;
        if (gate_generation(w->gate) != shown) {
            shown = gate_generation(w->gate);
            gate_progress(w->gate, now, line, sizeof(line));
            fprintf(stderr, "fleetctl wait: %s\n", line);
        }
        if (stop_requested || w->closed)
            break;
        left = gate_next_deadline(w->gate) - now;
        if (left < 0)
            left = 0;
        ts.tv_sec = left / 1000;
        ts.tv_nsec = left % 1000 * 1000000 + 1000000; /* past the deadline, not just before it */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        r = ppoll(&pfd, 1, &ts, waitmask);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "fleetctl wait: poll: %s\n", strerror(errno));
            return CTL_EXIT_FAIL;
        }
        if (r > 0)
            drain_inbox(w);
    }
    if (v == GATE_READY || v == GATE_FAILED || v == GATE_TIMED_OUT) {
        snprintf(reason, sizeof(reason), "%s", gate_reason(w->gate));
    } else {
        /* Interrupted, or the connection is gone: undecided, like a timeout. */
        gate_progress(w->gate, fleet_mono_ms(), line, sizeof(line));
        snprintf(reason, sizeof(reason), "%s: %s", stop_requested ? "interrupted" : "NATS connection closed",
                 line);
        v = GATE_TIMED_OUT;
    }
    fprintf(stderr, "fleetctl wait: %s\n", reason);
    if (w->o->json && !print_json(w, v, reason, version)) {
        fprintf(stderr, "fleetctl wait: cannot write the JSON verdict to stdout\n");
        return CTL_EXIT_FAIL;
    }
    return exit_code(v);
}

/* Subscribes, queries and runs; returns the exit code. `names` are the
 * services asked for (none with --all). */
static int start(struct wait *w, natsConnection *nc, char **names, int n_names, const sigset_t *waitmask,
                 const char *version, natsSubscription **subs)
{
    int64_t now;
    int rc;

    rc = n_names == 0 ? subscribe(w, nc, "*", subs) : CTL_EXIT_OK;
    for (int k = 0; k < n_names && rc == CTL_EXIT_OK; k++)
        rc = subscribe(w, nc, names[k], subs + 2 * k);
    if (rc == CTL_EXIT_OK && n_names == 0)
        rc = add_fleet(w, nc);
    for (int k = 0; k < n_names && rc == CTL_EXIT_OK; k++)
        if (gate_add_service(w->gate, names[k]) != FLEET_OK)
            rc = CTL_EXIT_FAIL;
    if (rc != CTL_EXIT_OK)
        return rc;
    for (size_t k = 0; k < gate_service_count(w->gate); k++) {
        struct gate_service_view sv;
        Fleet__V1__ServiceStatus *st = NULL;

        gate_service(w->gate, k, &sv);
        rc = query_service(nc, w->o, sv.name, &st);
        if (rc != CTL_EXIT_OK)
            return rc;
        now = fleet_mono_ms();
        (void)gate_status(w->gate, st, now);
        fleet__v1__service_status__free_unpacked(st, NULL);
    }
    return run(w, waitmask, version);
}

int ctl_cmd_wait(struct ctl_opts *o, int argc, char **argv)
{
    struct gate_opts go = {
        .min_healthy_ms = GATE_DEFAULT_MIN_HEALTHY_MS, .timeout_ms = GATE_DEFAULT_TIMEOUT_MS,
        .max_failures = GATE_MAX_FAILURES_AUTO,
    };
    struct wait w = { .o = o };
    struct ctl_link_cbs link = inbox_link(&w.inbox);
    natsSubscription **subs = NULL;
    natsConnection *nc = NULL;
    sigset_t waitmask;
    int rc, rest, n_names, n_subs;
    char **names;

    rc = ctl_cmd_flags_parse(o, &wait_flags, &go, &argc, argv, &rest);
    if (rc != CTL_EXIT_OK || o->help)
        return rc;
    names = argv + rest;
    n_names = argc - rest;
    if (go.fleet && n_names > 0)
        return ctl_usage_error("wait", "give service names or --all, not both");
    if (!go.fleet && n_names == 0)
        return ctl_usage_error("wait", "name the services to wait for, or --all");
    for (int k = 0; k < n_names; k++)
        if (!fleet_name_valid(names[k]))
            return ctl_usage_error("wait", "'%s' is not a service name: 1-%d characters of [A-Za-z0-9_-]",
                                   names[k], FLEET_NAME_MAX);

    ctl_stop_signals_block(on_stop_signal, &waitmask); /* before nats.c starts a thread */

    n_subs = 2 * (n_names > 0 ? n_names : 1);
    subs = calloc((size_t)n_subs, sizeof(*subs));
    w.gate = gate_create(&go, fleet_mono_ms());
    if (subs == NULL || w.gate == NULL) {
        fprintf(stderr, "fleetctl wait: out of memory\n");
        free(subs);
        gate_destroy(w.gate);
        return CTL_EXIT_FAIL;
    }
    if (inbox_init(&w.inbox) != FLEET_OK) {
        fprintf(stderr, "fleetctl wait: cannot create a pipe: %s\n", strerror(errno));
        free(subs);
        gate_destroy(w.gate);
        return CTL_EXIT_FAIL;
    }
    rc = CTL_EXIT_NO_TARGET; /* no server: nothing to wait on */
    if (ctl_connect(o, &link, &nc) == FLEET_OK)
        rc = start(&w, nc, names, n_names, &waitmask, go.version, subs);

    /* Subscriptions first, then the connection and the library: after
     * ctl_conn_close() no callback can touch w.inbox any more. */
    for (int k = 0; k < n_subs; k++)
        natsSubscription_Destroy(subs[k]);
    free(subs);
    ctl_conn_close(nc);
    inbox_fini(&w.inbox);
    gate_destroy(w.gate);
    return rc;
}
