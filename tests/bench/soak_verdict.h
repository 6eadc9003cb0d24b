/* bench_soak's verdict: what the programs' logs say (the sim's crashes
 * and restarts carried out, the supervisor's trace) and which events,
 * Controls and restarts were false. */
#ifndef SOAK_VERDICT_H
#define SOAK_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "soak_watch.h"

#define SOAK_MAX_CRASHES 16

/* What the sim's log says: when each instance crashed (wall ms) and which
 * were restarted. */
struct soak_story {
    char crashed[SOAK_MAX_CRASHES][FLEET_NAME_MAX + 1];
    int64_t crashed_ms[SOAK_MAX_CRASHES];
    size_t n_crashed;
    struct soak_list restarted;   /* struct soak_control: the instance and its time */
    int64_t start_ms;             /* wall clock when the sim was started: the report's t = 0 */
    unsigned reconnects;
};

/* The supervisor's trace: its observer transitions, leadership, NATS link
 * and JetStream lines, a run of one repeated line printed once with its
 * count. */
struct soak_trace {
    char last[160];
    unsigned repeats;
};

/* Buckets of the SUSPECT histogram (when in the run the detector doubted). */
#define SOAK_BUCKETS 20

struct soak_tally {
    uint64_t events, dead, suspect, restart_events, fence_events;
    int64_t bucket_ms;         /* set by the caller: width of a bucket, from the story's start_ms */
    uint64_t suspect_at[SOAK_BUCKETS];
    uint64_t false_dead, false_restart;
    uint64_t controls, false_controls;
    uint64_t sim_restarts, false_sim_restarts;
    uint64_t crashes_caught;   /* crashes seen DEAD, then RESTART, then revived */
};

/* Calls fn(line, arg) for every line of `text` that is a JSON object. */
void soak_each_json_line(const char *text, void (*fn)(json_t *line, void *arg), void *arg);

/* soak_each_json_line callbacks: a fleet-sim line into the struct
 * soak_story `arg` (crashes, restarts carried out, reconnects; its
 * `restarted` list must have size set); a fleet-supervisor line printed
 * to the trace when it is about the observer, leadership, the NATS link or
 * JetStream (`arg`: a struct soak_trace; soak_trace_flush after the last). */
void soak_sim_line(json_t *line, void *arg);
void soak_supervisor_line(json_t *line, void *arg);
void soak_trace_flush(struct soak_trace *tr);

/* Counts `events` (the audit stream's) and `controls` into *t against
 * what the sim did (`st`): an instance may be DEAD and restarted only at
 * or after its crash; a FENCE is always false. Prints every false action,
 * and every crash not seen DEAD, restarted and revived. */
void soak_judge(const struct soak_list *events, const struct soak_list *controls, const struct soak_story *st,
                struct soak_tally *t);

#endif
