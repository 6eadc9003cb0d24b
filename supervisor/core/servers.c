#include "servers.h"

#include <stdio.h>
#include <string.h>

void servers_init(struct server_table *t)
{
    memset(t, 0, sizeof(*t));
}

uint8_t servers_intern(struct server_table *t, const char *id)
{
    unsigned free_slot = SERVER_NONE;

    if (id[0] == '\0')
        return SERVER_NONE;
    for (unsigned k = 1; k <= SERVERS_MAX; k++) {
        if (t->slot[k].id[0] == '\0') {
            if (free_slot == SERVER_NONE)
                free_slot = k;
        } else if (strcmp(t->slot[k].id, id) == 0) {
            return (uint8_t)k;
        }
    }
    if (free_slot != SERVER_NONE) {
        snprintf(t->slot[free_slot].id, sizeof(t->slot[free_slot].id), "%s", id);
        t->slot[free_slot].instances = 0;
        t->slot[free_slot].last_heard_ms = INT64_MIN;
    }
    return (uint8_t)free_slot;
}

void servers_move(struct server_table *t, uint8_t from, uint8_t to)
{
    if (from == to)
        return;
    if (to != SERVER_NONE)
        t->slot[to].instances++;
    if (from != SERVER_NONE && --t->slot[from].instances == 0)
        t->slot[from].id[0] = '\0';
}

void servers_heard(struct server_table *t, uint8_t slot, int64_t at_ms)
{
    if (slot != SERVER_NONE && at_ms > t->slot[slot].last_heard_ms)
        t->slot[slot].last_heard_ms = at_ms;
}

bool servers_explain_silence(const struct server_table *t, uint8_t slot, const struct servers_own *own,
                             int64_t last_ms, uint32_t interval_ms, int64_t grace_ms, int64_t now_ms,
                             int64_t *until)
{
    const struct nats_server *s = &t->slot[slot];
    int64_t due = last_ms + (int64_t)interval_ms * 3 / 2;   /* when it should have spoken again */
    int64_t end;

    if (slot == SERVER_NONE || grace_ms <= 0 || s->id[0] == '\0')
        return false;
    if (s->last_heard_ms >= due)
        return false;   /* it carried others' heartbeats when this one should have spoken */
    if (own->up && strcmp(s->id, own->id) == 0 && own->last_heard_ms >= due)
        return false;   /* our own server, and it still brings us heartbeats */
    end = (s->last_heard_ms > last_ms ? s->last_heard_ms : last_ms) + grace_ms;
    if (now_ms >= end)
        return false;   /* held long enough: judge the instance on its own */
    *until = end;
    return true;
}

void servers_hold_reason(const struct server_table *t, uint8_t slot, char *out, size_t n)
{
    const struct nats_server *s = &t->slot[slot];
    bool cut = strlen(s->id) > SERVER_SHORT_ID;

    snprintf(out, n, "held: NATS server %.*s%s unreachable (%u instance%s)", SERVER_SHORT_ID, s->id,
             cut ? "\u2026" : "", (unsigned)s->instances, s->instances == 1 ? "" : "s");
}
