/* Canonical proto3 JSON of any protobuf-c message (pbjson.h). */
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest field name we expect; longer ones are truncated in the key (a
 * proto field name of 127 bytes is far past any style guide). */
#define PBJSON_NAME_MAX 128

char *pbjson_field_name(const char *proto_name, char *buf, size_t len)
{
    bool upper_next = false;
    size_t n = 0;

    if (len == 0)
        return buf;
    for (const char *p = proto_name; *p != '\0' && n + 1 < len; p++) {
        if (*p == '_') {
            upper_next = true;
            continue;
        }
        buf[n++] = upper_next && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper_next = false;
    }
    buf[n] = '\0';
    return buf;
}

/* ---- scalar values ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there
 * are not one (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string of `s` (NULL = ""), every byte that does not start a valid
 * UTF-8 sequence replaced by U+FFFD. New reference, or NULL (out of memory). */
static json_t *text_value(const char *s)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const unsigned char *p;
    json_t *v;
    char *copy;
    size_t n = 0;

    if (s == NULL)
        return json_string("");
    v = json_string(s);
    if (v != NULL)
        return v;
    copy = malloc(strlen(s) * 3 + 1);
    if (copy == NULL)
        return NULL;
    for (p = (const unsigned char *)s; *p != '\0';) {
        size_t len = utf8_sequence(p);

        if (len == 0) {
            memcpy(copy + n, replacement, 3);
            n += 3;
            p++;
        } else {
            memcpy(copy + n, p, len);
            n += len;
            p += len;
        }
    }
    copy[n] = '\0';
    v = json_string(copy);
    free(copy);
    return v;
}

/* Standard base64 (RFC 4648 §4) with padding. New reference, or NULL. */
static json_t *bytes_value(const ProtobufCBinaryData *b)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_len = (b->len + 2) / 3 * 4, n = 0;
    char *out = malloc(out_len + 1);
    json_t *v;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t w = (uint32_t)b->data[i] << 16;
        size_t left = b->len - i;

        if (left > 1)
            w |= (uint32_t)b->data[i + 1] << 8;
        if (left > 2)
            w |= b->data[i + 2];
        out[n++] = alphabet[w >> 18 & 63];
        out[n++] = alphabet[w >> 12 & 63];
        out[n++] = left > 1 ? alphabet[w >> 6 & 63] : '=';
        out[n++] = left > 2 ? alphabet[w & 63] : '=';
    }
    out[n] = '\0';
    v = json_stringn(out, n);
    free(out);
    return v;
}

static json_t *real_value(double x)
{
    if (isnan(x))
        return json_string("NaN");
    if (isinf(x))
        return json_string(x > 0 ? "Infinity" : "-Infinity");
    return json_real(x);
}

static json_t *decimal_value(bool is_signed, uint64_t bits)
{
    char buf[24];

    if (is_signed)
        snprintf(buf, sizeof buf, "%" PRId64, (int64_t)bits);
    else
        snprintf(buf, sizeof buf, "%" PRIu64, bits);
    return json_string(buf);
}

static json_t *enum_value(const ProtobufCEnumDescriptor *desc, int number)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, number);

    return v != NULL ? json_string(v->name) : json_integer(number);
}

static json_t *message_value(const ProtobufCMessage *msg);

/* The JSON of one value of field `f` stored at `p`. New reference, or NULL
 * (out of memory). */
static json_t *field_value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return decimal_value(true, (uint64_t)*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return decimal_value(false, *(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return real_value(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return real_value(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return enum_value(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING:
        return text_value(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_value(p);
    case PROTOBUF_C_TYPE_MESSAGE:
        return message_value(*(ProtobufCMessage *const *)p);
    }
    return json_null();
}

/* Bytes one element of field `f` takes in a repeated field's array. */
static size_t element_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static json_t *repeated_value(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
    size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
    const char *elems = *(char *const *)((const char *)msg + f->offset);
    size_t size = element_size(f);
    json_t *arr = json_array();

    if (arr == NULL)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        if (json_array_append_new(arr, field_value(f, elems + k * size)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* A oneof member that is not the one set is left out (the mapping allows
 * one member of a oneof at most). */
static bool field_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        return true;
    return *(const uint32_t *)((const char *)msg + f->quantifier_offset) == f->id;
}

/* New reference, or NULL (out of memory). A NULL message is JSON null. */
static json_t *message_value(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d;
    json_t *obj;

    if (msg == NULL)
        return json_null();
    d = msg->descriptor;
    obj = json_object();
    if (obj == NULL)
        return NULL;
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        char name[PBJSON_NAME_MAX];
        json_t *v;

        if (!field_present(f, msg))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            v = repeated_value(f, msg);
        else
            v = field_value(f, (const char *)msg + f->offset);
        if (json_object_set_new(obj, pbjson_field_name(f->name, name, sizeof name), v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *pbjson_object(const ProtobufCMessage *msg)
{
    return message_value(msg);
}

char *pbjson_render(const ProtobufCMessage *msg)
{
    json_t *obj = message_value(msg);
    char *text;

    if (obj == NULL)
        return NULL;
    text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(obj);
    return text;
}
