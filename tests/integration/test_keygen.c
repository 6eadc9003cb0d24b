/* fleetctl keygen --out FILE, run as a real process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet/nkey.h"
#include "fleetfx.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 4096);

    assert_non_null(f);
    assert_non_null(buf);
    assert_true(fread(buf, 1, 4095, f) > 0);
    fclose(f);
    return buf;
}

static void test_keygen(void **state)
{
    char dir[] = "/tmp/fleet-keygen-XXXXXX";
    char path[128], pub[FLEET_NKEY_PUBLIC_LEN + 1];
    char *argv[] = { "fleetctl", "keygen", "--out", path, NULL };
    char *out = NULL, *seed1, *seed2;
    fleet_keypair *kp = NULL;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/control.nk", dir);

    assert_int_equal(fleetfx_run(argv, &out), 0);
    /* Exactly one line: the public key, nothing else (not even on stderr). */
    assert_int_equal(strlen(out), FLEET_NKEY_PUBLIC_LEN + 1);
    assert_int_equal(out[0], 'U');
    assert_int_equal(out[FLEET_NKEY_PUBLIC_LEN], '\n');
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    /* The file's seed is the printed key's. */
    assert_int_equal(fleet_keypair_from_seed_file(path, &kp), FLEET_OK);
    assert_int_equal(fleet_keypair_public(kp, pub, sizeof(pub)), FLEET_OK);
    assert_memory_equal(pub, out, FLEET_NKEY_PUBLIC_LEN);
    fleet_keypair_destroy(kp);
    seed1 = read_file(path);
    assert_int_equal(strlen(seed1), FLEET_NKEY_SEED_LEN + 1);
    assert_true(seed1[0] == 'S' && seed1[1] == 'U');
    /* The seed is not in the output. */
    assert_null(strstr(out, seed1 + 2));
    free(out);

    /* A second run refuses to overwrite and changes nothing. */
    assert_int_equal(fleetfx_run(argv, &out), 1);
    assert_non_null(strstr(out, "already exists"));
    assert_null(strstr(out, "\nU"));
    free(out);
    seed2 = read_file(path);
    assert_string_equal(seed1, seed2);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    memset(seed1, 0, 4096);
    memset(seed2, 0, 4096);
    free(seed1);
    free(seed2);

    unlink(path);
    rmdir(dir);
}

static void test_keygen_usage(void **state)
{
    char dir[] = "/tmp/fleet-keygen-XXXXXX";
    char path[128];
    char *no_out[] = { "fleetctl", "keygen", NULL };
    char *extra[] = { "fleetctl", "keygen", "--out", path, "SUA", NULL };
    char *bad_flag[] = { "fleetctl", "keygen", "--seed", "x", NULL };
    char *out = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/control.nk", dir);
    assert_int_equal(fleetfx_run(no_out, &out), 2);
    assert_non_null(strstr(out, "--out"));
    free(out);
    assert_int_equal(fleetfx_run(extra, NULL), 2);
    assert_int_equal(access(path, F_OK), -1);   /* nothing written on a usage error */
    assert_int_equal(fleetfx_run(bad_flag, NULL), 2);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_keygen_usage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
