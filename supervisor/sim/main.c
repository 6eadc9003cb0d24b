/* fleet-sim: a simulated fleet of service instances sending heartbeats
 * through libfleet, with failure injection (see --help). */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "fleet/clock.h"
#include "fleet/conn.h"
#include "fleet/url.h"
#include "sim_fleet.h"
#include "sim_log.h"
#include "sim_opts.h"

#define SIM_TICK_MAX_MS 100          /* longest sleep: bounds the reaction to a stop */
#define SIM_FLUSH_ON_EXIT_MS 2000
#define SIM_RECONNECT_BUF_BYTES (64 * 1024 * 1024)

static volatile sig_atomic_t stop_requested;
static atomic_bool closing;          /* read on nats.c threads */

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    (void)nanosleep(&ts, NULL);     /* EINTR from a stop signal is the point */
}

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    sim_log("info", "nats_connected", NULL);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    if (!atomic_load(&closing))
        sim_log("warn", "nats_disconnected", NULL);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    sim_log("info", "nats_reconnected", NULL);
}

/* The one connection every simulated instance publishes on (fleet/conn.h's
 * recipe): reconnects forever, so a server restart is a blip, not the end
 * of the simulation. */
static int open_connection(const struct sim_opts *o, natsConnection **out)
{
    fleet_conn_opts co = {
        .url = o->server, .creds = o->creds, .name = "fleet-sim", .retry_first_connect = true,
        .reconnect_buf_bytes = SIM_RECONNECT_BUF_BYTES, .on_connected = on_connected,
        .on_disconnected = on_disconnected, .on_reconnected = on_reconnected,
    };

    if (fleet_conn_open(&co, out) != FLEET_OK) {
        sim_log("error", "nats_connect_failed", "{s:s}", "error", fleet_last_error());
        return 1;
    }
    return 0;
}

/* Stop signals are blocked while nats.c starts its threads, so they are
 * delivered to this thread only, where they cut the sleep short. */
static void block_stop_signals(bool block)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void install_stop_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void run(struct sim_fleet *fleet, unsigned duration_s)
{
    int64_t end = duration_s > 0 ? fleet_mono_ms() + (int64_t)duration_s * 1000 : INT64_MAX;

    while (!stop_requested) {
        int64_t now = fleet_mono_ms(), wake;

        if (now >= end)
            break;
        sim_fleet_run_due(fleet, now);
        wake = sim_fleet_next_due(fleet);
        if (wake > end)
            wake = end;
        if (wake > now + SIM_TICK_MAX_MS)
            wake = now + SIM_TICK_MAX_MS;
        if (wake > now)
            sleep_ms(wake - now);
    }
}

int main(int argc, char **argv)
{
    struct sim_opts opts;
    struct sim_fleet fleet = { 0 };
    char safe_url[512];
    natsConnection *nc = NULL;
    fleet_hb_counters totals;
    int rc;

    switch (sim_opts_parse(argc, argv, &opts)) {
    case SIM_PARSE_HELP:
        sim_opts_usage(stdout);
        rc = 0;
        goto out_free_opts;
    case SIM_PARSE_USAGE_ERROR:
        rc = 2;
        goto out_free_opts;
    case SIM_PARSE_RUN:
        break;
    }
    rc = sim_fleet_build(&fleet, &opts);
    if (rc != 0)
        goto out_free_fleet;

    install_stop_handlers();
    block_stop_signals(true);
    rc = open_connection(&opts, &nc);
    block_stop_signals(false);
    if (rc != 0)
        goto out_free_fleet;
    fleet_url_redact(opts.server, safe_url, sizeof(safe_url));
    sim_log("info", "start", "{s:s, s:s, s:I, s:I, s:i, s:f, s:i}", "url", safe_url,
            "prefix", opts.prefix, "services", (json_int_t)fleet.n_services,
            "instances", (json_int_t)fleet.n, "interval_ms", (int)opts.interval_ms,
            "jitter_pct", opts.jitter_pct, "duration_s", (int)opts.duration_s);
    rc = sim_fleet_start(&fleet, &opts, nc, fleet_mono_ms());
    if (rc != 0)
        goto out_free_fleet;
    run(&fleet, opts.duration_s);
    sim_fleet_totals(&fleet, &totals);
    sim_log("info", "stop", "{s:s, s:I, s:I}", "reason", stop_requested ? "signal" : "duration",
            "heartbeats_sent", (json_int_t)totals.sent, "heartbeats_failed", (json_int_t)totals.failed);

out_free_fleet:
    sim_fleet_fini(&fleet);     /* senders before the connection they publish on */
    if (nc != NULL) {
        atomic_store(&closing, true);
        (void)natsConnection_FlushTimeout(nc, SIM_FLUSH_ON_EXIT_MS);
        natsConnection_Destroy(nc);
    }
out_free_opts:
    sim_opts_fini(&opts);
    nats_Close();
    return rc;
}
