/* fleet-supervisor: command line, configuration, then the daemon.
 * Exit codes (DESIGN.md §9): 0 ok, 1 runtime failure, 2 usage/config error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "fleet/nkey.h"
#include "health_file.h"
#include "log.h"

#define EXIT_USAGE 2
#define MAX_OVERRIDES 16

static void usage(FILE *to)
{
    fprintf(to,
            "usage: fleet-supervisor [--config FILE] [options]\n"
            "       fleet-supervisor healthcheck [--max-age-ms N] [--file PATH]\n"
            "\n"
            "Joins the NATS bus, tracks every service instance's heartbeats with a\n"
            "failure detector and publishes the fleet-availability feed.\n"
            "\n"
            "  -c, --config FILE           YAML config (default: $FLEET_CONFIG, else built-in defaults)\n"
            "  -s, --server URL            NATS URL (overrides nats.url and $NATS_URL)\n"
            "      --creds FILE            NATS credentials file (overrides $NATS_CREDS)\n"
            "      --prefix P              subject prefix (default fleet)\n"
            "      --id ID                 supervisor id on the feed (default <host>-<pid>-<random>)\n"
            "      --status-interval-ms N  FleetStatus period (default 1000)\n"
            "      --log-level L           debug|info|warn|error (default info)\n"
            "      --http ADDR:PORT        serve /healthz, /readyz, /metrics... (http.listen; default off)\n"
            "      --check-config          validate the configuration, print it and exit\n"
            "  -h, --help                  this text\n"
            "\n"
            "Signals: SIGHUP reloads the config (a bad file is refused, the running one\n"
            "stays); SIGTERM/SIGINT drain and exit 0.\n");
}

static void default_id(char *out, size_t n)
{
    char host[64] = "host";
    unsigned salt;
    FILE *f = fopen("/dev/urandom", "rb");

    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (f == NULL || fread(&salt, sizeof(salt), 1, f) != 1)
        salt = (unsigned)getpid() * 2654435761u;
    if (f != NULL)
        fclose(f);
    snprintf(out, n, "%.40s-%d-%04x", host, (int)getpid(), salt & 0xffff);
}

/* --check-config: the file, and the signing key it names, are usable. */
static int check_config(struct supervisor_config *cfg, const char *path)
{
    char public_key[FLEET_NKEY_PUBLIC_LEN + 1] = "";
    fleet_keypair *kp = NULL;

    if (cfg->signing_key_file[0] != '\0') {
        if (fleet_keypair_from_seed_file(cfg->signing_key_file, &kp) != FLEET_OK) {
            fprintf(stderr, "fleet-supervisor: control.signing_key_file: %s\n", fleet_last_error());
            config_destroy(cfg);
            return EXIT_USAGE;
        }
        fleet_keypair_public(kp, public_key, sizeof(public_key));
        fleet_keypair_destroy(kp);
    }
    printf("config ok: %s\n", path ? path : "(built-in defaults)");
    printf("signer: %s\n", public_key[0] ? public_key : "none (observe only: no restarts or fences)");
    config_describe(cfg, stdout);
    config_destroy(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "server", required_argument, NULL, 's' },
        { "creds", required_argument, NULL, 'C' },
        { "prefix", required_argument, NULL, 'p' },
        { "id", required_argument, NULL, 'i' },
        { "status-interval-ms", required_argument, NULL, 'I' },
        { "log-level", required_argument, NULL, 'l' },
        { "http", required_argument, NULL, 'H' },
        { "check-config", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct config_override overrides[MAX_OVERRIDES];
    size_t n_overrides = 0;
    const char *path = getenv("FLEET_CONFIG");
    struct supervisor_config *cfg;
    bool check_only = false;
    char err[512];
    int opt;

    /* The container health check: reads the health file, touches nothing else. */
    if (argc > 1 && strcmp(argv[1], "healthcheck") == 0)
        return health_command(argc - 1, argv + 1);
    while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        const char *key = NULL;

        switch (opt) {
        case 'c': path = optarg; break;
        case 's': key = "nats.url"; break;
        case 'C': key = "nats.creds"; break;
        case 'p': key = "nats.prefix"; break;
        case 'i': key = "supervisor.id"; break;
        case 'I': key = "supervisor.status_interval_ms"; break;
        case 'l': key = "supervisor.log_level"; break;
        case 'H': key = "http.listen"; break;
        case 'k': check_only = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
        if (key != NULL && n_overrides < MAX_OVERRIDES)
            overrides[n_overrides++] = (struct config_override){ .key = key, .value = optarg };
    }
    if (optind < argc) {
        fprintf(stderr, "fleet-supervisor: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (path != NULL && path[0] == '\0')
        path = NULL;
    if (config_load(path, &cfg, err, sizeof(err)) != 0)
        goto out_bad_config;
    for (size_t k = 0; k < n_overrides; k++)
        if (config_set(cfg, overrides[k].key, overrides[k].value, err, sizeof(err)) != 0) {
            config_destroy(cfg);
            goto out_bad_config;
        }
    if (cfg->supervisor_id[0] == '\0')
        default_id(cfg->supervisor_id, sizeof(cfg->supervisor_id));
    if (check_only)
        return check_config(cfg, path);
    log_set_level_name(cfg->log_level);
    {
        int rc = daemon_run(cfg, path, overrides, n_overrides);

        log_kv(LOG_INFO, "fleet-supervisor exiting", "code", rc == 0 ? "0" : "1", NULL);
        return rc;
    }

out_bad_config:
    log_kv(LOG_ERROR, "bad config", "error", err, NULL);
    fprintf(stderr, "fleet-supervisor: %s\n", err);
    return EXIT_USAGE;
}
