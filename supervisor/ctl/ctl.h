/* fleetctl internals, grouped by the file that defines them. Each subcommand
 * is one file and one ctl_cmd_* entry point; main.c only dispatches. */
#ifndef FLEETCTL_CTL_H
#define FLEETCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pthread.h>
#include <signal.h>

#include <nats/nats.h>

#include "fleet/admin.h"
#include "fleet/clock.h"
#include "fleet/status.h"
#include "fleet/v1/fleet.pb-c.h"

/* Process exit codes (DESIGN.md §9). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,   /* runtime failure: no server, no supervisor, write error */
    CTL_EXIT_USAGE = 2,  /* bad flag or argument: the message says what to do */
    CTL_EXIT_TIMED_OUT = 3, /* wait: not ready within --timeout (gave up, did not fail) */
    CTL_EXIT_NO_TARGET = 4, /* wait: unknown service, or no supervisor answered */
    CTL_EXIT_NO_ANSWER = 3, /* admin verbs: no leading supervisor answered */
};

#define CTL_DEFAULT_TIMEOUT_MS 2000

/* Global flags, resolved against the environment. The strings point into
 * argv, the environment or static storage: never freed, valid for the run. */
struct ctl_opts {
    const char *server;   /* -s/--server, else NATS_URL, else FLEET_DEFAULT_URL; a URL or a list */
    char server_shown[512]; /* `server` with any user:password redacted: for messages */
    const char *creds;    /* --creds, else NATS_CREDS, else NULL (none) */
    const char *prefix;   /* --prefix, a valid subject prefix */
    int64_t timeout_ms;   /* --timeout-ms, for requests (and the connect) */
    bool json;            /* --json */
    bool help;            /* -h/--help was given */
};

/* opts.c */

/* Sets the defaults from the environment. */
void ctl_opts_init(struct ctl_opts *o);

/* Parses global flags from argv[1..] into `o`. With `stop_at_command`, stops
 * at the first non-flag (the subcommand) and sets *next to its index (argc
 * when there is none); otherwise flags and arguments may mix and the
 * arguments are moved to argv[*next..argc-1]. Returns CTL_EXIT_OK, or
 * CTL_EXIT_USAGE after printing what is wrong on stderr. */
int ctl_opts_parse(struct ctl_opts *o, int argc, char **argv, bool stop_at_command, int *next);

/* A command's own flags (events, wait, maintenance), taken out of argv
 * before ctl_opts_parse sees the rest. `switches` take no value;
 * `with_value` take one, as "--flag value" or "--flag=value". */
struct ctl_cmd_flags {
    const char *command;            /* "wait": names the command in messages */
    const char *const *switches;
    size_t n_switches;
    const char *const *with_value;
    size_t n_with_value;
    /* Stores one flag given (`value` NULL for a switch) into `arg`;
     * returns CTL_EXIT_OK or ctl_usage_error's code. */
    int (*take)(void *arg, const char *flag, const char *value);
    void (*usage)(FILE *out);       /* the command's help */
};

/* Takes f's flags out of argv[1..*argc-1] in order, handing each to
 * f->take(arg, ...), and shrinks *argc; then parses the global flags
 * (ctl_opts_parse, flags and arguments mixed), the arguments moved to
 * argv[*rest..*argc-1]. After -h/--help prints f->usage on stdout, with
 * o->help set: the command then only returns CTL_EXIT_OK. Returns
 * CTL_EXIT_OK, or CTL_EXIT_USAGE after printing what is wrong on stderr. */
int ctl_cmd_flags_parse(struct ctl_opts *o, const struct ctl_cmd_flags *f, void *arg, int *argc, char **argv,
                        int *rest);


/* Prints "fleetctl[ COMMAND]: <message> (run 'fleetctl[ COMMAND] --help')"
 * on stderr and returns CTL_EXIT_USAGE. `command` NULL: the global flags. */
__attribute__((format(printf, 2, 3)))
int ctl_usage_error(const char *command, const char *fmt, ...);

/* Whether `name` may name a JetStream stream or KV bucket (--stream,
 * --bucket): not empty, and no '.', ' ', '*' or '>'. */
bool ctl_js_name_valid(const char *name);

/* True when stdout is a terminal and NO_COLOR is unset. */
bool ctl_use_color(void);

/* conn.c */

/* Connection-state callbacks for long-running commands; run on nats.c
 * threads, so they may only hand over (see inbox.c). */
struct ctl_link_cbs {
    natsConnectionHandler disconnected;
    natsConnectionHandler reconnected;
    natsConnectionHandler closed;
    void *arg;
};

/* Connects to o->server with o->creds (fleet/conn.h's recipe: once
 * connected it reconnects for ever; with `link` set, changes are reported
 * to it). A first connection that fails is not retried, as a one-shot tool
 * should. On failure prints why (naming the URL and what to try) on stderr
 * and returns FLEET_ERR_NATS; *out is written only on FLEET_OK.
 * Destroy with ctl_conn_close(). */
fleet_status ctl_connect(const struct ctl_opts *o, const struct ctl_link_cbs *link,
                         natsConnection **out);

/* Blocks SIGINT and SIGTERM in the calling thread and routes them to
 * `handler` (no SA_RESTART), so that every thread nats.c starts afterwards
 * inherits the mask; *waitmask is the previous mask without the two, for the
 * ppoll() that is then the only place they arrive. Call before ctl_connect. */
void ctl_stop_signals_block(void (*handler)(int), sigset_t *waitmask);

/* Closes `nc` (NULL allowed) and shuts the nats.c library down, returning once
 * none of its threads runs: after it no callback is in flight or can start. */
void ctl_conn_close(natsConnection *nc);

/* Requests <prefix>.v1.query.status and unpacks the reply. On FLEET_OK *out
 * is the caller's (fleet__v1__fleet_status__free_unpacked(*out, NULL)).
 * FLEET_ERR_NATS: nobody answered within o->timeout_ms (or the request
 * failed); FLEET_ERR_DECODE: the reply is not a FleetStatus. Prints nothing:
 * the caller decides whether silence is an error (status) or a wait (watch). */
fleet_status ctl_query_status(natsConnection *nc, const struct ctl_opts *o,
                              Fleet__V1__FleetStatus **out);

/* Prints the operator message for "no supervisor answered" on stderr. */
void ctl_explain_no_answer(const struct ctl_opts *o);

/* inbox.c: hands copies of messages from nats.c threads to the main thread.
 * Producers (any thread) only lock, append and poke a pipe; the main thread
 * polls inbox_fd() and takes everything at once, so it alone decodes,
 * renders and owns the screen. */
enum inbox_kind {
    INBOX_STATUS,     /* data: a packed FleetStatus */
    INBOX_SERVICE_STATUS, /* data: a packed ServiceStatus */
    INBOX_EVENT,      /* data: a packed Event */
    INBOX_LINK_DOWN,  /* the NATS connection dropped (reconnecting) */
    INBOX_LINK_UP,    /* reconnected */
    INBOX_CLOSED,     /* the connection is closed for good */
};

struct inbox_item {
    struct inbox_item *next;
    enum inbox_kind kind;
    size_t len;
    unsigned char data[];
};

struct inbox {
    pthread_mutex_t mu;
    struct inbox_item *head, *tail;  /* guarded by mu */
    size_t len;                      /* guarded by mu */
    uint64_t dropped;                /* guarded by mu: refused when full or out of memory */
    int wake[2];                     /* pipe: readable when items may be waiting */
};

/* Caller-owned storage. Returns FLEET_OK or FLEET_ERR_SYSTEM (nothing to
 * undo). Undo with inbox_fini(). */
fleet_status inbox_init(struct inbox *ib);

/* Frees what is still queued. Only once no producer can run any more
 * (after ctl_conn_close()). */
void inbox_fini(struct inbox *ib);

/* Any thread: queues a copy of data[0..len). Never blocks on the consumer;
 * when the inbox is full or memory is short the item is dropped and counted
 * (the feed-sequence check then reports it as a gap). */
void inbox_put(struct inbox *ib, enum inbox_kind kind, const void *data, size_t len);

/* nats.c message handlers (natsMsgHandler) for a subscription whose closure
 * is the inbox: each queues a copy of the message as INBOX_STATUS,
 * INBOX_SERVICE_STATUS or INBOX_EVENT and destroys the message. */
void inbox_on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ib);
void inbox_on_service_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ib);
void inbox_on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ib);

/* Link callbacks (for ctl_connect) that queue INBOX_LINK_DOWN, INBOX_LINK_UP
 * and INBOX_CLOSED into `ib`. */
struct ctl_link_cbs inbox_link(struct inbox *ib);

/* Main thread: the descriptor to poll for POLLIN. */
int inbox_fd(const struct inbox *ib);

/* Main thread: takes every queued item, oldest first, and the count of drops
 * since the last call. The caller frees each item with free(). */
struct inbox_item *inbox_take_all(struct inbox *ib, uint64_t *dropped);

/* status.c, watch.c: subcommands. argv[0] is the subcommand name; each
 * returns a process exit code (enum ctl_exit). */
int ctl_cmd_status(struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_watch(struct ctl_opts *o, int argc, char **argv);

/* events.c: `events [--since D] [--service S] [--follow] [--stream N]`; takes
 * its own flags out of argv, then parses the global ones itself. */
int ctl_cmd_events(struct ctl_opts *o, int argc, char **argv);

/* wait.c: `wait SERVICE... | --all [--version V] ...`, the deploy gate;
 * takes its own flags out of argv, then parses the global ones itself. */
int ctl_cmd_wait(struct ctl_opts *o, int argc, char **argv);

/* admin.c: `restart|fence|unfence|drain|resume SERVICE[/INSTANCE] ...`,
 * signed with the operator's key; argv[0] is the verb. */
int ctl_cmd_admin(struct ctl_opts *o, int argc, char **argv);

/* Seals `c` with the operator key in `key_file` (NULL: none given; a usage
 * error), sends it to the leader on nc and waits o->timeout_ms for the
 * AdminReply. CTL_EXIT_OK with the supervisor's `result`; otherwise prints
 * why on stderr and returns CTL_EXIT_FAIL (refused, failed), CTL_EXIT_USAGE
 * (no key given) or CTL_EXIT_NO_ANSWER. */
int ctl_admin_send(const struct ctl_opts *o, natsConnection *nc, const fleet_admin_command *c,
                   const char *key_file, char *result, size_t result_len);

/* keygen.c: `keygen --out FILE`; parses its own flags (no NATS involved). */
int ctl_cmd_keygen(struct ctl_opts *o, int argc, char **argv);

/* maint.c: `maintenance on|off SERVICE [--instance ID] [--reason T] | list`;
 * takes its own flags out of argv, then parses the global ones itself. */
int ctl_cmd_maintenance(struct ctl_opts *o, int argc, char **argv);

#endif
