/* The agent's log: one JSON object per line on stdout (DESIGN.md §9),
 * {"ts":"…Z","level":"info","msg":"…", fields…}. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agent.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(enum agent_level lvl)
{
    switch (lvl) {
    case AGENT_DEBUG: return "debug";
    case AGENT_INFO: return "info";
    case AGENT_WARN: return "warn";
    case AGENT_ERROR: return "error";
    }
    return "?";
}

void agent_log(enum agent_level lvl, const char *msg, json_t *fields)
{
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    json_t *line = json_object();
    char *text = NULL;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ", (int)(ts.tv_nsec / 1000000L));
    if (line != NULL) {
        const char *key;
        json_t *value;

        json_object_set_new(line, "ts", json_string(stamp));
        json_object_set_new(line, "level", json_string(level_name(lvl)));
        json_object_set_new(line, "msg", json_string(msg));
        if (json_is_object(fields)) {
            json_object_foreach(fields, key, value) {
                if (json_object_get(line, key) == NULL)
                    json_object_set(line, key, value);
            }
        }
        text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    }
    pthread_mutex_lock(&log_lock);
    if (text != NULL)
        fprintf(stdout, "%s\n", text);
    else
        fprintf(stdout, "{\"ts\":\"%s\",\"level\":\"error\",\"msg\":\"log line dropped\"}\n", stamp);
    fflush(stdout);
    pthread_mutex_unlock(&log_lock);
    free(text);
    json_decref(line);
    json_decref(fields);
}
