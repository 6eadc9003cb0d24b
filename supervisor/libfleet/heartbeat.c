/* The heartbeat sender: one instance's state behind one mutex, published on
 * demand and, in autonomous mode, by a cadence thread. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <sodium.h>

#include "fleet/conn.h"
#include "fleet/subjects.h"
#include "hb_private.h"
#include "lasterror.h"
#include "fleet/clock.h"

#define HB_FLUSH_ON_DESTROY_MS 1000

struct fleet_hb {
    pthread_mutex_t lock;       /* guards everything below except the constants */
    pthread_cond_t wake;        /* CLOCK_MONOTONIC; signalled to stop the thread */
    pthread_t cadence;
    bool cadence_running;       /* set before the thread starts, read by destroy */
    bool stopping;
    int64_t next_due_ms;        /* monotonic time of the next cadence send */

    natsConnection *conn;
    bool owns_conn;

    /* constants after create */
    char subject[FLEET_SUBJECT_MAX];
    char prefix[FLEET_PREFIX_MAX + 1];
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    uint32_t interval_ms;

    char version[FLEET_HB_VERSION_MAX + 1];
    char host[FLEET_HB_HOST_MAX + 1];
    uint32_t pid;
    uint64_t incarnation;
    fleet_incarnation_key *ikey;/* this life's key; NULL for a fixed (unproven) incarnation */
    uint8_t mac[FLEET_PROOF_ENTRIES_MAX][FLEET_PROOF_TAG_BYTES]; /* per trusted key, this life */
    uint8_t trusted[FLEET_PROOF_ENTRIES_MAX][FLEET_PUBLIC_KEY_BYTES]; /* constants after create */
    size_t n_trusted;
    uint64_t seq;               /* of the last heartbeat; 0 before the first */
    uint64_t fence_epoch;
    uint64_t term_seen;
    fleet_serving_state state;
    struct hb_check *checks;    /* n_checks entries, realloc'd one at a time */
    size_t n_checks;
    bool has_exit;
    int32_t exit_code, exit_signal;
    int64_t exit_at_unix_ms;

    bool paused;                /* nothing is sent while set (fleet_hb_set_paused) */

    uint8_t *wire;              /* reused encode buffer */
    size_t wire_cap;
    fleet_hb_counters counters;
};

/* Encodes and publishes the next heartbeat. Caller holds hb->lock, so seq
 * order is wire order. A refused publish still uses up its seq: the receiver
 * sees the gap a lost heartbeat would leave. */
static fleet_status send_locked(fleet_hb *hb)
{
    char server[FLEET_SERVER_ID_MAX + 1];
    struct hb_snapshot snap = {
        .service = hb->service, .instance = hb->instance,
        .version = hb->version, .host = hb->host,
        .incarnation = hb->incarnation, .seq = hb->seq + 1,
        .fence_epoch = hb->fence_epoch, .term_seen = hb->term_seen,
        .sent_unix_ms = fleet_unix_ms(), .interval_ms = hb->interval_ms, .pid = hb->pid,
        .state = hb->state, .checks = hb->checks, .n_checks = hb->n_checks,
        .has_exit = hb->has_exit, .exit_code = hb->exit_code,
        .exit_signal = hb->exit_signal, .exit_at_unix_ms = hb->exit_at_unix_ms,
        .nats_server = server,
        .key = hb->ikey != NULL ? fleet_incarnation_key_public(hb->ikey) : NULL,
        .mac = (const uint8_t (*)[FLEET_PROOF_TAG_BYTES])hb->mac,
        .ids = (const uint8_t (*)[FLEET_PUBLIC_KEY_BYTES])hb->trusted,
        .n_proofs = hb->ikey != NULL ? hb->n_trusted : 0,
    };
    fleet_status s;
    natsStatus ns;
    size_t len;

    hb->next_due_ms = fleet_mono_ms() + hb->interval_ms;
    if (hb->paused)
        return FLEET_OK;        /* silence is the message */
    /* Which server carries it, so the supervisor can tell a dead server
     * from dead instances (read per send: the connection may be shared). */
    fleet_conn_server_id(hb->conn, server, sizeof(server));
    s = hb_wire_pack(&snap, &hb->wire, &hb->wire_cap, &len);
    if (s != FLEET_OK) {
        hb->counters.failed++;
        return s;
    }
    hb->seq++;
    ns = natsConnection_Publish(hb->conn, hb->subject, hb->wire, (int)len);
    if (ns != NATS_OK) {
        hb->counters.failed++;
        return fleet_fail(FLEET_ERR_NATS, "publish on %s: %s", hb->subject, natsStatus_GetText(ns));
    }
    hb->counters.sent++;
    return FLEET_OK;
}

static void *cadence_main(void *arg)
{
    fleet_hb *hb = arg;

    pthread_mutex_lock(&hb->lock);
    while (!hb->stopping) {
        struct timespec deadline;

        if (fleet_mono_ms() >= hb->next_due_ms) {
            (void)send_locked(hb);      /* counted; the next tick tries again */
            continue;
        }
        deadline.tv_sec = hb->next_due_ms / 1000;
        deadline.tv_nsec = (long)(hb->next_due_ms % 1000) * 1000000L;
        (void)pthread_cond_timedwait(&hb->wake, &hb->lock, &deadline);
    }
    pthread_mutex_unlock(&hb->lock);
    return NULL;
}

/* Starts the cadence thread with every signal blocked, so the application's
 * handlers never run on a thread it did not create. */
static fleet_status start_cadence(fleet_hb *hb)
{
    sigset_t all, old;
    int err;

    hb->next_due_ms = fleet_mono_ms();    /* first heartbeat at once */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&hb->cadence, NULL, cadence_main, hb);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "cannot start the heartbeat thread: %s", strerror(err));
    hb->cadence_running = true;
    return FLEET_OK;
}

static fleet_status init_sync(fleet_hb *hb)
{
    pthread_condattr_t attr;
    int err;

    err = pthread_mutex_init(&hb->lock, NULL);
    if (err != 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "pthread_mutex_init: %s", strerror(err));
    err = pthread_condattr_init(&attr);
    if (err == 0) {
        err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (err == 0)
            err = pthread_cond_init(&hb->wake, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (err != 0) {
        pthread_mutex_destroy(&hb->lock);
        return fleet_fail(FLEET_ERR_SYSTEM, "pthread_cond_init: %s", strerror(err));
    }
    return FLEET_OK;
}

/* A new life's key and its MAC key with each trusted supervisor, into
 * *key and mac[] (written only on FLEET_OK; the caller wipes mac[] of a
 * life it drops). */
static fleet_status new_life_key(const uint8_t (*trusted)[FLEET_PUBLIC_KEY_BYTES], size_t n,
                                 fleet_incarnation_key **key, uint8_t (*mac)[FLEET_PROOF_TAG_BYTES])
{
    uint8_t macs[FLEET_PROOF_ENTRIES_MAX][FLEET_PROOF_TAG_BYTES];
    fleet_incarnation_key *k = NULL;
    fleet_status s = fleet_incarnation_key_generate(&k);

    for (size_t i = 0; i < n && s == FLEET_OK; i++)
        s = fleet_proof_key_instance(k, trusted[i], macs[i]);
    if (s != FLEET_OK) {
        fleet_incarnation_key_destroy(k);   /* NULL when generation failed */
        sodium_memzero(macs, sizeof(macs));
        return s;
    }
    memcpy(mac, macs, n * sizeof(macs[0]));
    sodium_memzero(macs, sizeof(macs));
    *key = k;
    return FLEET_OK;
}

fleet_status fleet_hb_create(const fleet_hb_opts *opts, fleet_hb **out)
{
    fleet_hb_opts trust = { 0 };
    fleet_hb *hb;
    fleet_status s;

    if (opts == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_create: opts and out are required");
    if (opts->service[0] == '\0')
        return fleet_fail(FLEET_ERR_INVALID_ARG, "heartbeat needs a service name: call fleet_hb_opts_set_service");
    if (opts->instance[0] == '\0')
        return fleet_fail(FLEET_ERR_INVALID_ARG, "heartbeat needs an instance name: call fleet_hb_opts_set_instance");

    hb = calloc(1, sizeof(*hb));
    if (hb == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory creating a heartbeat sender");
    (void)fleet_subject(hb->subject, sizeof(hb->subject), FLEET_SUBJECT_HB, opts->prefix, opts->service,
                        opts->instance); /* fits: prefix and names were checked by the setters */
    memcpy(hb->prefix, opts->prefix, sizeof(hb->prefix));
    memcpy(hb->service, opts->service, sizeof(hb->service));
    memcpy(hb->instance, opts->instance, sizeof(hb->instance));
    memcpy(hb->version, opts->version, sizeof(hb->version));
    memcpy(hb->host, opts->host, sizeof(hb->host));
    hb->interval_ms = opts->interval_ms;
    hb->pid = opts->pid;
    hb->state = FLEET_STATE_STARTING;
    memcpy(trust.trusted, opts->trusted, sizeof(trust.trusted));
    trust.n_trusted = opts->n_trusted;
    s = hb_opts_trusted_from_env(&trust);
    if (s != FLEET_OK)
        goto out_free_hb;
    memcpy(hb->trusted, trust.trusted, sizeof(hb->trusted));
    hb->n_trusted = trust.n_trusted;
    hb->incarnation = opts->incarnation;
    if (hb->incarnation == 0) {
        s = new_life_key((const uint8_t (*)[FLEET_PUBLIC_KEY_BYTES])hb->trusted, hb->n_trusted,
                         &hb->ikey, hb->mac);
        if (s != FLEET_OK)
            goto out_free_hb;
        hb->incarnation = fleet_incarnation_key_incarnation(hb->ikey);
    }
    s = init_sync(hb);
    if (s != FLEET_OK)
        goto out_free_hb;

    if (opts->conn != NULL) {
        hb->conn = opts->conn;
    } else {
        s = hb_conn_open(opts->url, opts->creds, hb->service, hb->instance, &hb->conn);
        if (s != FLEET_OK)
            goto out_destroy_sync;
        hb->owns_conn = true;
    }
    if (opts->autonomous) {
        s = start_cadence(hb);
        if (s != FLEET_OK)
            goto out_close_conn;
    }
    *out = hb;
    return FLEET_OK;

out_close_conn:
    if (hb->owns_conn)
        natsConnection_Destroy(hb->conn);
out_destroy_sync:
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
out_free_hb:
    fleet_incarnation_key_destroy(hb->ikey);
    sodium_memzero(hb->mac, sizeof(hb->mac));
    free(hb);
    return s;
}

void fleet_hb_destroy(fleet_hb *hb)
{
    if (hb == NULL)
        return;
    if (hb->cadence_running) {
        pthread_mutex_lock(&hb->lock);
        hb->stopping = true;
        pthread_cond_signal(&hb->wake);
        pthread_mutex_unlock(&hb->lock);
        pthread_join(hb->cadence, NULL);
    }
    if (hb->owns_conn) {
        (void)natsConnection_FlushTimeout(hb->conn, HB_FLUSH_ON_DESTROY_MS);
        natsConnection_Destroy(hb->conn);
    }
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
    free(hb->checks);
    free(hb->wire);
    fleet_incarnation_key_destroy(hb->ikey);
    sodium_memzero(hb->mac, sizeof(hb->mac));
    free(hb);
}

fleet_status fleet_hb_send(fleet_hb *hb)
{
    fleet_status s;

    if (hb == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_send: hb is NULL");
    pthread_mutex_lock(&hb->lock);
    s = send_locked(hb);
    pthread_mutex_unlock(&hb->lock);
    return s;
}

fleet_status fleet_hb_set_paused(fleet_hb *hb, bool paused)
{
    fleet_status s = FLEET_OK;

    if (hb == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_set_paused: hb is NULL");
    pthread_mutex_lock(&hb->lock);
    if (hb->paused != paused) {
        hb->paused = paused;
        if (!paused)
            s = send_locked(hb);    /* back at once, with whatever changed meanwhile */
    }
    pthread_mutex_unlock(&hb->lock);
    return s;
}

fleet_status fleet_hb_set_state(fleet_hb *hb, fleet_serving_state state)
{
    if (hb == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_set_state: hb is NULL");
    if (state < FLEET_STATE_STARTING || state > FLEET_STATE_EXITED)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "serving state %d is not one of FLEET_STATE_STARTING..EXITED",
                          (int)state);
    pthread_mutex_lock(&hb->lock);
    if (hb->state != state) {
        hb->state = state;
        (void)send_locked(hb);          /* counted on failure */
    }
    pthread_mutex_unlock(&hb->lock);
    return FLEET_OK;
}

static struct hb_check *find_check(fleet_hb *hb, const char *name)
{
    for (size_t i = 0; i < hb->n_checks; i++)
        if (strcmp(hb->checks[i].name, name) == 0)
            return &hb->checks[i];
    return NULL;
}

/* Appends an empty check named `name`. Caller holds hb->lock. */
static fleet_status add_check_locked(fleet_hb *hb, const char *name, struct hb_check **out)
{
    struct hb_check *grown;

    if (hb->n_checks == FLEET_HB_CHECKS_MAX)
        return fleet_fail(FLEET_ERR_TOO_LARGE, "check \"%s\" would be more than %d checks",
                          name, FLEET_HB_CHECKS_MAX);
    grown = realloc(hb->checks, (hb->n_checks + 1) * sizeof(*grown));
    if (grown == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory adding check \"%s\"", name);
    hb->checks = grown;
    *out = &grown[hb->n_checks++];
    memset(*out, 0, sizeof(**out));
    strcpy((*out)->name, name);
    return FLEET_OK;
}

fleet_status fleet_hb_set_check(fleet_hb *hb, const char *name, bool ok, const char *detail)
{
    struct hb_check *check;
    fleet_status s;
    bool changed;

    if (hb == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_set_check: hb is NULL");
    s = fleet_name_check("check", name);
    if (s != FLEET_OK)
        return s;
    pthread_mutex_lock(&hb->lock);
    check = find_check(hb, name);
    changed = check == NULL || check->ok != ok;
    if (check == NULL) {
        s = add_check_locked(hb, name, &check);
        if (s != FLEET_OK)
            goto out_unlock;
    }
    check->ok = ok;
    snprintf(check->detail, sizeof(check->detail), "%s", detail != NULL ? detail : "");
    if (changed)
        (void)send_locked(hb);          /* counted on failure */
out_unlock:
    pthread_mutex_unlock(&hb->lock);
    return s;
}

fleet_status fleet_hb_set_exit(fleet_hb *hb, int32_t code, int32_t signal, int64_t at_unix_ms)
{
    if (hb == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_set_exit: hb is NULL");
    pthread_mutex_lock(&hb->lock);
    hb->state = FLEET_STATE_EXITED;
    hb->has_exit = true;
    hb->exit_code = code;
    hb->exit_signal = signal;
    hb->exit_at_unix_ms = at_unix_ms;
    (void)send_locked(hb);              /* counted on failure */
    pthread_mutex_unlock(&hb->lock);
    return FLEET_OK;
}

void fleet_hb_clear_exit(fleet_hb *hb)
{
    pthread_mutex_lock(&hb->lock);
    hb->has_exit = false;
    pthread_mutex_unlock(&hb->lock);
}

void fleet_hb_set_fence_epoch(fleet_hb *hb, uint64_t epoch)
{
    pthread_mutex_lock(&hb->lock);
    if (epoch > hb->fence_epoch)
        hb->fence_epoch = epoch;
    pthread_mutex_unlock(&hb->lock);
}

void fleet_hb_set_term_seen(fleet_hb *hb, uint64_t term)
{
    pthread_mutex_lock(&hb->lock);
    if (term > hb->term_seen)
        hb->term_seen = term;
    pthread_mutex_unlock(&hb->lock);
}

fleet_status fleet_hb_set_version(fleet_hb *hb, const char *version)
{
    if (hb == NULL || version == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_set_version: hb and version are required");
    if (!hb_text_ok(version, FLEET_HB_VERSION_MAX))
        return fleet_fail(FLEET_ERR_INVALID_ARG, "version must be at most %d bytes without control characters",
                          FLEET_HB_VERSION_MAX);
    pthread_mutex_lock(&hb->lock);
    strcpy(hb->version, version);
    pthread_mutex_unlock(&hb->lock);
    return FLEET_OK;
}

void fleet_hb_set_pid(fleet_hb *hb, uint32_t pid)
{
    pthread_mutex_lock(&hb->lock);
    hb->pid = pid;
    pthread_mutex_unlock(&hb->lock);
}

fleet_status fleet_hb_new_incarnation(fleet_hb *hb)
{
    uint8_t mac[FLEET_PROOF_ENTRIES_MAX][FLEET_PROOF_TAG_BYTES];
    fleet_incarnation_key *key = NULL, *old;
    uint64_t incarnation;
    fleet_status s;

    if (hb == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_new_incarnation: hb is NULL");
    /* The key agreement (tens of microseconds) runs outside the lock. A
     * sender made with a fixed incarnation stays unproven: random lives. */
    pthread_mutex_lock(&hb->lock);
    old = hb->ikey;
    pthread_mutex_unlock(&hb->lock);
    if (old != NULL) {
        s = new_life_key((const uint8_t (*)[FLEET_PUBLIC_KEY_BYTES])hb->trusted, hb->n_trusted, &key, mac);
        if (s != FLEET_OK)
            return s;
        incarnation = fleet_incarnation_key_incarnation(key);
    } else {
        s = hb_random_nonzero(&incarnation);
        if (s != FLEET_OK)
            return s;
    }
    pthread_mutex_lock(&hb->lock);
    old = hb->ikey;
    if (key != NULL) {
        hb->ikey = key;
        memcpy(hb->mac, mac, sizeof(mac));
    }
    hb->incarnation = incarnation;
    hb->seq = 0;
    hb->state = FLEET_STATE_STARTING;
    hb->has_exit = false;
    hb->n_checks = 0;
    pthread_mutex_unlock(&hb->lock);
    if (key != NULL)
        fleet_incarnation_key_destroy(old);
    sodium_memzero(mac, sizeof(mac));
    return FLEET_OK;
}

uint64_t fleet_hb_incarnation(fleet_hb *hb)
{
    uint64_t incarnation;

    pthread_mutex_lock(&hb->lock);
    incarnation = hb->incarnation;
    pthread_mutex_unlock(&hb->lock);
    return incarnation;
}

fleet_status fleet_hb_stats(fleet_hb *hb, fleet_hb_counters *out)
{
    if (hb == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_stats: hb and out are required");
    pthread_mutex_lock(&hb->lock);
    *out = hb->counters;
    pthread_mutex_unlock(&hb->lock);
    return FLEET_OK;
}

/* Private accessors for the rest of libfleet (hb_private.h). The fields they
 * read are constants after create, so no lock is taken. */
natsConnection *hb_connection(const fleet_hb *hb)
{
    return hb->conn;
}

const char *hb_prefix(const fleet_hb *hb)
{
    return hb->prefix;
}

const char *hb_service(const fleet_hb *hb)
{
    return hb->service;
}

const char *hb_instance(const fleet_hb *hb)
{
    return hb->instance;
}

uint64_t hb_fence_epoch(fleet_hb *hb)
{
    uint64_t epoch;

    pthread_mutex_lock(&hb->lock);
    epoch = hb->fence_epoch;
    pthread_mutex_unlock(&hb->lock);
    return epoch;
}
