/* fleet-agent: runs one service as its child, heartbeats for it, obeys
 * signed control (DESIGN.md §2, §6, §7). Private header, grouped by file.
 *
 * Threads: the main thread owns the child and every decision (run.c), in
 * one poll loop (main.c) over a signalfd, the mailbox's eventfd and the
 * exec check's pipe. nats.c callbacks (obey handlers, the status
 * subscription) and the HTTP check thread only hand data over through the
 * mailbox or the presence clock, and return. */
#ifndef AGENT_H
#define AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fleet/clock.h"
#include "fleet/control.h"
#include "fleet/heartbeat.h"
#include "fleet/obey.h"

#define AGENT_CHECK_DETAIL_MAX 255

/* ---- opts.c ------------------------------------------------------------ */

struct agent_opts {
    const char *url;             /* NULL: $NATS_URL, else FLEET_DEFAULT_URL (fleet/conn.h) */
    const char *creds;           /* NULL: $NATS_CREDS */
    const char *service, *instance, *version, *prefix;
    char **trusted;              /* malloc'd public keys, n_trusted >= 1 */
    size_t n_trusted;
    uint32_t interval_ms;
    const char *http_check;      /* NULL: none */
    const char *exec_check;      /* NULL: none */
    uint32_t check_period_ms;    /* also each check's timeout */
    uint32_t grace_ms;           /* SIGTERM .. SIGKILL */
    int drain_signal;
    uint32_t supervisor_timeout_ms;
    char *path;                  /* malloc'd: the command resolved against $PATH */
    char **argv;                 /* the command and its arguments (main's argv) */
};

/* Fills `o` from the command line and environment. Returns 0; -1 after
 * printing the usage for --help (exit 0); 2 after printing why the usage is
 * wrong (exit 2); 1 when out of memory. Free with agent_opts_fini (also after a failure). */
int agent_opts_parse(int argc, char **argv, struct agent_opts *o);
void agent_opts_fini(struct agent_opts *o);

/* ---- log.c: one JSON object per line on stdout ------------------------ */

enum agent_level { AGENT_DEBUG, AGENT_INFO, AGENT_WARN, AGENT_ERROR };

/* Writes {"ts","level","msg", ...fields}. `fields` (may be NULL) is stolen.
 * Any thread; one line per call, never interleaved. */
void agent_log(enum agent_level lvl, const char *msg, json_t *fields);

/* ---- child.c: processes ------------------------------------------------ */

/* Starts `path` with `argv` as the leader of a new process group (pgid =
 * pid), with every signal at its default disposition, an empty signal mask,
 * no descriptor of ours beyond 0-2 and SIGKILL on the agent's death. `in`,
 * `out`, `err` replace fds 0-2 when >= 0. Returns 0 and *pid, or an errno
 * (exec failures included: the failed child is already reaped). Call from
 * the main thread only (PR_SET_PDEATHSIG follows the forking thread). */
int child_spawn(const char *path, char *const argv[], int in, int out, int err, pid_t *pid);

/* Sends `sig` to the whole group `pgid`; ESRCH (group gone) is success.
 * Returns 0 or an errno. */
int child_signal_group(pid_t pgid, int sig);

/* Sends `sig` to every descendant of the agent (children, their children,
 * and orphans re-parented to it as subreaper: what a service that forks and
 * setsid()s leaves outside its process group), except the processes in
 * keep[0..n_keep) and their subtrees; *signalled (may be NULL) counts them.
 * Reads /proc: the kernel's children lists of our own descendants (a scan
 * of every process only where the kernel keeps none). Returns 0 or an errno. */
int child_signal_tree(int sig, const pid_t *keep, size_t n_keep, size_t *signalled);

/* Reaps every exited child without blocking, and reports children that
 * stopped or continued: for each, calls reaped(ctx, pid, wait status), where
 * WIFSTOPPED/WIFCONTINUED statuses are reports about a live child, not a
 * reaping. */
void child_reap_all(void (*reaped)(void *ctx, pid_t pid, int status), void *ctx);

/* Exit code a shell would give: the code, or 128 + signal. */
int child_exit_code(int status);

/* ---- mailbox.c: callbacks -> main loop --------------------------------- */

struct agent_command {
    fleet_action action;
    uint64_t fence_epoch;
    uint64_t seq;
};

struct check_result {
    uint64_t gen;                /* the child life it was run for */
    bool ok;
    char detail[AGENT_CHECK_DETAIL_MAX + 1];
};

struct mailbox;

/* Creates the mailbox: a locked queue plus an eventfd (EFD_CLOEXEC |
 * EFD_NONBLOCK) that is readable while something waits. Returns 0 or an
 * errno. Destroy with mailbox_destroy (NULL no-op). */
int mailbox_create(struct mailbox **out);
void mailbox_destroy(struct mailbox *mb);
int mailbox_fd(const struct mailbox *mb);

/* fleet_obey handlers whose ctx is the mailbox: they queue the command and
 * return FLEET_OK ("will act"), or refuse a RESTART while fenced and any
 * command when the queue is full. */
fleet_obey_handlers mailbox_obey_handlers(struct mailbox *mb);

/* The HTTP check thread's latest result (a newer one replaces an unread one). */
void mailbox_post_http(struct mailbox *mb, const struct check_result *r);

/* Main loop: clears the eventfd, then takes queued commands one by one
 * (true while one was taken) and the latest HTTP result (true if any). */
void mailbox_drain_fd(struct mailbox *mb);
bool mailbox_take_command(struct mailbox *mb, struct agent_command *out);
bool mailbox_take_http(struct mailbox *mb, struct check_result *out);

/* ---- curlapi.c: libcurl, loaded for an HTTP check only ----------------- */

struct curl_api {
    void *lib;                   /* NULL: not loaded */
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *curl);
    void (*easy_reset)(CURL *curl);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
};

/* Loads libcurl and runs curl_global_init (main thread, before any other
 * thread uses it). Returns 0 and fills *api, or -1 with why in err (*api
 * untouched). Undo with curl_api_unload (a zeroed api: no-op). */
int curl_api_load(struct curl_api *api, char *err, size_t errlen);
void curl_api_unload(struct curl_api *api);

/* ---- checks.c ---------------------------------------------------------- */

/* HTTP check: a thread that GETs `url` every `period_ms` (timeout the same)
 * while a child life is set, and posts each result, through `curl` (loaded;
 * it must outlive the check). */
struct http_check;
int http_check_start(const struct curl_api *curl, const char *url, uint32_t period_ms, struct mailbox *mb,
                     struct http_check **out);
/* Which child life to check (0: none, the thread idles). */
void http_check_set_gen(struct http_check *hc, uint64_t gen);
void http_check_stop(struct http_check *hc);    /* joins; NULL no-op */

/* Exec check: "/bin/sh -c CMD" driven by the main loop (it is our child, so
 * the main loop's reaper must see it). */
struct exec_check {
    const char *cmd;             /* NULL: not configured */
    uint32_t period_ms;
    pid_t pid;                   /* running check, else 0 */
    int fd;                      /* its stderr, O_NONBLOCK | O_CLOEXEC, else -1 */
    uint64_t gen;                /* child life it runs for */
    int64_t next_due_ms;         /* monotonic; 0: not scheduled */
    int64_t deadline_ms;         /* running: kill at */
    bool timed_out;
    char err[AGENT_CHECK_DETAIL_MAX + 1];
    size_t err_len;
};

void exec_check_init(struct exec_check *ec, const char *cmd, uint32_t period_ms);
/* Starts the check now for life `gen`. Returns 0 or an errno. */
int exec_check_run(struct exec_check *ec, uint64_t gen, int64_t now_ms);
/* The pipe is readable: keeps the first line, drops the rest. */
void exec_check_read(struct exec_check *ec);
/* Past its deadline: SIGKILL to its group; the reaper finishes it. */
void exec_check_expire(struct exec_check *ec, int64_t now_ms);
/* The reaper saw its pid: fills *out, closes the pipe, schedules the next. */
void exec_check_finish(struct exec_check *ec, int status, int64_t now_ms, struct check_result *out);
/* Kills a running check and closes its pipe (shutdown). */
void exec_check_fini(struct exec_check *ec);

/* ---- localrestart.c ---------------------------------------------------- */

/* When a FleetStatus was last seen (monotonic ms; PRESENCE_NEVER: none
 * since the agent started), written by the status subscription's callback,
 * read by the main loop. */
#define PRESENCE_NEVER INT64_MIN

struct presence {
    pthread_mutex_t lock;
    int64_t last_ms;
};

void presence_init(struct presence *p);
void presence_fini(struct presence *p);
void presence_seen(struct presence *p, int64_t now_ms);
int64_t presence_last(struct presence *p);
/* From when (monotonic ms) the supervisor counts as absent: the last
 * FleetStatus + `timeout_ms`, or INT64_MIN when none was ever heard. */
int64_t presence_absent_at(struct presence *p, int64_t timeout_ms);

/* Local restart spacing (localrestart.c): the first death of a series at
 * once, then 1 s, 2 s, 4 s ... 60 s, ±20 % jitter; a life of 1 s or more
 * ends the series. */
struct backoff {
    unsigned deaths;             /* deaths in the current series */
};

/* A child that lived `lived_ms` died: the delay before the next local
 * start (0: at once). */
int64_t backoff_next_ms(struct backoff *b, int64_t lived_ms);

/* ---- memtrim.c ---------------------------------------------------------- */

/* Unmaps every page of a private read-only file mapping that is still the
 * file's own contents (library code and data touched at start-up: they map
 * again from the page cache when used), and returns free heap pages.
 * Returns the KiB unmapped. Call once set-up is done. */
size_t memtrim_startup_pages(void);

/* ---- run.c: the state machine (main thread only) ---------------------- */

enum agent_phase {
    PHASE_DOWN,                  /* no child */
    PHASE_RUNNING,
    PHASE_STOPPING,              /* signalled; SIGKILL at kill_at_ms */
};

enum agent_after {               /* what a STOPPING child's exit leads to */
    AFTER_START,                 /* RESTART / UNFENCE */
    AFTER_STAY,                  /* FENCE */
    AFTER_EXIT,                  /* the agent was told to stop */
};

struct agent {
    const struct agent_opts *opts;
    fleet_hb *hb;                /* created by main once the first child runs */
    struct mailbox *mb;
    struct http_check *http;     /* NULL without --http-check */
    struct exec_check exec;
    struct presence *presence;
    struct backoff backoff;

    enum agent_phase phase;
    enum agent_after after;
    pid_t pid;                   /* child (its pgid too) while RUNNING/STOPPING */
    uint64_t gen;                /* +1 per child start */
    int64_t started_ms;
    int64_t kill_at_ms;          /* STOPPING; INT64_MAX once SIGKILL went */
    int64_t restart_at_ms;       /* DOWN after a death: earliest local restart; 0 none */
    bool fenced, draining, shutting_down;
    bool stopped;                /* the child is stopped (SIGSTOP/SIGTSTP): heartbeats paused */
    bool http_ok, exec_ok, http_passed, exec_passed;
    bool has_status;
    int last_status;             /* wait status of the last child */
    bool done;                   /* the loop should end; exit_code is set */
    int exit_code;
};

void agent_init(struct agent *a, const struct agent_opts *opts, struct mailbox *mb, struct presence *presence);
/* Starts the first child before the sender exists (so its first heartbeat
 * carries the child's pid). Returns 0 or an errno. */
int agent_first_start(struct agent *a, int64_t now_ms);
/* After the sender exists: reports the first child's state. */
void agent_attach(struct agent *a, fleet_hb *hb, struct http_check *http, int64_t now_ms);

void agent_on_signal(struct agent *a, int sig, int64_t now_ms);
void agent_on_command(struct agent *a, const struct agent_command *c, int64_t now_ms);
void agent_on_http(struct agent *a, const struct check_result *r);
void agent_on_exec_readable(struct agent *a);
/* Runs due timers; returns the next deadline (monotonic ms, INT64_MAX none). */
int64_t agent_on_tick(struct agent *a, int64_t now_ms);

#endif
