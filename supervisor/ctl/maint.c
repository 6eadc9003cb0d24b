/* fleetctl maintenance: set, lift and list the maintenance flags the
 * supervisor reads from its state bucket (DESIGN.md §8).
 *
 *   fleetctl maintenance on SERVICE [--instance ID] [--reason TEXT]
 *   fleetctl maintenance off SERVICE [--instance ID]
 *   fleetctl maintenance list
 *   (each with [--bucket NAME] and the global flags)
 *
 * A flag is the KV key "maint.<service>" (whole service) or
 * "maint.<service>.<instance>" in the bucket, its value the reason. This
 * command writes and deletes the key directly with the operator's own NATS
 * credentials; the leading supervisor picks the change up within one lease
 * renewal period. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "fleet/names.h"
#include "fleet/subjects.h"


struct maint_args {
    const char *instance;  /* NULL: the whole service */
    const char *reason;    /* NULL: a default naming the user */
    const char *bucket;
};

static void maint_usage(FILE *out)
{
    fprintf(out,
            "usage: fleetctl maintenance on SERVICE [--instance ID] [--reason TEXT]\n"
            "       fleetctl maintenance off SERVICE [--instance ID]\n"
            "       fleetctl maintenance list\n"
            "       (each also takes --bucket NAME and the global flags)\n"
            "\n"
            "Under maintenance a service (or one instance) is still observed, but the\n"
            "supervisor restarts and fences none of it; its instances' reason on the feed\n"
            "says \"held: maintenance: TEXT\". Lifting it resumes the normal policy: an\n"
            "instance still dead is judged afresh (restarted). An action already sent is\n"
            "not recalled. The flag is durable: it lives in the supervisor's JetStream KV\n"
            "bucket, so it survives supervisor restarts and failover, and the leading\n"
            "supervisor applies a change within 5 seconds.\n"
            "\n"
            "  --instance ID   only this instance (default: the whole service)\n"
            "  --reason TEXT   why, shown on the feed (UTF-8, at most %d bytes;\n"
            "                  default \"by $USER\")\n"
            "  --bucket NAME   the supervisor's state bucket (default %s)\n"
            "\n"
            "This writes the KV key maint.SERVICE[.ID] with your own NATS credentials\n"
            "(--creds): whoever may write the bucket may set maintenance. Signed\n"
            "administrative commands are a later feature.\n",
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

static const char *const maint_with_value[] = { "--instance", "--reason", "--bucket" };
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

static int set_flag(kvStore *kv, const struct maint_args *a, const char *service, const char *key)
{
    char dflt[FLEET_KEPT_REASON_MAX + 1];
    const char *reason = a->reason;
    const char *user = getenv("USER");
    uint64_t rev = 0;
    natsStatus s;

    if (reason == NULL) {
        snprintf(dflt, sizeof(dflt), "by %s", user != NULL && user[0] != '\0' ? user : "fleetctl");
        if (!reason_valid(dflt))
            snprintf(dflt, sizeof(dflt), "by fleetctl");
        reason = dflt;
    }
    s = kvStore_PutString(&rev, kv, key, reason);
    if (s != NATS_OK) {
        const char *why = nats_GetLastError(NULL);

        fprintf(stderr, "fleetctl: cannot write %s: %s\n", key,
                why != NULL && why[0] != '\0' ? why : natsStatus_GetText(s));
        return CTL_EXIT_FAIL;
    }
    printf("%s%s%s under maintenance: %s\n", service, a->instance ? "/" : "", a->instance ? a->instance : "",
           reason);
    return CTL_EXIT_OK;
}

static int lift_flag(kvStore *kv, const struct maint_args *a, const char *service, const char *key)
{
    kvEntry *e = NULL;
    natsStatus s;

    s = kvStore_Get(&e, kv, key);
    kvEntry_Destroy(e);
    if (s == NATS_NOT_FOUND) {
        printf("%s%s%s was not under maintenance\n", service, a->instance ? "/" : "",
               a->instance ? a->instance : "");
        return CTL_EXIT_OK;
    }
    if (s == NATS_OK)
        s = kvStore_Delete(kv, key);
    if (s != NATS_OK) {
        const char *why = nats_GetLastError(NULL);

        fprintf(stderr, "fleetctl: cannot delete %s: %s\n", key,
                why != NULL && why[0] != '\0' ? why : natsStatus_GetText(s));
        return CTL_EXIT_FAIL;
    }
    printf("%s%s%s: maintenance lifted\n", service, a->instance ? "/" : "", a->instance ? a->instance : "");
    return CTL_EXIT_OK;
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
    struct maint_args a = { .bucket = FLEET_DEFAULT_STATE_BUCKET };
    char key[FLEET_KV_KEY_MAX];
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    const char *verb, *service = NULL;
    int rc, rest, nargs;

    rc = ctl_cmd_flags_parse(o, &maint_flags, &a, &argc, argv, &rest);
    if (rc != CTL_EXIT_OK || o->help)
        return rc;
    nargs = argc - rest;
    if (nargs == 0)
        return ctl_usage_error("maintenance", "say what: on SERVICE, off SERVICE or list");
    verb = argv[rest];
    if (strcmp(verb, "list") == 0) {
        if (nargs != 1)
            return ctl_usage_error("maintenance", "list takes no argument, not '%s'", argv[rest + 1]);
        if (a.instance != NULL || a.reason != NULL)
            return ctl_usage_error("maintenance", "list takes no --instance or --reason");
    } else if (strcmp(verb, "on") == 0 || strcmp(verb, "off") == 0) {
        if (nargs != 2)
            return ctl_usage_error("maintenance", "%s wants exactly one SERVICE", verb);
        service = argv[rest + 1];
        if (!fleet_name_valid(service))
            return ctl_usage_error("maintenance", "'%s' is not a service name: 1-%d characters of [A-Za-z0-9_-]",
                                     service, FLEET_NAME_MAX);
        if (verb[1] == 'f' && a.reason != NULL)
            return ctl_usage_error("maintenance", "off takes no --reason");
        snprintf(key, sizeof(key), FLEET_KV_MAINT_PREFIX "%s%s%s", service, a.instance ? "." : "",
                 a.instance ? a.instance : "");
    } else {
        return ctl_usage_error("maintenance", "unknown action '%s': on, off or list", verb);
    }

    if (ctl_connect(o, NULL, &nc) != FLEET_OK) {
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    rc = open_bucket(o, &a, nc, &js, &kv);
    if (rc != CTL_EXIT_OK)
        goto out_close;
    if (service == NULL)
        rc = list_flags(o, kv);
    else if (verb[1] == 'n')
        rc = set_flag(kv, &a, service, key);
    else
        rc = lift_flag(kv, &a, service, key);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "fleetctl: cannot write to stdout\n");
        rc = CTL_EXIT_FAIL;
    }

out_close:
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    ctl_conn_close(nc);
    return rc;
}
