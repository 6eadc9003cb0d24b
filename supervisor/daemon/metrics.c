#include "metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

const double metrics_detection_bounds[METRICS_DETECTION_BUCKETS] = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60 };

void metrics_histogram_observe(struct metrics_histogram *h, double seconds)
{
    size_t k = 0;

    if (!(seconds > 0))
        seconds = 0;
    while (k < METRICS_DETECTION_BUCKETS && seconds > metrics_detection_bounds[k])
        k++;
    h->in_bucket[k]++;
    h->count++;
    h->sum += seconds;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the format asks. */
static void label_value(FILE *f, const char *v)
{
    fputc('"', f);
    for (; *v != '\0'; v++) {
        if (*v == '\\')
            fputs("\\\\", f);
        else if (*v == '"')
            fputs("\\\"", f);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}

/* An enum name as a label value: lowercased ("SELF_PRESERVATION" -> "self_preservation"). */
static void lower_value(FILE *f, const char *name)
{
    fputc('"', f);
    for (; *name != '\0'; name++)
        fputc(tolower((unsigned char)*name), f);
    fputc('"', f);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
    family(f, name, "gauge", help);
    fprintf(f, "%s %.17g\n", name, v);
}

static void labelled_counter(FILE *f, const char *name, const char *label, const char *help,
                             const struct metrics_labelled *series, size_t n)
{
    family(f, name, "counter", help);
    for (size_t k = 0; k < n; k++) {
        fprintf(f, "%s{%s=", name, label);
        label_value(f, series[k].label);
        fprintf(f, "} %" PRIu64 "\n", series[k].value);
    }
}

static void services(FILE *f, const struct metrics_view *v)
{
    family(f, "fleet_instances", "gauge", "Instances of a service per judged health (InstanceHealth, lowercased).");
    for (size_t k = 0; k < v->n_services; k++)
        for (int h = INST_UNSPECIFIED + 1; h < INST_HEALTH_COUNT; h++) {
            fputs("fleet_instances{service=", f);
            label_value(f, v->services[k].name);
            fputs(",health=", f);
            lower_value(f, health_inst_name((enum inst_health)h));
            fprintf(f, "} %" PRIu32 "\n", v->services[k].count[h]);
        }
    family(f, "fleet_service_availability_ratio", "gauge",
           "Fraction of the window the service was AVAILABLE (observed time only).");
    for (size_t k = 0; k < v->n_services; k++) {
        fputs("fleet_service_availability_ratio{service=", f);
        label_value(f, v->services[k].name);
        fprintf(f, ",window=\"1h\"} %.17g\n", v->services[k].availability_1h);
        fputs("fleet_service_availability_ratio{service=", f);
        label_value(f, v->services[k].name);
        fprintf(f, ",window=\"24h\"} %.17g\n", v->services[k].availability_24h);
    }
    family(f, "fleet_instance_restarts_total", "counter",
           "Restarts (new incarnations) seen of the service's instances since tracked.");
    for (size_t k = 0; k < v->n_services; k++) {
        fputs("fleet_instance_restarts_total{service=", f);
        label_value(f, v->services[k].name);
        fprintf(f, "} %" PRIu64 "\n", v->services[k].restarts);
    }
    if (v->instances == NULL)
        return;
    family(f, "fleet_instance_up", "gauge", "1 while the instance is HEALTHY or DEGRADED (http.instance_metrics).");
    for (size_t k = 0; k < v->n_instances; k++) {
        fputs("fleet_instance_up{service=", f);
        label_value(f, v->instances[k].service);
        fputs(",instance=", f);
        label_value(f, v->instances[k].instance);
        fprintf(f, "} %d\n", v->instances[k].up ? 1 : 0);
    }
}

static void detection(FILE *f, const struct metrics_histogram *h)
{
    static const struct metrics_histogram none;
    uint64_t below = 0;

    if (h == NULL)
        h = &none;
    family(f, "fleet_detection_seconds", "histogram", "Time from an instance's last heartbeat to its DEAD verdict.");
    for (size_t k = 0; k < METRICS_DETECTION_BUCKETS; k++) {
        below += h->in_bucket[k];
        fprintf(f, "fleet_detection_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", metrics_detection_bounds[k], below);
    }
    fprintf(f, "fleet_detection_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", h->count);
    fprintf(f, "fleet_detection_seconds_sum %.17g\n", h->sum);
    fprintf(f, "fleet_detection_seconds_count %" PRIu64 "\n", h->count);
}

static void supervisor(FILE *f, const struct metrics_view *v)
{
    family(f, "fleet_observer_state", "gauge", "1 for the supervisor's observer state (ObserverState, lowercased).");
    for (int s = OBSERVER_UNSPECIFIED + 1; s <= OBSERVER_STANDBY; s++) {
        fputs("fleet_observer_state{state=", f);
        lower_value(f, health_observer_name((enum observer_state)s));
        fprintf(f, "} %d\n", v->observer == (enum observer_state)s ? 1 : 0);
    }
    gauge(f, "fleet_leader", "1 while this supervisor holds the leader lease.", v->leader ? 1 : 0);
    gauge(f, "fleet_term", "The leadership term this supervisor acts in (0: not leading).", (double)v->term);
    family(f, "fleet_build_info", "gauge", "Always 1; the version in a label.");
    fputs("fleet_build_info{version=", f);
    label_value(f, v->version ? v->version : "");
    fputs("} 1\n", f);
}

static void process(FILE *f, const struct metrics_process *p)
{
    gauge(f, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)p->resident_bytes);
    family(f, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    fprintf(f, "process_cpu_seconds_total %.17g\n", p->cpu_seconds);
    gauge(f, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          p->start_time_seconds);
    gauge(f, "process_open_fds", "Number of open file descriptors.", (double)p->open_fds);
    gauge(f, "process_max_fds", "Maximum number of open file descriptors.", (double)p->max_fds);
}

int metrics_write(const struct metrics_view *v, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    int failed;

    if (f == NULL)
        return -1;
    gauge(f, "fleet_services_expected", "Services in the configuration.", v->services_expected);
    gauge(f, "fleet_services_available", "Configured services with at least their desired HEALTHY instances.",
          v->services_available);
    gauge(f, "fleet_availability_ratio", "fleet_services_available / fleet_services_expected (1 when none).",
          v->availability);
    services(f, v);
    family(f, "fleet_heartbeats_received_total", "counter", "Heartbeats received, before any check.");
    fprintf(f, "fleet_heartbeats_received_total %" PRIu64 "\n", v->heartbeats_received);
    labelled_counter(f, "fleet_heartbeats_refused_total", "reason", "Heartbeats refused, per reason.", v->refused,
                     v->n_refused);
    labelled_counter(f, "fleet_controls_sent_total", "action", "Signed Controls sent, per action.",
                     v->controls_sent, v->n_controls_sent);
    labelled_counter(f, "fleet_control_acks_total", "result", "Answers to Controls (and sends that failed), per result.",
                     v->control_acks, v->n_control_acks);
    family(f, "fleet_admin_commands_total", "counter", "Operators' commands, per verb and result (done or the refusing rule).");
    for (size_t k = 0; k < v->n_admin; k++) {
        fputs("fleet_admin_commands_total{verb=", f);
        label_value(f, v->admin[k].verb);
        fputs(",result=", f);
        label_value(f, v->admin[k].result);
        fprintf(f, "} %" PRIu64 "\n", v->admin[k].value);
    }
    family(f, "fleet_micro_pings_total", "counter", "$SRV.PING.<name> requests sent to probe: micro services.");
    fprintf(f, "fleet_micro_pings_total %" PRIu64 "\n", v->micro_pings);
    family(f, "fleet_micro_answers_accepted_total", "counter", "Micro ping answers taken as an instance's liveness.");
    fprintf(f, "fleet_micro_answers_accepted_total %" PRIu64 "\n", v->micro_accepted);
    labelled_counter(f, "fleet_micro_answers_refused_total", "reason", "Micro ping answers refused, per reason.",
                     v->micro_refused, v->n_micro_refused);
    family(f, "fleet_escalations_no_agent_total", "counter",
           "Restarts and fences of probe: micro instances escalated (on_escalate) instead of sent.");
    fprintf(f, "fleet_escalations_no_agent_total %" PRIu64 "\n", v->escalated_no_agent);
    detection(f, v->detection);
    supervisor(f, v);
    process(f, &v->process);
    failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}
