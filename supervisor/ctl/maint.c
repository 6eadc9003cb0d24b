/* fleetctl maintenance: set, lift and list the maintenance flags
 * (DESIGN.md §8).
 *
 *   fleetctl maintenance on SERVICE[/INSTANCE] --reason TEXT
 *   fleetctl maintenance off SERVICE[/INSTANCE] [--reason TEXT]
 *   (each with --key FILE or $FLEET_OPERATOR_KEY_FILE, [--operator NAME])
 *   fleetctl maintenance list [--bucket NAME]
 *   (and the global flags)
 *
 * on and off are signed AdminCommands (maintenance-on, maintenance-off) to
 * the leading supervisor, which stores the flag (the KV key
 * "maint.<service>[.<instance>]" of its state bucket, the reason its value),
 * holds it at once and announces it as an event in the operator's name.
 * list reads the bucket. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "fleet/names.h"
#include "fleet/subjects.h"


struct maint_args {
    const char *instance;  /* --instance (SERVICE/INSTANCE is the same); NULL: the whole service */
    const char *reason;    /* NULL: not given */
    const char *bucket;
    const char *key_file;  /* --key, else $FLEET_OPERATOR_KEY_FILE */
    const char *operator_name; /* --operator, else $FLEET_OPERATOR, else "" */
};

static void maint_usage(FILE *out)
{
    fprintf(out,
            "usage: fleetctl maintenance on SERVICE[/INSTANCE] --reason TEXT [--key FILE]\n"
            "       fleetctl maintenance off SERVICE[/INSTANCE] [--reason TEXT] [--key FILE]\n"
            "       fleetctl maintenance list [--bucket NAME]\n"
            "       (each also takes the global flags)\n"
            "\n"
            "Under maintenance a service (or one instance) is still observed, but the\n"
            "supervisor restarts and fences none of it; its instances' reason on the feed\n"
            "says \"held: maintenance: TEXT\". Lifting it resumes the normal policy: an\n"
            "instance still dead is judged afresh (restarted). An action already sent is\n"
            "not recalled. The flag is durable: the leading supervisor stores it in its\n"
            "JetStream KV bucket, so it survives supervisor restarts and failover.\n"
            "\n"
            "on and off are commands signed with your operator key, carried out by the\n"
            "leading supervisor if its config allows you the verb (maintenance-on,\n"
            "maintenance-off) on that service.\n"
            "\n"
            "  --reason TEXT   why, shown on the feed (UTF-8, at most %d bytes)\n"
            "  --instance ID   the same as SERVICE/ID\n"
            "  --key FILE      your operator key (default: $FLEET_OPERATOR_KEY_FILE)\n"
            "  --operator NAME your name in the supervisor's config (default: $FLEET_OPERATOR)\n"
            "  --bucket NAME   list: the supervisor's state bucket (default %s)\n"
            "\n"
            "exit codes: 0 done, 1 refused or failed, 2 usage, 3 no leading supervisor answered\n",
            FLEET_KEPT_REASON_MAX, FLEET_DEFAULT_STATE_BUCKET);
}

/* True when `s` is valid UTF-8 without control characters. */
static bool reason_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        int extra;

        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (*p < 0x80)
            extra = 0;
        else if ((*p & 0xE0) == 0xC0 && *p >= 0xC2)
            extra = 1;
        else if ((*p & 0xF0) == 0xE0)
            extra = 2;
        else if ((*p & 0xF8) == 0xF0 && *p <= 0xF4)
            extra = 3;
        else
            return false;
        p++;
        for (int k = 0; k < extra; k++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

/* Stores one of this command's own flags into the maint_args `arg`
 * (ctl_cmd_flags). */
static int take_flag(void *arg, const char *flag, const char *value)
{
    struct maint_args *a = arg;

    if (strcmp(flag, "--instance") == 0) {
        if (!fleet_name_valid(value))
            return ctl_usage_error("maintenance", "--instance '%s' is not an instance name: 1-%d characters "
                                     "of [A-Za-z0-9_-]", value, FLEET_NAME_MAX);
        a->instance = value;
    } else if (strcmp(flag, "--key") == 0) {
        a->key_file = value;
    } else if (strcmp(flag, "--operator") == 0) {
        if (!fleet_operator_name_valid(value))
            return ctl_usage_error("maintenance", "--operator '%s' is not a name: 1-%d printable characters, "
                                     "no spaces or quotes", value, FLEET_OPERATOR_MAX);
        a->operator_name = value;
    } else if (strcmp(flag, "--reason") == 0) {
        if (strlen(value) > FLEET_KEPT_REASON_MAX || !reason_valid(value))
            return ctl_usage_error("maintenance", "--reason wants UTF-8 text without control characters, "
                                     "at most %d bytes", FLEET_KEPT_REASON_MAX);
        a->reason = value;
    } else {
        if (!ctl_js_name_valid(value))
            return ctl_usage_error("maintenance", "--bucket '%s' is not a bucket name", value);
        a->bucket = value;
    }
    return CTL_EXIT_OK;
}

static const char *const maint_with_value[] = { "--instance", "--reason", "--bucket", "--key", "--operator" };
static const struct ctl_cmd_flags maint_flags = {
    "maintenance", NULL, 0, maint_with_value, sizeof(maint_with_value) / sizeof(maint_with_value[0]), take_flag,
    maint_usage,
};

/* Opens the bucket, explaining on stderr why not. */
static int open_bucket(const struct ctl_opts *o, const struct maint_args *a, natsConnection *nc,
                       jsCtx **js, kvStore **kv)
{
    jsOptions jo;
    natsStatus s;

    jsOptions_Init(&jo);
    jo.Wait = o->timeout_ms;
    s = natsConnection_JetStream(js, nc, &jo);
    if (s != NATS_OK) {
        fprintf(stderr, "fleetctl: cannot use JetStream: %s\n", natsStatus_GetText(s));
        return CTL_EXIT_FAIL;
    }
    s = js_KeyValue(kv, *js, a->bucket);
    if (s == NATS_OK)
        return CTL_EXIT_OK;
    if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT) {
        fprintf(stderr, "fleetctl: %s answered no JetStream request (%s): maintenance flags live in "
                        "JetStream; start nats-server with -js\n", o->server_shown, natsStatus_GetText(s));
    } else if (s == NATS_NOT_FOUND) {
        fprintf(stderr, "fleetctl: no KV bucket %s on %s: has a fleet-supervisor with JetStream run "
                        "there (it creates the bucket)? Another name: --bucket NAME\n", a->bucket, o->server_shown);
    } else {
        const char *why = nats_GetLastError(NULL);

        fprintf(stderr, "fleetctl: cannot open KV bucket %s on %s: %s\n", a->bucket, o->server_shown,
                why != NULL && why[0] != '\0' ? why : natsStatus_GetText(s));
    }
    return CTL_EXIT_FAIL;
}

/* on/off: a signed command to the leader. */
static int set_or_lift(const struct ctl_opts *o, const struct maint_args *a, const char *service, bool on)
{
    fleet_admin_command c;
    natsConnection *nc = NULL;
    char result[256];
    int rc;

    memset(&c, 0, sizeof(c));
    c.verb = on ? FLEET_VERB_MAINTENANCE_ON : FLEET_VERB_MAINTENANCE_OFF;
    snprintf(c.service, sizeof(c.service), "%s", service);
    snprintf(c.instance, sizeof(c.instance), "%s", a->instance != NULL ? a->instance : "");
    snprintf(c.operator_name, sizeof(c.operator_name), "%s", a->operator_name);
    snprintf(c.reason, sizeof(c.reason), "%s", a->reason != NULL ? a->reason : "");
    c.issued_unix_ms = fleet_unix_ms();
    c.expires_unix_ms = c.issued_unix_ms + FLEET_ADMIN_DEFAULT_TTL_MS;
    if (fleet_admin_new_nonce(&c) != FLEET_OK) {
        fprintf(stderr, "fleetctl maintenance: %s\n", fleet_last_error());
        return CTL_EXIT_FAIL;
    }
    if (a->key_file == NULL || a->key_file[0] == '\0')
        return ctl_usage_error("maintenance", "no operator key: give --key FILE or set FLEET_OPERATOR_KEY_FILE "
                                 "(make one with 'fleetctl keygen --out FILE')");
    if (ctl_connect(o, NULL, &nc) != FLEET_OK)
        return CTL_EXIT_FAIL;
    rc = ctl_admin_send(o, nc, &c, a->key_file, result, sizeof(result));
    if (rc == CTL_EXIT_OK)
        printf("%s%s%s\n", result, on ? ": " : "", on ? c.reason : "");
    ctl_conn_close(nc);
    return rc;
}

static int list_flags(const struct ctl_opts *o, kvStore *kv)
{
    kvWatcher *w = NULL;
    kvWatchOptions wo;
    natsStatus s;
    int rc = CTL_EXIT_OK;
    size_t n = 0;

    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    s = kvStore_Watch(&w, kv, FLEET_KV_MAINT_PREFIX ">", &wo);
    if (s != NATS_OK) {
        fprintf(stderr, "fleetctl: cannot read the maintenance flags: %s\n", natsStatus_GetText(s));
        return CTL_EXIT_FAIL;
    }
    for (;;) {
        kvEntry *e = NULL;
        char key[FLEET_KV_KEY_MAX], since[32];
        char *svc, *inst;
        time_t t;
        struct tm tm;

        s = kvWatcher_Next(&e, w, o->timeout_ms);
        if (s != NATS_OK) {
            fprintf(stderr, "fleetctl: reading the maintenance flags stalled: %s\n", natsStatus_GetText(s));
            rc = CTL_EXIT_FAIL;
            break;
        }
        if (e == NULL)
            break;
        snprintf(key, sizeof(key), "%s", kvEntry_Key(e));
        svc = key + strlen(FLEET_KV_MAINT_PREFIX);
        inst = strchr(svc, '.');
        if (inst != NULL)
            *inst++ = '\0';
        t = (time_t)(kvEntry_Created(e) / 1000000000LL);
        if (gmtime_r(&t, &tm) == NULL || strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            snprintf(since, sizeof(since), "-");
        if (n++ == 0 && !o->json)
            printf("%-24s %-24s %-20s %s\n", "SERVICE", "INSTANCE", "SINCE", "REASON");
        if (o->json)
            printf("{\"service\":\"%s\",\"instance\":\"%s\",\"since\":\"%s\",\"reason\":\"", svc,
                   inst != NULL ? inst : "", since);
        else
            printf("%-24s %-24s %-20s ", svc, inst != NULL ? inst : "*", since);
        for (int k = 0; k < kvEntry_ValueLen(e); k++) {
            char c = ((const char *)kvEntry_Value(e))[k];

            if (o->json && (c == '"' || c == '\\'))
                putchar('\\');
            putchar((unsigned char)c < 0x20 ? ' ' : c);
        }
        fputs(o->json ? "\"}\n" : "\n", stdout);
        kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    if (rc == CTL_EXIT_OK && n == 0 && !o->json)
        printf("nothing under maintenance\n");
    return rc;
}

int ctl_cmd_maintenance(struct ctl_opts *o, int argc, char **argv)
{
    const char *env_op = getenv("FLEET_OPERATOR");
    struct maint_args a = {
        .bucket = FLEET_DEFAULT_STATE_BUCKET, .key_file = getenv("FLEET_OPERATOR_KEY_FILE"),
        .operator_name = env_op != NULL && fleet_operator_name_valid(env_op) ? env_op : "",
    };
    char service[FLEET_NAME_MAX + 1];
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    const char *verb, *slash;
    int rc, rest, nargs;

    rc = ctl_cmd_flags_parse(o, &maint_flags, &a, &argc, argv, &rest);
    if (rc != CTL_EXIT_OK || o->help)
        return rc;
    nargs = argc - rest;
    if (nargs == 0)
        return ctl_usage_error("maintenance", "say what: on SERVICE, off SERVICE or list");
    verb = argv[rest];
    if (strcmp(verb, "on") == 0 || strcmp(verb, "off") == 0) {
        const char *target;
        size_t svc_len;

        if (nargs != 2)
            return ctl_usage_error("maintenance", "%s wants exactly one SERVICE[/INSTANCE]", verb);
        target = argv[rest + 1];
        slash = strchr(target, '/');
        svc_len = slash != NULL ? (size_t)(slash - target) : strlen(target);
        if (svc_len <= FLEET_NAME_MAX) {
            memcpy(service, target, svc_len);
            service[svc_len] = '\0';
        }
        if (svc_len > FLEET_NAME_MAX || !fleet_name_valid(service))
            return ctl_usage_error("maintenance", "'%s' is not a service name: 1-%d characters of [A-Za-z0-9_-]",
                                     target, FLEET_NAME_MAX);
        if (slash != NULL) {
            if (a.instance != NULL)
                return ctl_usage_error("maintenance", "give the instance once: SERVICE/INSTANCE or --instance");
            if (!fleet_name_valid(slash + 1))
                return ctl_usage_error("maintenance", "'%s' is not an instance name: 1-%d characters of "
                                         "[A-Za-z0-9_-]", slash + 1, FLEET_NAME_MAX);
            a.instance = slash + 1;
        }
        if (verb[1] == 'n' && (a.reason == NULL || a.reason[0] == '\0'))
            return ctl_usage_error("maintenance", "on wants --reason TEXT: it is shown on the feed and kept in "
                                     "the audit trail");
        rc = set_or_lift(o, &a, service, verb[1] == 'n');
    } else if (strcmp(verb, "list") == 0) {
        if (nargs != 1)
            return ctl_usage_error("maintenance", "list takes no argument, not '%s'", argv[rest + 1]);
        if (a.instance != NULL || a.reason != NULL)
            return ctl_usage_error("maintenance", "list takes no --instance or --reason");
        if (ctl_connect(o, NULL, &nc) != FLEET_OK)
            return CTL_EXIT_FAIL;
        rc = open_bucket(o, &a, nc, &js, &kv);
        if (rc == CTL_EXIT_OK)
            rc = list_flags(o, kv);
        kvStore_Destroy(kv);
        jsCtx_Destroy(js);
        ctl_conn_close(nc);
    } else {
        return ctl_usage_error("maintenance", "unknown action '%s': on, off or list", verb);
    }
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "fleetctl: cannot write to stdout\n");
        rc = CTL_EXIT_FAIL;
    }
    return rc;
}
