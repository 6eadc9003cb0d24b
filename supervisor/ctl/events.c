/* fleetctl events: the audit trail, read back from the JetStream stream that
 * captures every Event the supervisor publishes (DESIGN.md §8).
 *
 *   fleetctl events [--since DURATION] [--service NAME] [--follow]
 *                   [--stream NAME] [--json]
 *
 * An ordered consumer (ephemeral, no acks, in order; nats.c recreates it
 * after a gap) on <prefix>.v1.events.<service|>>, starting at now - since.
 * Without --follow it stops once caught up: the message it just printed had
 * no matching message after it (metadata NumPending 0), or the consumer had
 * nothing to deliver at all, or nothing arrived within the request timeout.
 *
 * Threads: only the main thread reads (natsSubscription_NextMsg) and prints;
 * signal handlers set a flag; the connection callbacks only write a line to
 * stderr. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "duration.h"
#include "fleet/names.h"
#include "fleet/subjects.h"
#include "render.h"

#define EVENTS_DEFAULT_SINCE_MS (3600LL * 1000)
#define EVENTS_MAX_SINCE_MS (3650LL * 86400 * 1000)
#define EVENTS_POLL_MS 250   /* --follow: how often the stop flag is checked */

struct events_args {
    int64_t since_ms;
    const char *service;   /* NULL: every service */
    const char *stream;
    bool follow;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    fprintf(stderr, "fleetctl: NATS connection lost: reconnecting\u2026\n");
}

static void on_reconnected(natsConnection *nc, void *arg)
{
    fprintf(stderr, "fleetctl: NATS connection back\n");
}

static void on_closed(natsConnection *nc, void *arg) {}

static void events_usage(FILE *out)
{
    fprintf(out,
            "usage: fleetctl events [--since DURATION] [--service NAME] [--follow] [--stream NAME]\n"
            "                       [global flags]\n"
            "\n"
            "Prints the audit trail: every event and control decision the supervisor published,\n"
            "read from the JetStream stream that captures them.\n"
            "\n"
            "  --since DURATION  how far back to start: 90s, 15m, 1h, 7d (default 1h)\n"
            "  --service NAME    only this service's events\n"
            "  --follow          keep printing new events until interrupted\n"
            "  --stream NAME     the audit stream (default %s)\n"
            "  --json            one JSON object per event per line\n",
            FLEET_DEFAULT_AUDIT_STREAM);
}

/* Stores one of this command's own flags into the events_args `arg`
 * (ctl_cmd_flags). */
static int take_flag(void *arg, const char *flag, const char *value)
{
    struct events_args *a = arg;

    if (value == NULL) {    /* --follow, -f */
        a->follow = true;
    } else if (strcmp(flag, "--since") == 0) {
        if (duration_parse(value, EVENTS_MAX_SINCE_MS, &a->since_ms) != 0 || a->since_ms <= 0)
            return ctl_usage_error("events", "--since wants a duration like 90s, 15m, 1h or 7d "
                                      "(at most 3650d), not '%s'", value);
    } else if (strcmp(flag, "--service") == 0) {
        if (!fleet_name_valid(value))
            return ctl_usage_error("events", "--service '%s' is not a service name: 1-%d characters "
                                      "of [A-Za-z0-9_-]", value, FLEET_NAME_MAX);
        a->service = value;
    } else {
        if (!ctl_js_name_valid(value))
            return ctl_usage_error("events", "--stream '%s' is not a stream name", value);
        a->stream = value;
    }
    return CTL_EXIT_OK;
}

static const char *const events_switches[] = { "--follow", "-f" };
static const char *const events_with_value[] = { "--since", "--service", "--stream" };
static const struct ctl_cmd_flags events_flags = {
    "events", events_switches, sizeof(events_switches) / sizeof(events_switches[0]),
    events_with_value, sizeof(events_with_value) / sizeof(events_with_value[0]), take_flag, events_usage,
};

static void explain_no_stream(const struct ctl_opts *o, const struct events_args *a,
                              natsStatus s, jsErrCode jerr)
{
    const char *detail = nats_GetLastError(NULL);

    fprintf(stderr, "fleetctl: no audit stream %s on %s: is fleet-supervisor running with JetStream?\n",
            a->stream, o->server_shown);
    fprintf(stderr, "fleetctl: (nats: %s%s%s)\n", natsStatus_GetText(s),
            detail != NULL && detail[0] != '\0' ? ": " : "",
            detail != NULL ? detail : "");
    if (s == NATS_NO_RESPONDERS)
        fprintf(stderr, "fleetctl: the server answered no JetStream request: start nats-server with -js\n");
    (void)jerr;
}

static void print_date(const Fleet__V1__Event *ev, int64_t stored_unix_ms)
{
    int64_t ms = ev->unix_ms > 0 ? ev->unix_ms : stored_unix_ms;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char day[16];

    if (ms > 0 && localtime_r(&secs, &tm) != NULL)
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    else
        snprintf(day, sizeof(day), "----------");
    printf("%s ", day);
}

/* Prints one stored message; false on a write error. Counts what does not
 * decode in *undecodable. */
static bool print_msg(const struct ctl_opts *o, natsMsg *msg, bool color, uint64_t *undecodable)
{
    Fleet__V1__Event *ev;
    bool ok = true;

    ev = fleet__v1__event__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                  (const uint8_t *)natsMsg_GetData(msg));
    if (ev == NULL) {
        (*undecodable)++;
        return true;
    }
    if (o->json) {
        json_t *j = render_event_json(ev);

        ok = j != NULL && json_dumpf(j, stdout, RENDER_JSON_FLAGS) == 0 && fputc('\n', stdout) != EOF;
        json_decref(j);
    } else {
        print_date(ev, natsMsg_GetTime(msg) / 1000000);
        ok = render_event_line(stdout, ev, color) == FLEET_OK && fputc('\n', stdout) != EOF;
    }
    fleet__v1__event__free_unpacked(ev, NULL);
    return ok;
}

/* True when `msg` is the last matching one the stream held when sent. */
static bool caught_up_after(natsMsg *msg)
{
    jsMsgMetaData *meta = NULL;
    bool last;

    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK)
        return false;
    last = meta->NumPending == 0;
    jsMsgMetaData_Destroy(meta);
    return last;
}

/* Nothing matching to deliver at all (checked once, right after subscribing). */
static bool nothing_to_deliver(natsSubscription *sub)
{
    jsConsumerInfo *ci = NULL;
    bool none;

    if (natsSubscription_GetConsumerInfo(&ci, sub, NULL, NULL) != NATS_OK)
        return false;
    none = ci->NumPending == 0 && ci->Delivered.Consumer == 0;
    jsConsumerInfo_Destroy(ci);
    return none;
}

static int read_events(const struct ctl_opts *o, const struct events_args *a, natsSubscription *sub)
{
    bool color = !o->json && ctl_use_color();
    uint64_t undecodable = 0;
    int rc = CTL_EXIT_OK;

    if (!a->follow && nothing_to_deliver(sub))
        goto out_report;
    while (!stop_requested) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, sub, a->follow ? EVENTS_POLL_MS : o->timeout_ms);
        bool last;

        if (s == NATS_TIMEOUT) {
            if (a->follow)
                continue;
            break;   /* idle: caught up */
        }
        if (s != NATS_OK) {
            fprintf(stderr, "fleetctl: reading stream %s failed: %s\n", a->stream,
                    nats_GetLastError(NULL) != NULL && nats_GetLastError(NULL)[0] != '\0'
                        ? nats_GetLastError(NULL) : natsStatus_GetText(s));
            rc = CTL_EXIT_FAIL;
            break;
        }
        last = caught_up_after(msg);
        if (!print_msg(o, msg, color, &undecodable)) {
            natsMsg_Destroy(msg);
            fprintf(stderr, "fleetctl: cannot write to stdout\n");
            return CTL_EXIT_FAIL;
        }
        natsMsg_Destroy(msg);
        if (a->follow)
            fflush(stdout);
        else if (last)
            break;
    }

out_report:
    if (undecodable > 0)
        fprintf(stderr, "fleetctl: %" PRIu64 " message(s) in %s were not Events and were skipped\n",
                undecodable, a->stream);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "fleetctl: cannot write to stdout\n");
        return CTL_EXIT_FAIL;
    }
    return rc;
}

int ctl_cmd_events(struct ctl_opts *o, int argc, char **argv)
{
    struct events_args a = { .since_ms = EVENTS_DEFAULT_SINCE_MS, .stream = FLEET_DEFAULT_AUDIT_STREAM };
    struct ctl_link_cbs link = { on_disconnected, on_reconnected, on_closed, NULL };
    struct sigaction sa = { .sa_handler = on_stop_signal };   /* no SA_RESTART */
    char subject[FLEET_SUBJECT_MAX];
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    jsStreamInfo *si = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus s;
    int rc, rest;

    rc = ctl_cmd_flags_parse(o, &events_flags, &a, &argc, argv, &rest);
    if (rc != CTL_EXIT_OK || o->help)
        return rc;
    if (rest < argc)
        return ctl_usage_error("events", "unexpected argument '%s'", argv[rest]);

    if (ctl_connect(o, a.follow ? &link : NULL, &nc) != FLEET_OK) {
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    jsOptions_Init(&jo);
    jo.Wait = o->timeout_ms;
    s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK) {
        fprintf(stderr, "fleetctl: cannot use JetStream: %s\n", natsStatus_GetText(s));
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    s = js_GetStreamInfo(&si, js, a.stream, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        explain_no_stream(o, &a, s, jerr);
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }

    (void)fleet_subject(subject, sizeof(subject), a.service != NULL ? FLEET_SUBJECT_EVENTS : FLEET_SUBJECT_EVENTS_ALL,
                        o->prefix, a.service, NULL);
    jsSubOptions_Init(&so);
    so.Stream = a.stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartTime;
    so.Config.OptStartTime = (fleet_unix_ms() - a.since_ms) * 1000000LL;   /* ns since the epoch */
    s = js_SubscribeSync(&sub, js, subject, &jo, &so, &jerr);
    if (s != NATS_OK) {
        if (jerr == JSStreamNotFoundErr) {
            explain_no_stream(o, &a, s, jerr);
        } else {
            const char *why = nats_GetLastError(NULL);

            fprintf(stderr, "fleetctl: cannot read %s from stream %s on %s: %s\n", subject, a.stream,
                    o->server_shown, why != NULL && why[0] != '\0' ? why : natsStatus_GetText(s));
        }
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);

    stop_requested = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = read_events(o, &a, sub);

out_close:
    if (sub != NULL) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    jsCtx_Destroy(js);
    ctl_conn_close(nc);
    return rc;
}
