/* Credential redaction for NATS URLs (fleet/url.h). */
#include <string.h>

#include "fleet/url.h"

/* Appends `len` bytes of `s` to out[*used], keeping room for the NUL. */
static void append(char *out, size_t n, size_t *used, const char *s, size_t len)
{
    if (*used + 1 >= n)
        return;
    if (len > n - 1 - *used)
        len = n - 1 - *used;
    memcpy(out + *used, s, len);
    *used += len;
}

void fleet_url_redact(const char *url, char *out, size_t n)
{
    size_t used = 0;

    if (n == 0)
        return;
    while (url != NULL && *url != '\0') {
        const char *end = strchr(url, ',');
        size_t len = end != NULL ? (size_t)(end - url) : strlen(url);
        const char *scheme = memchr(url, ':', len);
        const char *authority = url;
        const char *at;

        if (scheme != NULL && (size_t)(url + len - scheme) >= 3 && scheme[1] == '/' && scheme[2] == '/')
            authority = scheme + 3;
        /* The user-info ends at the last '@' before any '/' of a path. */
        at = NULL;
        for (const char *p = authority; p < url + len && *p != '/'; p++)
            if (*p == '@')
                at = p;
        if (at != NULL) {
            append(out, n, &used, url, (size_t)(authority - url));
            append(out, n, &used, "***", 3);
            append(out, n, &used, at, (size_t)(url + len - at));
        } else {
            append(out, n, &used, url, len);
        }
        if (end == NULL)
            break;
        append(out, n, &used, ",", 1);
        url = end + 1;
    }
    out[used] = '\0';
}
