/* fleet_url_redact: no credential of a NATS URL reaches a log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fleet/conn.h"
#include "fleet/url.h"

static void check(const char *in, const char *want)
{
    char out[256];

    fleet_url_redact(in, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_credentials_are_redacted(void **state)
{
    (void)state;
    check("nats://alice:s3cret@nats:4222", "nats://***@nats:4222");
    check("nats://token@127.0.0.1:4222", "nats://***@127.0.0.1:4222");
    check("tls://u:p@a:4222,nats://b:4222,nats://x:y@c", "tls://***@a:4222,nats://b:4222,nats://***@c");
    check("u:p@host:4222", "***@host:4222");
    check("nats://user:p@ss@host", "nats://***@host"); /* the last '@' ends the user-info */
}

static void test_plain_urls_pass_through(void **state)
{
    (void)state;
    check("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
    check("", "");
    check("nats://host/path@x", "nats://host/path@x");
}

static void test_output_is_bounded(void **state)
{
    char out[12];

    (void)state;
    fleet_url_redact("nats://alice:s3cret@nats:4222", out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_null(strstr(out, "s3cret"));
    fleet_url_redact("nats://a:b@c", out, 1);
    assert_string_equal(out, "");
}

/* fleet_conn_urls_parse splits a list as every program connects with it. */
static void test_url_lists_split_on_commas(void **state)
{
    char **urls = NULL;
    int n = 0;

    (void)state;
    assert_int_equal(fleet_conn_urls_parse("nats://a:4222", &urls, &n), FLEET_OK);
    assert_int_equal(n, 1);
    assert_string_equal(urls[0], "nats://a:4222");
    fleet_conn_urls_free(urls, n);

    assert_int_equal(fleet_conn_urls_parse(" nats://a:4222 ,nats://u:p@b:4223,\tc:4224 ", &urls, &n), FLEET_OK);
    assert_int_equal(n, 3);
    assert_string_equal(urls[0], "nats://a:4222");
    assert_string_equal(urls[1], "nats://u:p@b:4223");
    assert_string_equal(urls[2], "c:4224");
    fleet_conn_urls_free(urls, n);
}

static void test_bad_url_lists_are_refused(void **state)
{
    static const char *const bad[] = { "", " ", "nats://a,", ",nats://a", "nats://a,,nats://b", "nats://a b",
                                       "nats://a,\x01b" };
    char many[40 * (FLEET_CONN_MAX_SERVERS + 1)] = "";
    char **urls = (char **)"untouched";
    int n = -7;

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        assert_int_equal(fleet_conn_urls_parse(bad[k], &urls, &n), FLEET_ERR_INVALID_ARG);
        assert_int_equal(n, -7); /* out-parameters untouched on failure */
        assert_true(strlen(fleet_last_error()) > 0);
    }
    for (int k = 0; k <= FLEET_CONN_MAX_SERVERS; k++)
        strcat(many, k ? ",nats://h:1" : "nats://h:1");
    assert_int_equal(fleet_conn_urls_parse(many, &urls, &n), FLEET_ERR_INVALID_ARG);
    assert_non_null(strstr(fleet_last_error(), "more than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_are_redacted),
        cmocka_unit_test(test_plain_urls_pass_through),
        cmocka_unit_test(test_output_is_bounded),
        cmocka_unit_test(test_url_lists_split_on_commas),
        cmocka_unit_test(test_bad_url_lists_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
