/* The `operators` list of the supervisor's configuration (issue 11,
 * DESIGN.md §7): who may sign AdminCommands, and for which verbs and
 * services. Private to config.c, which reads the YAML and owns the result.
 *
 *   operators:
 *     - name: alice              # 1-64 printable characters, no spaces; unique
 *       key: UD3...              # the operator's public nkey (fleetctl keygen); unique
 *       verbs: ["*"]             # restart, fence, unfence, drain, resume,
 *                                #   maintenance-on, maintenance-off, or "*" for all
 *       services: [story-*, lobby]  # names or globs (* and ?), "*" for all
 *
 * Both lists are required: nothing is allowed by default. */
#ifndef SUPERVISOR_CONFIG_OPERATORS_H
#define SUPERVISOR_CONFIG_OPERATORS_H

#include <stddef.h>
#include <stdio.h>

#include <cyaml/cyaml.h>

#include "config.h"

/* One entry as libcyaml reads it: every scalar as text. */
struct raw_operator {
    char *name;
    char *key;
    char **verbs;
    unsigned verbs_count;
    char **services;
    unsigned services_count;
};

/* The schema of one entry of `operators`. */
extern const cyaml_schema_value_t config_operator_entry;

/* Checks the `n` raw entries and stores them in c->operators (which must be
 * empty). Returns 0, or -1 with the key path of the fault ("operators[1].key")
 * in path[] and what is wrong and what to do in why[]; c->operators is then
 * whatever was stored so far, for config_operators_free. */
int config_operators_apply(struct supervisor_config *c, const struct raw_operator *raw, unsigned n,
                           char *path, size_t path_len, char *why, size_t why_len);

/* Writes `operators:` as YAML config_load accepts back. */
void config_operators_describe(const struct supervisor_config *c, FILE *out);

/* Frees c->operators. */
void config_operators_free(struct supervisor_config *c);

#endif
