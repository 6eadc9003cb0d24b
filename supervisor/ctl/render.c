/* Text views of FleetStatus and Event for a terminal or a pipe. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "render.h"

#define ANSI_RESET   "\033[0m"
#define ANSI_BOLD    "\033[1m"
#define ANSI_DIM     "\033[2m"
#define ANSI_RED     "\033[31m"
#define ANSI_GREEN   "\033[32m"
#define ANSI_YELLOW  "\033[33m"
#define ANSI_MAGENTA "\033[35m"

/* Longest text a cell shows; wire strings are cut here, never trusted. */
#define CELL_MAX 160

const char *render_enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
    char prefix[96];
    size_t n = 0;

    if (v == NULL)
        return NULL;
    /* Protobuf style prefixes each value with its enum's name in
     * UPPER_SNAKE_CASE ("InstanceHealth" -> "INSTANCE_HEALTH_"). */
    for (const char *c = desc->short_name; *c != '\0' && n + 3 < sizeof(prefix); c++) {
        if (isupper((unsigned char)*c) && c != desc->short_name)
            prefix[n++] = '_';
        prefix[n++] = (char)toupper((unsigned char)*c);
    }
    prefix[n++] = '_';
    prefix[n] = '\0';
    if (strncmp(v->name, prefix, n) == 0 && v->name[n] != '\0')
        return v->name + n;
    return v->name;
}

/* Enum name for a cell: unknown numbers show as "?(12)". */
static const char *enum_cell(char *buf, size_t n, const ProtobufCEnumDescriptor *desc, int value)
{
    const char *name = render_enum_name(desc, value);

    if (name != NULL)
        return name;
    snprintf(buf, n, "?(%d)", value);
    return buf;
}

/* Copies at most n-1 bytes of a wire string, replacing control characters so
 * that a peer cannot drive the terminal. NULL reads as "". */
static const char *clean(char *buf, size_t n, const char *s)
{
    size_t i = 0;

    for (; s != NULL && s[i] != '\0' && i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];

        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[i] = '\0';
    return buf;
}

/* A fraction as a percentage with one decimal, never rounded to "100.0%"
 * while below 1 nor to "0.0%" while above 0: an operator reads 100.0% as
 * "all", so rounding must not claim it. */
static const char *fmt_pct(char *buf, size_t n, double frac)
{
    double r;

    if (!isfinite(frac)) {
        snprintf(buf, n, "-");
        return buf;
    }
    r = round(frac * 1000.0) / 10.0;
    if (frac < 1.0 && r >= 100.0)
        r = 99.9;
    else if (frac > 0.0 && r <= 0.0)
        r = 0.1;
    snprintf(buf, n, "%.1f%%", r);
    return buf;
}

/* "850ms", "2.1s", "3m05s", "2h07m", "3d04h"; "never" for 0, "-" when the
 * clock was ahead of us (skew). */
static const char *fmt_age(char *buf, size_t n, int64_t now_ms, int64_t then_ms)
{
    int64_t d = now_ms - then_ms;

    if (then_ms <= 0)
        snprintf(buf, n, "never");
    else if (d < 0)
        snprintf(buf, n, "-");
    else if (d < 1000)
        snprintf(buf, n, "%" PRId64 "ms", d);
    else if (d < 60 * 1000)
        snprintf(buf, n, "%.1fs", (double)d / 1000.0);
    else if (d < 3600 * 1000)
        snprintf(buf, n, "%" PRId64 "m%02" PRId64 "s", d / 60000, d / 1000 % 60);
    else if (d < 86400 * 1000)
        snprintf(buf, n, "%" PRId64 "h%02" PRId64 "m", d / 3600000, d / 60000 % 60);
    else
        snprintf(buf, n, "%" PRId64 "d%02" PRId64 "h", d / 86400000, d / 3600000 % 24);
    return buf;
}

static const char *service_color(Fleet__V1__ServiceHealth h)
{
    switch (h) {
    case FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_AVAILABLE: return ANSI_GREEN;
    case FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_DEGRADED: return ANSI_YELLOW;
    case FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNAVAILABLE:
    case FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_MISSING: return ANSI_RED;
    case FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNEXPECTED: return ANSI_MAGENTA;
    default: return "";
    }
}

static const char *instance_color(Fleet__V1__InstanceHealth h)
{
    switch (h) {
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY: return ANSI_GREEN;
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STARTING:
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEGRADED:
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_SUSPECT:
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_RESTARTING:
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DRAINING: return ANSI_YELLOW;
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD:
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_FENCED: return ANSI_RED;
    case FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STOPPED: return ANSI_DIM;
    default: return "";
    }
}

static const char *observer_color(Fleet__V1__ObserverState s)
{
    switch (s) {
    case FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_NORMAL: return ANSI_GREEN;
    case FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_WARMING_UP:
    case FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_STANDBY: return ANSI_YELLOW;
    case FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_SELF_PRESERVATION: return ANSI_RED;
    default: return "";
    }
}

/* Colour on/off as a pair of strings around a cell. */
#define ON(o, c)  ((o) ? (c) : "")
#define OFF(o, c) ((o) && (c)[0] != '\0' ? ANSI_RESET : "")

static bool service_unhealthy(const Fleet__V1__ServiceStatus *s)
{
    return s->health != FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_AVAILABLE;
}

/* Unhealthy first, then by name. */
static int service_order(const void *a, const void *b)
{
    const Fleet__V1__ServiceStatus *x = *(const Fleet__V1__ServiceStatus *const *)a;
    const Fleet__V1__ServiceStatus *y = *(const Fleet__V1__ServiceStatus *const *)b;
    bool ux = service_unhealthy(x), uy = service_unhealthy(y);

    if (ux != uy)
        return ux ? -1 : 1;
    return strcmp(x->name != NULL ? x->name : "", y->name != NULL ? y->name : "");
}

static void write_header(FILE *out, const Fleet__V1__FleetStatus *st, const struct render_opts *o)
{
    char pct[16], obs[16], id[CELL_MAX];
    bool all = st->services_available >= st->services_expected;
    const char *avail_color = all ? ANSI_GREEN : ANSI_YELLOW;
    const char *obs_color = observer_color(st->observer);

    if (st->services_expected > 0)
        fmt_pct(pct, sizeof(pct), (double)st->services_available / st->services_expected);
    else
        snprintf(pct, sizeof(pct), "-");
    fprintf(out, "%sfleet %s%" PRIu32 "/%" PRIu32 " available (%s)%s  instances %" PRIu32 "/%" PRIu32
            " healthy  observer %s%s%s  term %" PRIu64 "  supervisor %s  feed_seq %" PRIu64,
            ON(o->color, ANSI_BOLD), ON(o->color, avail_color), st->services_available,
            st->services_expected, pct, OFF(o->color, ANSI_BOLD), st->instances_healthy,
            st->instances_expected, ON(o->color, obs_color),
            enum_cell(obs, sizeof(obs), &fleet__v1__observer_state__descriptor, (int)st->observer),
            OFF(o->color, obs_color), st->term,
            st->supervisor_id != NULL && st->supervisor_id[0] != '\0'
                ? clean(id, sizeof(id), st->supervisor_id) : "-",
            st->feed_seq);
    if (o->feed_gap > 0)
        fprintf(out, "  %s(feed gap: %" PRIu64 " missed)%s", ON(o->color, ANSI_YELLOW), o->feed_gap,
                OFF(o->color, ANSI_YELLOW));
    fputc('\n', out);
}

static void write_versions(FILE *out, const Fleet__V1__ServiceStatus *s, const struct render_opts *o)
{
    char v[CELL_MAX];

    if (s->n_versions == 0) {
        fputc('-', out);
        return;
    }
    for (size_t i = 0; i < s->n_versions; i++)
        fprintf(out, "%s%s", i > 0 ? "," : "", clean(v, sizeof(v), s->versions[i]));
    if (s->n_versions > 1)
        fprintf(out, " %sDRIFT%s", ON(o->color, ANSI_YELLOW), OFF(o->color, ANSI_YELLOW));
}

static void write_instance(FILE *out, const Fleet__V1__InstanceStatus *in, int name_w,
                           const struct render_opts *o)
{
    char name[CELL_MAX], health[16], age[24], phi[24], reason[CELL_MAX];
    const char *c = instance_color(in->health);

    if (isfinite(in->phi))
        snprintf(phi, sizeof(phi), "%.1f", in->phi);
    else
        snprintf(phi, sizeof(phi), "inf");
    /* Indented by two, so the health column lines up with the services'. */
    fprintf(out, "  %-*s %s%-11s%s seen %-7s phi ", name_w - 2, clean(name, sizeof(name), in->instance),
            ON(o->color, c),
            enum_cell(health, sizeof(health), &fleet__v1__instance_health__descriptor, (int)in->health),
            OFF(o->color, c), fmt_age(age, sizeof(age), o->now_ms, in->last_seen_unix_ms));
    if (in->reason != NULL && in->reason[0] != '\0')
        fprintf(out, "%-5s %s\n", phi, clean(reason, sizeof(reason), in->reason));
    else
        fprintf(out, "%s\n", phi);
}

static void write_service(FILE *out, const Fleet__V1__ServiceStatus *s, int name_w,
                          const struct render_opts *o)
{
    char name[CELL_MAX], health[16], counts[24], a1[16], a24[16];
    const char *c = service_color(s->health);
    /* Availability is observed time only: a service never seen, or not
     * configured, has none to show. */
    bool has_avail = s->health != FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_MISSING &&
                     s->health != FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNEXPECTED;

    snprintf(counts, sizeof(counts), "%" PRIu32 "/%" PRIu32, s->healthy, s->desired);
    fprintf(out, "%-*s %s%-11s%s %15s %10s %10s  ", name_w, clean(name, sizeof(name), s->name),
            ON(o->color, c),
            enum_cell(health, sizeof(health), &fleet__v1__service_health__descriptor, (int)s->health),
            OFF(o->color, c), counts,
            has_avail ? fmt_pct(a1, sizeof(a1), s->availability_1h) : "-",
            has_avail ? fmt_pct(a24, sizeof(a24), s->availability_24h) : "-");
    write_versions(out, s, o);
    fputc('\n', out);
    for (size_t i = 0; i < s->n_instances; i++)
        if (s->instances[i]->health != FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY)
            write_instance(out, s->instances[i], name_w, o);
}

fleet_status render_status_table(FILE *out, const Fleet__V1__FleetStatus *st,
                                 const struct render_opts *o)
{
    const Fleet__V1__ServiceStatus **order = NULL;
    int name_w = 4; /* "NAME" */

    if (st->n_services > 0) {
        order = malloc(st->n_services * sizeof(*order));
        if (order == NULL)
            return FLEET_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < st->n_services; i++) {
        const Fleet__V1__ServiceStatus *s = st->services[i];
        size_t len = s->name != NULL ? strnlen(s->name, CELL_MAX - 1) : 0;

        order[i] = s;
        if ((int)len > name_w)
            name_w = (int)len;
        for (size_t j = 0; j < s->n_instances; j++) {
            /* Instance rows are indented by two under the name column. */
            const char *in = s->instances[j]->instance;
            size_t ilen = in != NULL ? strnlen(in, CELL_MAX - 1) + 2 : 0;

            if ((int)ilen > name_w)
                name_w = (int)ilen;
        }
    }
    if (st->n_services > 1)
        qsort(order, st->n_services, sizeof(*order), service_order);

    write_header(out, st, o);
    fprintf(out, "%s%-*s %-11s %15s %10s %10s  %s%s\n", ON(o->color, ANSI_DIM), name_w, "NAME", "HEALTH",
            "HEALTHY/DESIRED", "AVAIL 1h", "AVAIL 24h", "VERSIONS", OFF(o->color, ANSI_DIM));
    for (size_t i = 0; i < st->n_services; i++)
        write_service(out, order[i], name_w, o);
    free(order);
    return ferror(out) ? FLEET_ERR_SYSTEM : FLEET_OK;
}

fleet_status render_event_line(FILE *out, const Fleet__V1__Event *ev, bool color)
{
    char when[16], svc[CELL_MAX], inst[CELL_MAX], from[16], to[16], action[16], reason[CELL_MAX];
    time_t secs = (time_t)(ev->unix_ms / 1000);
    struct tm tm;
    const char *c = instance_color(ev->to);
    bool transition = ev->from != FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_UNSPECIFIED ||
                      ev->to != FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_UNSPECIFIED;

    if (ev->unix_ms > 0 && localtime_r(&secs, &tm) != NULL)
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
    else
        snprintf(when, sizeof(when), "--:--:--");
    fprintf(out, "%s %s", when, clean(svc, sizeof(svc), ev->service));
    if (ev->instance != NULL && ev->instance[0] != '\0')
        fprintf(out, "/%s", clean(inst, sizeof(inst), ev->instance));
    if (transition)
        fprintf(out, " %s\u2192%s%s%s",
                enum_cell(from, sizeof(from), &fleet__v1__instance_health__descriptor, (int)ev->from),
                ON(color, c), enum_cell(to, sizeof(to), &fleet__v1__instance_health__descriptor, (int)ev->to),
                OFF(color, c));
    if (ev->action != FLEET__V1__ACTION__ACTION_UNSPECIFIED)
        fprintf(out, " %s%s%s", ON(color, ANSI_BOLD),
                enum_cell(action, sizeof(action), &fleet__v1__action__descriptor, (int)ev->action),
                OFF(color, ANSI_BOLD));
    if (ev->reason != NULL && ev->reason[0] != '\0')
        fprintf(out, " (%s)", clean(reason, sizeof(reason), ev->reason));
    return ferror(out) ? FLEET_ERR_SYSTEM : FLEET_OK;
}
