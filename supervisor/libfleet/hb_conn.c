/* The heartbeat sender's own NATS connection, for senders not given one. */
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

#include "hb_private.h"
#include "lasterror.h"

#define HB_RECONNECT_WAIT_MS 250
#define HB_RECONNECT_JITTER_MS 100

/* Registering a connected callback is what makes nats.c retry a failed
 * first connect in the background instead of blocking in Connect. */
static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
}

fleet_status hb_conn_open(const char *url, const char *service, const char *instance,
                          natsConnection **out)
{
    natsOptions *nopts = NULL;
    natsConnection *nc = NULL;
    natsStatus ns;
    char name[2 * FLEET_NAME_MAX + 16];

    if (url == NULL)
        url = getenv("NATS_URL");
    if (url == NULL || url[0] == '\0')
        url = HB_DEFAULT_URL;
    snprintf(name, sizeof(name), "fleet-hb/%s/%s", service, instance);

    ns = natsOptions_Create(&nopts);
    if (ns == NATS_OK)
        ns = natsOptions_SetURL(nopts, url);
    if (ns == NATS_OK)
        ns = natsOptions_SetName(nopts, name);
    if (ns == NATS_OK)
        ns = natsOptions_SetMaxReconnect(nopts, -1);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectWait(nopts, HB_RECONNECT_WAIT_MS);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectJitter(nopts, HB_RECONNECT_JITTER_MS, HB_RECONNECT_JITTER_MS);
    if (ns == NATS_OK)
        ns = natsOptions_SetRetryOnFailedConnect(nopts, true, on_connected, NULL);
    if (ns != NATS_OK)
        goto out_free_opts;

    ns = natsConnection_Connect(&nc, nopts);
    if (ns == NATS_NOT_YET_CONNECTED)
        ns = NATS_OK;   /* nats.c keeps trying; publishes buffer meanwhile */

out_free_opts:
    natsOptions_Destroy(nopts);
    if (ns != NATS_OK) {
        const char *detail = nats_GetLastError(NULL);

        return fleet_fail(FLEET_ERR_NATS, "NATS connection to %s: %s%s%s", url,
                          natsStatus_GetText(ns), detail != NULL ? ": " : "",
                          detail != NULL ? detail : "");
    }
    *out = nc;
    return FLEET_OK;
}
