/* Helpers shared by the benchmarks: argument parsing, clocks and a synthetic
 * fleet for the pure core (names, observer, heartbeats).
 *
 * Benchmarks report figures; they never assert a timing. Every helper that
 * can fail returns 0 or -1 and prints why on stderr. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "observer.h"

/* Interval every synthetic instance promises (ms). */
#define BENCH_INTERVAL_MS 1000u

/* Parses `value` (decimal) of option `flag` into *out when it lies in
 * [min, max]. Returns 0, or -1 with a message on stderr (*out untouched). */
int bench_arg_u64(const char *flag, const char *value, uint64_t min, uint64_t max, uint64_t *out);

/* One flag of a bench's command line, a row of its table. Exactly one of
 * `out`, `str` and `on` is set: a number in [min, max] (bench_arg_u64), a
 * string (argv's own; a missing one is a bad argument), or a switch that
 * takes no value. Write the rows with the three macros below. */
struct bench_flag {
    const char *name;    /* "--instances" */
    uint64_t min, max;
    uint64_t *out;
    const char **str;
    bool *on;
};

#define BENCH_FLAG_NUM(flag, lo, hi, p) { .name = (flag), .min = (lo), .max = (hi), .out = (p) }
#define BENCH_FLAG_STR(flag, p) { .name = (flag), .str = (p) }
#define BENCH_FLAG_ON(flag, p) { .name = (flag), .on = (p) }

/* bench_flags_parse's answer when the bench should run. */
#define BENCH_RUN (-1)

/* Parses argv[1..] against the `n` flags: each sets its target, and the
 * last one given wins (targets hold their defaults). Returns BENCH_RUN, or
 * the status to exit with: 0 after -h/--help (usage on stdout), 2 on a bad
 * argument (an unknown flag: usage on stderr; a bad number: why). */
int bench_flags_parse(int argc, char **argv, const struct bench_flag *flags, size_t n, void (*usage)(FILE *));

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* Sleeps `ms` milliseconds, resuming after a signal. */
void bench_sleep_ms(int64_t ms);

/* Service name of index `s` ("svc-<s>") and instance name of global index
 * `i` ("inst-<i>"), written NUL-terminated into `out` (FLEET_NAME_MAX + 1). */
void bench_service_name(size_t s, char out[FLEET_NAME_MAX + 1]);
void bench_instance_name(size_t i, char out[FLEET_NAME_MAX + 1]);

/* Forget time of bench_observer_create's observer unless told otherwise. */
#define BENCH_FORGET_AFTER_MS (600 * 1000)

/* The synthetic fleet bench_observer_create configures: services svc-0 ..
 * svc-<n_services-1> that together desire `instances` (each service
 * ceil(instances / n_services)). A zero interval_ms or forget_after_ms
 * takes its default. */
struct bench_observer_params {
    size_t n_services;       /* at least 1 */
    uint64_t instances;
    uint32_t interval_ms;    /* the observer's default_interval_ms; 0 = BENCH_INTERVAL_MS */
    int64_t forget_after_ms; /* 0 = BENCH_FORGET_AFTER_MS */
};

/* Creates an observer at `now_ms` for the fleet `p` with the default
 * detector and `sink` (may be NULL; both are copied). Returns 0 and *out
 * (destroy with observer_destroy), or -1 with a message on stderr (*out
 * untouched). */
int bench_observer_create(const struct bench_observer_params *p, const struct observer_sink *sink, int64_t now_ms,
                          struct observer **out);

/* Fills *hb as the heartbeat number `seq` of global instance `index` arriving
 * at `arrival_ms`: instance inst-<index> of service svc-<index % n_services>,
 * SERVING, checks passing, version "1.4.2", incarnation derived from index. */
void bench_hb_fill(struct hb_input *hb, size_t n_services, size_t index, uint64_t seq,
                   int64_t arrival_ms);

/* Latency samples in nanoseconds, with nearest-rank percentiles. */
struct bench_series {
    int64_t *v;
    size_t n, cap;
};

/* Room for `cap` samples; returns 0, or -1 (message on stderr naming `who`). */
int bench_series_init(struct bench_series *s, size_t cap, const char *who);
/* Adds one sample; past the capacity it is dropped. */
void bench_series_add(struct bench_series *s, int64_t ns);
/* Sorts the samples (percentiles need it). */
void bench_series_sort(struct bench_series *s);
/* Nearest rank in ms: the smallest sample with at least q of them at or
 * below it. `s` must be sorted and non-empty. */
double bench_series_pct_ms(const struct bench_series *s, double q);
void bench_series_free(struct bench_series *s);

/* A table of figures, one series a row; the widths of its p50/p99/max
 * columns and of its target column. */
struct bench_table {
    int num_width;
    int target_width;
};

/* The column titles: figure (ms), n, p50, p99, max, target. */
void bench_table_header(const struct bench_table *t);
/* One row: the figure, its sample count, p50/p99/max in ms, and the target
 * with its verdict on p99 (target NULL: a context row, no verdict). Sorts
 * `s`; an empty one is a row of dashes, "NOT measured" when it had a target. */
void bench_series_row(const struct bench_table *t, const char *figure, struct bench_series *s, const char *target,
                      double target_ms);

#endif
