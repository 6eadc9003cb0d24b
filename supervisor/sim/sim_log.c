/* JSON-lines logging for fleet-sim. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "sim_log.h"

void sim_log(const char *level, const char *event, const char *fields, ...)
{
    struct timespec now;
    json_t *line;

    clock_gettime(CLOCK_REALTIME, &now);
    line = json_pack("{s:I, s:s, s:s}", "ts_ms",
                     (json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                     "level", level, "event", event);
    if (line == NULL)
        return;
    if (fields != NULL) {
        json_t *extra;
        va_list ap;

        va_start(ap, fields);
        extra = json_vpack_ex(NULL, 0, fields, ap);
        va_end(ap);
        if (extra != NULL)
            json_object_update(line, extra);
        json_decref(extra);
    }
    json_dumpf(line, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(line);
}
