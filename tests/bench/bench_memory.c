/* bench_memory: heap held per tracked instance (DESIGN.md §11: <= 1 KiB,
 * so 100k instances <= 100 MiB).
 *
 * Creates an observer with --services services, then makes it track
 * --instances distinct instances (two heartbeats each, one interval apart,
 * and a tick, so detectors, deadlines and service version lists are in their
 * steady state). The figure is the growth of the heap in use as glibc counts
 * it (mallinfo2: uordblks for arena chunks plus hblkhd for chunks served by
 * mmap, which large index arrays are), divided by the instances. RSS growth
 * from /proc/self/statm is printed for reference: it also counts allocator
 * slack and pages the allocator has not returned.
 *
 * Exit status: 0, or 1 on a setup failure or when not every instance ended
 * up tracked. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_util.h"
#include "observer.h"

struct heap_sample {
    size_t in_use;   /* uordblks + hblkhd */
    size_t rss;      /* resident bytes */
};

/* Returns 0 and *out, or -1 when /proc/self/statm cannot be read. */
static int heap_sample(struct heap_sample *out)
{
    struct mallinfo2 mi = mallinfo2();
    unsigned long size_pages, rss_pages;
    FILE *f = fopen("/proc/self/statm", "r");
    int n;

    if (f == NULL)
        return -1;
    n = fscanf(f, "%lu %lu", &size_pages, &rss_pages);
    fclose(f);
    if (n != 2)
        return -1;
    out->in_use = mi.uordblks + mi.hblkhd;
    out->rss = rss_pages * (size_t)sysconf(_SC_PAGESIZE);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_memory [--instances N] [--services S]\n"
               "  defaults: 100000 instances, 100 services\n");
}

int main(int argc, char **argv)
{
    uint64_t instances = 100000, services = 100;
    struct heap_sample before, after;
    struct hb_input hb;
    struct observer *obs;
    size_t tracked;
    int64_t now = 0;
    double per_instance, rss_per_instance;
    const struct bench_flag flags[] = {
        BENCH_FLAG_NUM("--instances", 1, 10000000, &instances),
        BENCH_FLAG_NUM("--services", 1, 10000, &services),
    };
    int args = bench_flags_parse(argc, argv, flags, sizeof(flags) / sizeof(flags[0]), usage), rc = 1;

    if (args != BENCH_RUN)
        return args;

    if (bench_observer_create(&(struct bench_observer_params){ .n_services = services, .instances = instances },
                              NULL, 0, &obs) != 0)
        return 1;
    if (heap_sample(&before) != 0) {
        fprintf(stderr, "bench_memory: cannot read /proc/self/statm\n");
        goto out_destroy_observer;
    }
    for (uint64_t round = 0; round < 2; round++) {
        for (size_t i = 0; i < instances; i++) {
            now = (int64_t)(round * BENCH_INTERVAL_MS + i * BENCH_INTERVAL_MS / instances);
            bench_hb_fill(&hb, services, i, round + 1, now);
            if (observer_heartbeat(obs, &hb) != HB_ACCEPTED) {
                fprintf(stderr, "bench_memory: heartbeat of %s not accepted\n", hb.instance);
                goto out_destroy_observer;
            }
        }
        observer_tick(obs, now);
    }
    if (heap_sample(&after) != 0) {
        fprintf(stderr, "bench_memory: cannot read /proc/self/statm\n");
        goto out_destroy_observer;
    }
    tracked = registry_instance_count(observer_registry(obs));
    if (tracked != instances) {
        fprintf(stderr, "bench_memory: %zu instances tracked, expected %" PRIu64 "\n", tracked,
                instances);
        goto out_destroy_observer;
    }

    per_instance = (double)(after.in_use - before.in_use) / (double)instances;
    rss_per_instance = (double)((long long)after.rss - (long long)before.rss) / (double)instances;
    printf("bench_memory: instances=%" PRIu64 " services=%" PRIu64 " sizeof(struct instance)=%zu\n",
           instances, services, sizeof(struct instance));
    printf("bench_memory: heap in use +%zu bytes = %.1f bytes per instance "
           "(target <= 1024: %s)\n",
           after.in_use - before.in_use, per_instance, per_instance <= 1024.0 ? "met" : "NOT met");
    printf("bench_memory: RSS +%lld bytes = %.1f bytes per instance (reference)\n",
           (long long)after.rss - (long long)before.rss, rss_per_instance);
    printf("bench_memory: %.1f MiB for %" PRIu64 " instances\n",
           (double)(after.in_use - before.in_use) / (1024.0 * 1024.0), instances);
    rc = 0;
out_destroy_observer:
    observer_destroy(obs);
    return rc;
}
