/* JSON log lines (log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};
#define N_LEVELS (sizeof level_names / sizeof level_names[0])

/* Written when a line cannot be built; no allocation needed. */
static const char dropped_line[] = "{\"level\":\"error\",\"msg\":\"log line dropped: out of memory\"}\n";

static atomic_int log_min = LOG_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_stream; /* guarded by log_lock; NULL = stdout */

int log_level_parse(const char *name, enum log_level *out)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < N_LEVELS; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level lvl)
{
    return (unsigned)lvl < N_LEVELS ? level_names[lvl] : "?";
}

void log_set_level(enum log_level lvl)
{
    atomic_store_explicit(&log_min, (int)lvl, memory_order_relaxed);
}

int log_set_level_name(const char *name)
{
    enum log_level lvl;

    if (log_level_parse(name, &lvl) != 0)
        return -1;
    log_set_level(lvl);
    return 0;
}

bool log_enabled(enum log_level lvl)
{
    return (unsigned)lvl < N_LEVELS &&
           (int)lvl >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

void log_set_stream(FILE *f)
{
    pthread_mutex_lock(&log_lock);
    log_stream = f;
    pthread_mutex_unlock(&log_lock);
}

/* ---- building a line ---- */

/* A JSON string of `s`. jansson refuses text that is not UTF-8; such text is
 * logged with every byte above 0x7f replaced by '?' rather than lost.
 * Returns a new reference, or NULL when out of memory. */
static json_t *text_value(const char *s)
{
    json_t *v = json_string(s);
    char *copy;

    if (v != NULL)
        return v;
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p > 0x7f)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* Current UTC time as "2026-11-24T10:00:00.123Z" into buf (>= 32 bytes). */
static void format_ts(char *buf, size_t len)
{
    struct timespec now;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", now.tv_nsec / 1000000L);
}

static bool key_reserved(const char *key)
{
    return strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 || strcmp(key, "msg") == 0;
}

/* Adds `value` (new reference, may be NULL after a failed allocation) under
 * `key`, renamed "field_<key>" when it would replace ts/level/msg. Consumes
 * `value`. Returns 0 or -1 (out of memory, or a key that is not UTF-8). */
static int line_add(json_t *line, const char *key, json_t *value)
{
    char renamed[80];

    if (value == NULL)
        return -1;
    if (key_reserved(key)) {
        snprintf(renamed, sizeof renamed, "field_%s", key);
        key = renamed;
    }
    return json_object_set_new(line, key, value);
}

/* A new line object holding ts, level and msg, or NULL (out of memory). */
static json_t *line_create(enum log_level lvl, const char *msg)
{
    json_t *line = json_object();
    char ts[32];

    if (line == NULL)
        return NULL;
    format_ts(ts, sizeof ts);
    if (json_object_set_new(line, "ts", json_string(ts)) != 0 ||
        json_object_set_new(line, "level", json_string(log_level_name(lvl))) != 0 ||
        json_object_set_new(line, "msg", text_value(msg != NULL ? msg : "")) != 0) {
        json_decref(line);
        return NULL;
    }
    return line;
}

/* Writes `text` (len bytes, newline included) with one fwrite, then flushes. */
static void stream_write(const char *text, size_t len)
{
    FILE *f;

    pthread_mutex_lock(&log_lock);
    f = log_stream != NULL ? log_stream : stdout;
    fwrite(text, 1, len, f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}

/* Serialises `line` (NULL = could not be built) and writes it. Consumes it. */
static void line_emit(json_t *line)
{
    size_t len;
    char *text;

    if (line == NULL)
        goto out_dropped;
    len = json_dumpb(line, NULL, 0, JSON_COMPACT);
    if (len == 0)
        goto out_free_line;
    text = malloc(len + 1);
    if (text == NULL)
        goto out_free_line;
    json_dumpb(line, text, len, JSON_COMPACT);
    text[len] = '\n';
    stream_write(text, len + 1);
    free(text);
    json_decref(line);
    return;

out_free_line:
    json_decref(line);
out_dropped:
    stream_write(dropped_line, sizeof dropped_line - 1);
}

void log_raw(const char *text, size_t len)
{
    if (len > 0)
        stream_write(text, len);
}

void log_kv(enum log_level lvl, const char *msg, ...)
{
    json_t *line;
    const char *key;
    va_list ap;

    if (!log_enabled(lvl))
        return;
    line = line_create(lvl, msg);
    va_start(ap, msg);
    while (line != NULL && (key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);

        if (line_add(line, key, value != NULL ? text_value(value) : json_null()) != 0) {
            json_decref(line);
            line = NULL;
        }
    }
    va_end(ap);
    line_emit(line);
}

/* Copies the members of `fields` into `line`. Returns 0 or -1. */
static int line_add_fields(json_t *line, json_t *fields)
{
    const char *key;
    json_t *value;

    if (!json_is_object(fields))
        return json_object_set(line, "fields", fields);
    json_object_foreach(fields, key, value) {
        if (line_add(line, key, json_incref(value)) != 0)
            return -1;
    }
    return 0;
}

void log_json(enum log_level lvl, const char *msg, json_t *fields)
{
    json_t *line;

    if (!log_enabled(lvl))
        goto out_free_fields;
    line = line_create(lvl, msg);
    if (line != NULL && fields != NULL && line_add_fields(line, fields) != 0) {
        json_decref(line);
        line = NULL;
    }
    line_emit(line);
out_free_fields:
    json_decref(fields);
}
