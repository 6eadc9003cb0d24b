/* The lease state machine (lease.h has the table). */
#include "lease.h"

static int64_t renew_period(const struct lease *l) { return l->ttl_ms / 4; }
static int64_t guard(const struct lease *l) { return l->ttl_ms / 10; }

static int64_t acquire_period(const struct lease *l)
{
    return renew_period(l) < LEASE_ACQUIRE_RETRY_MS ? renew_period(l) : LEASE_ACQUIRE_RETRY_MS;
}

static int64_t error_period(const struct lease *l)
{
    return acquire_period(l) > LEASE_ERROR_RETRY_MS ? acquire_period(l) : LEASE_ERROR_RETRY_MS;
}

void lease_init(struct lease *l, int64_t ttl_ms, int64_t now_ms)
{
    *l = (struct lease){
        .ttl_ms = ttl_ms < LEASE_TTL_MIN_MS ? LEASE_TTL_MIN_MS : ttl_ms,
        .role = LEASE_STANDBY,
        .op = LEASE_OP_CREATE,
        .next_ms = now_ms,
        .holder_seen_ms = now_ms,
    };
}

void lease_set_ttl(struct lease *l, int64_t ttl_ms)
{
    l->ttl_ms = ttl_ms < LEASE_TTL_MIN_MS ? LEASE_TTL_MIN_MS : ttl_ms;
}

/* Leadership ends without a successor known: nobody acts, we publish. */
static void lose_contact(struct lease *l, int64_t now_ms)
{
    l->role = LEASE_UNSURE;
    l->deadline_ms = 0;
    l->op = LEASE_OP_CREATE;
    l->next_ms = now_ms;
}

enum lease_op lease_due(struct lease *l, int64_t now_ms)
{
    if (l->role == LEASE_LEADER && now_ms >= l->deadline_ms)
        lose_contact(l, now_ms);
    if (l->role == LEASE_STANDBY && now_ms - l->holder_seen_ms >= l->ttl_ms)
        l->role = LEASE_UNSURE;   /* nobody seen holding it for a whole TTL */
    if (l->op == LEASE_OP_NONE || now_ms < l->next_ms)
        return LEASE_OP_NONE;
    return l->op;
}

/* Our write `rev`, started at t0, is in force. Leading already, this
 * leadership goes on; otherwise a new one starts. */
static void hold(struct lease *l, uint64_t rev, int64_t t0)
{
    if (l->role != LEASE_LEADER)
        l->generation++;
    l->role = LEASE_LEADER;
    l->rev = rev;
    l->deadline_ms = t0 + l->ttl_ms - guard(l);
    l->op = LEASE_OP_UPDATE;
    l->next_ms = t0 + renew_period(l);
}

static void failed(struct lease *l, int64_t now_ms)
{
    if (l->role == LEASE_LEADER) {
        int64_t retry = now_ms + guard(l);

        l->op = LEASE_OP_UPDATE;
        l->next_ms = retry < l->deadline_ms ? retry : l->deadline_ms;
        return;
    }
    l->op = LEASE_OP_CREATE;
    l->next_ms = now_ms + error_period(l);
}

void lease_done(struct lease *l, enum lease_op op, const struct lease_outcome *out, int64_t t0,
                int64_t now_ms)
{
    if (op == LEASE_OP_RELEASE || l->role == LEASE_RESIGNED) {
        l->role = LEASE_RESIGNED;
        l->op = LEASE_OP_NONE;
        return;
    }
    if (out->result == LEASE_ERROR) {
        failed(l, now_ms);
        return;
    }
    switch (op) {
    case LEASE_OP_CREATE:
        if (out->result == LEASE_OK) {
            hold(l, out->rev, t0);
        } else {
            l->op = LEASE_OP_READ;
            l->next_ms = now_ms;
        }
        return;
    case LEASE_OP_UPDATE:
        if (out->result == LEASE_OK) {
            hold(l, out->rev, t0);
        } else {
            l->op = LEASE_OP_READ;   /* a renewal that landed with its ack lost, or a successor */
            l->next_ms = now_ms;
        }
        return;
    case LEASE_OP_READ:
        if (out->result == LEASE_NOT_FOUND) {
            if (l->role == LEASE_LEADER)
                lose_contact(l, now_ms);   /* gone under us: any new lease is a new leadership */
            l->op = LEASE_OP_CREATE;
            l->next_ms = now_ms;
        } else if (out->ours) {
            /* Only we write our id, and while leading only on our last
             * revision: a later one of ours is a renewal whose ack was lost,
             * so this leadership goes on; an earlier one is a lease of ours
             * we no longer tracked (our store reopened): a new leadership. */
            bool goes_on = l->role == LEASE_LEADER && out->rev > l->rev && now_ms < l->deadline_ms;

            if (l->role == LEASE_LEADER && !goes_on)
                lose_contact(l, now_ms);
            l->rev = out->rev;
            l->op = LEASE_OP_UPDATE;
            l->next_ms = now_ms;
        } else {
            l->role = LEASE_STANDBY;
            l->deadline_ms = 0;
            l->holder_seen_ms = now_ms;
            l->op = LEASE_OP_CREATE;
            l->next_ms = now_ms + acquire_period(l);
        }
        return;
    default:
        return;
    }
}

void lease_retry_now(struct lease *l, int64_t now_ms)
{
    if (l->role != LEASE_LEADER && l->role != LEASE_RESIGNED && l->op == LEASE_OP_CREATE && l->next_ms > now_ms)
        l->next_ms = now_ms;
}

void lease_resign(struct lease *l)
{
    if (l->role == LEASE_LEADER) {
        l->op = LEASE_OP_RELEASE;
        l->next_ms = 0;
        l->role = LEASE_RESIGNED;   /* no acting from here on, whatever the release does */
        return;
    }
    l->role = LEASE_RESIGNED;
    l->op = LEASE_OP_NONE;
}

bool lease_may_act(const struct lease *l, int64_t now_ms)
{
    return l->role == LEASE_LEADER && now_ms < l->deadline_ms;
}

int64_t lease_next_ms(const struct lease *l)
{
    int64_t next = l->op == LEASE_OP_NONE ? INT64_MAX : l->next_ms;

    if (l->role == LEASE_LEADER && l->deadline_ms < next)
        next = l->deadline_ms;
    if (l->role == LEASE_STANDBY && l->holder_seen_ms + l->ttl_ms < next)
        next = l->holder_seen_ms + l->ttl_ms;
    return next;
}

uint64_t lease_next_term(uint64_t rev, uint64_t floor, uint64_t seen)
{
    uint64_t term = rev;

    if (floor < LEASE_TERM_MAX && floor + 1 > term)
        term = floor + 1;
    if (seen < LEASE_TERM_MAX && seen + 1 > term)
        term = seen + 1;
    return term > LEASE_TERM_MAX ? LEASE_TERM_MAX : term;
}

const char *lease_role_name(enum lease_role r)
{
    switch (r) {
    case LEASE_STANDBY: return "standby";
    case LEASE_LEADER: return "leader";
    case LEASE_UNSURE: return "unsure";
    case LEASE_RESIGNED: return "resigned";
    }
    return "?";
}
