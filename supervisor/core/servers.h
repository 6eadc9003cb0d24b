/* The NATS servers heartbeats arrive through, for shared fate (DESIGN.md §6):
 * silence that strikes the instances connected to one server together is
 * that server's, not theirs.
 *
 * Every heartbeat names the server its sender is connected to
 * (Heartbeat.nats_server). The table interns those names into small slots,
 * counts the instances whose last heartbeat came through each, and keeps
 * when each last carried one. When an instance falls silent past its dead
 * threshold, servers_explain_silence says whether its server is known to be
 * alive (then the instance is dead) or not (then the silence is held on the
 * server, for at most a grace period).
 *
 * Bounded: at most SERVERS_MAX names; a heartbeat naming another server
 * while the table is full carries no attribution (slot 0), so it is judged
 * on its own as before. A slot is reused once no instance refers to it.
 * Pure: no clock, no I/O; the caller owns the storage. */
#ifndef CORE_SERVERS_H
#define CORE_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/names.h"

#define SERVERS_MAX 255          /* distinct servers tracked at once */
#define SERVER_NONE 0            /* slot of "unknown server" */
#define SERVER_SHORT_ID 12       /* characters of an id shown in reasons */

struct nats_server {
    uint32_t instances;          /* instances whose last heartbeat came through it */
    int64_t last_heard_ms;       /* arrival of the last heartbeat through it */
    char id[FLEET_SERVER_ID_MAX + 1]; /* "" = free slot */
};

struct server_table {
    struct nats_server slot[SERVERS_MAX + 1]; /* [SERVER_NONE] unused */
};

void servers_init(struct server_table *t);

/* The slot of server `id` ("" = SERVER_NONE), taking a free one for a new
 * name; SERVER_NONE when the table is full. Does not count a reference. */
uint8_t servers_intern(struct server_table *t, const char *id);

/* Moves one instance's reference from slot `from` to slot `to` (either may
 * be SERVER_NONE); a slot left with no instance becomes free. */
void servers_move(struct server_table *t, uint8_t from, uint8_t to);

/* A heartbeat arrived through `slot` at `at_ms`. */
void servers_heard(struct server_table *t, uint8_t slot, int64_t at_ms);

/* Our own link, as evidence: the server it is on (`id`), whether it is up,
 * and when any heartbeat last reached us through it. Every heartbeat we
 * get comes through that server, so one arriving shows it alive. */
struct servers_own {
    const char *id;
    bool up;
    int64_t last_heard_ms;
};

/* Whether the silence of an instance last heard at `last_ms` through `slot`,
 * promising `interval_ms`, is explained by that server at `now_ms`: true
 * when nothing shows the server alive since one and a half of the
 * instance's intervals after its last heartbeat (had the server carried
 * traffic then, the instance would have spoken too): no heartbeat came
 * through it since, and, when it is our own link's server, none reached us
 * at all since; and the hold has not outlasted `grace_ms` after the server
 * last carried a heartbeat. On true, *until = when the hold ends.
 * SERVER_NONE or grace_ms 0: false. */
bool servers_explain_silence(const struct server_table *t, uint8_t slot, const struct servers_own *own,
                             int64_t last_ms, uint32_t interval_ms, int64_t grace_ms, int64_t now_ms,
                             int64_t *until);

/* "held: NATS server <id…> unreachable (<n> instances)" into out. */
void servers_hold_reason(const struct server_table *t, uint8_t slot, char *out, size_t n);

#endif
