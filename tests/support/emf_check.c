/* EMF document checker (emf_check.h). */
#include "emf_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define EMF_NAME_MAX 1024
#define EMF_DIMENSIONS_MAX 30
#define EMF_METRICS_MAX 100
#define EMF_VALUES_MAX 100

static const char *const units[] = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
    "Count/Second", "None",
};

static int bad(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int name_ok(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= EMF_NAME_MAX;
}

static int unit_ok(const char *u)
{
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (strcmp(u, units[k]) == 0)
            return 1;
    return 0;
}

static int value_ok(const json_t *v)
{
    size_t k;
    json_t *x;

    if (json_is_number(v))
        return 1;
    if (!json_is_array(v) || json_array_size(v) > EMF_VALUES_MAX)
        return 0;
    json_array_foreach(v, k, x) {
        if (!json_is_number(x))
            return 0;
    }
    return 1;
}

static int check_dimensions(const json_t *root, const json_t *dims, char *why, size_t len)
{
    size_t i, j;
    json_t *set, *key;

    if (!json_is_array(dims))
        return bad(why, len, "Dimensions is not an array");
    json_array_foreach(dims, i, set) {
        if (!json_is_array(set))
            return bad(why, len, "a dimension set is not an array");
        if (json_array_size(set) > EMF_DIMENSIONS_MAX)
            return bad(why, len, "a dimension set has more than %d keys", EMF_DIMENSIONS_MAX);
        json_array_foreach(set, j, key) {
            const json_t *target;

            if (!json_is_string(key))
                return bad(why, len, "a dimension key is not a string");
            target = json_object_get(root, json_string_value(key));
            if (!name_ok(target))
                return bad(why, len, "dimension %s has no top-level string member of 1..%d chars",
                           json_string_value(key), EMF_NAME_MAX);
        }
    }
    return 0;
}

static int check_metrics(const json_t *root, const json_t *metrics, char *why, size_t len)
{
    size_t i, j;
    json_t *m;

    if (!json_is_array(metrics) || json_array_size(metrics) == 0)
        return bad(why, len, "Metrics is not a non-empty array");
    if (json_array_size(metrics) > EMF_METRICS_MAX)
        return bad(why, len, "more than %d metrics in one directive", EMF_METRICS_MAX);
    json_array_foreach(metrics, i, m) {
        const json_t *name = json_object_get(m, "Name"), *unit = json_object_get(m, "Unit");
        const json_t *res = json_object_get(m, "StorageResolution");

        if (!json_is_object(m) || !name_ok(name))
            return bad(why, len, "metric %zu has no Name of 1..%d chars", i, EMF_NAME_MAX);
        if (unit != NULL && (!json_is_string(unit) || !unit_ok(json_string_value(unit))))
            return bad(why, len, "metric %s: Unit is not an allowed unit", json_string_value(name));
        if (res != NULL && !(json_is_integer(res) && (json_integer_value(res) == 1 || json_integer_value(res) == 60)))
            return bad(why, len, "metric %s: StorageResolution is not 1 or 60", json_string_value(name));
        if (!value_ok(json_object_get(root, json_string_value(name))))
            return bad(why, len, "metric %s has no top-level numeric member", json_string_value(name));
        for (j = 0; j < i; j++)
            if (json_equal(json_object_get(json_array_get(metrics, j), "Name"), name))
                return bad(why, len, "metric %s named twice", json_string_value(name));
    }
    return 0;
}

static int check_root(const json_t *root, char *why, size_t len)
{
    const json_t *aws = json_object_get(root, "_aws"), *ts, *directives;
    size_t i;
    json_t *d;

    if (!json_is_object(aws))
        return bad(why, len, "no _aws object");
    ts = json_object_get(aws, "Timestamp");
    if (!json_is_number(ts) || json_number_value(ts) < 0)
        return bad(why, len, "_aws.Timestamp is not a non-negative number");
    directives = json_object_get(aws, "CloudWatchMetrics");
    if (!json_is_array(directives) || json_array_size(directives) == 0)
        return bad(why, len, "_aws.CloudWatchMetrics is not a non-empty array");
    json_array_foreach(directives, i, d) {
        const json_t *ns = json_object_get(d, "Namespace");

        if (!json_is_object(d))
            return bad(why, len, "a directive is not an object");
        if (!name_ok(ns) || strncmp(json_string_value(ns), "AWS/", 4) == 0)
            return bad(why, len, "Namespace is not a string of 1..%d chars outside AWS/", EMF_NAME_MAX);
        if (check_dimensions(root, json_object_get(d, "Dimensions"), why, len) != 0 ||
            check_metrics(root, json_object_get(d, "Metrics"), why, len) != 0)
            return -1;
    }
    return 0;
}

int emf_check_line(const char *line, char *why, size_t len)
{
    json_error_t err;
    json_t *root = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    int rc;

    if (!json_is_object(root)) {
        json_decref(root);
        return bad(why, len, "not a JSON object: %s", err.text);
    }
    rc = check_root(root, why, len);
    json_decref(root);
    return rc;
}
