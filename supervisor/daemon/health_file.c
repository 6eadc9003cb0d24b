/* The health file written by the daemon and judged by `fleet-supervisor
 * healthcheck` (health_file.h). */
#include "health_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fleet/clock.h"

#define HEALTH_MAX_BYTES 4096

const char *health_default_path(void)
{
    const char *p = getenv("FLEET_HEALTH_FILE");

    return p != NULL && p[0] != '\0' ? p : HEALTH_DEFAULT_PATH;
}

/* Writes all of buf to fd; 0, or -1 with errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int health_write(const char *path, const struct health_snapshot *s)
{
    char tmp[PATH_MAX];
    char *text;
    json_t *obj;
    int fd, saved;

    if (path == NULL || s == NULL || path[0] == '\0') {
        errno = EINVAL;
        return -1;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    obj = json_pack("{s:I, s:s, s:b, s:b, s:s, s:I}",
                    "unix_ms", (json_int_t)s->unix_ms,
                    "observer", s->observer_state != NULL ? s->observer_state : "",
                    "leader", (int)s->leader,
                    "nats_connected", (int)s->nats_connected,
                    "store", s->store_status != NULL ? s->store_status : "",
                    "pid", (json_int_t)getpid());
    text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL) {
        errno = ENOMEM;     /* or a string that is not UTF-8 */
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out_free_text;
    if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0)
        goto out_unlink;
    if (close(fd) != 0) {
        fd = -1;
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out_unlink;
    free(text);
    return 0;

out_unlink:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
out_free_text:
    saved = errno;
    free(text);
    errno = saved;
    return -1;
}

static bool fail(char *reason, size_t reason_len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static bool fail(char *reason, size_t reason_len, const char *fmt, ...)
{
    va_list ap;

    if (reason != NULL && reason_len > 0) {
        va_start(ap, fmt);
        vsnprintf(reason, reason_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool health_check(const char *path, int64_t now_unix_ms, int64_t max_age_ms,
                  char *reason, size_t reason_len)
{
    char buf[HEALTH_MAX_BYTES + 1];
    size_t len = 0;
    json_error_t jerr;
    json_t *obj, *v;
    int64_t written, age;
    bool connected;
    char observer[64] = "", store[128] = "";
    FILE *f;

    if (reason != NULL && reason_len > 0)
        reason[0] = '\0';
    f = fopen(path, "rb");
    if (f == NULL)
        return fail(reason, reason_len, "no health file %s: %s (is the supervisor running?)",
                    path, strerror(errno));
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (len > HEALTH_MAX_BYTES)
        return fail(reason, reason_len, "health file %s is larger than %d bytes", path,
                    HEALTH_MAX_BYTES);
    obj = json_loadb(buf, len, 0, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return fail(reason, reason_len, "health file %s is not a JSON object: %s", path,
                    len == 0 ? "empty" : jerr.text);
    }
    v = json_object_get(obj, "unix_ms");
    if (!json_is_integer(v)) {
        json_decref(obj);
        return fail(reason, reason_len, "health file %s has no integer unix_ms", path);
    }
    written = (int64_t)json_integer_value(v);
    v = json_object_get(obj, "nats_connected");
    if (!json_is_boolean(v)) {
        json_decref(obj);
        return fail(reason, reason_len, "health file %s has no boolean nats_connected", path);
    }
    connected = json_is_true(v);
    if (json_is_string(json_object_get(obj, "observer")))
        snprintf(observer, sizeof(observer), "%s", json_string_value(json_object_get(obj, "observer")));
    if (json_is_string(json_object_get(obj, "store")))
        snprintf(store, sizeof(store), "%s", json_string_value(json_object_get(obj, "store")));
    json_decref(obj);

    age = now_unix_ms - written;
    if (age > max_age_ms)
        return fail(reason, reason_len,
                    "health file %s is stale: written %" PRId64 " ms ago (max %" PRId64
                    " ms); the supervisor is stuck or gone", path, age, max_age_ms);
    if (-age > max_age_ms)
        return fail(reason, reason_len,
                    "health file %s is from the future: %" PRId64 " ms ahead (max %" PRId64
                    " ms); the clock stepped", path, -age, max_age_ms);
    if (!connected)
        return fail(reason, reason_len, "not connected to NATS (observer %s, store %s)",
                    observer[0] ? observer : "?", store[0] ? store : "?");
    return true;
}

int health_command(int argc, char **argv)
{
    const char *path = health_default_path();
    int64_t max_age = HEALTH_DEFAULT_MAX_AGE_MS;
    char reason[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: fleet-supervisor healthcheck [--file PATH] [--max-age-ms N]\n"
                   "\n"
                   "Exits 0 when the supervisor in this container wrote its health file\n"
                   "within N ms (default %d) and is connected to NATS; otherwise prints\n"
                   "why on stderr and exits 1. PATH defaults to $FLEET_HEALTH_FILE, else\n"
                   "%s. For container health checks (the image has no curl).\n",
                   HEALTH_DEFAULT_MAX_AGE_MS, HEALTH_DEFAULT_PATH);
            return 0;
        }
        if (strcmp(a, "--file") == 0 || strcmp(a, "--max-age-ms") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "fleet-supervisor healthcheck: %s needs a value\n", a);
                return 2;
            }
            val = argv[++i];
        } else if (strncmp(a, "--file=", 7) == 0) {
            val = a + 7;
            a = "--file";
        } else if (strncmp(a, "--max-age-ms=", 13) == 0) {
            val = a + 13;
            a = "--max-age-ms";
        } else {
            fprintf(stderr, "fleet-supervisor healthcheck: unknown argument \"%s\"\n", a);
            return 2;
        }
        if (strcmp(a, "--file") == 0) {
            if (val[0] == '\0') {
                fprintf(stderr, "fleet-supervisor healthcheck: --file is empty\n");
                return 2;
            }
            path = val;
        } else {
            char *end;
            long long n;

            errno = 0;
            n = strtoll(val, &end, 10);
            if (errno != 0 || end == val || *end != '\0' || n < 1 || n > 86400000) {
                fprintf(stderr, "fleet-supervisor healthcheck: --max-age-ms wants 1..86400000, "
                                "not \"%s\"\n", val);
                return 2;
            }
            max_age = n;
        }
    }
    if (!health_check(path, fleet_unix_ms(), max_age, reason, sizeof(reason))) {
        fprintf(stderr, "unhealthy: %s\n", reason);
        return 1;
    }
    return 0;
}
