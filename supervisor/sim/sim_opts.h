/* fleet-sim's command line. */
#ifndef SIM_OPTS_H
#define SIM_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fleet/heartbeat.h"
#include "fleet/names.h"

enum sim_fault_kind {
    FAULT_CRASH,         /* stops sending at at_s: the process died */
    FAULT_HANG,          /* stops sending at at_s: the process lives but is stuck */
    FAULT_EXIT,          /* at at_s one EXITED heartbeat with exit_code, then silence */
    FAULT_FLAP,          /* up_s sending, down_s silent, repeated */
    FAULT_SLOW,          /* sends every factor x interval, promising interval */
    FAULT_WRONG_VERSION, /* reports `version` */
    FAULT_DEGRADED,      /* reports DEGRADED with a failing "http" check */
};

/* One injected failure, aimed at an instance name or a whole service. */
struct sim_fault {
    enum sim_fault_kind kind;
    char target[FLEET_NAME_MAX + 1];
    double at_s;
    double up_s, down_s;
    double factor;
    int exit_code;
    char version[FLEET_HB_VERSION_MAX + 1];
};

/* Instances of a service that is not in the shape (orphans). */
struct sim_unexpected {
    char service[FLEET_NAME_MAX + 1];
    unsigned count;
};

struct sim_opts {
    const char *server;           /* borrowed from argv or the environment; a URL or a list */
    const char *creds;            /* borrowed; NULL: $NATS_CREDS */
    const char *prefix;           /* borrowed; "fleet" by default */
    uint32_t interval_ms;
    unsigned services;            /* 0: the default studio shape */
    unsigned instances_per_service;
    double jitter_pct;
    unsigned duration_s;          /* 0: until SIGINT/SIGTERM */
    struct sim_fault *faults;     /* owned; n_faults entries */
    size_t n_faults;
    struct sim_unexpected *unexpected; /* owned; n_unexpected entries */
    size_t n_unexpected;
    char **trusted;               /* owned: --trust keys, then $FLEET_TRUSTED_KEYS */
    size_t n_trusted;             /* 0: instances ignore control */
};

enum sim_parse_result { SIM_PARSE_RUN, SIM_PARSE_HELP, SIM_PARSE_USAGE_ERROR };

/* Fills `o` from argv. On SIM_PARSE_USAGE_ERROR a message is on stderr.
 * Whatever the result, release `o` with sim_opts_fini. */
enum sim_parse_result sim_opts_parse(int argc, char **argv, struct sim_opts *o);
void sim_opts_fini(struct sim_opts *o);
void sim_opts_usage(FILE *to);

#endif
