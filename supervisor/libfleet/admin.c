/* Operator commands (fleet/admin.h): the AdminCommand's form, sealing and
 * opening. The Envelope and its signature are control.c's, shared with the
 * supervisor's Controls. */
#include "fleet/admin.h"

#include <stdlib.h>
#include <string.h>

#include "control_private.h"
#include "fleet/v1/fleet.pb-c.h"
#include "lasterror.h"

static const char *const verb_names[FLEET_VERB_COUNT] = {
    [FLEET_VERB_NONE] = "none",
    [FLEET_VERB_RESTART] = "restart",
    [FLEET_VERB_FENCE] = "fence",
    [FLEET_VERB_UNFENCE] = "unfence",
    [FLEET_VERB_DRAIN] = "drain",
    [FLEET_VERB_RESUME] = "resume",
    [FLEET_VERB_MAINTENANCE_ON] = "maintenance-on",
    [FLEET_VERB_MAINTENANCE_OFF] = "maintenance-off",
};

const char *fleet_admin_verb_name(fleet_admin_verb v)
{
    return (unsigned)v < FLEET_VERB_COUNT ? verb_names[v] : verb_names[FLEET_VERB_NONE];
}

fleet_admin_verb fleet_admin_verb_parse(const char *name)
{
    if (name != NULL)
        for (int v = FLEET_VERB_NONE + 1; v < FLEET_VERB_COUNT; v++)
            if (strcmp(name, verb_names[v]) == 0)
                return (fleet_admin_verb)v;
    return FLEET_VERB_NONE;
}

bool fleet_operator_name_valid(const char *name)
{
    size_t n;

    if (name == NULL)
        return false;
    n = strnlen(name, FLEET_OPERATOR_MAX + 1);
    if (n == 0 || n > FLEET_OPERATOR_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~' || name[i] == '"' || name[i] == '\\')
            return false;
    return true;
}

fleet_status fleet_admin_new_nonce(fleet_admin_command *c)
{
    return control_new_nonce(c != NULL ? c->nonce : NULL);
}

/* The form every AdminCommand must have, whoever made it: a known verb, a
 * service name, an instance name or "" (every instance), an operator name
 * or "" (the supervisor names the signer), UTF-8 reason, a window of
 * 0..FLEET_ADMIN_MAX_WINDOW_MS. Returns NULL or what is wrong. */
static const char *form_error(fleet_admin_verb verb, const char *service, const char *instance,
                              const char *operator_name, const char *reason, int64_t issued, int64_t expires)
{
    size_t reason_len = strnlen(reason, FLEET_REASON_MAX + 1);

    if (verb <= FLEET_VERB_NONE || verb >= FLEET_VERB_COUNT)
        return "the verb is not one of restart, fence, unfence, drain, resume, maintenance-on, maintenance-off";
    if (!fleet_name_valid(service))
        return "the service is not a name of 1-64 characters of [A-Za-z0-9_-]";
    if (instance[0] != '\0' && !fleet_name_valid(instance))
        return "the instance is not a name of 1-64 characters of [A-Za-z0-9_-]";
    if (operator_name[0] != '\0' && !fleet_operator_name_valid(operator_name))
        return "the operator name is not 1-64 printable characters without spaces";
    if (reason_len > FLEET_REASON_MAX || !control_utf8_valid(reason, reason_len))
        return "the reason is not UTF-8 text of at most 127 bytes";
    if (expires < issued || (uint64_t)expires - (uint64_t)issued > FLEET_ADMIN_MAX_WINDOW_MS)
        return "the expiry is not 0 to 5 minutes after the issue time";
    return NULL;
}

fleet_status fleet_admin_seal(const fleet_admin_command *c, const fleet_keypair *kp, uint8_t **out, size_t *len)
{
    Fleet__V1__AdminCommand msg = FLEET__V1__ADMIN_COMMAND__INIT;
    uint8_t *payload;
    size_t payload_len;
    const char *why;
    fleet_status s;

    if (c == NULL || kp == NULL || out == NULL || len == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_admin_seal: NULL argument");
    if (!control_terminated(c->service, sizeof(c->service)) ||
        !control_terminated(c->instance, sizeof(c->instance)) ||
        !control_terminated(c->operator_name, sizeof(c->operator_name)) ||
        !control_terminated(c->reason, sizeof(c->reason)))
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_admin_seal: a text field is not NUL-terminated");
    why = form_error(c->verb, c->service, c->instance, c->operator_name, c->reason, c->issued_unix_ms,
                     c->expires_unix_ms);
    if (why != NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "admin command: %s", why);

    /* protobuf-c's fields are non-const; packing only reads them. */
    msg.verb = (char *)fleet_admin_verb_name(c->verb);
    msg.service = (char *)c->service;
    msg.instance = (char *)c->instance;
    msg.operator_ = (char *)c->operator_name;
    msg.nonce.data = (uint8_t *)c->nonce;
    msg.nonce.len = sizeof(c->nonce);
    msg.issued_unix_ms = c->issued_unix_ms;
    msg.expires_unix_ms = c->expires_unix_ms;
    msg.reason = (char *)c->reason;
    msg.force = c->force;
    msg.batch = c->batch;
    msg.min_healthy_ms = c->min_healthy_ms;

    payload_len = fleet__v1__admin_command__get_packed_size(&msg);
    payload = malloc(payload_len > 0 ? payload_len : 1);
    if (payload == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory sealing an admin command");
    fleet__v1__admin_command__pack(&msg, payload);

    s = envelope_seal(payload, payload_len, kp, out, len);
    free(payload);
    return s;
}

/* Copies a decoded AdminCommand into plain C data, refusing (malformed) what
 * form_error refuses and what our struct cannot hold. */
static fleet_refusal command_from_wire(const Fleet__V1__AdminCommand *m, fleet_admin_command *c)
{
    fleet_admin_verb verb = fleet_admin_verb_parse(m->verb);

    /* protobuf-c gives absent proto3 strings as "", never NULL; be sure. */
    if (m->service == NULL || m->instance == NULL || m->operator_ == NULL || m->reason == NULL)
        return FLEET_REFUSE_MALFORMED;
    if (m->nonce.len != FLEET_NONCE_LEN ||
        form_error(verb, m->service, m->instance, m->operator_, m->reason, m->issued_unix_ms,
                   m->expires_unix_ms) != NULL)
        return FLEET_REFUSE_MALFORMED;

    memset(c, 0, sizeof(*c));
    c->verb = verb;
    memcpy(c->service, m->service, strlen(m->service) + 1);
    memcpy(c->instance, m->instance, strlen(m->instance) + 1);
    memcpy(c->operator_name, m->operator_, strlen(m->operator_) + 1);
    memcpy(c->nonce, m->nonce.data, FLEET_NONCE_LEN);
    c->issued_unix_ms = m->issued_unix_ms;
    c->expires_unix_ms = m->expires_unix_ms;
    memcpy(c->reason, m->reason, strlen(m->reason) + 1);
    c->force = m->force;
    c->batch = m->batch;
    c->min_healthy_ms = m->min_healthy_ms;
    return FLEET_REFUSE_NONE;
}

fleet_refusal fleet_admin_open(const uint8_t *envelope, size_t len, const uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES],
                               size_t n_keys, size_t *key_index, fleet_admin_command *out)
{
    Fleet__V1__Envelope *env;
    Fleet__V1__AdminCommand *msg;
    fleet_admin_command c;
    size_t signer;
    fleet_refusal r;

    if (key_index == NULL || out == NULL)
        return FLEET_REFUSE_MALFORMED;
    r = envelope_open(envelope, len, FLEET_ENVELOPE_MAX, FLEET_PAYLOAD_MAX, keys, n_keys, &signer, &env);
    if (r != FLEET_REFUSE_NONE)
        return r;
    msg = fleet__v1__admin_command__unpack(NULL, env->payload.len, env->payload.data);
    if (msg == NULL) {
        r = FLEET_REFUSE_MALFORMED;
        goto out_free_env;
    }
    r = command_from_wire(msg, &c);
    fleet__v1__admin_command__free_unpacked(msg, NULL);
    if (r == FLEET_REFUSE_NONE) {
        *out = c;
        *key_index = signer;
    }

out_free_env:
    fleet__v1__envelope__free_unpacked(env, NULL);
    return r;
}
