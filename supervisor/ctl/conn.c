/* fleetctl's one NATS connection: the stop signals blocked before it, connect, query, close. */
#include <string.h>

#include "ctl.h"
#include "fleet/conn.h"
#include "fleet/subjects.h"

/* How long ctl_conn_close waits for nats.c's threads to end. */
#define CTL_NATS_SHUTDOWN_MS 2000

fleet_status ctl_connect(const struct ctl_opts *o, const struct ctl_link_cbs *link,
                         natsConnection **out)
{
    fleet_conn_opts co = {
        .url = o->server, .creds = o->creds != NULL ? o->creds : "", .name = "fleetctl",
        .timeout_ms = o->timeout_ms,
    };

    if (link != NULL) {
        co.on_disconnected = link->disconnected;
        co.on_reconnected = link->reconnected;
        co.on_closed = link->closed;
        co.ctx = link->arg;
    }
    if (fleet_conn_open(&co, out) != FLEET_OK) {
        fprintf(stderr, "fleetctl: %s\n", fleet_last_error());
        return FLEET_ERR_NATS;
    }
    return FLEET_OK;
}

void ctl_conn_close(natsConnection *nc)
{
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
    nats_CloseAndWait(CTL_NATS_SHUTDOWN_MS);
}

fleet_status ctl_query_status(natsConnection *nc, const struct ctl_opts *o,
                              Fleet__V1__FleetStatus **out)
{
    char subject[FLEET_SUBJECT_MAX];
    natsMsg *reply = NULL;
    Fleet__V1__FleetStatus *st;
    natsStatus s;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_STATUS, o->prefix, NULL, NULL);
    s = natsConnection_Request(&reply, nc, subject, NULL, 0, o->timeout_ms);
    if (s != NATS_OK)
        return FLEET_ERR_NATS;
    st = fleet__v1__fleet_status__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                         (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    if (st == NULL)
        return FLEET_ERR_DECODE;
    *out = st;
    return FLEET_OK;
}

void ctl_explain_no_answer(const struct ctl_opts *o)
{
    char subject[FLEET_SUBJECT_MAX];

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_STATUS, o->prefix, NULL, NULL);
    fprintf(stderr,
            "fleetctl: no supervisor answered on %s within %lld ms: is fleet-supervisor running "
            "and connected to %s?%s\n",
            subject, (long long)o->timeout_ms, o->server_shown,
            strcmp(o->prefix, FLEET_DEFAULT_PREFIX) == 0 ? "" : " (and using the same --prefix?)");
}

void ctl_stop_signals_block(void (*handler)(int), sigset_t *waitmask)
{
    struct sigaction sa = { .sa_handler = handler };
    sigset_t stops;

    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stops, waitmask);
    sigdelset(waitmask, SIGINT);
    sigdelset(waitmask, SIGTERM);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
