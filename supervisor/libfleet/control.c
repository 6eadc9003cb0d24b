/* The issuing side of control (DESIGN.md §4, §7): nonces, sealing a Control
 * into a signed Envelope, ControlAck, and the rule names every side uses. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control_private.h"
#include "fleet/control.h"
#include "fleet/v1/fleet.pb-c.h"
#include "lasterror.h"

_Static_assert((int)FLEET_ACTION_UNSPECIFIED == (int)FLEET__V1__ACTION__ACTION_UNSPECIFIED &&
               (int)FLEET_ACTION_RESTART == (int)FLEET__V1__ACTION__ACTION_RESTART &&
               (int)FLEET_ACTION_FENCE == (int)FLEET__V1__ACTION__ACTION_FENCE &&
               (int)FLEET_ACTION_UNFENCE == (int)FLEET__V1__ACTION__ACTION_UNFENCE &&
               (int)FLEET_ACTION_DRAIN == (int)FLEET__V1__ACTION__ACTION_DRAIN &&
               (int)FLEET_ACTION_RESUME == (int)FLEET__V1__ACTION__ACTION_RESUME,
               "fleet_action must carry the wire Action numbers");

static const char *const rule_names[FLEET_REFUSE_COUNT] = {
    [FLEET_REFUSE_NONE] = "accepted",
    [FLEET_REFUSE_TOO_LARGE] = "too_large",
    [FLEET_REFUSE_MALFORMED] = "malformed",
    [FLEET_REFUSE_BAD_SIGNATURE] = "bad_signature",
    [FLEET_REFUSE_UNTRUSTED_SIGNER] = "untrusted_signer",
    [FLEET_REFUSE_WRONG_TARGET] = "wrong_target",
    [FLEET_REFUSE_WRONG_INCARNATION] = "wrong_incarnation",
    [FLEET_REFUSE_EXPIRED] = "expired",
    [FLEET_REFUSE_FROM_FUTURE] = "from_future",
    [FLEET_REFUSE_STALE_TERM] = "stale_term",
    [FLEET_REFUSE_REPLAYED_SEQ] = "replayed_seq",
    [FLEET_REFUSE_REPLAYED_NONCE] = "replayed_nonce",
};

const char *fleet_refusal_rule(fleet_refusal r)
{
    if ((unsigned)r >= FLEET_REFUSE_COUNT)
        return "unknown";
    return rule_names[r];
}

bool fleet_refusal_retryable(const char *rule)
{
    static const char *const cured_by_a_new_attempt[] = {
        "expired", "from_future", "stale_term", "replayed_seq", "replayed_nonce",
    };

    if (rule == NULL)
        return false;
    for (size_t k = 0; k < sizeof(cured_by_a_new_attempt) / sizeof(cured_by_a_new_attempt[0]); k++)
        if (strcmp(rule, cured_by_a_new_attempt[k]) == 0)
            return true;
    return strncmp(rule, "busy", 4) == 0;
}

bool control_peek_seq(const uint8_t *envelope, size_t len, uint64_t *seq)
{
    Fleet__V1__Envelope *env = fleet__v1__envelope__unpack(NULL, len, envelope);
    Fleet__V1__Control *c = NULL;
    bool ok = false;

    if (env != NULL)
        c = fleet__v1__control__unpack(NULL, env->payload.len, env->payload.data);
    if (c != NULL) {
        *seq = c->seq;
        ok = true;
        fleet__v1__control__free_unpacked(c, NULL);
    }
    if (env != NULL)
        fleet__v1__envelope__free_unpacked(env, NULL);
    return ok;
}

fleet_refusal envelope_open(const uint8_t *envelope, size_t len, size_t max_envelope, size_t max_payload,
                            const uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES], size_t n_keys, size_t *key_index,
                            Fleet__V1__Envelope **out)
{
    Fleet__V1__Envelope *env;
    uint8_t signer[FLEET_PUBLIC_KEY_BYTES];
    size_t found = n_keys;
    fleet_refusal r;

    if (len > max_envelope)
        return FLEET_REFUSE_TOO_LARGE;
    if (envelope == NULL && len > 0)
        return FLEET_REFUSE_MALFORMED;
    env = fleet__v1__envelope__unpack(NULL, len, envelope);
    if (env == NULL)
        return FLEET_REFUSE_MALFORMED;
    if (env->payload.len > max_payload) {
        r = FLEET_REFUSE_TOO_LARGE;
        goto out_free_env;
    }
    /* A signer that is not a user public key cannot be looked up at all:
     * the envelope is malformed. The decoder's detail is dropped here; a
     * refusal carries the rule only. */
    if (env->signature.len != FLEET_SIGNATURE_LEN || fleet_nkey_public_decode(env->signer, signer) != FLEET_OK) {
        r = FLEET_REFUSE_MALFORMED;
        goto out_free_env;
    }
    /* Every entry is compared, so the time taken does not say which matched. */
    for (size_t i = 0; i < n_keys; i++)
        if (sodium_memcmp(keys[i], signer, FLEET_PUBLIC_KEY_BYTES) == 0 && found == n_keys)
            found = i;
    if (found == n_keys) {
        r = FLEET_REFUSE_UNTRUSTED_SIGNER;
        goto out_free_env;
    }
    if (!fleet_nkey_verify(signer, env->payload.data, env->payload.len, env->signature.data)) {
        r = FLEET_REFUSE_BAD_SIGNATURE;
        goto out_free_env;
    }
    *key_index = found;
    *out = env;
    return FLEET_REFUSE_NONE;

out_free_env:
    fleet__v1__envelope__free_unpacked(env, NULL);
    return r;
}

bool control_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

fleet_status control_new_nonce(uint8_t nonce[FLEET_NONCE_LEN])
{
    if (nonce == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "new nonce: NULL argument");
    if (sodium_init() < 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "libsodium could not be initialised");
    randombytes_buf(nonce, FLEET_NONCE_LEN);
    return FLEET_OK;
}

fleet_status fleet_control_new_nonce(fleet_control *c)
{
    return control_new_nonce(c != NULL ? c->nonce : NULL);
}

bool control_terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

/* Refuses a Control no receiver would accept for its form alone, so the
 * issuer learns of its bug instead of every receiver counting a refusal. */
static fleet_status control_validate(const fleet_control *c)
{
    fleet_status s;

    if (!control_terminated(c->service, sizeof(c->service)))
        return fleet_fail(FLEET_ERR_BAD_NAME, "service name is not NUL-terminated within %d bytes",
                          FLEET_NAME_MAX + 1);
    if (!control_terminated(c->instance, sizeof(c->instance)))
        return fleet_fail(FLEET_ERR_BAD_NAME, "instance name is not NUL-terminated within %d bytes",
                          FLEET_NAME_MAX + 1);
    s = fleet_name_check("service", c->service);
    if (s != FLEET_OK)
        return s;
    s = fleet_name_check("instance", c->instance);
    if (s != FLEET_OK)
        return s;
    if (c->action <= FLEET_ACTION_UNSPECIFIED || c->action > FLEET_ACTION_RESUME)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "control action %d is not one of RESTART..RESUME",
                          (int)c->action);
    if (!control_terminated(c->reason, sizeof(c->reason)) ||
        !control_utf8_valid(c->reason, strlen(c->reason)))
        return fleet_fail(FLEET_ERR_INVALID_ARG, "control reason must be UTF-8 text of at most %d bytes",
                          FLEET_REASON_MAX);
    if (c->expires_unix_ms < c->issued_unix_ms ||
        (uint64_t)c->expires_unix_ms - (uint64_t)c->issued_unix_ms > FLEET_CONTROL_MAX_WINDOW_MS)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "control expiry must be 0 to %d ms after its issue time",
                          FLEET_CONTROL_MAX_WINDOW_MS);
    return FLEET_OK;
}

fleet_status envelope_seal(const uint8_t *payload, size_t payload_len, const fleet_keypair *kp, uint8_t **out,
                           size_t *len)
{
    Fleet__V1__Envelope env = FLEET__V1__ENVELOPE__INIT;
    uint8_t sig[FLEET_SIGNATURE_LEN];
    char signer[FLEET_NKEY_PUBLIC_LEN + 1];
    uint8_t *buf;
    size_t env_len;
    fleet_status s;

    if (payload_len > FLEET_PAYLOAD_MAX)
        return fleet_fail(FLEET_ERR_TOO_LARGE, "payload of %zu bytes is over %d", payload_len, FLEET_PAYLOAD_MAX);
    s = fleet_keypair_public(kp, signer, sizeof(signer));
    if (s != FLEET_OK)
        return s;
    /* The signature covers exactly the payload bytes that travel. */
    s = fleet_keypair_sign(kp, payload, payload_len, sig);
    if (s != FLEET_OK)
        return s;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = payload_len;
    env.signature.data = sig;
    env.signature.len = sizeof(sig);
    env.signer = signer;
    env_len = fleet__v1__envelope__get_packed_size(&env);
    if (env_len > FLEET_ENVELOPE_MAX)
        return fleet_fail(FLEET_ERR_TOO_LARGE, "envelope of %zu bytes is over %d", env_len, FLEET_ENVELOPE_MAX);
    buf = malloc(env_len);
    if (buf == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory sealing an envelope");
    fleet__v1__envelope__pack(&env, buf);
    *out = buf;
    *len = env_len;
    return FLEET_OK;
}

fleet_status fleet_control_seal(const fleet_control *c, const fleet_keypair *kp, uint8_t **out, size_t *len)
{
    Fleet__V1__Control msg = FLEET__V1__CONTROL__INIT;
    uint8_t *payload;
    size_t payload_len;
    fleet_status s;

    if (c == NULL || kp == NULL || out == NULL || len == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_control_seal: NULL argument");
    s = control_validate(c);
    if (s != FLEET_OK)
        return s;

    /* protobuf-c's fields are non-const; packing only reads them. */
    msg.service = (char *)c->service;
    msg.instance = (char *)c->instance;
    msg.incarnation = c->incarnation;
    msg.action = (Fleet__V1__Action)c->action;
    msg.fence_epoch = c->fence_epoch;
    msg.term = c->term;
    msg.seq = c->seq;
    msg.issued_unix_ms = c->issued_unix_ms;
    msg.expires_unix_ms = c->expires_unix_ms;
    msg.nonce.data = (uint8_t *)c->nonce;
    msg.nonce.len = sizeof(c->nonce);
    msg.reason = (char *)c->reason;

    payload_len = fleet__v1__control__get_packed_size(&msg);
    payload = malloc(payload_len > 0 ? payload_len : 1);
    if (payload == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory sealing a control");
    fleet__v1__control__pack(&msg, payload);

    s = envelope_seal(payload, payload_len, kp, out, len);
    free(payload);
    return s;
}

fleet_status fleet_control_ack_pack(const char *service, const char *instance, uint64_t seq, bool accepted,
                                    const char *error, uint8_t **out, size_t *len)
{
    Fleet__V1__ControlAck ack = FLEET__V1__CONTROL_ACK__INIT;
    size_t need, error_len;
    uint8_t *buf;
    fleet_status s;

    if (out == NULL || len == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_control_ack_pack: NULL argument");
    s = fleet_name_check("service", service);
    if (s != FLEET_OK)
        return s;
    s = fleet_name_check("instance", instance);
    if (s != FLEET_OK)
        return s;
    if (error == NULL)
        error = "";
    error_len = strnlen(error, FLEET_REASON_MAX + 1);
    if (error_len > FLEET_REASON_MAX || !control_utf8_valid(error, error_len))
        return fleet_fail(FLEET_ERR_INVALID_ARG, "control ack error must be UTF-8 text of at most %d bytes",
                          FLEET_REASON_MAX);

    ack.service = (char *)service;
    ack.instance = (char *)instance;
    ack.seq = seq;
    ack.accepted = accepted;
    ack.error = (char *)error;
    need = fleet__v1__control_ack__get_packed_size(&ack);
    buf = malloc(need > 0 ? need : 1);
    if (buf == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory packing a control ack");
    *len = fleet__v1__control_ack__pack(&ack, buf);
    *out = buf;
    return FLEET_OK;
}
