/* Status texts and the per-thread last-error detail of libfleet. */
#include <stdarg.h>
#include <stdio.h>

#include "fleet/status.h"
#include "lasterror.h"

static _Thread_local char last_error[256];

const char *fleet_status_text(fleet_status s)
{
    switch (s) {
    case FLEET_OK: return "ok";
    case FLEET_ERR_INVALID_ARG: return "invalid argument";
    case FLEET_ERR_BAD_NAME: return "bad name";
    case FLEET_ERR_NO_MEMORY: return "out of memory";
    case FLEET_ERR_NATS: return "NATS error";
    case FLEET_ERR_ENCODE: return "encode error";
    case FLEET_ERR_DECODE: return "decode error";
    case FLEET_ERR_TOO_LARGE: return "message too large";
    case FLEET_ERR_STATE: return "invalid state";
    case FLEET_ERR_SYSTEM: return "system error";
    }
    return "unknown status";
}

const char *fleet_last_error(void)
{
    return last_error;
}

fleet_status fleet_fail(fleet_status s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return s;
}
