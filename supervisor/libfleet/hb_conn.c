/* The heartbeat sender's own NATS connection, for senders not given one:
 * fleet/conn.h's recipe, named after the instance. */
#include <stdio.h>

#include "fleet/conn.h"
#include "hb_private.h"

fleet_status hb_conn_open(const char *url, const char *creds, const char *service, const char *instance,
                          natsConnection **out)
{
    char name[2 * FLEET_NAME_MAX + 16];
    fleet_conn_opts co = {
        .url = url, .creds = creds, .name = name, .retry_first_connect = true,
    };

    snprintf(name, sizeof(name), "fleet-hb/%s/%s", service, instance);
    return fleet_conn_open(&co, out);
}
