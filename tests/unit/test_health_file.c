/* Unit tests of the health file (supervisor/daemon/health_file.h): what the daemon
 * writes about once a second and `fleet-supervisor healthcheck` judges.
 * Time is an argument to health_check, so staleness needs no sleeping. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "health_file.h"

#define T0 1764000000000LL

struct fx {
    char dir[64];
    char path[128];
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_health_file.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/health", fx->dir);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    unlink(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static struct health_snapshot snap(int64_t unix_ms, bool connected)
{
    return (struct health_snapshot){
        .unix_ms = unix_ms, .observer_state = "NORMAL", .leader = true,
        .nats_connected = connected, .store_status = "ok",
    };
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void check_fails(const char *path, int64_t now, const char *needle)
{
    char reason[512] = "untouched";

    if (health_check(path, now, 10000, reason, sizeof(reason)))
        fail_msg("health_check passed; expected a failure mentioning \"%s\"", needle);
    if (strstr(reason, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", reason, needle);
    assert_null(strchr(reason, '\n'));
}

/* A fresh, connected snapshot passes, within max-age on either side, and the
 * file is one JSON object with every field of the snapshot. */
static void test_written_passes(void **state)
{
    struct fx *fx = *state;
    struct health_snapshot s = snap(T0, true);
    char reason[256] = "";
    json_error_t jerr;
    json_t *obj;

    assert_int_equal(health_write(fx->path, &s), 0);
    assert_true(health_check(fx->path, T0, 10000, reason, sizeof(reason)));
    assert_string_equal(reason, "");
    assert_true(health_check(fx->path, T0 + 10000, 10000, NULL, 0));
    assert_true(health_check(fx->path, T0 - 500, 10000, NULL, 0));

    obj = json_load_file(fx->path, 0, &jerr);
    assert_true(json_is_object(obj));
    assert_int_equal(json_integer_value(json_object_get(obj, "unix_ms")), T0);
    assert_string_equal(json_string_value(json_object_get(obj, "observer")), "NORMAL");
    assert_true(json_is_true(json_object_get(obj, "leader")));
    assert_true(json_is_true(json_object_get(obj, "nats_connected")));
    assert_string_equal(json_string_value(json_object_get(obj, "store")), "ok");
    json_decref(obj);
}

/* Rewriting replaces the file whole and leaves no temporary file behind. */
static void test_rewrite_is_atomic_and_clean(void **state)
{
    struct fx *fx = *state;
    struct health_snapshot s = snap(T0, false);
    char tmp[256];
    struct stat st;

    s.observer_state = NULL;        /* written as "" */
    s.store_status = NULL;
    assert_int_equal(health_write(fx->path, &s), 0);
    s = snap(T0 + 1000, true);
    assert_int_equal(health_write(fx->path, &s), 0);
    assert_true(health_check(fx->path, T0 + 1000, 10000, NULL, 0));
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", fx->path, (long)getpid());
    assert_int_not_equal(stat(tmp, &st), 0);
}

static void test_stale_fails(void **state)
{
    struct fx *fx = *state;
    struct health_snapshot s = snap(T0, true);

    assert_int_equal(health_write(fx->path, &s), 0);
    check_fails(fx->path, T0 + 10001, "stale");
    check_fails(fx->path, T0 - 10001, "future");
}

static void test_disconnected_fails(void **state)
{
    struct fx *fx = *state;
    struct health_snapshot s = snap(T0, false);

    s.observer_state = "SELF_PRESERVATION";
    assert_int_equal(health_write(fx->path, &s), 0);
    check_fails(fx->path, T0, "not connected to NATS (observer SELF_PRESERVATION");
}

static void test_missing_fails(void **state)
{
    struct fx *fx = *state;

    check_fails(fx->path, T0, "no health file");
}

static void test_corrupt_fails(void **state)
{
    struct fx *fx = *state;
    char big[6000];

    write_text(fx->path, "");
    check_fails(fx->path, T0, "not a JSON object");
    write_text(fx->path, "{\"unix_ms\":17640000");
    check_fails(fx->path, T0, "not a JSON object");
    write_text(fx->path, "[1,2]");
    check_fails(fx->path, T0, "not a JSON object");
    write_text(fx->path, "{\"unix_ms\":\"soon\",\"nats_connected\":true}");
    check_fails(fx->path, T0, "no integer unix_ms");
    write_text(fx->path, "{\"unix_ms\":1764000000000,\"nats_connected\":1}");
    check_fails(fx->path, T0, "no boolean nats_connected");
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_text(fx->path, big);
    check_fails(fx->path, T0, "larger than");
}

/* A directory that does not exist: -1, errno set, nothing created. */
static void test_write_failure(void **state)
{
    struct fx *fx = *state;
    struct health_snapshot s = snap(T0, true);
    char path[256];

    snprintf(path, sizeof(path), "%s/no/such/dir/health", fx->dir);
    assert_int_equal(health_write(path, &s), -1);
    assert_int_equal(health_write(NULL, &s), -1);
    assert_int_equal(health_write(fx->path, NULL), -1);
}

/* The subcommand: exit codes and options. */
static void test_command(void **state)
{
    struct fx *fx = *state;
    struct health_snapshot s = snap(T0, true);
    char *missing[] = { "healthcheck", "--file", fx->path, NULL };
    char *bad_age[] = { "healthcheck", "--max-age-ms", "zero", NULL };
    char *bad_arg[] = { "healthcheck", "--verbose", NULL };
    char *stale[] = { "healthcheck", "--file", fx->path, "--max-age-ms=1", NULL };
    char *envfile[] = { "healthcheck", NULL };

    assert_int_equal(health_command(3, missing), 1);
    assert_int_equal(health_command(3, bad_age), 2);
    assert_int_equal(health_command(2, bad_arg), 2);
    assert_int_equal(health_write(fx->path, &s), 0);   /* T0 is long past */
    assert_int_equal(health_command(4, stale), 1);

    setenv("FLEET_HEALTH_FILE", fx->path, 1);
    assert_string_equal(health_default_path(), fx->path);
    {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        s.unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    assert_int_equal(health_write(fx->path, &s), 0);
    assert_int_equal(health_command(1, envfile), 0);
    unsetenv("FLEET_HEALTH_FILE");
    assert_string_equal(health_default_path(), HEALTH_DEFAULT_PATH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_passes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_is_atomic_and_clean, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disconnected_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_command, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
