/* Private to libfleet: record the detail behind a failing status. */
#ifndef FLEET_LASTERROR_H
#define FLEET_LASTERROR_H

#include "fleet/status.h"

/* Formats the detail into this thread's fleet_last_error() buffer and
 * returns `s`, so a failure path reads `return fleet_fail(FLEET_ERR_X, ...)`. */
fleet_status fleet_fail(fleet_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
