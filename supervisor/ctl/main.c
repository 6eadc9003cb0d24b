/* fleetctl: the operator's command line for the fleet supervisor.
 * Parses the global flags and hands over to one subcommand. */
#include <stdbool.h>
#include <string.h>

#include "ctl.h"
#include "fleet/conn.h"
#include "fleet/subjects.h"

struct ctl_cmd {
    const char *name;
    const char *summary;
    int (*run)(struct ctl_opts *o, int argc, char **argv);
    bool own_flags; /* takes its own flags out of argv and parses the global ones itself */
};

static const struct ctl_cmd commands[] = {
    { "status", "print the fleet status once (exit 0 when fetched, whatever the health)", ctl_cmd_status, false },
    { "watch", "show the status live, with the latest events, until interrupted", ctl_cmd_watch, false },
    { "events", "print the audit trail: events [--since 1h] [--service NAME] [--follow]", ctl_cmd_events, true },
    { "wait", "deploy gate: wait SERVICE... | --all [--version V] [--timeout 5m] [--bake D] (exit 0 ready, 1 failed, 3 timed out, 4 unknown)", ctl_cmd_wait, true },
    { "restart", "restart SERVICE/INSTANCE now, or roll SERVICE (signed: --key FILE)", ctl_cmd_admin, true },
    { "fence", "fence SERVICE/INSTANCE: stopped and kept down until unfenced (signed)", ctl_cmd_admin, true },
    { "unfence", "unfence SERVICE/INSTANCE and clear its crash-loop tally (signed)", ctl_cmd_admin, true },
    { "drain", "ask SERVICE/INSTANCE to drain (signed)", ctl_cmd_admin, true },
    { "resume", "end a drain of SERVICE/INSTANCE (signed)", ctl_cmd_admin, true },
    { "keygen", "create a control signing key: keygen --out FILE (seed to FILE, public key to stdout)", ctl_cmd_keygen, true },
    { "maintenance", "hold restarts/fences (signed): maintenance on|off SERVICE[/INSTANCE] --reason T | list",
      ctl_cmd_maintenance, true },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fputs("usage: fleetctl [flags] <command> [flags]\n"
          "\n"
          "commands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "flags (before or after the command):\n"
            "  -s, --server URL    NATS server, or a comma-separated list (default: $NATS_URL, else %s)\n"
            "      --creds FILE    NATS credentials file (default: $NATS_CREDS)\n"
            "      --prefix P      subject prefix of the fleet (default: %s)\n"
            "      --timeout-ms N  how long to wait for an answer (default: %d)\n"
            "      --json          print JSON: one object (status) or one per line (watch)\n"
            "  -h, --help          print this help\n"
            "\n"
            "exit codes: 0 ok, 1 runtime failure (no server, no supervisor) or refused, 2 usage error;\n"
            "  admin verbs (restart, fence, unfence, drain, resume, maintenance on|off): 3 no leading\n"
            "  supervisor answered; wait: 3 timed out, 4 unknown service or no supervisor\n",
            FLEET_DEFAULT_URL, FLEET_DEFAULT_PREFIX, CTL_DEFAULT_TIMEOUT_MS);
}

static const struct ctl_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    struct ctl_opts o;
    const struct ctl_cmd *cmd;
    int first, rest, rc;

    ctl_opts_init(&o);
    rc = ctl_opts_parse(&o, argc, argv, true, &first);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (o.help || (first < argc && strcmp(argv[first], "help") == 0)) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (first >= argc) {
        usage(stderr);
        fputs("fleetctl: no command given: try 'fleetctl status'\n", stderr);
        return CTL_EXIT_USAGE;
    }
    cmd = find_command(argv[first]);
    if (cmd == NULL) {
        fprintf(stderr, "fleetctl: unknown command '%s' (run 'fleetctl --help' for the list)\n", argv[first]);
        return CTL_EXIT_USAGE;
    }
    /* Global flags may follow the command too ("fleetctl status --json");
     * the command sees its name and its own arguments only. */
    argc -= first;
    argv += first;
    if (cmd->own_flags)
        return cmd->run(&o, argc, argv);
    rc = ctl_opts_parse(&o, argc, argv, false, &rest);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (o.help) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    argv[rest - 1] = argv[0];
    return cmd->run(&o, argc - rest + 1, argv + rest - 1);
}
