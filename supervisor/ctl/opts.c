/* Global flags shared by every subcommand, in the style of the `nats` CLI. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "fleet/conn.h"
#include "fleet/names.h"
#include "fleet/subjects.h"
#include "fleet/url.h"

enum { OPT_CREDS = 256, OPT_PREFIX, OPT_TIMEOUT, OPT_JSON };

static const struct option long_opts[] = {
    { "server", required_argument, NULL, 's' },
    { "creds", required_argument, NULL, OPT_CREDS },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : fallback;
}

void ctl_opts_init(struct ctl_opts *o)
{
    o->server = env_or("NATS_URL", FLEET_DEFAULT_URL);
    fleet_url_redact(o->server, o->server_shown, sizeof(o->server_shown));
    o->creds = env_or("NATS_CREDS", NULL);
    o->prefix = FLEET_DEFAULT_PREFIX;
    o->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    o->json = false;
    o->help = false;
}

int ctl_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fleetctl%s%s: ", command != NULL ? " " : "", command != NULL ? command : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (command != NULL)
        fprintf(stderr, " (run 'fleetctl %s --help')\n", command);
    else
        fputs(" (run 'fleetctl --help' for usage)\n", stderr);
    return CTL_EXIT_USAGE;
}

static int set_timeout(struct ctl_opts *o, const char *arg)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v <= 0 || v > 3600 * 1000)
        return ctl_usage_error(NULL, "--timeout-ms wants milliseconds between 1 and 3600000, not '%s'", arg);
    o->timeout_ms = v;
    return CTL_EXIT_OK;
}

int ctl_opts_parse(struct ctl_opts *o, int argc, char **argv, bool stop_at_command, int *next)
{
    int c, idx;

    opterr = 0;
    optind = 0; /* 0, not 1: glibc then also resets its permutation state from the last call */
    while ((c = getopt_long(argc, argv, stop_at_command ? "+:s:h" : ":s:h", long_opts, &idx)) != -1) {
        switch (c) {
        case 's':
            if (optarg[0] == '\0')
                return ctl_usage_error(NULL, "-s/--server wants a NATS URL, e.g. " FLEET_DEFAULT_URL);
            o->server = optarg;
            fleet_url_redact(o->server, o->server_shown, sizeof(o->server_shown));
            break;
        case OPT_CREDS:
            if (access(optarg, R_OK) != 0)
                return ctl_usage_error(NULL, "cannot read the --creds file '%s'", optarg);
            o->creds = optarg;
            break;
        case OPT_PREFIX:
            if (!fleet_prefix_valid(optarg))
                return ctl_usage_error(NULL, "--prefix '%s' is not a subject prefix: use dot-separated "
                                   "tokens of [A-Za-z0-9_-], no wildcards", optarg);
            o->prefix = optarg;
            break;
        case OPT_TIMEOUT:
            if (set_timeout(o, optarg) != CTL_EXIT_OK)
                return CTL_EXIT_USAGE;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case 'h':
            o->help = true;
            break;
        case ':':
            return ctl_usage_error(NULL, "flag '%s' needs a value", argv[optind - 1]);
        default:
            return ctl_usage_error(NULL, "unknown flag '%s'", argv[optind - 1]);
        }
    }
    *next = optind;
    return CTL_EXIT_OK;
}

bool ctl_js_name_valid(const char *name)
{
    return name[0] != '\0' && strpbrk(name, ". *>") == NULL;
}

bool ctl_use_color(void)
{
    return isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
}

/* Whether argv[*i] is one of the `n` flags in `names`, given as "--flag value"
 * or "--flag=value". Returns the matching name, with its value in *value and
 * *i advanced past a separate value; *value is NULL when the value is
 * missing. Returns NULL, touching nothing, when argv[*i] is none of them. */
static const char *flag_match(const char *const *names, size_t n, int argc, char **argv, int *i,
                              const char **value)
{
    const char *arg = argv[*i];

    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(names[k]);

        if (strncmp(arg, names[k], len) != 0 || (arg[len] != '\0' && arg[len] != '='))
            continue;
        if (arg[len] == '=')
            *value = arg + len + 1;
        else if (*i + 1 < argc)
            *value = argv[++*i];
        else
            *value = NULL;
        return names[k];
    }
    return NULL;
}

/* The switch of `f` that `arg` is exactly, or NULL. */
static const char *switch_match(const struct ctl_cmd_flags *f, const char *arg)
{
    for (size_t k = 0; k < f->n_switches; k++)
        if (strcmp(arg, f->switches[k]) == 0)
            return f->switches[k];
    return NULL;
}

int ctl_cmd_flags_parse(struct ctl_opts *o, const struct ctl_cmd_flags *f, void *arg, int *argc, char **argv,
                        int *rest)
{
    int out = 1, rc;

    for (int i = 1; i < *argc; i++) {
        const char *value = NULL, *flag = switch_match(f, argv[i]);

        if (flag == NULL) {
            flag = flag_match(f->with_value, f->n_with_value, *argc, argv, &i, &value);
            if (flag == NULL) {
                argv[out++] = argv[i];
                continue;
            }
            if (value == NULL)
                return ctl_usage_error(f->command, "flag '%s' needs a value", flag);
        }
        rc = f->take(arg, flag, value);
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    *argc = out;
    rc = ctl_opts_parse(o, *argc, argv, false, rest);
    if (rc == CTL_EXIT_OK && o->help)
        f->usage(stdout);
    return rc;
}
