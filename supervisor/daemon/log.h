/* The daemon's log: one JSON object per line (DESIGN.md §9), on stdout.
 *
 *   {"ts":"2026-11-24T10:00:00.123Z","level":"info","msg":"connected","url":"nats://..."}
 *
 * "ts" (UTC, milliseconds), "level" and "msg" are always present and always
 * first; fields follow. A field named "ts", "level" or "msg" is written as
 * "field_ts", "field_level" or "field_msg" so no key is ever duplicated or
 * overwritten. Strings are escaped by jansson; bytes that are not UTF-8 are
 * written as '?'.
 *
 * Thread-safe: any thread (nats.c callbacks included) may log. Each line
 * leaves in one fwrite + fflush under a mutex, so lines never interleave.
 * Logging never fails the caller: a line that cannot be built (out of
 * memory) is replaced by a fixed "log line dropped" line. */
#ifndef SUPERVISOR_LOG_H
#define SUPERVISOR_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn" or "error" (exactly, lower case). Returns 0
 * and *out, or -1 (*out untouched). The one list of level names: the config
 * validates supervisor.log_level with it. */
int log_level_parse(const char *name, enum log_level *out);

/* "debug", "info", "warn", "error"; "?" for a value outside the enum. */
const char *log_level_name(enum log_level lvl);

/* Sets the lowest level written (default LOG_INFO). log_set_level_name
 * returns 0, or -1 for an unknown name (level unchanged). */
void log_set_level(enum log_level lvl);
int log_set_level_name(const char *name);

/* True when a line at `lvl` would be written: guard costly field building. */
bool log_enabled(enum log_level lvl);

/* Writes one line: `msg`, then key/value pairs of C strings ended by one NULL
 * key: log_kv(LOG_INFO, "connected", "url", url, NULL). A NULL value is
 * written as JSON null. The strings are only read during the call. */
void log_kv(enum log_level lvl, const char *msg, ...)
#if defined(__GNUC__)
    __attribute__((sentinel))
#endif
    ;

/* Writes one line: `msg`, then every member of the object `fields` (may be
 * NULL; a non-object is written under the key "fields"). `fields` is STOLEN:
 * log_json drops the caller's reference in every case, written or filtered. */
void log_json(enum log_level lvl, const char *msg, json_t *fields);

/* Writes `len` bytes of `text` as they are: whole lines, each ended by
 * '\n', that some other module built (CloudWatch EMF lines, emf.h). Not a
 * log line: no ts/level/msg, no level filter. They leave in one write under
 * the log's lock, so they never interleave with log lines or each other.
 * The text is only read during the call. */
void log_raw(const char *text, size_t len);

/* Redirects the log (tests); NULL restores stdout. The stream is borrowed: the
 * caller closes it after redirecting elsewhere. */
void log_set_stream(FILE *f);

#endif
