/* Durations as operators write them on fleetctl's command line ("90s",
 * "15m", "1m30s", "500ms") and as fleetctl prints them. Pure: no clock. */
#ifndef FLEETCTL_DURATION_H
#define FLEETCTL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses one or more <integer><unit> groups (units ms, s, m, h, d, each
 * group a non-negative integer), or a bare "0", into milliseconds. Returns 0
 * and writes *out, or -1 (touching nothing) when `arg` is not such a duration
 * or exceeds `max_ms`. Zero is accepted: callers that need a positive
 * duration say so themselves. */
int duration_parse(const char *arg, int64_t max_ms, int64_t *out);

/* Writes `ms` the way duration_parse reads it, shortest first: "0s", "750ms",
 * "1.5s" (under 10 s with a fraction, one decimal, rounded down), "10s", "5m",
 * "1m30s", "2h5m" (seconds dropped past an hour). Always NUL-terminates;
 * returns `out`. Negative values print as "0s". */
char *duration_format(int64_t ms, char *out, size_t n);

/* Bytes duration_format never needs more than. */
#define DURATION_TEXT_MAX 32

#endif
