/* NATS URLs in logs and messages.
 *
 * A NATS URL may carry credentials (nats://user:password@host:4222, or a
 * token as the user part), and a list of servers is comma-separated. What
 * is logged must never carry them. */
#ifndef FLEET_URL_H
#define FLEET_URL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes `url` into `out` (n bytes, always NUL-terminated, cut if needed)
 * with the user-info part of every URL in the list replaced by three
 * asterisks: after the scheme, "alice:s3cret@h:4222" becomes "***@h:4222";
 * a URL without user-info is copied as it is. */
void fleet_url_redact(const char *url, char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
