/* fleet-sim's flags: getopt_long into a struct sim_opts. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/conn.h"
#include "fleet/control.h"
#include "fleet/subjects.h"
#include "sim_opts.h"

enum {
    OPT_PREFIX = 256, OPT_INTERVAL, OPT_SERVICES, OPT_PER_SERVICE, OPT_JITTER, OPT_DURATION,
    OPT_TRUST, OPT_CRASH, OPT_HANG, OPT_FLAP, OPT_SLOW, OPT_WRONG_VERSION, OPT_UNEXPECTED, OPT_EXIT,
    OPT_DEGRADED, OPT_CREDS,
};

static const struct option long_opts[] = {
    { "help", no_argument, NULL, 'h' },
    { "server", required_argument, NULL, 's' },
    { "creds", required_argument, NULL, OPT_CREDS },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "interval-ms", required_argument, NULL, OPT_INTERVAL },
    { "services", required_argument, NULL, OPT_SERVICES },
    { "instances-per-service", required_argument, NULL, OPT_PER_SERVICE },
    { "jitter", required_argument, NULL, OPT_JITTER },
    { "duration-s", required_argument, NULL, OPT_DURATION },
    { "crash", required_argument, NULL, OPT_CRASH },
    { "hang", required_argument, NULL, OPT_HANG },
    { "flap", required_argument, NULL, OPT_FLAP },
    { "slow", required_argument, NULL, OPT_SLOW },
    { "wrong-version", required_argument, NULL, OPT_WRONG_VERSION },
    { "unexpected", required_argument, NULL, OPT_UNEXPECTED },
    { "exit", required_argument, NULL, OPT_EXIT },
    { "trust", required_argument, NULL, OPT_TRUST },
    { "degraded", required_argument, NULL, OPT_DEGRADED },
    { NULL, 0, NULL, 0 },
};

void sim_opts_usage(FILE *to)
{
    fputs(
"usage: fleet-sim [options]\n"
"Simulates a fleet of service instances sending heartbeats over NATS.\n"
"Default fleet: the studio's 45 services / 68 instances.\n"
"\n"
"  -s, --server URL            NATS server, or a comma-separated list\n"
"                              (else $NATS_URL, else " FLEET_DEFAULT_URL ")\n"
"      --creds FILE            NATS credentials file (else $NATS_CREDS)\n"
"      --prefix P              subject prefix (default fleet)\n"
"      --interval-ms N         heartbeat interval, 50..600000 (default 1000)\n"
"      --services N            synthetic fleet of N services svc-<i> ...\n"
"      --instances-per-service M   ... with M instances each (default 1)\n"
"      --jitter PCT            send-time jitter, 0..50 % (default 5)\n"
"      --duration-s N          stop after N seconds (default 0: until SIGINT/SIGTERM)\n"
"  -h, --help                  this text\n"
"\n"
"Failure injection (repeatable). TARGET is an instance (story-teller-1) or a\n"
"service (story-teller: all its instances); SECONDS count from start.\n"
"      --crash TARGET[@SECONDS]        stop sending (default at once)\n"
"      --hang TARGET[@SECONDS]         same on the wire; the process is alive but stuck\n"
"      --flap TARGET[:UP_S/DOWN_S]     alternate sending and silence (default 10/10)\n"
"      --slow TARGET[:FACTOR]          send every FACTOR x interval, promise interval (default 3)\n"
"      --wrong-version TARGET[:VERSION] report VERSION (default 1.3.9) instead of 1.4.2\n"
"      --unexpected NAME[:COUNT]       add COUNT instances of service NAME not in the fleet (default 1)\n"
"      --exit TARGET[@SECONDS][:CODE]  one EXITED heartbeat with exit CODE (default 1), then silence\n"
"      --degraded TARGET               report DEGRADED with a failing \"http\" check\n"
"\n"
"Control: with --trust KEY (repeatable; or $FLEET_TRUSTED_KEYS, comma-separated)\n"
"every instance obeys signed control through libfleet: RESTART revives it with\n"
"a new incarnation (curing a crash, hang or exit), FENCE/UNFENCE/DRAIN/RESUME are\n"
"reported in its heartbeats. Without a trusted key, control is ignored.\n"
"\n"
"Exit status: 0 after a clean stop, 1 on a runtime failure, 2 on bad usage.\n", to);
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    if (s[0] == '-' || s[0] == '\0')
        return false;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    if (s[0] == '\0')
        return false;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Cuts `arg` at the last `sep`: returns the text after it (NULL when absent)
 * and terminates `arg` there. */
static char *split_last(char *arg, char sep)
{
    char *at = strrchr(arg, sep);

    if (at == NULL)
        return NULL;
    *at = '\0';
    return at + 1;
}

static bool usage_error(const char *flag, const char *arg, const char *why)
{
    fprintf(stderr, "fleet-sim: --%s %s: %s (see --help)\n", flag, arg, why);
    return false;
}

/* Parses one failure flag's argument (modified in place) into `f`. */
static bool parse_fault(const char *flag, enum sim_fault_kind kind, char *arg, struct sim_fault *f)
{
    char *param = NULL, *at = NULL;
    unsigned long code;

    memset(f, 0, sizeof(*f));
    f->kind = kind;
    switch (kind) {
    case FAULT_CRASH:
    case FAULT_HANG:
        at = split_last(arg, '@');
        break;
    case FAULT_EXIT:
        param = split_last(arg, ':');
        at = split_last(arg, '@');
        if (param != NULL && at == NULL && strchr(param, '@') != NULL)
            return usage_error(flag, arg, "write TARGET@SECONDS:CODE");
        break;
    case FAULT_FLAP:
    case FAULT_SLOW:
    case FAULT_WRONG_VERSION:
        param = split_last(arg, ':');
        break;
    case FAULT_DEGRADED:
        break;
    }
    if (!fleet_name_valid(arg))
        return usage_error(flag, arg, "target must be an instance or service name ([A-Za-z0-9_-], 1-64)");
    strcpy(f->target, arg);
    if (at != NULL && !parse_double(at, 0, 1e7, &f->at_s))
        return usage_error(flag, at, "SECONDS must be a number >= 0");

    f->up_s = f->down_s = 10;
    f->factor = 3;
    f->exit_code = 1;
    strcpy(f->version, "1.3.9");
    if (param == NULL)
        return true;
    switch (kind) {
    case FAULT_FLAP: {
        char *down = split_last(param, '/');

        if (down == NULL || !parse_double(param, 0.05, 1e7, &f->up_s) ||
            !parse_double(down, 0.05, 1e7, &f->down_s))
            return usage_error(flag, param, "expected UP_S/DOWN_S, each >= 0.05");
        return true;
    }
    case FAULT_SLOW:
        if (!parse_double(param, 1, 1000, &f->factor))
            return usage_error(flag, param, "FACTOR must be a number in 1..1000");
        return true;
    case FAULT_WRONG_VERSION:
        if (param[0] == '\0' || strlen(param) > FLEET_HB_VERSION_MAX)
            return usage_error(flag, param, "VERSION must be 1-128 characters");
        strcpy(f->version, param);
        return true;
    case FAULT_EXIT:
        if (!parse_uint(param, 0, 255, &code))
            return usage_error(flag, param, "CODE must be an exit status 0..255");
        f->exit_code = (int)code;
        return true;
    default:
        return true;
    }
}

static bool add_fault(struct sim_opts *o, const char *flag, enum sim_fault_kind kind, char *arg)
{
    struct sim_fault f, *grown;

    if (!parse_fault(flag, kind, arg, &f))
        return false;
    grown = realloc(o->faults, (o->n_faults + 1) * sizeof(*grown));
    if (grown == NULL)
        return usage_error(flag, arg, "out of memory");
    o->faults = grown;
    o->faults[o->n_faults++] = f;
    return true;
}

static bool add_unexpected(struct sim_opts *o, char *arg)
{
    struct sim_unexpected u, *grown;
    char *count = split_last(arg, ':');
    unsigned long n = 1;

    if (!fleet_name_valid(arg))
        return usage_error("unexpected", arg, "NAME must be a service name ([A-Za-z0-9_-], 1-64)");
    if (count != NULL && !parse_uint(count, 1, 100000, &n))
        return usage_error("unexpected", count, "COUNT must be in 1..100000");
    strcpy(u.service, arg);
    u.count = (unsigned)n;
    grown = realloc(o->unexpected, (o->n_unexpected + 1) * sizeof(*grown));
    if (grown == NULL)
        return usage_error("unexpected", arg, "out of memory");
    o->unexpected = grown;
    o->unexpected[o->n_unexpected++] = u;
    return true;
}

/* Appends the keys of a comma-separated list (one key is a list of one). */
static bool add_trusted(struct sim_opts *o, const char *list)
{
    char **keys, **grown;
    size_t n;

    if (fleet_key_list_parse(list, &keys, &n) != FLEET_OK)
        return usage_error("trust", list, fleet_last_error());
    grown = realloc(o->trusted, (o->n_trusted + n) * sizeof(*grown));
    if (grown == NULL) {
        fleet_key_list_free(keys, n);
        return usage_error("trust", list, "out of memory");
    }
    o->trusted = grown;
    memcpy(o->trusted + o->n_trusted, keys, n * sizeof(*keys));
    o->n_trusted += n;
    free(keys); /* the strings now belong to o->trusted */
    return true;
}

static bool parse_one(struct sim_opts *o, int c, char *arg)
{
    unsigned long n;

    switch (c) {
    case 's': o->server = arg; return true;
    case OPT_CREDS:
        if (access(arg, R_OK) != 0)
            return usage_error("creds", arg, "cannot be read (a NATS .creds file)");
        o->creds = arg;
        return true;
    case OPT_PREFIX: o->prefix = arg; return true;
    case OPT_INTERVAL:
        if (!parse_uint(arg, FLEET_HB_INTERVAL_MIN_MS, FLEET_HB_INTERVAL_MAX_MS, &n))
            return usage_error("interval-ms", arg, "must be an integer in 50..600000");
        o->interval_ms = (uint32_t)n;
        return true;
    case OPT_SERVICES:
        if (!parse_uint(arg, 1, 1000000, &n))
            return usage_error("services", arg, "must be an integer in 1..1000000");
        o->services = (unsigned)n;
        return true;
    case OPT_PER_SERVICE:
        if (!parse_uint(arg, 1, 1000, &n))
            return usage_error("instances-per-service", arg, "must be an integer in 1..1000");
        o->instances_per_service = (unsigned)n;
        return true;
    case OPT_JITTER:
        if (!parse_double(arg, 0, 50, &o->jitter_pct))
            return usage_error("jitter", arg, "must be a percentage in 0..50");
        return true;
    case OPT_DURATION:
        if (!parse_uint(arg, 0, 100000000, &n))
            return usage_error("duration-s", arg, "must be an integer >= 0");
        o->duration_s = (unsigned)n;
        return true;
    case OPT_CRASH: return add_fault(o, "crash", FAULT_CRASH, arg);
    case OPT_HANG: return add_fault(o, "hang", FAULT_HANG, arg);
    case OPT_FLAP: return add_fault(o, "flap", FAULT_FLAP, arg);
    case OPT_SLOW: return add_fault(o, "slow", FAULT_SLOW, arg);
    case OPT_WRONG_VERSION: return add_fault(o, "wrong-version", FAULT_WRONG_VERSION, arg);
    case OPT_EXIT: return add_fault(o, "exit", FAULT_EXIT, arg);
    case OPT_DEGRADED: return add_fault(o, "degraded", FAULT_DEGRADED, arg);
    case OPT_UNEXPECTED: return add_unexpected(o, arg);
    case OPT_TRUST: return add_trusted(o, arg);
    default: return false;  /* getopt_long printed why */
    }
}

enum sim_parse_result sim_opts_parse(int argc, char **argv, struct sim_opts *o)
{
    int c;

    memset(o, 0, sizeof(*o));
    o->server = getenv("NATS_URL");
    if (o->server == NULL || o->server[0] == '\0')
        o->server = FLEET_DEFAULT_URL;
    o->prefix = FLEET_DEFAULT_PREFIX;
    o->interval_ms = FLEET_HB_INTERVAL_DEFAULT_MS;
    o->jitter_pct = 5;

    opterr = 1;
    while ((c = getopt_long(argc, argv, "hs:", long_opts, NULL)) != -1) {
        if (c == 'h')
            return SIM_PARSE_HELP;
        if (!parse_one(o, c, optarg)) {
            if (c == '?' || c == ':')
                fputs("fleet-sim: see --help\n", stderr);
            return SIM_PARSE_USAGE_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fleet-sim: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return SIM_PARSE_USAGE_ERROR;
    }
    if (o->instances_per_service != 0 && o->services == 0) {
        fputs("fleet-sim: --instances-per-service needs --services (see --help)\n", stderr);
        return SIM_PARSE_USAGE_ERROR;
    }
    if (o->services != 0 && o->instances_per_service == 0)
        o->instances_per_service = 1;
    if (getenv("FLEET_TRUSTED_KEYS") != NULL && getenv("FLEET_TRUSTED_KEYS")[0] != '\0' &&
        !add_trusted(o, getenv("FLEET_TRUSTED_KEYS")))
        return SIM_PARSE_USAGE_ERROR;
    return SIM_PARSE_RUN;
}

void sim_opts_fini(struct sim_opts *o)
{
    free(o->faults);
    free(o->unexpected);
    fleet_key_list_free(o->trusted, o->n_trusted);
    o->faults = NULL;
    o->unexpected = NULL;
    o->trusted = NULL;
    o->n_trusted = 0;
    o->n_faults = o->n_unexpected = 0;
}
