/* libfleet status codes: the one error convention of the project.
 *
 * Every libfleet function that can fail returns a fleet_status and writes its
 * out-parameters only when it returns FLEET_OK. */
#ifndef FLEET_STATUS_H
#define FLEET_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fleet_status {
    FLEET_OK = 0,
    FLEET_ERR_INVALID_ARG,  /* a NULL or out-of-range argument */
    FLEET_ERR_BAD_NAME,     /* a service/instance name is not a NATS token [A-Za-z0-9_-]{1,64} */
    FLEET_ERR_NO_MEMORY,    /* an allocation failed; nothing was changed */
    FLEET_ERR_NATS,         /* the NATS client failed; fleet_last_error() says how */
    FLEET_ERR_ENCODE,       /* a message could not be encoded */
    FLEET_ERR_DECODE,       /* a message could not be decoded */
    FLEET_ERR_TOO_LARGE,    /* a message is over its size limit */
    FLEET_ERR_STATE,        /* the call is not valid in the object's current state */
    FLEET_ERR_SYSTEM,       /* an OS call failed; errno-based detail in fleet_last_error() */
} fleet_status;

/* Static, human-readable text for a status. Never NULL. */
const char *fleet_status_text(fleet_status s);

/* Detail of the last failure on this thread (thread-local buffer, overwritten
 * by the next failing libfleet call on the same thread). Never NULL. */
const char *fleet_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
