/* bench_soak's verdict (soak_verdict.h). */
#include "soak_verdict.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Calls fn(line, arg) for every JSON object line of `text`. */
void soak_each_json_line(const char *text, void (*fn)(json_t *line, void *arg), void *arg)
{
    while (text != NULL && *text != '\0') {
        size_t len = strcspn(text, "\n");
        json_t *line = json_loadb(text, len, 0, NULL);

        if (json_is_object(line))
            fn(line, arg);
        json_decref(line);
        text += len + (text[len] == '\n');
    }
}

void soak_sim_line(json_t *line, void *arg)
{
    struct soak_story *st = arg;
    const char *event = json_string_value(json_object_get(line, "event"));
    const char *instance = json_string_value(json_object_get(line, "instance"));
    const char *fault = json_string_value(json_object_get(line, "fault"));
    int64_t ts = (int64_t)json_integer_value(json_object_get(line, "ts_ms"));

    if (event == NULL)
        return;
    if (strcmp(event, "nats_reconnected") == 0)
        st->reconnects++;
    if (instance == NULL)
        return;
    if (strcmp(event, "fault") == 0 && fault != NULL && strcmp(fault, "crash") == 0 &&
        st->n_crashed < SOAK_MAX_CRASHES) {
        soak_copy_name(st->crashed[st->n_crashed], sizeof(st->crashed[0]), instance);
        st->crashed_ms[st->n_crashed++] = ts;
    } else if (strcmp(event, "restarted") == 0) {
        struct soak_control *slot = soak_list_push(&st->restarted);

        if (slot != NULL) {
            soak_copy_name(slot->instance, sizeof(slot->instance), instance);
            slot->action = SOAK_RESTART;
            slot->unix_ms = ts;
        }
    }
}


void soak_trace_flush(struct soak_trace *tr)
{
    if (tr->repeats > 0)
        printf("  ... and %u more of \"%s\"\n", tr->repeats, tr->last);
    tr->repeats = 0;
}

void soak_supervisor_line(json_t *line, void *arg)
{
    static const char *const topics[] = { "observer state", "lead", "NATS", "nats", "JetStream", "lease", "connect" };
    struct soak_trace *tr = arg;
    const char *msg = json_string_value(json_object_get(line, "msg"));
    const char *ts = json_string_value(json_object_get(line, "ts"));
    bool wanted = false;

    for (size_t k = 0; msg != NULL && k < sizeof(topics) / sizeof(topics[0]); k++)
        wanted |= strstr(msg, topics[k]) != NULL;
    if (!wanted)
        return;
    if (strcmp(msg, "observer state changed") != 0 && strcmp(msg, tr->last) == 0) {
        tr->repeats++;
        return;
    }
    soak_trace_flush(tr);
    snprintf(tr->last, sizeof(tr->last), "%s", msg);
    if (strcmp(msg, "observer state changed") == 0)
        printf("  %s  observer %s -> %s (%s)\n", ts != NULL ? ts : "?",
               json_string_value(json_object_get(line, "from")), json_string_value(json_object_get(line, "to")),
               json_string_value(json_object_get(line, "reason")));
    else
        printf("  %s  %s\n", ts != NULL ? ts : "?", msg);
}

/* When `instance` crashed (wall ms), or INT64_MAX if it never did. */
static int64_t crash_time(const struct soak_story *st, const char *instance)
{
    for (size_t k = 0; k < st->n_crashed; k++)
        if (strcmp(st->crashed[k], instance) == 0)
            return st->crashed_ms[k];
    return INT64_MAX;
}

/* ---- the verdict ---- */


static void print_false(const struct soak_story *st, const char *what, const char *service, const char *instance,
                        int to, int action, int64_t unix_ms, const char *reason)
{
    printf("  FALSE %s: %s/%s to=%d action=%d at t=%.3f s (%s)\n", what, service, instance, to, action,
           (double)(unix_ms - st->start_ms) / 1000, reason != NULL ? reason : "");
}

void soak_judge(const struct soak_list *events, const struct soak_list *controls, const struct soak_story *st,
                  struct soak_tally *t)
{
    const struct soak_event *ev = events->v;
    const struct soak_control *c = controls->v, *r = st->restarted.v;

    for (size_t k = 0; k < events->n; k++) {
        const struct soak_event *e = &ev[k];
        bool stopped = e->instance[0] != '\0' && e->unix_ms >= crash_time(st, e->instance);
        bool restart = e->action == SOAK_RESTART || e->to == SOAK_RESTARTING;
        bool fence = e->action == SOAK_FENCE || e->to == SOAK_FENCED;

        t->events++;
        t->dead += e->to == SOAK_DEAD;
        t->suspect += e->to == SOAK_SUSPECT;
        if (e->to == SOAK_SUSPECT && t->bucket_ms > 0 && e->unix_ms >= st->start_ms) {
            int64_t b = (e->unix_ms - st->start_ms) / t->bucket_ms;

            t->suspect_at[b < SOAK_BUCKETS ? b : SOAK_BUCKETS - 1]++;
        }
        t->restart_events += restart;
        t->fence_events += fence;
        if (e->instance[0] == '\0')
            continue;
        if (e->to == SOAK_DEAD && !stopped) {
            t->false_dead++;
            print_false(st, "DEAD", e->service, e->instance, e->to, e->action, e->unix_ms, e->reason);
        }
        if ((restart && !stopped) || fence) {
            t->false_restart++;
            print_false(st, fence ? "FENCE" : "RESTART", e->service, e->instance, e->to, e->action, e->unix_ms,
                        e->reason);
        }
    }
    for (size_t k = 0; k < controls->n; k++) {
        t->controls++;
        if (c[k].action != SOAK_RESTART || c[k].unix_ms < crash_time(st, c[k].instance)) {
            t->false_controls++;
            print_false(st, "Control", c[k].service, c[k].instance, 0, c[k].action, c[k].unix_ms, "control subject");
        }
    }
    for (size_t k = 0; k < st->restarted.n; k++) {
        t->sim_restarts++;
        if (r[k].unix_ms < crash_time(st, r[k].instance)) {
            t->false_sim_restarts++;
            print_false(st, "restart carried out", "", r[k].instance, 0, SOAK_RESTART, r[k].unix_ms, "fleet-sim log");
        }
    }
    /* The control sample: each crash seen DEAD, then a RESTART, then revived. */
    for (size_t i = 0; i < st->n_crashed; i++) {
        bool dead = false, restart = false, revived = false;

        for (size_t k = 0; k < events->n; k++) {
            if (strcmp(ev[k].instance, st->crashed[i]) != 0 || ev[k].unix_ms < st->crashed_ms[i])
                continue;
            dead |= ev[k].to == SOAK_DEAD;
            restart |= dead && ev[k].action == SOAK_RESTART;
        }
        for (size_t k = 0; k < st->restarted.n; k++)
            revived |= strcmp(r[k].instance, st->crashed[i]) == 0 && r[k].unix_ms >= st->crashed_ms[i];
        if (dead && restart && revived)
            t->crashes_caught++;
        else
            printf("  MISSED crash of %s: dead %s, RESTART %s, revived %s\n", st->crashed[i], dead ? "yes" : "no",
                   restart ? "yes" : "no", revived ? "yes" : "no");
    }
}
