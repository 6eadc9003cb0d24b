/* Clocks in milliseconds, for every fleet program. Monotonic time is for
 * deadlines and intervals; Unix (wall) time only for what goes on the wire
 * or in a log. */
#ifndef FLEET_CLOCK_H
#define FLEET_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLOCK_MONOTONIC in ms. */
int64_t fleet_mono_ms(void);

/* CLOCK_REALTIME (Unix time) in ms. */
int64_t fleet_unix_ms(void);

#ifdef __cplusplus
}
#endif
#endif
