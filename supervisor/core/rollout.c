/* Rolling restarts (observer.h, observer_operator with no instance): an
 * operator's RESTART of a whole service, `batch` instances at a time. The
 * instances are the service's serving ones when it starts, each restarted
 * once, in name order. A batch goes only when the previous one is back (a
 * new life, HEALTHY without a break for min_healthy_ms) and the service has
 * its desired HEALTHY count and more than a batch of them, so a restart
 * never takes the last serving instance. Each restart is an ordinary
 * operator order (operator.c). The roll stops, with an event saying why,
 * when an instance does not come back in time, is fenced or gone, or the
 * service does not recover its count; the observer losing leadership ends
 * it too (the next leader does not resume it: the operator asks again). */
#include "observer_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLLOUT_BATCH_MAX 16

struct rollout_step {
    char name[FLEET_NAME_MAX + 1];
    uint64_t incarnation;   /* the life that was restarted */
};

struct rollout {
    char service[FLEET_NAME_MAX + 1];
    char operator_name[FLEET_OPERATOR_MAX + 1];
    char reason[REASON_MAX];
    uint32_t batch;
    int64_t min_healthy_ms;
    char (*todo)[FLEET_NAME_MAX + 1]; /* owned; in order */
    size_t n_todo;
    size_t next;                      /* todo[next] goes in the next batch */
    struct rollout_step cur[ROLLOUT_BATCH_MAX];
    size_t n_cur;                     /* the batch under way; 0 = between batches */
    int64_t deadline_ms;              /* the batch is back, or the next can go, by then */
    int64_t check_ms;                 /* when to look again */
};

static int name_order(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* How long a batch may take to come back: its restart, acknowledged at the
 * last attempt, a new life, then the healthy spell. */
static int64_t batch_window_ms(const struct observer *o, const struct rollout *r)
{
    return (int64_t)o->policy.ack_timeout_ms * o->policy.ack_attempts + o->policy.restart_timeout_ms +
           r->min_healthy_ms;
}

static void announce(struct observer *o, const struct rollout *r, const char *text, int64_t now_ms)
{
    const struct service *s = registry_service(o->registry, r->service);
    char reason[DECISION_REASON_MAX];

    if (s == NULL)
        return;
    reason_printf(reason, sizeof(reason), "rolling restart by %s: %s", r->operator_name, text);
    o->operator_name = r->operator_name;
    apply_emit(o, s, NULL, INST_UNSPECIFIED, INST_UNSPECIFIED, CORE_ACT_RESTART, reason, now_ms);
    o->operator_name = NULL;
}

static void rollout_end(struct observer *o, size_t k, const char *text, int64_t now_ms)
{
    struct rollout *r = &o->rollouts[k];

    announce(o, r, text, now_ms);
    free(r->todo);
    o->rollouts[k] = o->rollouts[--o->n_rollouts];
}

/* Whether the batch under way is back; else when to look again (*check_ms)
 * or why it stops (*why, returns false with why set). */
static bool batch_back(struct observer *o, struct rollout *r, int64_t now_ms, int64_t *check_ms, char *why,
                       size_t n)
{
    const struct service *s = registry_service(o->registry, r->service);
    bool back = true;

    *check_ms = r->deadline_ms;
    for (size_t k = 0; k < r->n_cur; k++) {
        const struct instance *i = s != NULL ? registry_instance(o->registry, s, r->cur[k].name) : NULL;

        if (i == NULL) {
            reason_printf(why, n, "stopped: %s/%s is gone", r->service, r->cur[k].name);
            return false;
        }
        if (state_record_fenced(i)) {
            reason_printf(why, n, "stopped: %s/%s is fenced", r->service, i->name);
            return false;
        }
        if (i->incarnation != r->cur[k].incarnation && i->health == INST_HEALTHY) {
            int64_t healthy_at = i->health_since_ms + r->min_healthy_ms;

            if (healthy_at <= now_ms)
                continue;
            if (healthy_at < *check_ms)
                *check_ms = healthy_at;
        }
        back = false;
    }
    if (!back && now_ms >= r->deadline_ms) {
        reason_printf(why, n, "stopped: the batch did not come back healthy within %llds",
                      (long long)(batch_window_ms(o, r) / 1000));
        for (size_t k = 0; k < r->n_cur; k++) {
            const struct instance *i = registry_instance(o->registry, s, r->cur[k].name);

            if (i->incarnation == r->cur[k].incarnation || i->health != INST_HEALTHY ||
                now_ms - i->health_since_ms < r->min_healthy_ms) {
                reason_printf(why, n, "stopped: %s/%s did not come back healthy within %llds", r->service,
                         i->name, (long long)(batch_window_ms(o, r) / 1000));
                break;
            }
        }
        return false;
    }
    return back;
}

/* Starts the next batch, or says why it cannot go yet (returns 1, *check_ms
 * set) or at all (-1, why set). 0: it went. */
static int next_batch(struct observer *o, struct rollout *r, int64_t now_ms, int64_t *check_ms, char *why,
                      size_t n)
{
    struct service *s = registry_service(o->registry, r->service);
    size_t take = r->n_todo - r->next < r->batch ? r->n_todo - r->next : r->batch;
    uint32_t healthy;

    if (s == NULL) {
        reason_printf(why, n, "stopped: %s is no longer known", r->service);
        return -1;
    }
    healthy = s->count[INST_HEALTHY];
    if (healthy < s->desired || healthy <= take) {
        if (now_ms >= r->deadline_ms) {
            reason_printf(why, n, "stopped: %s has %u of %u healthy, too few to restart %zu more", s->name,
                     healthy, s->desired, take);
            return -1;
        }
        *check_ms = r->deadline_ms;
        return 1;
    }
    r->n_cur = 0;
    for (size_t k = 0; k < take; k++) {
        const char *name = r->todo[r->next++];
        struct instance *i = registry_instance(o->registry, s, name);
        struct operator_order ord = {
            .action = CORE_ACT_RESTART, .service = s->name, .instance = name,
            .operator_name = r->operator_name, .reason = r->reason,
        };
        uint64_t life;
        char refused[DECISION_REASON_MAX];

        if (i == NULL)
            continue;   /* gone since the roll began: nothing to restart */
        life = i->incarnation;
        if (operator_apply(o, i, &ord, now_ms, refused, sizeof(refused)) != 0) {
            reason_printf(why, n, "stopped: %s", refused);
            return -1;
        }
        snprintf(r->cur[r->n_cur].name, sizeof(r->cur[r->n_cur].name), "%s", name);
        r->cur[r->n_cur++].incarnation = life;
    }
    r->deadline_ms = now_ms + batch_window_ms(o, r);
    *check_ms = r->deadline_ms;
    return 0;
}

/* Moves roll `k` on; returns false when it ended (and was removed). */
static bool advance(struct observer *o, size_t k, int64_t now_ms)
{
    struct rollout *r = &o->rollouts[k];
    char why[DECISION_REASON_MAX], text[DECISION_REASON_MAX];
    int64_t check_ms;
    int rc;

    for (;;) {
        if (r->n_cur > 0) {
            why[0] = '\0';
            if (!batch_back(o, r, now_ms, &check_ms, why, sizeof(why))) {
                if (why[0] == '\0') {
                    r->check_ms = check_ms;
                    return true;
                }
                rollout_end(o, k, why, now_ms);
                return false;
            }
            reason_printf(text, sizeof(text), "%zu of %zu restarted and healthy again", r->next, r->n_todo);
            announce(o, r, text, now_ms);
            r->n_cur = 0;
            r->deadline_ms = now_ms + batch_window_ms(o, r);
        }
        if (r->next == r->n_todo) {
            reason_printf(text, sizeof(text), "done: %zu instances of %s restarted", r->n_todo, r->service);
            rollout_end(o, k, text, now_ms);
            return false;
        }
        rc = next_batch(o, r, now_ms, &check_ms, why, sizeof(why));
        if (rc < 0) {
            rollout_end(o, k, why, now_ms);
            return false;
        }
        r->check_ms = check_ms;
        if (rc > 0 || r->n_cur > 0)
            return true;
        /* Every instance of that batch was gone: on to the next. */
    }
}

int rollout_start(struct observer *o, struct service *s, const struct operator_order *ord, int64_t now_ms,
                  char *why, size_t why_len)
{
    struct rollout *grown, *r;
    const struct instance *i;
    size_t n = 0;

    for (size_t k = 0; k < o->n_rollouts; k++)
        if (strcmp(o->rollouts[k].service, s->name) == 0) {
            reason_printf(why, why_len, "a rolling restart of %s is under way (%zu of %zu started); wait for it",
                     s->name, o->rollouts[k].next, o->rollouts[k].n_todo);
            return -1;
        }
    for (i = s->first; i != NULL; i = i->next)
        n += i->health == INST_HEALTHY || i->health == INST_DEGRADED;
    if (n == 0) {
        reason_printf(why, why_len, "%s has no serving instance to restart", s->name);
        return -1;
    }
    if (n == 1 && !ord->force) {
        reason_printf(why, why_len, "%s has one serving instance: restarting it takes %s down; add --force "
                               "to do it anyway, naming the instance", s->name, s->name);
        return -1;
    }
    grown = realloc(o->rollouts, (o->n_rollouts + 1) * sizeof(*grown));
    if (grown == NULL) {
        reason_printf(why, why_len, "out of memory");
        return -1;
    }
    o->rollouts = grown;
    r = &o->rollouts[o->n_rollouts];
    memset(r, 0, sizeof(*r));
    r->todo = calloc(n, sizeof(*r->todo));
    if (r->todo == NULL) {
        reason_printf(why, why_len, "out of memory");
        return -1;
    }
    for (i = s->first; i != NULL; i = i->next)
        if (i->health == INST_HEALTHY || i->health == INST_DEGRADED)
            snprintf(r->todo[r->n_todo++], sizeof(r->todo[0]), "%s", i->name);
    qsort(r->todo, r->n_todo, sizeof(r->todo[0]), name_order);
    snprintf(r->service, sizeof(r->service), "%s", s->name);
    snprintf(r->operator_name, sizeof(r->operator_name), "%s", ord->operator_name);
    snprintf(r->reason, sizeof(r->reason), "%s", ord->reason);
    r->batch = ord->batch == 0 ? 1 : ord->batch > ROLLOUT_BATCH_MAX ? ROLLOUT_BATCH_MAX : ord->batch;
    r->min_healthy_ms = ord->min_healthy_ms;
    r->deadline_ms = now_ms + batch_window_ms(o, r);
    o->n_rollouts++;

    reason_printf(why, why_len, "rolling restart of %s: %zu instances, %u at a time, each healthy %llds before "
                           "the next", s->name, r->n_todo, r->batch, (long long)(r->min_healthy_ms / 1000));
    announce(o, r, why, now_ms);
    if (advance(o, o->n_rollouts - 1, now_ms))
        return 0;
    /* It ended at once: the first batch could not go; its event said why. */
    reason_printf(why, why_len, "rolling restart of %s could not start (see its event)", s->name);
    return -1;
}

/* Every tick looks at every roll: an instance coming back changes when the
 * next batch may go, and there are few rolls of at most a batch each. */
void rollout_tick(struct observer *o, int64_t now_ms)
{
    for (size_t k = o->n_rollouts; k > 0; k--)
        (void)advance(o, k - 1, now_ms);
}

int64_t rollout_next_deadline(const struct observer *o)
{
    int64_t next = NO_DEADLINE;

    for (size_t k = 0; k < o->n_rollouts; k++)
        if (o->rollouts[k].check_ms < next)
            next = o->rollouts[k].check_ms;
    return next;
}

void rollout_drop_all(struct observer *o, const char *why, int64_t now_ms)
{
    char text[DECISION_REASON_MAX];

    while (o->n_rollouts > 0) {
        reason_printf(text, sizeof(text), "stopped: %s", why);
        rollout_end(o, o->n_rollouts - 1, text, now_ms);
    }
}

void rollout_free(struct observer *o)
{
    for (size_t k = 0; k < o->n_rollouts; k++)
        free(o->rollouts[k].todo);
    free(o->rollouts);
    o->rollouts = NULL;
    o->n_rollouts = 0;
}
