/* Command-line durations: one parser and one printer for every subcommand. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

int duration_parse(const char *arg, int64_t max_ms, int64_t *out)
{
    int64_t total = 0;
    const char *p = arg;

    if (strcmp(arg, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*p == '\0')
        return -1;
    while (*p != '\0') {
        int64_t v = 0, unit;

        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++) {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else {
            switch (*p) {
            case 's': unit = 1000; break;
            case 'm': unit = 60LL * 1000; break;
            case 'h': unit = 3600LL * 1000; break;
            case 'd': unit = 86400LL * 1000; break;
            default: return -1;
            }
            p++;
        }
        if (v > (max_ms - total) / unit)
            return -1;
        total += v * unit;
    }
    *out = total;
    return 0;
}

char *duration_format(int64_t ms, char *out, size_t n)
{
    int64_t s, m, h;

    if (ms < 0)
        ms = 0;
    s = ms / 1000;
    if (ms < 1000 && ms > 0)
        snprintf(out, n, "%lldms", (long long)ms);
    else if (s < 10 && ms % 1000 >= 100)
        snprintf(out, n, "%lld.%llds", (long long)s, (long long)(ms % 1000 / 100));
    else if (s < 60)
        snprintf(out, n, "%llds", (long long)s);
    else if (s < 3600) {
        m = s / 60;
        s %= 60;
        if (s != 0)
            snprintf(out, n, "%lldm%llds", (long long)m, (long long)s);
        else
            snprintf(out, n, "%lldm", (long long)m);
    } else {
        h = s / 3600;
        m = s % 3600 / 60;
        if (m != 0)
            snprintf(out, n, "%lldh%lldm", (long long)h, (long long)m);
        else
            snprintf(out, n, "%lldh", (long long)h);
    }
    return out;
}
