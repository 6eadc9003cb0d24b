/* The receiving side of control (DESIGN.md §7): one receiver's verifier and
 * its replay state, and the trusted-key list it is configured with.
 *
 * Checks run cheapest-and-unauthenticated first, and nothing in an envelope
 * is believed before its signature is: the size limits and the Envelope
 * decode come before the signature, every Control field after it.
 *
 * Replay state, and why the nonce cache may evict:
 * - (term, seq) must rise strictly over the highest accepted pair (a higher
 *   term resets the seq floor). A replay of any accepted envelope is
 *   therefore refused as replayed_seq (or stale_term) before the nonce is
 *   looked at, however old it is and whatever the cache holds.
 * - The nonce cache only catches a *distinct* signed Control that reuses a
 *   nonce, i.e. an issuer bug or an issuer-side compromise. It is a ring of
 *   NONCE_CACHE entries; an entry lapses at its Control's expires_unix_ms
 *   (after which the Control is refused as expired anyway). When the ring is
 *   full the oldest entry is overwritten even if unexpired: refusing instead
 *   would let a burst of legitimate commands lock a receiver out of control
 *   for up to FLEET_CONTROL_MAX_WINDOW_MS, and eviction cannot reopen a
 *   replay because (term, seq) already closes it.
 * - All of this is memory only. A restarted receiver starts with an empty
 *   state; what protects it is the incarnation (a new random value per
 *   process start, so Controls addressed to the previous life are refused as
 *   wrong_incarnation) plus expiry (bounded by FLEET_CONTROL_MAX_WINDOW_MS). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control_private.h"
#include "fleet/control.h"
#include "fleet/v1/fleet.pb-c.h"
#include "lasterror.h"

#define NONCE_CACHE 256
#define SKEW_MAX_MS (60 * 60 * 1000)

struct nonce_entry {
    uint8_t nonce[FLEET_NONCE_LEN];
    int64_t expires_unix_ms;
    bool used;
};

struct fleet_verifier {
    char service[FLEET_NAME_MAX + 1];
    char instance[FLEET_NAME_MAX + 1];
    uint8_t (*trusted)[FLEET_PUBLIC_KEY_BYTES];
    size_t n_trusted;
    int64_t skew_ms;
    size_t max_envelope;
    size_t max_payload;

    bool any_accepted;   /* term/seq below are meaningful */
    uint64_t term;       /* highest accepted term */
    uint64_t seq;        /* highest accepted seq within `term` */
    struct nonce_entry nonces[NONCE_CACHE];
    size_t nonce_next;   /* ring position of the next insert */

    uint64_t accepted;
    uint64_t refused[FLEET_REFUSE_COUNT];
};

fleet_status fleet_verifier_create(const fleet_verifier_opts *opts, fleet_verifier **out)
{
    fleet_verifier *v;
    fleet_status s;

    if (opts == NULL || out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_verifier_create: NULL argument");
    s = fleet_name_check("service", opts->service);
    if (s != FLEET_OK)
        return s;
    s = fleet_name_check("instance", opts->instance);
    if (s != FLEET_OK)
        return s;
    if (opts->trusted == NULL || opts->n_trusted == 0)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "no trusted control keys: give at least one public key (U…)");
    if (opts->skew_ms < 0 || opts->skew_ms > SKEW_MAX_MS)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "clock skew %lld ms is out of range 0..%d",
                          (long long)opts->skew_ms, SKEW_MAX_MS);
    if (sodium_init() < 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "libsodium could not be initialised");

    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory creating a control verifier");
    v->trusted = calloc(opts->n_trusted, sizeof(*v->trusted));
    if (v->trusted == NULL) {
        s = fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory creating a control verifier");
        goto out_free_v;
    }
    for (size_t i = 0; i < opts->n_trusted; i++) {
        s = fleet_nkey_public_decode(opts->trusted[i], v->trusted[i]);
        if (s != FLEET_OK) {
            char why[200];

            snprintf(why, sizeof(why), "%s", fleet_last_error());
            s = fleet_fail(s, "trusted key %zu: %s", i + 1, why);
            goto out_free_trusted;
        }
    }
    v->n_trusted = opts->n_trusted;
    memcpy(v->service, opts->service, strlen(opts->service) + 1);
    memcpy(v->instance, opts->instance, strlen(opts->instance) + 1);
    v->skew_ms = opts->skew_ms != 0 ? opts->skew_ms : FLEET_SKEW_DEFAULT_MS;
    v->max_envelope = opts->max_envelope_bytes != 0 ? opts->max_envelope_bytes : FLEET_ENVELOPE_MAX;
    v->max_payload = opts->max_payload_bytes != 0 ? opts->max_payload_bytes : FLEET_PAYLOAD_MAX;
    *out = v;
    return FLEET_OK;

out_free_trusted:
    free(v->trusted);
out_free_v:
    free(v);
    return s;
}

void fleet_verifier_destroy(fleet_verifier *v)
{
    if (v == NULL)
        return;
    free(v->trusted);
    free(v);
}

uint64_t fleet_verifier_term_seen(const fleet_verifier *v)
{
    return v != NULL ? v->term : 0;
}

void fleet_verifier_counters(const fleet_verifier *v, uint64_t *accepted, uint64_t refused[FLEET_REFUSE_COUNT])
{
    if (v == NULL)
        return;
    if (accepted != NULL)
        *accepted = v->accepted;
    if (refused != NULL)
        memcpy(refused, v->refused, sizeof(v->refused));
}

/* Copies a decoded Control into plain C data, refusing what our struct or
 * the protocol cannot hold. Service and instance that do not fit cannot be
 * ours, so they are wrong_target rather than malformed. */
static fleet_refusal control_from_wire(const Fleet__V1__Control *m, fleet_control *c)
{
    size_t service_len, instance_len, reason_len;

    /* protobuf-c gives absent proto3 strings as "", never NULL; be sure. */
    if (m->service == NULL || m->instance == NULL || m->reason == NULL)
        return FLEET_REFUSE_MALFORMED;
    service_len = strlen(m->service);
    instance_len = strlen(m->instance);
    reason_len = strlen(m->reason);
    if (m->nonce.len != FLEET_NONCE_LEN)
        return FLEET_REFUSE_MALFORMED;
    if (m->action <= FLEET__V1__ACTION__ACTION_UNSPECIFIED || m->action > FLEET__V1__ACTION__ACTION_RESUME)
        return FLEET_REFUSE_MALFORMED;
    if (reason_len > FLEET_REASON_MAX || !control_utf8_valid(m->reason, reason_len))
        return FLEET_REFUSE_MALFORMED;
    if (service_len > FLEET_NAME_MAX || instance_len > FLEET_NAME_MAX)
        return FLEET_REFUSE_WRONG_TARGET;

    memset(c, 0, sizeof(*c));
    memcpy(c->service, m->service, service_len + 1);
    memcpy(c->instance, m->instance, instance_len + 1);
    c->incarnation = m->incarnation;
    c->action = (fleet_action)m->action;
    c->fence_epoch = m->fence_epoch;
    c->term = m->term;
    c->seq = m->seq;
    c->issued_unix_ms = m->issued_unix_ms;
    c->expires_unix_ms = m->expires_unix_ms;
    memcpy(c->nonce, m->nonce.data, FLEET_NONCE_LEN);
    memcpy(c->reason, m->reason, reason_len + 1);
    return FLEET_REFUSE_NONE;
}

/* The signed, decoded Control against the receiver's identity, its clock
 * and its replay state, in the order documented in control.h's enum. */
static fleet_refusal check_control(const fleet_verifier *v, const fleet_control *c, uint64_t incarnation,
                                   int64_t now)
{
    if (strcmp(c->service, v->service) != 0 || strcmp(c->instance, v->instance) != 0)
        return FLEET_REFUSE_WRONG_TARGET;
    /* Exact match: incarnation 0 in a Control is not a wildcard. */
    if (c->incarnation != incarnation)
        return FLEET_REFUSE_WRONG_INCARNATION;
    if (now > c->expires_unix_ms)
        return FLEET_REFUSE_EXPIRED;
    /* issued - now > skew, without overflow for any int64 values. */
    if (c->issued_unix_ms > now && (uint64_t)c->issued_unix_ms - (uint64_t)now > (uint64_t)v->skew_ms)
        return FLEET_REFUSE_FROM_FUTURE;
    /* A validity window that is negative or longer than the protocol allows
     * is a malformed Control, whatever the clocks say. */
    if (c->expires_unix_ms < c->issued_unix_ms ||
        (uint64_t)c->expires_unix_ms - (uint64_t)c->issued_unix_ms > FLEET_CONTROL_MAX_WINDOW_MS)
        return FLEET_REFUSE_MALFORMED;
    if (v->any_accepted && c->term < v->term)
        return FLEET_REFUSE_STALE_TERM;
    if (v->any_accepted && c->term == v->term && c->seq <= v->seq)
        return FLEET_REFUSE_REPLAYED_SEQ;
    for (size_t i = 0; i < NONCE_CACHE; i++) {
        const struct nonce_entry *e = &v->nonces[i];

        if (e->used && e->expires_unix_ms >= now && memcmp(e->nonce, c->nonce, FLEET_NONCE_LEN) == 0)
            return FLEET_REFUSE_REPLAYED_NONCE;
    }
    return FLEET_REFUSE_NONE;
}

static void record_accepted(fleet_verifier *v, const fleet_control *c)
{
    struct nonce_entry *e = &v->nonces[v->nonce_next];

    v->any_accepted = true;
    v->term = c->term;
    v->seq = c->seq;
    memcpy(e->nonce, c->nonce, FLEET_NONCE_LEN);
    e->expires_unix_ms = c->expires_unix_ms;
    e->used = true;
    v->nonce_next = (v->nonce_next + 1) % NONCE_CACHE;
    v->accepted++;
}

/* Everything up to and including the Control's decode. On NONE, *c holds
 * the signed Control. Frees all it unpacks. */
static fleet_refusal open_envelope(const fleet_verifier *v, const uint8_t *envelope, size_t len,
                                   fleet_control *c)
{
    Fleet__V1__Envelope *env;
    Fleet__V1__Control *msg;
    size_t signer;
    fleet_refusal r;

    r = envelope_open(envelope, len, v->max_envelope, v->max_payload,
                      (const uint8_t(*)[FLEET_PUBLIC_KEY_BYTES])v->trusted, v->n_trusted, &signer, &env);
    if (r != FLEET_REFUSE_NONE)
        return r;
    msg = fleet__v1__control__unpack(NULL, env->payload.len, env->payload.data);
    if (msg == NULL) {
        r = FLEET_REFUSE_MALFORMED;
        goto out_free_env;
    }
    r = control_from_wire(msg, c);
    fleet__v1__control__free_unpacked(msg, NULL);

out_free_env:
    fleet__v1__envelope__free_unpacked(env, NULL);
    return r;
}

fleet_refusal fleet_verifier_check(fleet_verifier *v, const uint8_t *envelope, size_t len,
                                   uint64_t incarnation, int64_t now_unix_ms, fleet_control *out)
{
    fleet_control c;
    fleet_refusal r;

    if (v == NULL)
        return FLEET_REFUSE_MALFORMED;
    r = open_envelope(v, envelope, len, &c);
    if (r == FLEET_REFUSE_NONE)
        r = check_control(v, &c, incarnation, now_unix_ms);
    if (r != FLEET_REFUSE_NONE) {
        v->refused[r]++;
        return r;
    }
    record_accepted(v, &c);
    if (out != NULL)
        *out = c;
    return FLEET_REFUSE_NONE;
}

/* Key lists (FLEET_TRUSTED_KEYS). */

void fleet_key_list_free(char **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

fleet_status fleet_key_list_parse(const char *comma_list, char ***out, size_t *n)
{
    char **list = NULL;
    size_t count = 0, items = 1;
    const char *p;
    fleet_status s = FLEET_OK;

    if (comma_list == NULL || out == NULL || n == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_key_list_parse: NULL argument");
    for (p = comma_list; *p != '\0'; p++)
        items += *p == ',';
    list = calloc(items, sizeof(*list));
    if (list == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory parsing a key list");

    p = comma_list;
    for (size_t i = 0; i < items; i++) {
        const char *end = strchr(p, ',');
        const char *next;
        uint8_t raw[FLEET_PUBLIC_KEY_BYTES];

        if (end == NULL)
            end = p + strlen(p);
        next = *end == ',' ? end + 1 : end;
        while (p < end && isspace((unsigned char)*p))
            p++;
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        if (p == end) {
            s = items == 1 ? fleet_fail(FLEET_ERR_INVALID_ARG, "the key list is empty: give one or more "
                                                               "public keys (U…) separated by commas")
                           : fleet_fail(FLEET_ERR_INVALID_ARG, "key %zu of %zu in the list is empty "
                                                               "(a stray comma?)", i + 1, items);
            goto out_free_list;
        }
        list[i] = strndup(p, (size_t)(end - p));
        if (list[i] == NULL) {
            s = fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory parsing a key list");
            goto out_free_list;
        }
        count++;
        s = fleet_nkey_public_decode(list[i], raw);
        if (s != FLEET_OK) {
            char why[200];

            snprintf(why, sizeof(why), "%s", fleet_last_error());
            s = fleet_fail(s, "key %zu of %zu in the list: %s", i + 1, items, why);
            goto out_free_list;
        }
        p = next;
    }
    *out = list;
    *n = count;
    return FLEET_OK;

out_free_list:
    /* An item may be a seed pasted by mistake: wipe before freeing. */
    for (size_t i = 0; i < count; i++)
        sodium_memzero(list[i], strlen(list[i]));
    fleet_key_list_free(list, count);
    return s;
}
