/* Drops the agent's start-up pages of shared libraries from its page tables.
 *
 * Idle, the agent is a poll loop, a heartbeat a second and a publish; but
 * VmRSS also counts every page of library code and read-only data it
 * touched once at start-up, rounded up by the kernel's fault-around: mostly
 * OpenSSL's initialisation inside nats_Open (~3 MB of libcrypto, for a
 * connection without TLS), and the dynamic linker's pass over every
 * library's symbol tables. Those pages are clean copies of files in the
 * page cache, so unmapping them loses nothing: a page used again is mapped
 * again from the cache by a minor fault, and the idle RSS becomes what the
 * agent uses.
 *
 * Only mappings that are a file's pristine contents are touched: private,
 * not writable, with no anonymous (copy-on-write: relocated, or patched by
 * a debugger) or swapped page. Writable data, the heap, stacks and relocated
 * read-only data are left as they are. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "agent.h"

struct mapping {
    uintptr_t start, end;
    bool candidate;              /* a private, read-only file mapping */
    long dirty_kib;              /* Private_Dirty + Anonymous + Swap */
    long rss_kib;
};

/* Unmaps `m`'s pages when it is a file's pristine contents; adds what it
 * dropped to *dropped_kib. */
static void trim_one(const struct mapping *m, size_t *dropped_kib)
{
    if (!m->candidate || m->dirty_kib != 0 || m->rss_kib == 0)
        return;
    if (madvise((void *)m->start, m->end - m->start, MADV_DONTNEED) == 0)
        *dropped_kib += (size_t)m->rss_kib;
}

size_t memtrim_startup_pages(void)
{
    struct mapping m = { 0 };
    char line[512];
    size_t dropped = 0;
    FILE *f = fopen("/proc/self/smaps", "re");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long start, end;
        char perms[8], path[8] = "";
        long kib;

        /* A mapping's header ("start-end perms offset dev inode [path]"),
         * else one of its "Key: value kB" lines. */
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %7s", &start, &end, perms, path) >= 3 && strlen(perms) == 4) {
            trim_one(&m, &dropped);
            m = (struct mapping){
                .start = start, .end = end,
                .candidate = path[0] == '/' && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p',
            };
        } else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
            m.rss_kib = kib;
        } else if (sscanf(line, "Private_Dirty: %ld kB", &kib) == 1 || sscanf(line, "Anonymous: %ld kB", &kib) == 1 ||
                   sscanf(line, "Swap: %ld kB", &kib) == 1) {
            m.dirty_kib += kib;
        }
    }
    fclose(f);
    trim_one(&m, &dropped);
    (void)malloc_trim(0);        /* and the heap's free pages */
    return dropped;
}
