/* fleet-agent: set-up, the poll loop and tear-down.
 *
 * Order matters: signals are blocked (and read from a signalfd) before any
 * thread exists, so every thread inherits the mask and no handler ever runs;
 * the child starts before the heartbeat sender, so the first heartbeat
 * already carries its pid. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "agent.h"
#include "fleet/conn.h"
#include "fleet/subjects.h"

#define AGENT_FLUSH_ON_EXIT_MS 1000

/* Everything set-up creates, torn down in reverse by agent_teardown. */
struct agent_rt {
    struct agent_opts opts;
    int sigfd;
    struct mailbox *mb;
    struct presence presence;
    natsConnection *nc;
    natsSubscription *status_sub;
    fleet_hb *hb;
    fleet_obey *obey;
    struct http_check *http;
    struct curl_api curl;        /* loaded only for --http-check */
    struct agent agent;
};

static void on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    presence_seen(closure, fleet_mono_ms());
    natsMsg_Destroy(msg);
}

/* Blocks the signals the loop reads and returns a signalfd for them, or -1. */
static int signals_setup(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static fleet_status nats_connect(const struct agent_opts *o, natsConnection **out)
{
    char name[2 * FLEET_NAME_MAX + 16];
    fleet_conn_opts co = {
        .url = o->url, .creds = o->creds, .name = name, .retry_first_connect = true,
        .send_asap = true,      /* an EXITED heartbeat leaves from the thread that saw the death */
    };
    fleet_status s;

    snprintf(name, sizeof(name), "fleet-agent/%s/%s", o->service, o->instance);
    s = fleet_conn_open(&co, out);
    if (s != FLEET_OK)
        agent_log(AGENT_ERROR, "cannot set up the NATS connection", json_pack("{s:s}", "error", fleet_last_error()));
    return s;
}

static fleet_status hb_setup(struct agent_rt *rt)
{
    fleet_hb_opts *ho = NULL;
    fleet_status s;

    s = fleet_hb_opts_create(&ho);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_conn(ho, rt->nc);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_service(ho, rt->opts.service);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_instance(ho, rt->opts.instance);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_prefix(ho, rt->opts.prefix);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_interval_ms(ho, rt->opts.interval_ms);
    if (s == FLEET_OK)
        s = fleet_hb_opts_set_version(ho, rt->opts.version);
    if (s == FLEET_OK && rt->agent.pid > 0)
        s = fleet_hb_opts_set_pid(ho, (uint32_t)rt->agent.pid);
    /* The keys whose Controls we obey are the supervisors we prove to. */
    for (size_t k = 0; s == FLEET_OK && k < rt->opts.n_trusted; k++)
        s = fleet_hb_opts_add_trusted_key(ho, rt->opts.trusted[k]);
    if (s == FLEET_OK)
        s = fleet_hb_create(ho, &rt->hb);
    if (s != FLEET_OK)
        agent_log(AGENT_ERROR, "cannot start heartbeats", json_pack("{s:s}", "error", fleet_last_error()));
    fleet_hb_opts_destroy(ho);
    return s;
}

static fleet_status control_setup(struct agent_rt *rt)
{
    fleet_verifier_opts vo = {
        .trusted = (const char *const *)rt->opts.trusted,
        .n_trusted = rt->opts.n_trusted,
    };
    fleet_obey_handlers h = mailbox_obey_handlers(rt->mb);
    char subject[FLEET_SUBJECT_MAX];
    fleet_status s;
    natsStatus ns;

    s = fleet_obey_start(rt->hb, &vo, &h, &rt->obey);
    if (s != FLEET_OK) {
        agent_log(AGENT_ERROR, "cannot obey control", json_pack("{s:s}", "error", fleet_last_error()));
        return s;
    }
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS, rt->opts.prefix, NULL, NULL);
    ns = natsConnection_Subscribe(&rt->status_sub, rt->nc, subject, on_status, &rt->presence);
    if (ns != NATS_OK) {
        agent_log(AGENT_ERROR, "cannot subscribe", json_pack("{s:s, s:s}", "subject", subject,
                                                              "error", natsStatus_GetText(ns)));
        return FLEET_ERR_NATS;
    }
    return FLEET_OK;
}

/* Creates everything; returns 0, or the exit code to use (the partial state
 * is for agent_teardown either way). */
static int agent_setup(struct agent_rt *rt)
{
    int e;

    rt->sigfd = signals_setup();
    if (rt->sigfd < 0) {
        agent_log(AGENT_ERROR, "cannot set up signals", json_pack("{s:s}", "error", strerror(errno)));
        return 1;
    }
    /* Orphans of the service are re-parented to us, and reaped. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        agent_log(AGENT_WARN, "not a subreaper: orphans go to init",
                  json_pack("{s:s}", "error", strerror(errno)));
    if (rt->opts.http_check != NULL) {
        char why[256];

        if (curl_api_load(&rt->curl, why, sizeof(why)) != 0) {
            agent_log(AGENT_ERROR, "cannot initialise libcurl", json_pack("{s:s}", "error", why));
            return 1;
        }
    }
    e = mailbox_create(&rt->mb);
    if (e != 0) {
        agent_log(AGENT_ERROR, "cannot create the mailbox", json_pack("{s:s}", "error", strerror(e)));
        return 1;
    }
    presence_init(&rt->presence);
    if (nats_connect(&rt->opts, &rt->nc) != FLEET_OK)
        return 1;
    agent_init(&rt->agent, &rt->opts, rt->mb, &rt->presence);
    (void)agent_first_start(&rt->agent, fleet_mono_ms());   /* an exec failure is reported as an exit */
    if (hb_setup(rt) != FLEET_OK || control_setup(rt) != FLEET_OK)
        return 1;
    if (rt->opts.http_check != NULL) {
        e = http_check_start(&rt->curl, rt->opts.http_check, rt->opts.check_period_ms, rt->mb, &rt->http);
        if (e != 0) {
            agent_log(AGENT_ERROR, "cannot start the HTTP check", json_pack("{s:s}", "error", strerror(e)));
            return 1;
        }
    }
    agent_attach(&rt->agent, rt->hb, rt->http, fleet_mono_ms());
    agent_log(AGENT_INFO, "agent started",
              json_pack("{s:s, s:s, s:i, s:I}", "service", rt->opts.service, "instance", rt->opts.instance,
                        "pid", (int)rt->agent.pid, "trusted_keys", (json_int_t)rt->opts.n_trusted));
    return 0;
}

/* Reads every pending signal off the signalfd. */
static void read_signals(struct agent_rt *rt)
{
    struct signalfd_siginfo si;

    for (;;) {
        ssize_t n = read(rt->sigfd, &si, sizeof(si));

        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(si))
            return;         /* EAGAIN: none left */
        agent_on_signal(&rt->agent, (int)si.ssi_signo, fleet_mono_ms());
    }
}

static void read_mailbox(struct agent_rt *rt)
{
    struct agent_command c;
    struct check_result r;

    mailbox_drain_fd(rt->mb);
    while (mailbox_take_command(rt->mb, &c))
        agent_on_command(&rt->agent, &c, fleet_mono_ms());
    if (mailbox_take_http(rt->mb, &r))
        agent_on_http(&rt->agent, &r);
}

static void agent_loop(struct agent_rt *rt)
{
    struct agent *a = &rt->agent;

    for (;;) {
        struct pollfd fds[3];
        int64_t now = fleet_mono_ms();
        int64_t next = agent_on_tick(a, now);
        nfds_t n = 2;
        int timeout;

        if (a->done)
            return;
        timeout = next == INT64_MAX ? -1 : next - now > 60000 ? 60000 : (int)(next - now);
        fds[0] = (struct pollfd){ .fd = rt->sigfd, .events = POLLIN };
        fds[1] = (struct pollfd){ .fd = mailbox_fd(rt->mb), .events = POLLIN };
        if (a->exec.fd >= 0)
            fds[n++] = (struct pollfd){ .fd = a->exec.fd, .events = POLLIN };
        if (poll(fds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            agent_log(AGENT_ERROR, "poll failed", json_pack("{s:s}", "error", strerror(errno)));
            return;
        }
        if (fds[0].revents != 0)
            read_signals(rt);
        if (fds[1].revents != 0)
            read_mailbox(rt);
        if (n == 3 && fds[2].revents != 0)
            agent_on_exec_readable(a);
        if (a->done)
            return;
    }
}

/* Kills a child still running (set-up failed, or the loop broke), and
 * frees everything in reverse order. */
static void agent_teardown(struct agent_rt *rt)
{
    struct agent *a = &rt->agent;

    if (a->pid > 0 && a->phase != PHASE_DOWN) {
        (void)child_signal_group(a->pid, SIGKILL);
        while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        a->phase = PHASE_DOWN;
    }
    exec_check_fini(&a->exec);
    (void)child_signal_tree(SIGKILL, NULL, 0, NULL);   /* leave nothing of the service behind */
    http_check_stop(rt->http);
    if (rt->status_sub != NULL) {
        (void)natsSubscription_Unsubscribe(rt->status_sub);
        natsSubscription_Destroy(rt->status_sub);
    }
    fleet_obey_destroy(rt->obey);
    fleet_hb_destroy(rt->hb);
    if (rt->nc != NULL) {
        (void)natsConnection_FlushTimeout(rt->nc, AGENT_FLUSH_ON_EXIT_MS);
        natsConnection_Destroy(rt->nc);
    }
    if (rt->mb != NULL)
        presence_fini(&rt->presence);
    mailbox_destroy(rt->mb);
    curl_api_unload(&rt->curl);
    if (rt->sigfd >= 0)
        close(rt->sigfd);
    agent_opts_fini(&rt->opts);
}

int main(int argc, char **argv)
{
    static struct agent_rt rt = { .sigfd = -1 };
    int rc;

    rc = agent_opts_parse(argc, argv, &rt.opts);
    if (rc != 0) {
        agent_opts_fini(&rt.opts);
        return rc < 0 ? 0 : rc;
    }
    rc = agent_setup(&rt);
    if (rc == 0) {
        size_t kib = memtrim_startup_pages();

        agent_log(AGENT_DEBUG, "start-up pages unmapped", json_pack("{s:I}", "kib", (json_int_t)kib));
        agent_loop(&rt);
        rc = rt.agent.done ? rt.agent.exit_code : 1;
        agent_log(AGENT_INFO, "agent exiting", json_pack("{s:i}", "exit_code", rc));
    }
    agent_teardown(&rt);
    nats_Close();
    return rc;
}
