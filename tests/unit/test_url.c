/* fleet_url_redact: no credential of a NATS URL reaches a log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_are_redacted),
        cmocka_unit_test(test_plain_urls_pass_through),
        cmocka_unit_test(test_output_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
