#include "bench_util.h"

#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_arg_u64(const char *flag, const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (value == NULL || value[0] < '0' || value[0] > '9') {
        fprintf(stderr, "%s: expected a number\n", flag);
        return -1;
    }
    errno = 0;
    v = strtoull(value, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: '%s' is not a number in %" PRIu64 "..%" PRIu64 "\n", flag, value, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_flags_parse(int argc, char **argv, const struct bench_flag *flags, size_t n, void (*usage)(FILE *))
{
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        const struct bench_flag *f = NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        for (size_t i = 0; i < n && f == NULL; i++)
            if (strcmp(a, flags[i].name) == 0)
                f = &flags[i];
        if (f != NULL && f->on != NULL) {
            *f->on = true;
            continue;
        }
        if (f == NULL || (f->str != NULL && v == NULL)) {
            usage(stderr);
            return 2;
        }
        if (f->str != NULL)
            *f->str = v;
        else if (bench_arg_u64(a, v, f->min, f->max, f->out) != 0)
            return 2;
        k++;
    }
    return BENCH_RUN;
}

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_service_name(size_t s, char out[FLEET_NAME_MAX + 1])
{
    snprintf(out, FLEET_NAME_MAX + 1, "svc-%zu", s);
}

void bench_instance_name(size_t i, char out[FLEET_NAME_MAX + 1])
{
    snprintf(out, FLEET_NAME_MAX + 1, "inst-%zu", i);
}

int bench_observer_create(const struct bench_observer_params *p, const struct observer_sink *sink, int64_t now_ms,
                          struct observer **out)
{
    size_t n_services = p->n_services;
    uint32_t desired = (uint32_t)((p->instances + n_services - 1) / n_services);
    struct service_config *services = calloc(n_services, sizeof(*services));
    struct observer_config cfg = {
        .default_interval_ms = p->interval_ms != 0 ? p->interval_ms : BENCH_INTERVAL_MS,
        .forget_after_ms = p->forget_after_ms != 0 ? p->forget_after_ms : BENCH_FORGET_AFTER_MS,
        .stall_ms = 3000,
        .services = services,
        .n_services = n_services,
    };
    int rc = -1;

    if (services == NULL) {
        fprintf(stderr, "bench: out of memory for %zu services\n", n_services);
        return -1;
    }
    for (size_t s = 0; s < n_services; s++) {
        bench_service_name(s, services[s].name);
        services[s].desired = desired;
    }
    detector_params_default(&cfg.detector);
    if (detector_params_prepare(&cfg.detector) != 0)
        fprintf(stderr, "bench: the default detector parameters do not prepare\n");
    else if (observer_create(&cfg, sink, now_ms, out) != 0)
        fprintf(stderr, "bench: observer_create failed\n");
    else
        rc = 0;
    free(services); /* the observer borrows the config for the call only */
    return rc;
}

void bench_hb_fill(struct hb_input *hb, size_t n_services, size_t index, uint64_t seq,
                   int64_t arrival_ms)
{
    memset(hb, 0, sizeof(*hb));
    hb->arrival_ms = arrival_ms;
    hb->sent_unix_ms = 1700000000000 + arrival_ms;
    hb->incarnation = 0x9e3779b97f4a7c15u * (index + 1);
    hb->seq = seq;
    hb->interval_ms = BENCH_INTERVAL_MS;
    hb->pid = (uint32_t)(1000 + index);
    hb->state = SERVING_SERVING;
    hb->checks_ok = true;
    bench_service_name(index % n_services, hb->service);
    bench_instance_name(index, hb->instance);
    memcpy(hb->version, "1.4.2", sizeof("1.4.2"));
    /* As libfleet sends it: the 56-character id of one of three servers. */
    snprintf(hb->nats_server, sizeof(hb->nats_server), "NDQV5JZBTOKX7GMPM2XK4P3GAWZ4U2LXW4QWMERF7PBZ6VRHGQ3WBM%02u",
             (unsigned)(index % 3));
}

int bench_series_init(struct bench_series *s, size_t cap, const char *who)
{
    s->n = 0;
    s->cap = cap;
    s->v = calloc(cap ? cap : 1, sizeof(*s->v));
    if (s->v == NULL) {
        fprintf(stderr, "%s: out of memory for %zu samples\n", who, cap);
        return -1;
    }
    return 0;
}

void bench_series_add(struct bench_series *s, int64_t ns)
{
    if (s->n < s->cap)
        s->v[s->n++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

void bench_series_sort(struct bench_series *s)
{
    qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
}

double bench_series_pct_ms(const struct bench_series *s, double q)
{
    size_t rank = (size_t)ceil(q * (double)s->n);

    return (double)s->v[rank > 0 ? rank - 1 : 0] / 1e6;
}

void bench_series_free(struct bench_series *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void bench_sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void bench_table_header(const struct bench_table *t)
{
    printf("%-46s %5s %*s %*s %*s  %-*s %s\n", "figure (ms)", "n", t->num_width, "p50", t->num_width, "p99",
           t->num_width, "max", t->target_width, "target", "");
}

void bench_series_row(const struct bench_table *t, const char *figure, struct bench_series *s, const char *target,
                      double target_ms)
{
    int w = t->num_width, tw = t->target_width;
    double p99;

    if (s->n == 0) {
        printf("%-46s %5s %*s %*s %*s  %-*s %s\n", figure, "0", w, "-", w, "-", w, "-", tw, target ? target : "",
               target ? "NOT measured" : "");
        return;
    }
    bench_series_sort(s);
    p99 = bench_series_pct_ms(s, 0.99);
    printf("%-46s %5zu %*.2f %*.2f %*.2f  %-*s %s\n", figure, s->n, w, bench_series_pct_ms(s, 0.50), w, p99, w,
           (double)s->v[s->n - 1] / 1e6, tw, target ? target : "",
           target == NULL ? "" : p99 <= target_ms ? "met" : "NOT met");
}
