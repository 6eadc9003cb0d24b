/* fleet-agent's command line and environment. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent.h"
#include "fleet/conn.h"
#include "fleet/subjects.h"

#define DEFAULT_CHECK_PERIOD_MS 5000u
#define DEFAULT_GRACE_MS 10000u
#define DEFAULT_SUPERVISOR_TIMEOUT_MS 30000u

static const char usage_text[] =
    "usage: fleet-agent --service NAME --instance ID [--trust KEY]... [options] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND as its child, sends heartbeats for it on NATS and obeys control\n"
    "messages signed by a trusted key (restart, fence, unfence, drain, resume).\n"
    "\n"
    "  -s, --server URL             NATS server URL, or a comma-separated list of them\n"
    "                               (default: $NATS_URL, else " FLEET_DEFAULT_URL ")\n"
    "      --creds FILE             NATS credentials file (default: $NATS_CREDS)\n"
    "      --service NAME           service name, [A-Za-z0-9_-]{1,64} (required)\n"
    "      --instance ID            instance name, same alphabet (required)\n"
    "      --trust KEY              public key (\"U...\") whose control is obeyed; repeatable,\n"
    "                               added to $FLEET_TRUSTED_KEYS (comma-separated).\n"
    "                               At least one is required.\n"
    "      --prefix P               subject prefix (default fleet)\n"
    "      --interval-ms N          heartbeat interval, 50..600000 (default 1000)\n"
    "      --version V              version reported in heartbeats\n"
    "      --http-check URL         GET URL every check period; 2xx/3xx passes\n"
    "      --exec-check CMD         run /bin/sh -c CMD every check period; exit 0 passes\n"
    "      --check-period-ms N      check period, also each check's timeout (default 5000)\n"
    "      --grace-ms N             SIGTERM to SIGKILL when stopping the child (default 10000)\n"
    "      --drain-signal SIG       signal sent to the child on DRAIN (default SIGUSR1)\n"
    "      --supervisor-timeout-ms N\n"
    "                               without a FleetStatus for N ms (or none since start),\n"
    "                               restart a dead child locally: a first death at once,\n"
    "                               then backoff (default 30000); while a supervisor is\n"
    "                               present a dead child waits for its RESTART\n"
    "  -h, --help                   this text\n"
    "\n"
    "SIGTERM/SIGINT stop the child (SIGKILL after the grace period) and exit with its\n"
    "status (128+signal when killed); SIGHUP is forwarded to the child.\n"
    "Exit codes: the child's status; 2 for usage errors; 1 when the agent cannot run.\n";

enum {
    OPT_SERVICE = 256, OPT_INSTANCE, OPT_TRUST, OPT_PREFIX, OPT_INTERVAL, OPT_VERSION, OPT_HTTP, OPT_EXEC,
    OPT_PERIOD, OPT_GRACE, OPT_DRAIN, OPT_SUPERVISOR_TIMEOUT, OPT_CREDS,
};

static const struct option long_opts[] = {
    { "server", required_argument, NULL, 's' },
    { "creds", required_argument, NULL, OPT_CREDS },
    { "service", required_argument, NULL, OPT_SERVICE },
    { "instance", required_argument, NULL, OPT_INSTANCE },
    { "trust", required_argument, NULL, OPT_TRUST },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "interval-ms", required_argument, NULL, OPT_INTERVAL },
    { "version", required_argument, NULL, OPT_VERSION },
    { "http-check", required_argument, NULL, OPT_HTTP },
    { "exec-check", required_argument, NULL, OPT_EXEC },
    { "check-period-ms", required_argument, NULL, OPT_PERIOD },
    { "grace-ms", required_argument, NULL, OPT_GRACE },
    { "drain-signal", required_argument, NULL, OPT_DRAIN },
    { "supervisor-timeout-ms", required_argument, NULL, OPT_SUPERVISOR_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int bad_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "fleet-agent: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nTry 'fleet-agent --help'.\n");
    return 2;
}

/* Parses a decimal in [min, max] into *out; false on anything else. */
static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    unsigned long v;
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

static const struct { const char *name; int sig; } signal_names[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "TERM", SIGTERM },
    { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "WINCH", SIGWINCH }, { "CONT", SIGCONT },
    { "ALRM", SIGALRM }, { "PWR", SIGPWR }, { "KILL", SIGKILL },
};

/* "SIGUSR1", "USR1" (any case) or a number. */
static bool parse_signal(const char *s, int *out)
{
    uint32_t n;

    if (parse_u32(s, 1, NSIG - 1, &n)) {
        *out = (int)n;
        return true;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
        if (strcasecmp(s, signal_names[i].name) == 0) {
            *out = signal_names[i].sig;
            return true;
        }
    }
    return false;
}

static int add_trusted(struct agent_opts *o, const char *key)
{
    uint8_t raw[FLEET_PUBLIC_KEY_BYTES];
    char **grown;
    char *copy;

    if (fleet_nkey_public_decode(key, raw) != FLEET_OK)
        return bad_usage("trusted key \"%s\" is not a public nkey: %s", key, fleet_last_error());
    copy = strdup(key);
    grown = copy != NULL ? realloc(o->trusted, (o->n_trusted + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(copy);
        fprintf(stderr, "fleet-agent: out of memory\n");
        return 1;
    }
    o->trusted = grown;
    o->trusted[o->n_trusted++] = copy;
    return 0;
}

static int add_trusted_env(struct agent_opts *o)
{
    const char *env = getenv("FLEET_TRUSTED_KEYS");
    char **keys = NULL;
    size_t n = 0;
    int rc = 0;

    if (env == NULL || env[0] == '\0')
        return 0;
    if (fleet_key_list_parse(env, &keys, &n) != FLEET_OK)
        return bad_usage("FLEET_TRUSTED_KEYS: %s%s", fleet_last_error(), "");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add_trusted(o, keys[i]);
    fleet_key_list_free(keys, n);
    return rc;
}

/* Resolves the command like execvp would, once, so a typo is a usage error
 * and the child never searches $PATH after fork. */
static int resolve_command(struct agent_opts *o)
{
    const char *name = o->argv[0];
    const char *path = getenv("PATH");
    size_t len = strlen(name);

    if (strchr(name, '/') != NULL) {
        if (access(name, X_OK) != 0)
            return bad_usage("cannot run %s: %s", name, strerror(errno));
        o->path = strdup(name);
        return o->path != NULL ? 0 : 1;
    }
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *colon = strchr(path, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - path) : strlen(path);
        char *cand = malloc(dlen + len + 3);

        if (cand == NULL)
            return 1;
        snprintf(cand, dlen + len + 3, "%.*s/%s", (int)dlen, dlen > 0 ? path : ".", name);
        if (access(cand, X_OK) == 0) {
            o->path = cand;
            return 0;
        }
        free(cand);
        path += dlen + (colon != NULL);
    }
    return bad_usage("command %s not found in $PATH%s", name, "");
}

int agent_opts_parse(int argc, char **argv, struct agent_opts *o)
{
    int c, rc;

    memset(o, 0, sizeof(*o));
    o->prefix = FLEET_DEFAULT_PREFIX;
    o->version = "";
    o->interval_ms = FLEET_HB_INTERVAL_DEFAULT_MS;
    o->check_period_ms = DEFAULT_CHECK_PERIOD_MS;
    o->grace_ms = DEFAULT_GRACE_MS;
    o->drain_signal = SIGUSR1;
    o->supervisor_timeout_ms = DEFAULT_SUPERVISOR_TIMEOUT_MS;

    opterr = 0;
    /* '+': stop at the first non-option, the command's own flags are not ours. */
    while ((c = getopt_long(argc, argv, "+:hs:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return -1;
        case 's': o->url = optarg; break;
        case OPT_CREDS:
            if (access(optarg, R_OK) != 0)
                return bad_usage("cannot read the --creds file %s: %s", optarg, strerror(errno));
            o->creds = optarg;
            break;
        case OPT_SERVICE: o->service = optarg; break;
        case OPT_INSTANCE: o->instance = optarg; break;
        case OPT_TRUST:
            rc = add_trusted(o, optarg);
            if (rc != 0)
                return rc;
            break;
        case OPT_PREFIX: o->prefix = optarg; break;
        case OPT_VERSION: o->version = optarg; break;
        case OPT_HTTP: o->http_check = optarg; break;
        case OPT_EXEC: o->exec_check = optarg; break;
        case OPT_INTERVAL:
            if (!parse_u32(optarg, FLEET_HB_INTERVAL_MIN_MS, FLEET_HB_INTERVAL_MAX_MS, &o->interval_ms))
                return bad_usage("--interval-ms %s: expected %s", optarg, "50..600000");
            break;
        case OPT_PERIOD:
            if (!parse_u32(optarg, 10, 3600000, &o->check_period_ms))
                return bad_usage("--check-period-ms %s: expected %s", optarg, "10..3600000");
            break;
        case OPT_GRACE:
            if (!parse_u32(optarg, 0, 3600000, &o->grace_ms))
                return bad_usage("--grace-ms %s: expected %s", optarg, "0..3600000");
            break;
        case OPT_SUPERVISOR_TIMEOUT:
            if (!parse_u32(optarg, 1, 86400000, &o->supervisor_timeout_ms))
                return bad_usage("--supervisor-timeout-ms %s: expected %s", optarg, "1..86400000");
            break;
        case OPT_DRAIN:
            if (!parse_signal(optarg, &o->drain_signal))
                return bad_usage("--drain-signal %s: expected %s", optarg, "a signal name (SIGUSR1) or number");
            break;
        case ':':
            return bad_usage("%s needs a value%s", argv[optind - 1], "");
        default:
            return bad_usage("unknown option %s%s", argv[optind - 1], "");
        }
    }
    if (o->service == NULL || o->instance == NULL)
        return bad_usage("--service and --instance are required%s%s", "", "");
    if (fleet_name_check("service", o->service) != FLEET_OK || fleet_name_check("instance", o->instance) != FLEET_OK)
        return bad_usage("%s%s", fleet_last_error(), "");
    rc = add_trusted_env(o);
    if (rc != 0)
        return rc;
    if (o->n_trusted == 0)
        return bad_usage("no trusted key: give --trust KEY or FLEET_TRUSTED_KEYS "
                         "(control without a trusted signer cannot be obeyed)%s%s", "", "");
    if (optind >= argc)
        return bad_usage("no command to run: fleet-agent [options] -- COMMAND [ARGS...]%s%s", "", "");
    o->argv = &argv[optind];
    return resolve_command(o);
}

void agent_opts_fini(struct agent_opts *o)
{
    for (size_t i = 0; i < o->n_trusted; i++)
        free(o->trusted[i]);
    free(o->trusted);
    free(o->path);
    o->trusted = NULL;
    o->n_trusted = 0;
    o->path = NULL;
}
