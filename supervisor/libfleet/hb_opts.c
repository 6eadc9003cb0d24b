/* Heartbeat sender options: defaults, validation and copies of the caller's
 * strings. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/control.h"
#include "hb_private.h"
#include "lasterror.h"

bool hb_text_ok(const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Creates options holding every default; freed by fleet_hb_opts_destroy. */
fleet_status fleet_hb_opts_create(fleet_hb_opts **out)
{
    fleet_hb_opts *o;

    if (out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_create: out is NULL");
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "fleet_hb_opts_create: out of memory");
    strcpy(o->prefix, FLEET_DEFAULT_PREFIX);
    if (gethostname(o->host, sizeof(o->host)) != 0)
        o->host[0] = '\0';
    o->host[sizeof(o->host) - 1] = '\0';
    o->interval_ms = FLEET_HB_INTERVAL_DEFAULT_MS;
    o->pid = (uint32_t)getpid();
    o->autonomous = true;
    *out = o;
    return FLEET_OK;
}

void fleet_hb_opts_destroy(fleet_hb_opts *opts)
{
    if (opts == NULL)
        return;
    free(opts->url);
    free(opts->creds);
    free(opts);
}

fleet_status fleet_hb_opts_set_url(fleet_hb_opts *opts, const char *url)
{
    char *copy;

    if (opts == NULL || url == NULL || url[0] == '\0')
        return fleet_fail(FLEET_ERR_INVALID_ARG, "NATS URL is empty");
    copy = strdup(url);
    if (copy == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory copying the NATS URL");
    free(opts->url);
    opts->url = copy;
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_creds(fleet_hb_opts *opts, const char *creds_file)
{
    char *copy;

    if (opts == NULL || creds_file == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_creds: opts and creds_file are required");
    if (!hb_text_ok(creds_file, 4096))
        return fleet_fail(FLEET_ERR_INVALID_ARG, "credentials file path holds control characters");
    copy = strdup(creds_file);
    if (copy == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory copying the credentials path");
    free(opts->creds);
    opts->creds = copy;
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_conn(fleet_hb_opts *opts, natsConnection *conn)
{
    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_conn: opts is NULL");
    opts->conn = conn;
    return FLEET_OK;
}

/* Copies a validated name into one of the fixed name fields. */
static fleet_status set_name(fleet_hb_opts *opts, const char *what, const char *name,
                             char dst[FLEET_NAME_MAX + 1])
{
    fleet_status s;

    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_%s: opts is NULL", what);
    s = fleet_name_check(what, name);
    if (s != FLEET_OK)
        return s;
    strcpy(dst, name);
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_service(fleet_hb_opts *opts, const char *service)
{
    return set_name(opts, "service", service, opts != NULL ? opts->service : NULL);
}

fleet_status fleet_hb_opts_set_instance(fleet_hb_opts *opts, const char *instance)
{
    return set_name(opts, "instance", instance, opts != NULL ? opts->instance : NULL);
}

fleet_status fleet_hb_opts_set_interval_ms(fleet_hb_opts *opts, uint32_t interval_ms)
{
    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_interval_ms: opts is NULL");
    if (interval_ms < FLEET_HB_INTERVAL_MIN_MS || interval_ms > FLEET_HB_INTERVAL_MAX_MS)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "heartbeat interval %u ms is outside %u..%u ms",
                          interval_ms, FLEET_HB_INTERVAL_MIN_MS, FLEET_HB_INTERVAL_MAX_MS);
    opts->interval_ms = interval_ms;
    return FLEET_OK;
}

/* Copies printable text of at most `max` bytes into `dst`. */
static fleet_status set_text(fleet_hb_opts *opts, const char *what, const char *text,
                             char *dst, size_t max)
{
    if (opts == NULL || text == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "%s is NULL", what);
    if (!hb_text_ok(text, max))
        return fleet_fail(FLEET_ERR_INVALID_ARG,
                          "%s must be at most %zu bytes without control characters", what, max);
    strcpy(dst, text);
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_version(fleet_hb_opts *opts, const char *version)
{
    return set_text(opts, "version", version, opts != NULL ? opts->version : NULL,
                    FLEET_HB_VERSION_MAX);
}

fleet_status fleet_hb_opts_set_host(fleet_hb_opts *opts, const char *host)
{
    return set_text(opts, "host", host, opts != NULL ? opts->host : NULL, FLEET_HB_HOST_MAX);
}

fleet_status fleet_hb_opts_set_pid(fleet_hb_opts *opts, uint32_t pid)
{
    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_pid: opts is NULL");
    opts->pid = pid;
    return FLEET_OK;
}

static fleet_status check_prefix(const char *prefix)
{
    if (prefix == NULL || prefix[0] == '\0')
        return fleet_fail(FLEET_ERR_BAD_NAME, "subject prefix is empty");
    if (strnlen(prefix, FLEET_PREFIX_MAX + 1) > FLEET_PREFIX_MAX)
        return fleet_fail(FLEET_ERR_BAD_NAME, "subject prefix is longer than %d bytes", FLEET_PREFIX_MAX);
    if (!fleet_prefix_valid(prefix))
        return fleet_fail(FLEET_ERR_BAD_NAME,
                          "subject prefix \"%s\" must be dot-separated tokens of "
                          "[A-Za-z0-9_-] (no wildcards, no empty token)", prefix);
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_prefix(fleet_hb_opts *opts, const char *prefix)
{
    fleet_status s;

    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_prefix: opts is NULL");
    s = check_prefix(prefix);
    if (s != FLEET_OK)
        return s;
    strcpy(opts->prefix, prefix);
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_autonomous(fleet_hb_opts *opts, bool autonomous)
{
    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_autonomous: opts is NULL");
    opts->autonomous = autonomous;
    return FLEET_OK;
}

fleet_status fleet_hb_opts_set_incarnation(fleet_hb_opts *opts, uint64_t incarnation)
{
    if (opts == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_set_incarnation: opts is NULL");
    if (incarnation == 0)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "incarnation 0 means \"unset\" on the wire; give a non-zero value");
    opts->incarnation = incarnation;
    return FLEET_OK;
}

fleet_status fleet_hb_opts_add_trusted_key(fleet_hb_opts *opts, const char *public_key)
{
    uint8_t raw[FLEET_PUBLIC_KEY_BYTES];
    fleet_status s;

    if (opts == NULL || public_key == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_hb_opts_add_trusted_key: opts and public_key are required");
    s = fleet_nkey_public_decode(public_key, raw);
    if (s != FLEET_OK)
        return s;
    for (size_t k = 0; k < opts->n_trusted; k++)
        if (memcmp(opts->trusted[k], raw, sizeof(raw)) == 0)
            return FLEET_OK;        /* already there */
    if (opts->n_trusted == FLEET_PROOF_ENTRIES_MAX)
        return fleet_fail(FLEET_ERR_TOO_LARGE, "a heartbeat proves to at most %d supervisor keys",
                          FLEET_PROOF_ENTRIES_MAX);
    memcpy(opts->trusted[opts->n_trusted++], raw, sizeof(raw));
    return FLEET_OK;
}

fleet_status hb_opts_trusted_from_env(fleet_hb_opts *opts)
{
    const char *env = getenv("FLEET_TRUSTED_KEYS");
    char **keys = NULL;
    size_t n = 0;
    fleet_status s;

    if (opts->n_trusted > 0 || env == NULL || env[0] == '\0')
        return FLEET_OK;
    s = fleet_key_list_parse(env, &keys, &n);
    for (size_t k = 0; k < n && s == FLEET_OK; k++)
        s = fleet_hb_opts_add_trusted_key(opts, keys[k]);
    fleet_key_list_free(keys, n);
    if (s != FLEET_OK)
        return fleet_fail(s, "FLEET_TRUSTED_KEYS: %s", fleet_last_error());
    return FLEET_OK;
}
