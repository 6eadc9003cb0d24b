/* fleet-sim's log: one JSON object per line on stdout. */
#ifndef SIM_LOG_H
#define SIM_LOG_H

#include <jansson.h>   /* the field formats and json_int_t are jansson's */

/* Writes {"ts_ms":..,"level":..,"event":..,<fields>} and flushes. `fields`
 * is a jansson json_pack format for an object ("{s:s, s:i}") and its
 * arguments, or NULL. Called from the simulator's one thread only. */
void sim_log(const char *level, const char *event, const char *fields, ...);

#endif
