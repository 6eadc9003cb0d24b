/* fleetctl's one NATS connection: connect, query, close. */
#include <string.h>

#include "ctl.h"

/* How long ctl_conn_close waits for nats.c's threads to end. */
#define CTL_NATS_SHUTDOWN_MS 2000

static fleet_status connect_failed(const struct ctl_opts *o, const char *what, natsStatus s)
{
    fprintf(stderr, "fleetctl: cannot connect to %s: %s%s%s\n", o->server, what,
            what[0] != '\0' ? ": " : "", natsStatus_GetText(s));
    if (s == NATS_NO_SERVER || s == NATS_TIMEOUT)
        fprintf(stderr, "fleetctl: is nats-server running there? Point at it with --server URL or NATS_URL.\n");
    return FLEET_ERR_NATS;
}

fleet_status ctl_connect(const struct ctl_opts *o, const struct ctl_link_cbs *link,
                         natsConnection **out)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsStatus s;
    fleet_status ret;

    s = natsOptions_Create(&opts);
    if (s != NATS_OK)
        return connect_failed(o, "", s);
    s = natsOptions_SetURL(opts, o->server);
    if (s != NATS_OK) {
        ret = connect_failed(o, "bad URL", s);
        goto out_free_opts;
    }
    if (o->creds != NULL) {
        s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds, NULL);
        if (s != NATS_OK) {
            ret = connect_failed(o, o->creds, s);
            goto out_free_opts;
        }
    }
    s = natsOptions_SetName(opts, "fleetctl");
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, o->timeout_ms);
    if (s == NATS_OK && link != NULL) {
        s = natsOptions_SetMaxReconnect(opts, -1);
        if (s == NATS_OK)
            s = natsOptions_SetDisconnectedCB(opts, link->disconnected, link->arg);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectedCB(opts, link->reconnected, link->arg);
        if (s == NATS_OK)
            s = natsOptions_SetClosedCB(opts, link->closed, link->arg);
    }
    if (s != NATS_OK) {
        ret = connect_failed(o, "", s);
        goto out_free_opts;
    }
    s = natsConnection_Connect(&nc, opts);
    if (s != NATS_OK) {
        ret = connect_failed(o, "", s);
        goto out_free_opts;
    }
    *out = nc;
    ret = FLEET_OK;

out_free_opts:
    natsOptions_Destroy(opts);
    return ret;
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
    char subject[CTL_SUBJECT_MAX];
    natsMsg *reply = NULL;
    Fleet__V1__FleetStatus *st;
    natsStatus s;

    ctl_subject(o, "query.status", subject, sizeof(subject));
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
    char subject[CTL_SUBJECT_MAX];

    ctl_subject(o, "query.status", subject, sizeof(subject));
    fprintf(stderr,
            "fleetctl: no supervisor answered on %s within %lld ms: is fleet-supervisor running "
            "and connected to %s?%s\n",
            subject, (long long)o->timeout_ms, o->server,
            strcmp(o->prefix, CTL_DEFAULT_PREFIX) == 0 ? "" : " (and using the same --prefix?)");
}
