/* The supervisor's owner thread: wires bus → ingest → observer → feed and
 * runs the poll loop until SIGTERM/SIGINT; SIGHUP reloads the config. */
#ifndef FLEET_DAEMON_H
#define FLEET_DAEMON_H

#include <stddef.h>

#include "config.h"

/* A command-line override, re-applied on every reload (flags beat the file). */
struct config_override {
    const char *key;   /* dotted key, e.g. "nats.url" */
    const char *value;
};

/* Runs until told to stop. Takes ownership of `cfg` (freed before return).
 * `config_path` (may be NULL) is re-read on SIGHUP. Returns the exit code:
 * 0 after a clean drain, 1 on a runtime failure, 2 when the signing key
 * cannot be used. */
int daemon_run(struct supervisor_config *cfg, const char *config_path,
               const struct config_override *overrides, size_t n_overrides);

#endif
