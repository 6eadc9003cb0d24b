/* Leadership: the lease state machine run through the store, and terms. */
#include "leadership.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fleet/clock.h"
#include "log.h"

/* CREATE, READ, UPDATE: the longest chain one acquisition takes. */
#define OPS_PER_TICK 4

struct leadership {
    struct store *store;
    struct lease lease;
    uint64_t established;     /* lease generation whose term is durable, 0 none */
    uint64_t generation;      /* +1 per established leadership */
    uint64_t term;            /* of the established leadership */
    bool floor_failed;        /* the last floor write failed: do not act */
    enum lease_role reported; /* last role returned, for the log */
    bool store_was_up;        /* store_available at the last tick */
    char why[256];
};

int leadership_create(struct store *store, int64_t now_ms, struct leadership **out)
{
    struct leadership *ld = calloc(1, sizeof(*ld));

    if (ld == NULL)
        return -1;
    ld->store = store;
    lease_init(&ld->lease, store_lease_ttl_ms(store), now_ms);
    ld->reported = LEASE_STANDBY;
    snprintf(ld->why, sizeof(ld->why), "starting: the leader lease not read yet");
    *out = ld;
    return 0;
}

void leadership_destroy(struct leadership *ld)
{
    free(ld);
}

static void log_term(const char *msg, uint64_t term, const char *why)
{
    char text[24];

    snprintf(text, sizeof(text), "%" PRIu64, term);
    log_kv(LOG_INFO, msg, "term", text, why != NULL ? "why" : NULL, why, NULL);
}

/* A lease just won: its term, made durable before use. */
static bool establish(struct leadership *ld, uint64_t seen)
{
    uint64_t floor = 0, term;

    if (store_term_floor(ld->store, &floor) != 0)
        goto out_failed;
    term = lease_next_term(ld->lease.rev, floor, seen);
    if (store_raise_term_floor(ld->store, term) != 0)
        goto out_failed;
    ld->established = ld->lease.generation;
    ld->generation++;
    ld->term = term;
    ld->floor_failed = false;
    ld->why[0] = '\0';
    log_term("leadership acquired", term, NULL);
    return true;

out_failed:
    snprintf(ld->why, sizeof(ld->why), "won the lease but cannot make its term durable: %s",
             store_last_error(ld->store));
    return false;
}

static void explain(struct leadership *ld, enum lease_role role)
{
    switch (role) {
    case LEASE_STANDBY:
        snprintf(ld->why, sizeof(ld->why), "standby: another supervisor holds the lease");
        break;
    case LEASE_UNSURE:
        snprintf(ld->why, sizeof(ld->why), "leader lease unreachable: %s",
                 store_available(ld->store) ? store_last_error(ld->store) : store_unavailable_reason(ld->store));
        break;
    case LEASE_RESIGNED:
        snprintf(ld->why, sizeof(ld->why), "resigned: shutting down");
        break;
    case LEASE_LEADER:
        break;
    }
}

enum lease_role leadership_tick(struct leadership *ld, int64_t now_ms, uint64_t seen)
{
    enum lease_role role;
    enum lease_op op;

    lease_set_ttl(&ld->lease, store_lease_ttl_ms(ld->store));
    if (store_available(ld->store) && !ld->store_was_up)
        lease_retry_now(&ld->lease, now_ms);   /* the store just reopened: try at once */
    ld->store_was_up = store_available(ld->store);
    for (int k = 0; k < OPS_PER_TICK && (op = lease_due(&ld->lease, now_ms)) != LEASE_OP_NONE; k++) {
        struct lease_outcome out;
        int64_t t0 = now_ms;

        store_lease_run(ld->store, op, ld->lease.rev, &out);
        now_ms = fleet_mono_ms();
        lease_done(&ld->lease, op, &out, t0, now_ms);
    }
    (void)lease_due(&ld->lease, now_ms);   /* a deadline passed while we were asking */
    role = ld->lease.role;
    if (role == LEASE_LEADER && ld->established != ld->lease.generation && !establish(ld, seen))
        role = LEASE_UNSURE;
    if (role != LEASE_LEADER) {
        if (ld->lease.role != LEASE_LEADER)
            explain(ld, role);   /* else establish() said why */
        ld->term = 0;
    }
    if (role != ld->reported) {
        if (ld->reported == LEASE_LEADER)
            log_kv(LOG_WARN, "leadership lost: no longer acting", "why", ld->why, NULL);
        else if (role != LEASE_LEADER)
            log_kv(role == LEASE_UNSURE ? LOG_WARN : LOG_INFO, "leadership: not leading", "role",
                   lease_role_name(role), "why", ld->why, NULL);
        ld->reported = role;
    }
    return role;
}

uint64_t leadership_term(const struct leadership *ld)
{
    return ld->reported == LEASE_LEADER ? ld->term : 0;
}

uint64_t leadership_generation(const struct leadership *ld)
{
    return ld->generation;
}

int leadership_raise_term(struct leadership *ld, uint64_t seen)
{
    uint64_t term;

    if (ld->reported != LEASE_LEADER || seen <= ld->term || seen >= LEASE_TERM_MAX)
        return ld->floor_failed ? -1 : 0;
    term = seen + 1;
    if (store_raise_term_floor(ld->store, term) != 0) {
        ld->floor_failed = true;
        log_kv(LOG_ERROR, "an instance obeys a term above ours and the term floor cannot be raised: not acting",
               "error", store_last_error(ld->store), NULL);
        return -1;
    }
    ld->term = term;
    ld->floor_failed = false;
    log_term("term raised above one an instance obeys", term, "the term floor was lost");
    return 1;
}

bool leadership_may_act(const struct leadership *ld, int64_t now_ms)
{
    return ld->reported == LEASE_LEADER && !ld->floor_failed && ld->established == ld->lease.generation &&
           lease_may_act(&ld->lease, now_ms) && store_available(ld->store);
}

int64_t leadership_next_ms(const struct leadership *ld)
{
    return lease_next_ms(&ld->lease);
}

const char *leadership_why(const struct leadership *ld)
{
    return ld->why;
}

void leadership_resign(struct leadership *ld, int64_t now_ms)
{
    enum lease_op op;

    lease_resign(&ld->lease);
    if ((op = lease_due(&ld->lease, now_ms)) == LEASE_OP_RELEASE) {
        struct lease_outcome out;

        store_lease_run(ld->store, op, ld->lease.rev, &out);
        if (out.result == LEASE_OK)
            log_term("leadership resigned: lease released", ld->term, NULL);
        else
            log_kv(LOG_WARN, "leadership resigned: lease not released, it expires on its own", "error",
                   store_last_error(ld->store), NULL);
        lease_done(&ld->lease, op, &out, now_ms, fleet_mono_ms());
    }
    ld->reported = LEASE_RESIGNED;
    ld->term = 0;
    snprintf(ld->why, sizeof(ld->why), "resigned: shutting down");
}
