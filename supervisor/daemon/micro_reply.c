#include "micro_reply.h"

#include <string.h>

#include <jansson.h>

const char *micro_refusal_name(enum micro_refusal r)
{
    static const char *const names[MICRO_REFUSAL_COUNT] = {
        [MICRO_OK] = "ok",
        [MICRO_REFUSE_SIZE] = "size",
        [MICRO_REFUSE_JSON] = "bad_json",
        [MICRO_REFUSE_TYPE] = "bad_type",
        [MICRO_REFUSE_NAME] = "wrong_name",
        [MICRO_REFUSE_ID] = "bad_id",
        [MICRO_REFUSE_VERSION] = "bad_version",
        [MICRO_REFUSE_SERVICE] = "unknown_service",
        [MICRO_REFUSE_OVERLOAD] = "overload",
    };

    return (unsigned)r < MICRO_REFUSAL_COUNT ? names[r] : "unknown";
}

/* Printable ASCII only, as a heartbeat's version must be (it lands in the
 * same field, on the feed and in logs). */
static bool version_valid(const char *v, size_t len)
{
    if (len > FLEET_VERSION_MAX)
        return false;
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)v[k] < 0x20 || (unsigned char)v[k] > 0x7e)
            return false;
    return true;
}

enum micro_refusal micro_reply_parse(const char *name, const void *data, size_t len, struct micro_reply *out)
{
    enum micro_refusal r = MICRO_OK;
    const char *type, *got_name, *id, *version = "";
    json_t *doc, *v;

    if (len == 0 || len > MICRO_REPLY_MAX)
        return MICRO_REFUSE_SIZE;
    /* JSON_REJECT_DUPLICATES: one answer, one meaning (no "id" twice). */
    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL || !json_is_object(doc)) {
        r = MICRO_REFUSE_JSON;
        goto out_free_doc;
    }
    type = json_string_value(json_object_get(doc, "type"));
    if (type == NULL || strcmp(type, MICRO_PING_RESPONSE_TYPE) != 0) {
        r = MICRO_REFUSE_TYPE;
        goto out_free_doc;
    }
    got_name = json_string_value(json_object_get(doc, "name"));
    if (got_name == NULL || strcmp(got_name, name) != 0) {
        r = MICRO_REFUSE_NAME;
        goto out_free_doc;
    }
    v = json_object_get(doc, "id");
    id = json_string_value(v);
    /* json_string_length: a NUL inside the string must not shorten it into a valid name. */
    if (id == NULL || strlen(id) != json_string_length(v) || !fleet_name_valid(id)) {
        r = MICRO_REFUSE_ID;
        goto out_free_doc;
    }
    v = json_object_get(doc, "version");
    if (v != NULL && !json_is_null(v)) {
        version = json_string_value(v);
        if (version == NULL || strlen(version) != json_string_length(v) ||
            !version_valid(version, json_string_length(v))) {
            r = MICRO_REFUSE_VERSION;
            goto out_free_doc;
        }
    }
    memcpy(out->id, id, strlen(id) + 1);
    memcpy(out->version, version, strlen(version) + 1);
out_free_doc:
    json_decref(doc);
    return r;
}
