#include "feedquery.h"

#include <string.h>

#include "fleet/subjects.h"

Fleet__V1__FleetStatus *feedquery_status(natsConnection *nc, int timeout_ms)
{
    char subject[FLEET_SUBJECT_MAX];
    Fleet__V1__FleetStatus *fs;
    natsMsg *reply = NULL;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_STATUS, FLEET_DEFAULT_PREFIX, NULL, NULL);
    if (natsConnection_Request(&reply, nc, subject, NULL, 0, timeout_ms) != NATS_OK)
        return NULL;
    fs = fleet__v1__fleet_status__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                         (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    return fs;
}

Fleet__V1__ServiceStatus *feedquery_service(natsConnection *nc, const char *name, int timeout_ms)
{
    char subject[FLEET_SUBJECT_MAX];
    Fleet__V1__ServiceStatus *st;
    natsMsg *reply = NULL;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_SERVICE, FLEET_DEFAULT_PREFIX, NULL, NULL);
    if (natsConnection_Request(&reply, nc, subject, name, (int)strlen(name), timeout_ms) != NATS_OK)
        return NULL;
    st = fleet__v1__service_status__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                           (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    return st;
}
