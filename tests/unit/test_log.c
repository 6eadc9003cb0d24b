/* Unit tests of the JSON line log (supervisor/daemon/log.h).
 *
 * The log is captured in a tmpfile via log_set_stream; every line is parsed
 * back with jansson. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static FILE *capture;

static int capture_start(void **state)
{
    (void)state;
    capture = tmpfile();
    assert_non_null(capture);
    log_set_stream(capture);
    log_set_level(LOG_INFO);
    return 0;
}

static int capture_stop(void **state)
{
    (void)state;
    log_set_stream(NULL);
    fclose(capture);
    capture = NULL;
    return 0;
}

/* Every captured line, parsed; an array the caller decrefs. Fails on a line
 * that is not one JSON object. */
static json_t *captured_lines(void)
{
    json_t *lines = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    rewind(capture);
    while ((len = getline(&line, &cap, capture)) > 0) {
        json_error_t jerr;
        json_t *obj;

        assert_int_equal(line[len - 1], '\n');
        obj = json_loads(line, 0, &jerr);
        if (!json_is_object(obj))
            fail_msg("not a JSON object: %s (%s)", line, jerr.text);
        json_array_append_new(lines, obj);
    }
    free(line);
    return lines;
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v))
        fail_msg("key %s is not a string", key);
    return json_string_value(v);
}

/* "2026-11-24T10:00:00.123Z" */
static void assert_ts_shape(const char *ts)
{
    int y, mo, d, h, mi, s, ms;
    char z;

    assert_int_equal(strlen(ts), 24);
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
    assert_int_equal(z, 'Z');
    assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
}

static void test_kv_line(void **state)
{
    json_t *lines, *l;
    const char *key;

    (void)state;
    log_kv(LOG_INFO, "connected", "url", "nats://127.0.0.1:4222", "server", "n1", NULL);
    lines = captured_lines();
    assert_int_equal(json_array_size(lines), 1);
    l = json_array_get(lines, 0);
    assert_ts_shape(str_at(l, "ts"));
    assert_string_equal(str_at(l, "level"), "info");
    assert_string_equal(str_at(l, "msg"), "connected");
    assert_string_equal(str_at(l, "url"), "nats://127.0.0.1:4222");
    assert_string_equal(str_at(l, "server"), "n1");
    assert_int_equal(json_object_size(l), 5);
    /* ts, level, msg come first. */
    key = json_object_iter_key(json_object_iter(l));
    assert_string_equal(key, "ts");
    json_decref(lines);
}

static void test_level_filtering(void **state)
{
    json_t *lines;

    (void)state;
    assert_false(log_enabled(LOG_DEBUG));
    assert_true(log_enabled(LOG_INFO));
    log_kv(LOG_DEBUG, "hidden", NULL);
    log_kv(LOG_WARN, "shown-warn", NULL);
    assert_int_equal(log_set_level_name("error"), 0);
    log_kv(LOG_WARN, "hidden-warn", NULL);
    log_json(LOG_INFO, "hidden-json", json_pack("{s:i}", "n", 1)); /* stolen even when filtered */
    log_kv(LOG_ERROR, "shown-error", NULL);
    assert_int_equal(log_set_level_name("loud"), -1);
    assert_false(log_enabled(LOG_WARN)); /* unchanged by the bad name */
    log_set_level(LOG_DEBUG);
    log_kv(LOG_DEBUG, "shown-debug", NULL);
    assert_false(log_enabled((enum log_level)42));

    lines = captured_lines();
    assert_int_equal(json_array_size(lines), 3);
    assert_string_equal(str_at(json_array_get(lines, 0), "msg"), "shown-warn");
    assert_string_equal(str_at(json_array_get(lines, 0), "level"), "warn");
    assert_string_equal(str_at(json_array_get(lines, 1), "msg"), "shown-error");
    assert_string_equal(str_at(json_array_get(lines, 1), "level"), "error");
    assert_string_equal(str_at(json_array_get(lines, 2), "level"), "debug");
    json_decref(lines);
}

static void test_json_fields_and_reserved_keys(void **state)
{
    json_t *lines, *l;

    (void)state;
    log_json(LOG_WARN, "refused",
             json_pack("{s:s, s:i, s:b, s:s, s:s, s:[i,i]}", "service", "story-teller", "bytes", 70000,
                       "ok", 0, "msg", "inner", "level", "x", "list", 1, 2));
    log_json(LOG_INFO, "bare", NULL);
    log_kv(LOG_INFO, "kv", "ts", "mine", "note", NULL, NULL);
    lines = captured_lines();
    assert_int_equal(json_array_size(lines), 3);

    l = json_array_get(lines, 0);
    assert_string_equal(str_at(l, "msg"), "refused");
    assert_string_equal(str_at(l, "level"), "warn");
    assert_string_equal(str_at(l, "service"), "story-teller");
    assert_int_equal(json_integer_value(json_object_get(l, "bytes")), 70000);
    assert_true(json_is_false(json_object_get(l, "ok")));
    assert_string_equal(str_at(l, "field_msg"), "inner");
    assert_string_equal(str_at(l, "field_level"), "x");
    assert_int_equal(json_array_size(json_object_get(l, "list")), 2);

    l = json_array_get(lines, 1);
    assert_int_equal(json_object_size(l), 3);

    l = json_array_get(lines, 2);
    assert_ts_shape(str_at(l, "ts"));
    assert_string_equal(str_at(l, "field_ts"), "mine");
    assert_true(json_is_null(json_object_get(l, "note")));
    json_decref(lines);
}

static void test_escaping(void **state)
{
    json_t *lines, *l;
    char line[256];

    (void)state;
    log_kv(LOG_ERROR, "quote \" backslash \\ newline \n tab \t", "bytes", "ok\xff\xfe" "end", NULL);
    rewind(capture);
    assert_non_null(fgets(line, sizeof line, capture));
    assert_null(strchr(line, '\t'));         /* control characters escaped */
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1); /* one line */
    lines = captured_lines();
    l = json_array_get(lines, 0);
    assert_string_equal(str_at(l, "msg"), "quote \" backslash \\ newline \n tab \t");
    assert_string_equal(str_at(l, "bytes"), "ok??end"); /* not UTF-8: replaced, not lost */
    json_decref(lines);
}

static void test_level_names(void **state)
{
    enum log_level lvl = LOG_ERROR;

    (void)state;
    assert_int_equal(log_level_parse("debug", &lvl), 0);
    assert_int_equal(lvl, LOG_DEBUG);
    assert_int_equal(log_level_parse("warn", &lvl), 0);
    assert_int_equal(lvl, LOG_WARN);
    assert_int_equal(log_level_parse("WARN", &lvl), -1);
    assert_int_equal(log_level_parse("warning", &lvl), -1);
    assert_int_equal(log_level_parse(NULL, &lvl), -1);
    assert_int_equal(lvl, LOG_WARN); /* untouched on failure */
    assert_string_equal(log_level_name(LOG_INFO), "info");
    assert_string_equal(log_level_name((enum log_level)9), "?");
}

#define THREADS 4
#define LINES_PER_THREAD 300

static void *log_many(void *arg)
{
    char n[16], pad[600];

    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        snprintf(n, sizeof n, "%d", i);
        log_kv(LOG_INFO, "tick", "thread", (const char *)arg, "i", n, "pad", pad, NULL);
    }
    return NULL;
}

/* Concurrent writers never interleave: every line parses whole. */
static void test_threads_do_not_interleave(void **state)
{
    static const char *const names[THREADS] = { "t0", "t1", "t2", "t3" };
    pthread_t t[THREADS];
    json_t *lines;

    (void)state;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_many, (void *)names[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    lines = captured_lines();
    assert_int_equal(json_array_size(lines), THREADS * LINES_PER_THREAD);
    json_decref(lines);
}

/* log_raw writes other modules' lines as they are, between log lines, and
 * whatever the level. */
static void test_raw_lines(void **state)
{
    static const char raw[] = "{\"_aws\":{\"Timestamp\":1}}\n{\"b\":2}\n";
    json_t *lines;

    (void)state;
    log_set_level(LOG_ERROR);
    log_kv(LOG_ERROR, "before", NULL);
    log_raw(raw, sizeof raw - 1);
    log_raw("", 0);
    log_kv(LOG_ERROR, "after", NULL);
    lines = captured_lines();
    assert_int_equal(json_array_size(lines), 4);
    assert_string_equal(str_at(json_array_get(lines, 0), "msg"), "before");
    assert_int_equal(json_object_size(json_array_get(lines, 1)), 1);
    assert_non_null(json_object_get(json_array_get(lines, 1), "_aws"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, 2), "b")), 2);
    assert_string_equal(str_at(json_array_get(lines, 3), "msg"), "after");
    json_decref(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_line, capture_start, capture_stop),
        cmocka_unit_test_setup_teardown(test_level_filtering, capture_start, capture_stop),
        cmocka_unit_test_setup_teardown(test_json_fields_and_reserved_keys, capture_start, capture_stop),
        cmocka_unit_test_setup_teardown(test_escaping, capture_start, capture_stop),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test_setup_teardown(test_raw_lines, capture_start, capture_stop),
        cmocka_unit_test_setup_teardown(test_threads_do_not_interleave, capture_start, capture_stop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
