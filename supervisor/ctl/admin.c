/* fleetctl restart|fence|unfence|drain|resume: an operator's signed command
 * to the leading supervisor (DESIGN.md §3 `<prefix>.v1.admin.<verb>`, §7).
 *
 *   fleetctl restart SERVICE[/INSTANCE] [--reason T] [--force]
 *                    [--batch N] [--min-healthy-time D] [--no-follow]
 *   fleetctl fence|unfence|drain|resume SERVICE/INSTANCE [--reason T]
 *   (each with --key FILE (or $FLEET_OPERATOR_KEY_FILE), [--operator NAME]
 *    and the global flags)
 *
 * The command is an AdminCommand sealed with the operator's key into an
 * Envelope (fleet/admin.h); the leader answers with an AdminReply, and only
 * the leader answers. `restart SERVICE` is a rolling restart: after the
 * leader has started it, this follows the service's events and returns when
 * the roll is done (0) or stopped (1), printing its progress on stderr.
 * Exit codes: 0 done, 1 refused or failed (the reason printed), 2 usage,
 * 3 no leading supervisor answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "duration.h"
#include "fleet/admin.h"
#include "fleet/subjects.h"

/* A roll that shows no progress for this long (its batch window is far
 * shorter: the supervisor then stops it with an event) is given up. */
#define ROLL_SILENCE_MS (10 * 60 * 1000)

struct admin_args {
    const char *key_file;      /* --key, else $FLEET_OPERATOR_KEY_FILE */
    const char *operator_name; /* --operator, else $FLEET_OPERATOR, else "" */
    const char *reason;        /* --reason, "" when not given */
    bool force;
    bool no_follow;
    uint64_t batch;            /* 0: not given */
    int64_t min_healthy_ms;    /* -1: not given */
};

static const char *verb_summary(fleet_admin_verb v)
{
    switch (v) {
    case FLEET_VERB_RESTART: return "restart an instance now, or roll a whole service";
    case FLEET_VERB_FENCE: return "fence an instance: its agent stops it and keeps it down";
    case FLEET_VERB_UNFENCE: return "lift a fence (and clear the crash-loop tally)";
    case FLEET_VERB_DRAIN: return "ask an instance to drain";
    case FLEET_VERB_RESUME: return "end a drain";
    default: return "";
    }
}

static fleet_admin_verb current_verb;

static void admin_usage(FILE *out)
{
    const char *name = fleet_admin_verb_name(current_verb);

    if (current_verb == FLEET_VERB_RESTART)
        fprintf(out, "usage: fleetctl restart SERVICE[/INSTANCE] [--reason TEXT] [--force]\n"
                     "                        [--batch N] [--min-healthy-time D] [--no-follow]\n");
    else
        fprintf(out, "usage: fleetctl %s SERVICE/INSTANCE [--reason TEXT]\n", name);
    fprintf(out,
            "\n%s, through the leading supervisor, signed with your operator key.\n"
            "The supervisor's config must list your public key under operators: with\n"
            "this verb and service allowed.\n"
            "\n"
            "  --key FILE      your operator key, an nkey seed file (0600) from 'fleetctl keygen'\n"
            "                  (default: $FLEET_OPERATOR_KEY_FILE)\n"
            "  --operator NAME your name as the supervisor's config has it (default:\n"
            "                  $FLEET_OPERATOR, else the supervisor names you by your key)\n"
            "  --reason TEXT   why, for the events and the audit trail\n",
            verb_summary(current_verb));
    if (current_verb == FLEET_VERB_RESTART)
        fprintf(out,
                "  --force         restart even the last serving instance of its service\n"
                "\n"
                "Without /INSTANCE: a rolling restart, one instance at a time (--batch N),\n"
                "each next only after the previous is HEALTHY again for --min-healthy-time\n"
                "(default 10s); it stops if an instance does not come back. fleetctl follows\n"
                "it and returns when it is done (exit 0) or stopped (exit 1), unless\n"
                "--no-follow.\n");
    fputs("\nexit codes: 0 done, 1 refused or failed, 2 usage, 3 no leading supervisor answered\n", out);
}

static int take_flag(void *arg, const char *flag, const char *value)
{
    struct admin_args *a = arg;
    const char *cmd = fleet_admin_verb_name(current_verb);

    if (strcmp(flag, "--key") == 0) {
        a->key_file = value;
    } else if (strcmp(flag, "--operator") == 0) {
        if (!fleet_operator_name_valid(value))
            return ctl_usage_error(cmd, "--operator '%s' is not a name: 1-%d printable characters, no "
                                   "spaces or quotes", value, FLEET_OPERATOR_MAX);
        a->operator_name = value;
    } else if (strcmp(flag, "--reason") == 0) {
        if (strlen(value) > FLEET_REASON_MAX)
            return ctl_usage_error(cmd, "--reason is over %d bytes", FLEET_REASON_MAX);
        a->reason = value;
    } else if (strcmp(flag, "--force") == 0 && current_verb == FLEET_VERB_RESTART) {
        a->force = true;
    } else if (strcmp(flag, "--no-follow") == 0 && current_verb == FLEET_VERB_RESTART) {
        a->no_follow = true;
    } else if (strcmp(flag, "--batch") == 0 && current_verb == FLEET_VERB_RESTART) {
        char *end;
        unsigned long long n = strtoull(value, &end, 10);

        if (*value == '\0' || *end != '\0' || n < 1 || n > 16)
            return ctl_usage_error(cmd, "--batch wants a number of instances, 1 to 16, not '%s'", value);
        a->batch = n;
    } else if (strcmp(flag, "--min-healthy-time") == 0 && current_verb == FLEET_VERB_RESTART) {
        if (duration_parse(value, 3600 * 1000, &a->min_healthy_ms) != 0)
            return ctl_usage_error(cmd, "--min-healthy-time wants a duration like 10s or 2m (at most 1h), "
                                   "not '%s'", value);
    } else {
        return ctl_usage_error(cmd, "%s applies to restart only", flag);
    }
    return CTL_EXIT_OK;
}

/* Splits "SERVICE[/INSTANCE]" into the command. */
static int parse_target(const char *cmd, const char *arg, bool instance_required, fleet_admin_command *c)
{
    const char *slash = strchr(arg, '/');
    size_t svc_len = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

    if (svc_len == 0 || svc_len > FLEET_NAME_MAX)
        return ctl_usage_error(cmd, "'%s' does not start with a service name", arg);
    memcpy(c->service, arg, svc_len);
    c->service[svc_len] = '\0';
    if (!fleet_name_valid(c->service))
        return ctl_usage_error(cmd, "'%s' is not a service name: 1-%d characters of [A-Za-z0-9_-]", c->service,
                               FLEET_NAME_MAX);
    if (slash != NULL) {
        if (!fleet_name_valid(slash + 1))
            return ctl_usage_error(cmd, "'%s' is not an instance name: 1-%d characters of [A-Za-z0-9_-]",
                                   slash + 1, FLEET_NAME_MAX);
        snprintf(c->instance, sizeof(c->instance), "%s", slash + 1);
    } else if (instance_required) {
        return ctl_usage_error(cmd, "name the instance: %s SERVICE/INSTANCE", cmd);
    }
    return CTL_EXIT_OK;
}

static int load_key(const char *cmd, const char *path, fleet_keypair **kp)
{
    if (path == NULL || path[0] == '\0')
        return ctl_usage_error(cmd, "no operator key: give --key FILE or set FLEET_OPERATOR_KEY_FILE "
                               "(make one with 'fleetctl keygen --out FILE')");
    if (fleet_keypair_from_seed_file(path, kp) != FLEET_OK) {
        fprintf(stderr, "fleetctl %s: cannot use the operator key %s: %s\n", cmd, path, fleet_last_error());
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

int ctl_admin_send(const struct ctl_opts *o, natsConnection *nc, const fleet_admin_command *c,
                   const char *key_file, char *result, size_t result_len)
{
    const char *cmd = fleet_admin_verb_name(c->verb);
    char subject[FLEET_SUBJECT_MAX];
    fleet_keypair *kp = NULL;
    Fleet__V1__AdminReply *r;
    natsMsg *reply = NULL;
    uint8_t *env;
    size_t len;
    natsStatus s;
    int rc;

    rc = load_key(cmd, key_file, &kp);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (fleet_admin_seal(c, kp, &env, &len) != FLEET_OK) {
        fprintf(stderr, "fleetctl %s: cannot sign the command: %s\n", cmd, fleet_last_error());
        fleet_keypair_destroy(kp);
        return CTL_EXIT_FAIL;
    }
    fleet_keypair_destroy(kp);
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_ADMIN, o->prefix, cmd, NULL);
    s = natsConnection_Request(&reply, nc, subject, env, (int)len, o->timeout_ms);
    free(env);
    if (s != NATS_OK) {
        fprintf(stderr, "fleetctl %s: no leading supervisor answered on %s within %lld ms (%s): is one "
                        "running, leading and connected to %s?%s\n", cmd, subject, (long long)o->timeout_ms,
                natsStatus_GetText(s), o->server_shown,
                strcmp(o->prefix, FLEET_DEFAULT_PREFIX) == 0 ? "" : " (with the same --prefix?)");
        return CTL_EXIT_NO_ANSWER;
    }
    r = fleet__v1__admin_reply__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
                                        (const uint8_t *)natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    if (r == NULL) {
        fprintf(stderr, "fleetctl %s: the answer on %s is not an AdminReply\n", cmd, subject);
        return CTL_EXIT_FAIL;
    }
    if (!r->ok) {
        fprintf(stderr, "fleetctl %s: refused: %s\n", cmd, r->error);
        fleet__v1__admin_reply__free_unpacked(r, NULL);
        return CTL_EXIT_FAIL;
    }
    snprintf(result, result_len, "%s", r->result);
    fleet__v1__admin_reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

/* Follows a rolling restart of c->service by `who` on the service's events
 * (subscribed before the command went), until its "done" or "stopped". */
static int follow_roll(natsSubscription *sub, const fleet_admin_command *c, const char *who)
{
    char mine[FLEET_OPERATOR_MAX + 32];
    int64_t quiet_since = fleet_mono_ms();

    for (;;) {
        natsMsg *msg = NULL;
        Fleet__V1__Event *e;
        natsStatus s = natsSubscription_NextMsg(&msg, sub, 1000);
        int rc = -1;

        if (s == NATS_TIMEOUT) {
            if (fleet_mono_ms() - quiet_since > ROLL_SILENCE_MS) {
                fprintf(stderr, "fleetctl restart: no progress of the rolling restart of %s for 10 minutes: "
                                "giving up watching (see fleetctl events --service %s)\n", c->service,
                        c->service);
                return CTL_EXIT_FAIL;
            }
            continue;
        }
        if (s != NATS_OK) {
            fprintf(stderr, "fleetctl restart: lost the event feed (%s)\n", natsStatus_GetText(s));
            return CTL_EXIT_FAIL;
        }
        e = fleet__v1__event__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                     (const uint8_t *)natsMsg_GetData(msg));
        natsMsg_Destroy(msg);
        if (e == NULL)
            continue;
        quiet_since = fleet_mono_ms();
        snprintf(mine, sizeof(mine), "rolling restart by %s: ", e->operator_);
        if (e->instance[0] != '\0')
            fprintf(stderr, "%s/%s: %s\n", e->service, e->instance, e->reason);
        else if (strncmp(e->reason, mine, strlen(mine)) == 0 && (who[0] == '\0' || strcmp(e->operator_, who) == 0)) {
            const char *what = e->reason + strlen(mine);

            fprintf(stderr, "%s: %s\n", e->service, what);
            if (strncmp(what, "done:", 5) == 0)
                rc = CTL_EXIT_OK;
            else if (strncmp(what, "stopped:", 8) == 0)
                rc = CTL_EXIT_FAIL;
        }
        fleet__v1__event__free_unpacked(e, NULL);
        if (rc >= 0)
            return rc;
    }
}

int ctl_cmd_admin(struct ctl_opts *o, int argc, char **argv)
{
    static const char *const switches[] = { "--force", "--no-follow" };
    static const char *const with_value[] = { "--key", "--operator", "--reason", "--batch", "--min-healthy-time" };
    struct admin_args a = { .min_healthy_ms = -1 };
    struct ctl_cmd_flags flags = {
        NULL, switches, sizeof(switches) / sizeof(switches[0]), with_value,
        sizeof(with_value) / sizeof(with_value[0]), take_flag, admin_usage,
    };
    fleet_admin_command c;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    char result[256], subject[FLEET_SUBJECT_MAX];
    const char *env_op = getenv("FLEET_OPERATOR");
    bool rolling;
    int rest, rc;

    current_verb = fleet_admin_verb_parse(argv[0]);
    flags.command = argv[0];
    a.key_file = getenv("FLEET_OPERATOR_KEY_FILE");
    a.operator_name = env_op != NULL && fleet_operator_name_valid(env_op) ? env_op : "";
    a.reason = "";
    rc = ctl_cmd_flags_parse(o, &flags, &a, &argc, argv, &rest);
    if (rc != CTL_EXIT_OK || o->help)
        return rc;
    if (argc - rest != 1)
        return ctl_usage_error(argv[0], "give one target: %s SERVICE%s", argv[0],
                               current_verb == FLEET_VERB_RESTART ? "[/INSTANCE]" : "/INSTANCE");
    memset(&c, 0, sizeof(c));
    c.verb = current_verb;
    rc = parse_target(argv[0], argv[rest], current_verb != FLEET_VERB_RESTART, &c);
    if (rc != CTL_EXIT_OK)
        return rc;
    rolling = c.instance[0] == '\0';
    if (!rolling && (a.batch != 0 || a.min_healthy_ms >= 0))
        return ctl_usage_error(argv[0], "--batch and --min-healthy-time are for a rolling restart: name no "
                               "instance");
    snprintf(c.operator_name, sizeof(c.operator_name), "%s", a.operator_name);
    snprintf(c.reason, sizeof(c.reason), "%s", a.reason);
    c.force = a.force;
    c.batch = (uint32_t)a.batch;
    c.min_healthy_ms = a.min_healthy_ms >= 0 ? (uint32_t)a.min_healthy_ms : 0;
    c.issued_unix_ms = fleet_unix_ms();
    c.expires_unix_ms = c.issued_unix_ms + FLEET_ADMIN_DEFAULT_TTL_MS;
    if (fleet_admin_new_nonce(&c) != FLEET_OK) {
        fprintf(stderr, "fleetctl %s: %s\n", argv[0], fleet_last_error());
        return CTL_EXIT_FAIL;
    }
    if (ctl_connect(o, NULL, &nc) != FLEET_OK)
        return CTL_EXIT_FAIL;
    /* A roll's events are subscribed before it starts, so none is missed. */
    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS, o->prefix, c.service, NULL);
    if (rolling && !a.no_follow && natsConnection_SubscribeSync(&sub, nc, subject) != NATS_OK) {
        fprintf(stderr, "fleetctl restart: cannot subscribe to %s\n", subject);
        ctl_conn_close(nc);
        return CTL_EXIT_FAIL;
    }
    rc = ctl_admin_send(o, nc, &c, a.key_file, result, sizeof(result));
    if (rc == CTL_EXIT_OK)
        printf("%s\n", result);
    if (rc == CTL_EXIT_OK && sub != NULL)
        rc = follow_roll(sub, &c, c.operator_name);
    natsSubscription_Destroy(sub);
    ctl_conn_close(nc);
    return rc;
}
