/* The one NATS connection recipe of the project (fleet/conn.h). */
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "fleet/conn.h"
#include "fleet/url.h"
#include "lasterror.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

void fleet_conn_urls_free(char **urls, int n)
{
    if (urls == NULL)
        return;
    for (int k = 0; k < n; k++)
        free(urls[k]);
    free(urls);
}

fleet_status fleet_conn_urls_parse(const char *list, char ***urls, int *n)
{
    char **v = NULL;
    int count = 0;
    const char *p = list;

    if (list == NULL || urls == NULL || n == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "no NATS URL given");
    v = calloc(FLEET_CONN_MAX_SERVERS, sizeof(*v));
    if (v == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory splitting the NATS URL list");
    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end != NULL ? end : p + strlen(p);
        const char *a = p, *b = stop;

        while (a < b && is_space(*a))
            a++;
        while (b > a && is_space(b[-1]))
            b--;
        if (a == b) {
            fleet_conn_urls_free(v, count);
            return fleet_fail(FLEET_ERR_INVALID_ARG, "entry %d of the NATS URL list is empty: separate URLs "
                              "with single commas, e.g. nats://a:4222,nats://b:4222", count + 1);
        }
        for (const char *c = a; c < b; c++) {
            if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
                fleet_conn_urls_free(v, count);
                return fleet_fail(FLEET_ERR_INVALID_ARG, "NATS URL entry %d holds a space or control "
                                  "character: separate URLs with commas only", count + 1);
            }
        }
        if (count == FLEET_CONN_MAX_SERVERS) {
            fleet_conn_urls_free(v, count);
            return fleet_fail(FLEET_ERR_INVALID_ARG, "NATS URL list has more than %d servers",
                              FLEET_CONN_MAX_SERVERS);
        }
        v[count] = strndup(a, (size_t)(b - a));
        if (v[count] == NULL) {
            fleet_conn_urls_free(v, count);
            return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory splitting the NATS URL list");
        }
        count++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    *urls = v;
    *n = count;
    return FLEET_OK;
}

static const char *env_or(const char *v, const char *env, const char *fallback)
{
    const char *e;

    if (v != NULL && v[0] != '\0')
        return v;
    e = getenv(env);
    return e != NULL && e[0] != '\0' ? e : fallback;
}

/* Sets every option of fleet/conn.h on `no`. */
static natsStatus set_options(natsOptions *no, const fleet_conn_opts *o, char **urls, int n,
                              const char *creds)
{
    natsStatus s = natsOptions_SetServers(no, (const char **)urls, n);

    if (s == NATS_OK && creds != NULL && creds[0] != '\0')
        s = natsOptions_SetUserCredentialsFromFiles(no, creds, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetName(no, o->name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(no, FLEET_CONN_RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(no, FLEET_CONN_RECONNECT_JITTER_MS, FLEET_CONN_RECONNECT_JITTER_MS);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(no, FLEET_CONN_PING_INTERVAL_MS);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(no, FLEET_CONN_MAX_PINGS_OUT);
    if (s == NATS_OK && o->timeout_ms > 0)
        s = natsOptions_SetTimeout(no, o->timeout_ms);
    if (s == NATS_OK && o->reconnect_buf_bytes > 0)
        s = natsOptions_SetReconnectBufSize(no, (int)(o->reconnect_buf_bytes > INT32_MAX ? INT32_MAX
                                                                                       : o->reconnect_buf_bytes));
    if (s == NATS_OK && o->no_echo)
        s = natsOptions_SetNoEcho(no, true);
    if (s == NATS_OK && o->send_asap)
        s = natsOptions_SetSendAsap(no, true);
    if (s == NATS_OK && o->on_disconnected != NULL)
        s = natsOptions_SetDisconnectedCB(no, o->on_disconnected, o->ctx);
    if (s == NATS_OK && o->on_reconnected != NULL)
        s = natsOptions_SetReconnectedCB(no, o->on_reconnected, o->ctx);
    if (s == NATS_OK && o->on_closed != NULL)
        s = natsOptions_SetClosedCB(no, o->on_closed, o->ctx);
    /* Registering a connected callback is what makes nats.c retry a failed
     * first connect in the background instead of failing in Connect. */
    if (s == NATS_OK && o->retry_first_connect)
        s = natsOptions_SetRetryOnFailedConnect(no, true, o->on_connected, o->ctx);
    if (s == NATS_OK && o->tune != NULL && o->tune(no, o->ctx) != 0)
        s = NATS_ERR;
    return s;
}

static void ignore_connected(natsConnection *nc, void *ctx)
{
    (void)nc;
    (void)ctx;
}

fleet_status fleet_conn_open(const fleet_conn_opts *o, natsConnection **out)
{
    const char *url, *creds;
    fleet_conn_opts eff;
    natsOptions *no = NULL;
    natsConnection *nc = NULL;
    char **urls = NULL;
    char safe[512];
    int n = 0;
    natsStatus s;
    fleet_status fs;

    if (o == NULL || out == NULL || o->name == NULL || o->name[0] == '\0')
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_conn_open: options with a connection name are required");
    eff = *o;
    if (eff.retry_first_connect && eff.on_connected == NULL)
        eff.on_connected = ignore_connected;
    url = env_or(o->url, "NATS_URL", FLEET_DEFAULT_URL);
    creds = o->creds != NULL ? o->creds : env_or(NULL, "NATS_CREDS", "");
    fleet_url_redact(url, safe, sizeof(safe));
    fs = fleet_conn_urls_parse(url, &urls, &n);
    if (fs != FLEET_OK)
        return fs;
    s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = set_options(no, &eff, urls, n, creds);
    if (s != NATS_OK) {
        const char *detail = nats_GetLastError(NULL);

        fs = fleet_fail(s == NATS_NO_MEMORY ? FLEET_ERR_NO_MEMORY : FLEET_ERR_NATS,
                        "cannot use NATS server(s) %s%s%s: %s%s%s", safe,
                        creds[0] != '\0' ? " with credentials " : "", creds, natsStatus_GetText(s),
                        detail != NULL ? ": " : "", detail != NULL ? detail : "");
        goto out_free;
    }
    s = natsConnection_Connect(&nc, no);
    if (s == NATS_NOT_YET_CONNECTED && eff.retry_first_connect)
        s = NATS_OK;   /* nats.c keeps trying; publishes buffer meanwhile */
    if (s != NATS_OK) {
        fs = fleet_fail(FLEET_ERR_NATS, "cannot connect to NATS at %s: %s%s", safe, natsStatus_GetText(s),
                        s == NATS_NO_SERVER || s == NATS_TIMEOUT
                            ? " (is nats-server running there? Point at it with --server URL or NATS_URL)"
                            : "");
        natsConnection_Destroy(nc);
        goto out_free;
    }
    *out = nc;
    fs = FLEET_OK;

out_free:
    natsOptions_Destroy(no);
    fleet_conn_urls_free(urls, n);
    return fs;
}

void fleet_conn_server_id(natsConnection *nc, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    if (nc == NULL || natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED ||
        natsConnection_GetConnectedServerId(nc, out, n) != NATS_OK)
        out[0] = '\0';
}
