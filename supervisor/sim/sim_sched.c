/* Min-heap of simulator events ordered by due time. */
#include <stdlib.h>

#include "sim_sched.h"

static void swap(struct sim_event *a, struct sim_event *b)
{
    struct sim_event t = *a;

    *a = *b;
    *b = t;
}

int sim_sched_push(struct sim_sched *s, struct sim_event ev)
{
    size_t i;

    if (s->n == s->cap) {
        size_t cap = s->cap != 0 ? s->cap * 2 : 64;
        struct sim_event *grown = realloc(s->heap, cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        s->heap = grown;
        s->cap = cap;
    }
    i = s->n++;
    s->heap[i] = ev;
    while (i > 0 && s->heap[(i - 1) / 2].due_ms > s->heap[i].due_ms) {
        swap(&s->heap[(i - 1) / 2], &s->heap[i]);
        i = (i - 1) / 2;
    }
    return 0;
}

bool sim_sched_pop_due(struct sim_sched *s, int64_t now_ms, struct sim_event *out)
{
    size_t i = 0;

    if (s->n == 0 || s->heap[0].due_ms > now_ms)
        return false;
    *out = s->heap[0];
    s->heap[0] = s->heap[--s->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;

        if (l < s->n && s->heap[l].due_ms < s->heap[min].due_ms)
            min = l;
        if (r < s->n && s->heap[r].due_ms < s->heap[min].due_ms)
            min = r;
        if (min == i)
            break;
        swap(&s->heap[i], &s->heap[min]);
        i = min;
    }
    return true;
}

int64_t sim_sched_next_due(const struct sim_sched *s)
{
    return s->n > 0 ? s->heap[0].due_ms : INT64_MAX;
}

void sim_sched_fini(struct sim_sched *s)
{
    free(s->heap);
    s->heap = NULL;
    s->n = s->cap = 0;
}
