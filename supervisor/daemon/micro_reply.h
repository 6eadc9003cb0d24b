/* One answer to a NATS micro ping ($SRV.PING.<name>), judged.
 *
 * A micro service (nats.go, nats.py, nats.js `micro`) answers a ping with
 *   {"type":"io.nats.micro.v1.ping_response","name":"web","id":"<nuid>",
 *    "version":"1.2.3","metadata":{...}}
 * (nats-io/jsm.go schemas/micro/v1/ping_response.json). Every replying
 * instance answers, so one ping has many answers; anyone allowed to
 * subscribe to the ping subject can answer too, which is why every answer
 * is judged here before it becomes a liveness fact: a refusal is a reason,
 * counted by the caller, and nothing refused goes further.
 *
 * Pure: jansson only, no NATS, no clock; thread-safe (no shared state). */
#ifndef FLEET_MICRO_REPLY_H
#define FLEET_MICRO_REPLY_H

#include <stddef.h>

#include "fleet/names.h"

/* The micro protocol's ping response type. */
#define MICRO_PING_RESPONSE_TYPE "io.nats.micro.v1.ping_response"
/* Longest answer read; a longer one is refused unparsed (a ping response
 * with a little metadata is a few hundred bytes). */
#define MICRO_REPLY_MAX 4096

enum micro_refusal {
    MICRO_OK,
    MICRO_REFUSE_SIZE,     /* longer than MICRO_REPLY_MAX, or empty */
    MICRO_REFUSE_JSON,     /* not a JSON object */
    MICRO_REFUSE_TYPE,     /* "type" missing or not MICRO_PING_RESPONSE_TYPE */
    MICRO_REFUSE_NAME,     /* "name" missing or not the service pinged */
    MICRO_REFUSE_ID,       /* "id" missing or not a valid instance name ([A-Za-z0-9_-], 1-64) */
    MICRO_REFUSE_VERSION,  /* "version" not a string, over FLEET_VERSION_MAX bytes or not printable */
    MICRO_REFUSE_SERVICE,  /* the answer's subject names no service probed (micro_probe.c) */
    MICRO_REFUSE_OVERLOAD, /* the owner thread's queue is full (micro_probe.c) */
    MICRO_REFUSAL_COUNT
};

/* What an accepted answer says: the instance (its id) and its version. */
struct micro_reply {
    char id[FLEET_NAME_MAX + 1];
    char version[FLEET_VERSION_MAX + 1];  /* "" when the answer has none */
};

/* Judges `len` bytes of `data` as the answer of service `name` (a valid
 * name) to a ping: MICRO_OK and *out filled, or the refusal (*out
 * untouched). Extra fields (metadata, anything newer) are ignored. */
enum micro_refusal micro_reply_parse(const char *name, const void *data, size_t len, struct micro_reply *out);

/* The refusal's name for counters and logs ("bad_json", ...). */
const char *micro_refusal_name(enum micro_refusal r);

#endif
