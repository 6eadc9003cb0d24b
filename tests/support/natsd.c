#include "natsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

/* How long three fresh nodes may take to elect a JetStream meta leader and
 * place a stream on every node. Usually 2-5 s; a loaded machine (parallel
 * builds, a sanitizer run) was seen past 30 s. Setup only: no test's
 * verdict depends on it. */
#define CLUSTER_FORM_MS 90000

int natsd_free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static bool port_accepts(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void natsd_kill(struct natsd *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
}

void natsd_pause(struct natsd *d)
{
    if (d->pid > 0)
        kill(d->pid, SIGSTOP);
}

void natsd_resume(struct natsd *d)
{
    if (d->pid > 0)
        kill(d->pid, SIGCONT);
}

static int write_conf(const struct natsd *d, char *path, size_t n)
{
    FILE *f;

    snprintf(path, n, "%s/nats.conf", d->dir);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "host: 127.0.0.1\nport: %d\n", d->port);
    if (d->jetstream)
        fprintf(f, "jetstream { store_dir: \"%s/js\" }\n", d->dir);
    if (d->extra_conf[0] != '\0')
        fprintf(f, "%s\n", d->extra_conf);
    fclose(f);
    return 0;
}

static int spawn(struct natsd *d)
{
    char conf[300], log[300];
    int64_t deadline;
    pid_t pid;

    if (write_conf(d, conf, sizeof(conf)) != 0) {
        fprintf(stderr, "natsd: cannot write config in %s: %s\n", d->dir, strerror(errno));
        return -1;
    }
    snprintf(log, sizeof(log), "%s/nats.log", d->dir);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp("nats-server", "nats-server", "-c", conf, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    deadline = mono_ms() + 10000;
    while (mono_ms() < deadline) {
        int st;

        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "natsd: nats-server exited at start-up (see %s)\n", log);
            d->pid = 0;
            return -1;
        }
        if (port_accepts(d->port))
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "natsd: nats-server did not accept on port %d within 10 s\n", d->port);
    natsd_stop(d, true);
    return -1;
}

int natsd_start(struct natsd *d, bool jetstream)
{
    char extra[sizeof(d->extra_conf)];

    memcpy(extra, d->extra_conf, sizeof(extra));
    memset(d, 0, sizeof(*d));
    memcpy(d->extra_conf, extra, sizeof(extra));
    d->jetstream = jetstream;
    snprintf(d->dir, sizeof(d->dir), "/tmp/fleet-natsd-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        fprintf(stderr, "natsd: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        d->port = natsd_free_port();
        if (d->port <= 0)
            continue;
        snprintf(d->url, sizeof(d->url), "nats://127.0.0.1:%d", d->port);
        if (spawn(d) == 0)
            return 0;
    }
    natsd_stop(d, false);
    return -1;
}

int natsd_restart(struct natsd *d)
{
    return spawn(d);
}

void natsd_stop(struct natsd *d, bool keep_dir)
{
    if (d->pid > 0) {
        int64_t deadline = mono_ms() + 5000;
        int st;

        kill(d->pid, SIGCONT);   /* a paused server cannot act on SIGTERM */
        kill(d->pid, SIGTERM);
        while (waitpid(d->pid, &st, WNOHANG) == 0) {
            if (mono_ms() > deadline) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, &st, 0);
                break;
            }
            usleep(5000);
        }
        d->pid = 0;
    }
    if (!keep_dir && d->dir[0] != '\0') {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "natsd: could not remove %s\n", d->dir);
        d->dir[0] = '\0';
    }
}

/* ---- clusters ---- */

static int make_dir(struct natsd *d)
{
    snprintf(d->dir, sizeof(d->dir), "/tmp/fleet-natsd-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        fprintf(stderr, "natsd: mkdtemp: %s\n", strerror(errno));
        d->dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* True once JetStream places (and removes) a stream with one replica on
 * every node: the meta leader is elected and knows every peer. */
static bool cluster_places_everywhere(const struct natsd_cluster *c)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsOptions jo;
    const char *subjects[] = { "natsd.ready" };
    bool ok = false;

    if (natsConnection_ConnectTo(&nc, c->node[0].url) != NATS_OK)
        goto out;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        goto out;
    jsStreamConfig_Init(&sc);
    sc.Name = "NATSD_READY";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_MemoryStorage;
    sc.Replicas = c->n;
    if (js_AddStream(&si, js, &sc, NULL, NULL) == NATS_OK) {
        ok = true;
        js_DeleteStream(js, "NATSD_READY", NULL, NULL);
    }
    jsStreamInfo_Destroy(si);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return ok;
}

int natsd_cluster_start(struct natsd_cluster *c, int n)
{
    char routes[NATSD_CLUSTER_MAX * 48] = "";
    size_t used = 0;
    int64_t deadline;

    memset(c, 0, sizeof(*c));
    if (n < 1 || n > NATSD_CLUSTER_MAX)
        return -1;
    c->n = n;
    for (int k = 0; k < n; k++) {
        c->node[k].port = natsd_free_port();
        c->route_port[k] = natsd_free_port();
        if (c->node[k].port <= 0 || c->route_port[k] <= 0 || make_dir(&c->node[k]) != 0)
            goto out_stop;
        c->node[k].jetstream = true;
        snprintf(c->node[k].url, sizeof(c->node[k].url), "nats://127.0.0.1:%d", c->node[k].port);
        used += (size_t)snprintf(routes + used, sizeof(routes) - used, "%snats-route://127.0.0.1:%d",
                                 k ? ", " : "", c->route_port[k]);
    }
    for (int k = 0, at = 0; k < n; k++)
        at += snprintf(c->urls + at, sizeof(c->urls) - (size_t)at, "%s%s", k ? "," : "", c->node[k].url);
    for (int k = 0; k < n; k++) {
        snprintf(c->node[k].extra_conf, sizeof(c->node[k].extra_conf),
                 "server_name: n%d\ncluster { name: fleet-test, host: 127.0.0.1, port: %d, routes: [%s] }",
                 k + 1, c->route_port[k], routes);
        if (spawn(&c->node[k]) != 0)
            goto out_stop;
    }
    for (deadline = mono_ms() + CLUSTER_FORM_MS; mono_ms() < deadline; usleep(100000))
        if (cluster_places_everywhere(c))
            return 0;
    fprintf(stderr, "natsd: the JetStream cluster did not form within %d s (logs in %s/nats.log ...)\n",
            CLUSTER_FORM_MS / 1000, c->node[0].dir);
out_stop:
    natsd_cluster_stop(c);
    return -1;
}

void natsd_cluster_stop(struct natsd_cluster *c)
{
    for (int k = 0; k < c->n; k++)
        natsd_stop(&c->node[k], false);
}

int natsd_client_start(struct natsd_client *c, bool jetstream)
{
    c->nc = NULL;
    if (natsd_start(&c->d, jetstream) != 0)
        return -1;
    if (natsConnection_ConnectTo(&c->nc, c->d.url) != NATS_OK) {
        fprintf(stderr, "natsd: cannot connect to %s\n", c->d.url);
        natsd_stop(&c->d, false);
        c->nc = NULL;
        return -1;
    }
    return 0;
}

void natsd_client_stop(struct natsd_client *c)
{
    natsConnection_Destroy(c->nc);
    c->nc = NULL;
    natsd_stop(&c->d, false);
    nats_Close();
}
