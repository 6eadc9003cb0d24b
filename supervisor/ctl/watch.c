/* fleetctl watch: the live status table with the latest events.
 *
 * Threads: nats.c calls the subscription and connection callbacks on its own
 * threads; they only copy into the inbox. The main thread owns everything
 * else (decoded messages, the screen) and waits in ppoll() on the inbox and
 * on SIGINT/SIGTERM, which stay blocked everywhere else so that they always
 * interrupt that wait. */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet/subjects.h"

#include "ctl.h"
#include "render.h"

#define WATCH_EVENTS 10        /* events kept below the table */
#define WATCH_STALL_MS 3000    /* silence before "waiting for fleet-supervisor" */

#define ANSI_HOME_CLEAR "\033[H\033[2J"

struct watch {
    const struct ctl_opts *o;
    bool tty;                            /* redraw in place; else append */
    bool color;
    struct inbox inbox;
    Fleet__V1__FleetStatus *status;      /* latest status shown; owned */
    Fleet__V1__Event *events[WATCH_EVENTS]; /* ring of the latest events; owned */
    size_t n_events, next_event;
    struct feedseq seq;
    int64_t last_status_mono;            /* when the latest status arrived (or the start) */
    bool stalled;                        /* the waiting note is showing */
    bool link_down;
    bool closed;
    uint64_t dropped;                    /* refused by a full inbox */
    uint64_t undecodable;                /* feed messages that did not unpack */
    bool dirty;                          /* tty: the screen needs a redraw */
    bool tables_printed;                 /* pipe: separate tables by a blank line */
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Prints {"<key>": j} as one line, taking the reference to j (NULL allowed:
 * a failed render); false on failure. */
static bool print_json_line(const char *key, json_t *j)
{
    json_t *wrap;
    bool ok;

    if (j == NULL)
        return false;
    wrap = json_object();
    if (wrap == NULL) {
        json_decref(j);
        return false;
    }
    if (json_object_set_new(wrap, key, j) != 0) { /* consumes j even on failure */
        json_decref(wrap);
        return false;
    }
    ok = json_dumpf(wrap, stdout, RENDER_JSON_FLAGS) == 0 && fputc('\n', stdout) != EOF;
    json_decref(wrap);
    return ok;
}

/* A note for the operator: a line of its own on a pipe, stderr under --json
 * (stdout stays pure JSON), the footer on a terminal. */
static void note(struct watch *w, const char *text)
{
    if (w->o->json)
        fprintf(stderr, "fleetctl: %s\n", text);
    else if (!w->tty)
        printf("%s\n", text);
    w->dirty = true;
}

static void draw_footer(const struct watch *w)
{
    if (w->status == NULL || w->stalled)
        printf("waiting for fleet-supervisor on %s\u2026\n", w->o->server_shown);
    if (w->link_down)
        printf("NATS connection to %s lost: reconnecting\u2026\n", w->o->server_shown);
    if (w->dropped > 0 || w->undecodable > 0)
        printf("(%llu dropped locally, %llu undecodable)\n", (unsigned long long)w->dropped,
               (unsigned long long)w->undecodable);
}

static bool draw_screen(struct watch *w)
{
    struct render_opts ro = { .color = w->color, .now_ms = fleet_unix_ms(),
                              .feed_gap = feedseq_missed(&w->seq) };

    fputs(ANSI_HOME_CLEAR, stdout);
    if (w->status != NULL && render_status_table(stdout, w->status, &ro) != FLEET_OK)
        return false;
    if (w->n_events > 0) {
        printf("\nlatest events:\n");
        /* Oldest first, so the newest sits at the bottom like a log. */
        for (size_t i = 0; i < w->n_events; i++) {
            size_t at = (w->next_event + WATCH_EVENTS - w->n_events + i) % WATCH_EVENTS;

            fputs("  ", stdout);
            render_event_line(stdout, w->events[at], w->color);
            fputc('\n', stdout);
        }
    }
    draw_footer(w);
    w->dirty = false;
    return !ferror(stdout);
}

static void keep_event(struct watch *w, Fleet__V1__Event *ev)
{
    Fleet__V1__Event **slot = &w->events[w->next_event];

    if (w->n_events == WATCH_EVENTS)
        fleet__v1__event__free_unpacked(*slot, NULL);
    else
        w->n_events++;
    *slot = ev;
    w->next_event = (w->next_event + 1) % WATCH_EVENTS;
}

static bool same_supervisor(const Fleet__V1__FleetStatus *a, const Fleet__V1__FleetStatus *b)
{
    return a->supervisor_id != NULL && b->supervisor_id != NULL && strcmp(a->supervisor_id, b->supervisor_id) == 0;
}

/* Takes ownership of st. Returns false on a write error. */
static bool take_status(struct watch *w, Fleet__V1__FleetStatus *st)
{
    bool ok = true;

    if (w->status != NULL && !same_supervisor(w->status, st))
        feedseq_rebase(&w->seq);
    feedseq_note(&w->seq, st->feed_seq);
    w->last_status_mono = fleet_mono_ms();
    if (w->stalled) {
        w->stalled = false;
        if (!w->tty && !w->o->json)
            printf("fleet-supervisor is back\n");
    }
    if (w->o->json)
        ok = print_json_line("status", render_status_json(st));
    /* The initial query races the first published status: keep the newer. */
    if (w->status != NULL && same_supervisor(w->status, st) && st->feed_seq < w->status->feed_seq) {
        fleet__v1__fleet_status__free_unpacked(st, NULL);
        return ok;
    }
    fleet__v1__fleet_status__free_unpacked(w->status, NULL);
    w->status = st;
    if (!w->o->json && !w->tty) {
        struct render_opts ro = { .color = w->color, .now_ms = fleet_unix_ms(),
                                  .feed_gap = feedseq_missed(&w->seq) };

        if (w->tables_printed)
            fputc('\n', stdout);
        w->tables_printed = true;
        ok = render_status_table(stdout, st, &ro) == FLEET_OK;
    }
    w->dirty = true;
    return ok;
}

/* Takes ownership of ev. Returns false on a write error. */
static bool take_event(struct watch *w, Fleet__V1__Event *ev)
{
    bool ok = true;

    feedseq_note(&w->seq, ev->feed_seq);
    if (w->o->json) {
        ok = print_json_line("event", render_event_json(ev));
    } else if (!w->tty) {
        fputs("event ", stdout);
        ok = render_event_line(stdout, ev, w->color) == FLEET_OK && fputc('\n', stdout) != EOF;
    }
    keep_event(w, ev);
    w->dirty = true;
    return ok;
}

/* Returns false on a write error. */
static bool take_item(struct watch *w, const struct inbox_item *it)
{
    Fleet__V1__FleetStatus *st;
    Fleet__V1__Event *ev;

    switch (it->kind) {
    case INBOX_STATUS:
        st = fleet__v1__fleet_status__unpack(NULL, it->len, it->data);
        if (st == NULL)
            break;
        return take_status(w, st);
    case INBOX_EVENT:
        ev = fleet__v1__event__unpack(NULL, it->len, it->data);
        if (ev == NULL)
            break;
        return take_event(w, ev);
    case INBOX_SERVICE_STATUS: /* watch does not subscribe to them */
        break;
    case INBOX_LINK_DOWN:
        w->link_down = true;
        note(w, "NATS connection lost: reconnecting");
        return true;
    case INBOX_LINK_UP:
        w->link_down = false;
        note(w, "NATS connection back");
        return true;
    case INBOX_CLOSED:
        w->closed = true;
        return true;
    }
    w->undecodable++;
    w->dirty = true;
    return true;
}

static bool drain_inbox(struct watch *w)
{
    uint64_t dropped;
    struct inbox_item *it = inbox_take_all(&w->inbox, &dropped);
    bool ok = true;

    w->dropped += dropped;
    while (it != NULL) {
        struct inbox_item *next = it->next;

        if (ok)
            ok = take_item(w, it);
        free(it);
        it = next;
    }
    return ok;
}

static void check_stall(struct watch *w)
{
    char text[sizeof(w->o->server_shown) + 64];

    if (w->stalled || fleet_mono_ms() - w->last_status_mono < WATCH_STALL_MS)
        return;
    w->stalled = true;
    snprintf(text, sizeof(text), "waiting for fleet-supervisor on %s\u2026", w->o->server_shown);
    note(w, text);
}

static fleet_status subscribe(struct watch *w, natsConnection *nc, natsSubscription **status_sub,
                              natsSubscription **event_sub)
{
    char subject[FLEET_SUBJECT_MAX];

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_STATUS, w->o->prefix, NULL, NULL);
    if (natsConnection_Subscribe(status_sub, nc, subject, inbox_on_status, &w->inbox) != NATS_OK)
        goto out_fail;
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS_ALL, w->o->prefix, NULL, NULL);
    if (natsConnection_Subscribe(event_sub, nc, subject, inbox_on_event, &w->inbox) != NATS_OK) {
        natsSubscription_Destroy(*status_sub);
        *status_sub = NULL;
        goto out_fail;
    }
    return FLEET_OK;

out_fail:
    fprintf(stderr, "fleetctl: cannot subscribe to %s: %s\n", subject, nats_GetLastError(NULL));
    return FLEET_ERR_NATS;
}

/* The main thread's loop; returns an exit code. `waitmask` is the signal
 * mask to wait under (SIGINT/SIGTERM unblocked). */
static int run(struct watch *w, natsConnection *nc, const sigset_t *waitmask)
{
    Fleet__V1__FleetStatus *first = NULL;
    struct pollfd pfd = { .fd = inbox_fd(&w->inbox), .events = POLLIN };

    w->last_status_mono = fleet_mono_ms();
    /* Render from a query first, so the screen is not empty until the next
     * published status; silence here is not an error, just a wait. */
    if (ctl_query_status(nc, w->o, &first) == FLEET_OK && !take_status(w, first))
        return CTL_EXIT_FAIL;
    while (!stop_requested && !w->closed) {
        int64_t left = w->last_status_mono + WATCH_STALL_MS - fleet_mono_ms();
        struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = left % 1000 * 1000000 };
        int r;

        if (w->tty && w->dirty && !draw_screen(w))
            return CTL_EXIT_FAIL;
        if (fflush(stdout) != 0)
            return CTL_EXIT_FAIL;
        r = ppoll(&pfd, 1, w->stalled ? NULL : (left > 0 ? &ts : &(struct timespec){ 0, 0 }), waitmask);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "fleetctl: poll: %s\n", strerror(errno));
            return CTL_EXIT_FAIL;
        }
        if (r > 0 && !drain_inbox(w))
            return CTL_EXIT_FAIL;
        check_stall(w);
    }
    if (w->closed && !stop_requested) {
        fprintf(stderr, "fleetctl: the NATS connection to %s is closed\n", w->o->server_shown);
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

static void watch_fini(struct watch *w)
{
    for (size_t i = 0; i < w->n_events; i++)
        fleet__v1__event__free_unpacked(w->events[(w->next_event + WATCH_EVENTS - 1 - i) % WATCH_EVENTS], NULL);
    fleet__v1__fleet_status__free_unpacked(w->status, NULL);
    inbox_fini(&w->inbox);
}

int ctl_cmd_watch(struct ctl_opts *o, int argc, char **argv)
{
    struct watch w = { .o = o, .tty = !o->json && isatty(STDOUT_FILENO), .color = ctl_use_color() };
    struct ctl_link_cbs link = inbox_link(&w.inbox);
    natsSubscription *status_sub = NULL, *event_sub = NULL;
    natsConnection *nc = NULL;
    sigset_t waitmask;
    int rc = CTL_EXIT_FAIL;

    if (argc > 1) {
        fprintf(stderr, "fleetctl watch: unexpected argument '%s' (watch takes flags only; "
                        "run 'fleetctl --help')\n", argv[1]);
        return CTL_EXIT_USAGE;
    }
    feedseq_init(&w.seq);
    ctl_stop_signals_block(on_stop_signal, &waitmask); /* before nats.c starts a thread */

    if (inbox_init(&w.inbox) != FLEET_OK) {
        fprintf(stderr, "fleetctl: cannot create a pipe: %s\n", strerror(errno));
        return CTL_EXIT_FAIL;
    }
    if (ctl_connect(o, &link, &nc) != FLEET_OK)
        goto out_close;
    if (subscribe(&w, nc, &status_sub, &event_sub) != FLEET_OK)
        goto out_close;
    rc = run(&w, nc, &waitmask);
    if (rc != CTL_EXIT_OK && ferror(stdout))
        fprintf(stderr, "fleetctl: cannot write to stdout\n");

out_close:
    /* Subscriptions first, then the connection and the library: after
     * ctl_conn_close() no callback can touch w.inbox any more. */
    natsSubscription_Destroy(event_sub);
    natsSubscription_Destroy(status_sub);
    ctl_conn_close(nc);
    watch_fini(&w);
    return rc;
}
