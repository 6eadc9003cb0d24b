/* Any protobuf-c message as JSON, in protobuf's canonical proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/proto3/#json), by walking the
 * message's ProtobufCMessageDescriptor: one function for FleetStatus,
 * ServiceStatus, InstanceStatus, Event or any other message, with no
 * knowledge of any of them. The HTTP surface serves it: a FleetStatus is the
 * /api/status body, an Event one Server-Sent Events data line.
 *
 * The mapping, as the specification writes it:
 *   - names: the field's json_name, lowerCamelCase from the proto name
 *     (underscores removed, the letter after one upper-cased:
 *     generated_unix_ms -> generatedUnixMs, availability_1h -> availability1h);
 *     protobuf-c 1.4 descriptors carry only the proto name, so it is converted
 *     here (pbjson_field_name);
 *   - enums: the value's name ("INSTANCE_HEALTH_DEAD"); a number the enum does
 *     not name is written as that number;
 *   - int64, uint64, sint64, fixed64, sfixed64: decimal strings, exact
 *     ("18446744073709551615"); 32-bit integers: numbers;
 *   - double, float: numbers (printed with 17 significant digits, so every
 *     value reads back exactly), and the strings "NaN", "Infinity",
 *     "-Infinity";
 *   - bool: true/false; string: a JSON string (bytes that are not UTF-8 are
 *     each replaced by U+FFFD, so the output is always valid JSON);
 *   - bytes: base64, standard alphabet, with padding;
 *   - repeated: an array (empty: []); message: an object; an absent
 *     sub-message: null;
 *   - oneof: only the member that is set.
 *
 * EVERY field is written, default values included (0, "", false, [], the
 * enum's zero name): the mapping allows a printer to emit defaults, and a
 * consumer (a dashboard, a script) then never needs to know them. Members
 * come in the descriptor's field order (field-number order for protoc-c).
 * Not handled because fleet.proto has none: map fields (rendered as arrays
 * of {key, value} objects, not as JSON objects) and the well-known types'
 * special forms (Timestamp, Duration, wrappers, Any).
 *
 * Thread-safe: no shared state. The message is only read. */
#ifndef SUPERVISOR_PBJSON_H
#define SUPERVISOR_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* The JSON text of `msg` on one line (compact: no newline or indentation
 * anywhere, so it is fit for an SSE `data:` line as it is), NUL-terminated.
 * Returns a malloc'd string the caller frees with free(), or NULL when out
 * of memory; nothing else can fail. */
char *pbjson_render(const ProtobufCMessage *msg);

/* The same as a jansson object, for a caller that embeds it in a larger
 * document. Returns a new reference (json_decref), or NULL when out of
 * memory. */
json_t *pbjson_object(const ProtobufCMessage *msg);

/* Writes the json_name of the proto field name `proto_name` into buf (NUL
 * terminated, truncated to len - 1 bytes). Returns buf. */
char *pbjson_field_name(const char *proto_name, char *buf, size_t len);

#endif
