/* bench_core: the cost of one heartbeat in the pure core (DESIGN.md §11:
 * <= 1,500 instructions per heartbeat, after decode).
 *
 * Builds an observer that already knows every instance (warm: each has sent
 * WARM_ROUNDS heartbeats and the observer has left WARMING_UP), then feeds
 * --heartbeats more through observer_heartbeat, calling observer_tick every
 * --tick-every heartbeats, on a virtual clock: instance i of n sends at
 * round * interval + i * interval / n, so every instance is heard once per
 * promised interval, as in a healthy fleet.
 *
 * Instructions are counted by callgrind, not by this program: run it as
 *   valgrind --tool=callgrind --toggle-collect=observer_heartbeat bench_core
 * and divide the total Ir by the heartbeats measured (scripts/bench.sh does).
 * The warm-up is excluded with CALLGRIND_ZERO_STATS; outside valgrind that is
 * a no-op and the program prints a wall-clock figure for reference.
 *
 * Exit status: 0, or 1 on a setup failure or when a measured heartbeat was
 * not accepted (the figure would then measure the wrong path). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <valgrind/callgrind.h>

#include "bench_util.h"
#include "observer.h"

#define WARM_ROUNDS 3

struct bench_core_opts {
    uint64_t instances;
    uint64_t heartbeats;
    uint64_t services;
    uint64_t tick_every;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_core [--instances N] [--heartbeats K] [--services S] [--tick-every T]\n"
               "  defaults: 10000 instances, 200000 heartbeats, 20 services, tick every 1000\n");
}

/* Fills *o: the defaults, then argv. Returns bench_flags_parse's answer. */
static int parse_args(int argc, char **argv, struct bench_core_opts *o)
{
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--instances", 1, 10000000, &o->instances),
        BENCH_FLAG_NUM("--heartbeats", 1, 100000000, &o->heartbeats),
        BENCH_FLAG_NUM("--services", 1, 10000, &o->services),
        BENCH_FLAG_NUM("--tick-every", 1, 100000000, &o->tick_every),
    };

    *o = (struct bench_core_opts){ .instances = 10000, .heartbeats = 200000, .services = 20,
                                   .tick_every = 1000 };
    return bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage);
}

/* Counts events so the sink costs what a minimal real one does: a call. */
static void count_event(void *ctx, const struct core_event *ev)
{
    (void)ev;
    (*(uint64_t *)ctx)++;
}

/* Arrival of round `round` of instance `index` of `n` on the virtual clock. */
static int64_t arrival_ms(uint64_t round, size_t index, size_t n)
{
    return (int64_t)(round * BENCH_INTERVAL_MS + index * BENCH_INTERVAL_MS / n);
}

int main(int argc, char **argv)
{
    struct bench_core_opts opt;
    uint64_t events = 0, refused = 0, ticks = 0;
    struct observer_sink sink = { .ctx = &events, .on_event = count_event };
    struct observer_counters counters;
    struct observer *obs;
    struct hb_input *hb;
    size_t n;
    int64_t t0, t1, now = 0;
    int args = parse_args(argc, argv, &opt), rc = 1;

    if (args != BENCH_RUN)
        return args;
    n = (size_t)opt.instances;
    if (bench_observer_create(&(struct bench_observer_params){ .n_services = opt.services, .instances = n },
                              &sink, 0, &obs) != 0)
        return 1;
    /* One template per instance; the loop only moves seq and arrival. */
    hb = malloc(n * sizeof(*hb));
    if (hb == NULL) {
        fprintf(stderr, "bench_core: out of memory for %zu heartbeats\n", n);
        goto out_destroy_observer;
    }
    for (size_t i = 0; i < n; i++)
        bench_hb_fill(&hb[i], opt.services, i, 0, 0);

    for (uint64_t round = 0; round < WARM_ROUNDS; round++) {
        for (size_t i = 0; i < n; i++) {
            hb[i].seq = round + 1;
            hb[i].arrival_ms = now = arrival_ms(round, i, n);
            if (observer_heartbeat(obs, &hb[i]) != HB_ACCEPTED) {
                fprintf(stderr, "bench_core: warm-up heartbeat of %s not accepted\n", hb[i].instance);
                goto out_free_hb;
            }
        }
        observer_tick(obs, now);
    }

    CALLGRIND_ZERO_STATS;
    t0 = bench_now_ns();
    for (uint64_t k = 0; k < opt.heartbeats; k++) {
        size_t i = (size_t)(k % n);
        uint64_t round = WARM_ROUNDS + k / n;

        hb[i].seq = round + 1;
        hb[i].arrival_ms = now = arrival_ms(round, i, n);
        if (observer_heartbeat(obs, &hb[i]) != HB_ACCEPTED)
            refused++;
        if ((k + 1) % opt.tick_every == 0) {
            observer_tick(obs, now);
            ticks++;
        }
    }
    t1 = bench_now_ns();

    observer_counters(obs, &counters);
    printf("bench_core: instances=%zu services=%" PRIu64 " heartbeats=%" PRIu64 " ticks=%" PRIu64
           " refused=%" PRIu64 " events=%" PRIu64 " registry=%zu state=%d\n",
           n, opt.services, opt.heartbeats, ticks, refused, events,
           registry_instance_count(observer_registry(obs)), (int)observer_state(obs));
    printf("bench_core: wall %.1f ns per heartbeat (tick included; meaningless under valgrind)\n",
           (double)(t1 - t0) / (double)opt.heartbeats);
    if (refused != 0)
        fprintf(stderr, "bench_core: %" PRIu64 " measured heartbeats were not accepted\n", refused);
    else
        rc = 0;
out_free_hb:
    free(hb);
out_destroy_observer:
    observer_destroy(obs);
    return rc;
}
