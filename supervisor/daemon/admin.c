/* Operators' commands at the supervisor (admin.h). */
#include "admin.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nonce_slot {
    uint8_t nonce[FLEET_NONCE_LEN];
    int64_t until_unix_ms;   /* 0 = free */
};

struct admin_gate {
    struct supervisor_operator *ops;        /* copies; services arrays owned */
    uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES]; /* ops[i]'s key, decoded */
    size_t n_ops;
    int64_t skew_ms;
    uint32_t checks_per_s;    /* 0: no limit */
    uint32_t tokens;          /* checks left in the current second's bucket */
    int64_t refill_ms;        /* when the bucket was last refilled */
    struct nonce_slot nonces[ADMIN_NONCES_MAX]; /* free slots are sought from `next` on */
    size_t next;
    struct admin_counters counters;
    fleet_admin_verb judging;  /* the subject's verb of the command being judged */
};

static const char *const rule_names[ADMIN_RULE_COUNT] = {
    [ADMIN_ACCEPTED] = "accepted",
    [ADMIN_NO_OPERATORS] = "no_operators",
    [ADMIN_RATE_LIMITED] = "rate_limited",
    [ADMIN_TOO_LARGE] = "too_large",
    [ADMIN_MALFORMED] = "malformed",
    [ADMIN_UNKNOWN_OPERATOR] = "unknown_operator",
    [ADMIN_BAD_SIGNATURE] = "bad_signature",
    [ADMIN_WRONG_SUBJECT] = "wrong_subject",
    [ADMIN_WRONG_OPERATOR] = "wrong_operator",
    [ADMIN_VERB_NOT_ALLOWED] = "verb_not_allowed",
    [ADMIN_SERVICE_NOT_ALLOWED] = "service_not_allowed",
    [ADMIN_EXPIRED] = "expired",
    [ADMIN_FROM_FUTURE] = "from_future",
    [ADMIN_REPLAYED] = "replayed",
    [ADMIN_BUSY] = "busy",
    [ADMIN_UNKNOWN_TARGET] = "unknown_target",
    [ADMIN_NOT_RECORDED] = "not_recorded",
    [ADMIN_NOT_DONE] = "not_done",
};

const char *admin_rule_name(enum admin_rule r)
{
    return (unsigned)r < ADMIN_RULE_COUNT ? rule_names[r] : "unknown";
}

bool admin_service_matches(const char *pattern, const char *service)
{
    return fnmatch(pattern, service, FNM_NOESCAPE) == 0;
}

static void free_ops(struct supervisor_operator *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ops[i].services);
    free(ops);
}

/* Deep copies of `ops` and their decoded keys; 0, or -1 with nothing made. */
static int copy_ops(const struct supervisor_operator *ops, size_t n, struct supervisor_operator **out_ops,
                    uint8_t (**out_keys)[FLEET_PUBLIC_KEY_BYTES])
{
    struct supervisor_operator *copy = calloc(n > 0 ? n : 1, sizeof(*copy));
    uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES] = calloc(n > 0 ? n : 1, sizeof(*keys));
    size_t i;

    if (copy == NULL || keys == NULL)
        goto out_free;
    for (i = 0; i < n; i++) {
        copy[i] = ops[i];
        copy[i].services = calloc(ops[i].n_services > 0 ? ops[i].n_services : 1, sizeof(*copy[i].services));
        if (copy[i].services == NULL)
            goto out_free;
        memcpy(copy[i].services, ops[i].services, ops[i].n_services * sizeof(*copy[i].services));
        /* The config checked every key: this cannot fail. */
        if (fleet_nkey_public_decode(ops[i].key, keys[i]) != FLEET_OK)
            goto out_free;
    }
    *out_ops = copy;
    *out_keys = keys;
    return 0;

out_free:
    if (copy != NULL)
        free_ops(copy, n);
    free(keys);
    return -1;
}

int admin_gate_create(const struct supervisor_operator *ops, size_t n, int64_t skew_ms, uint32_t checks_per_s,
                      struct admin_gate **out)
{
    struct admin_gate *g = calloc(1, sizeof(*g));

    if (g == NULL)
        return -1;
    if (copy_ops(ops, n, &g->ops, &g->keys) != 0) {
        free(g);
        return -1;
    }
    g->n_ops = n;
    g->skew_ms = skew_ms;
    g->checks_per_s = checks_per_s;
    g->tokens = checks_per_s;
    *out = g;
    return 0;
}

void admin_gate_destroy(struct admin_gate *g)
{
    if (g == NULL)
        return;
    free_ops(g->ops, g->n_ops);
    free(g->keys);
    free(g);
}

int admin_gate_set_operators(struct admin_gate *g, const struct supervisor_operator *ops, size_t n)
{
    struct supervisor_operator *copy;
    uint8_t (*keys)[FLEET_PUBLIC_KEY_BYTES];

    if (copy_ops(ops, n, &copy, &keys) != 0)
        return -1;
    free_ops(g->ops, g->n_ops);
    free(g->keys);
    g->ops = copy;
    g->keys = keys;
    g->n_ops = n;
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static enum admin_rule refuse(struct admin_gate *g, enum admin_rule r, char *why, size_t n,
                              const char *fmt, ...)
{
    size_t used;
    va_list ap;

    g->counters.refused[r]++;
    g->counters.by_verb[g->judging][r]++;
    used = (size_t)snprintf(why, n, "%s: ", rule_names[r]);
    if (used < n) {
        va_start(ap, fmt);
        vsnprintf(why + used, n - used, fmt, ap);
        va_end(ap);
    }
    return r;
}

static bool services_allow(const struct supervisor_operator *op, const char *service)
{
    for (size_t k = 0; k < op->n_services; k++)
        if (admin_service_matches(op->services[k], service))
            return true;
    return false;
}

/* The nonce's slot if it was accepted and its command may still be live. */
static bool nonce_seen(const struct admin_gate *g, const uint8_t nonce[FLEET_NONCE_LEN], int64_t now)
{
    for (size_t k = 0; k < ADMIN_NONCES_MAX; k++)
        if (g->nonces[k].until_unix_ms >= now && memcmp(g->nonces[k].nonce, nonce, FLEET_NONCE_LEN) == 0)
            return true;
    return false;
}

/* A slot whose command can no longer be accepted, sought from `next` on
 * (the slot after the last one taken), or NULL when every slot holds a live
 * one. Commands' windows differ, so the oldest slot is not always the first
 * to be free. */
static struct nonce_slot *free_slot(struct admin_gate *g, int64_t now)
{
    for (size_t k = 0; k < ADMIN_NONCES_MAX; k++) {
        size_t at = (g->next + k) % ADMIN_NONCES_MAX;

        if (g->nonces[at].until_unix_ms < now) {
            g->next = (at + 1) % ADMIN_NONCES_MAX;
            return &g->nonces[at];
        }
    }
    return NULL;
}

/* Takes one check from the bucket at `now`: false when it is empty. The
 * bucket refills to checks_per_s a second after its last refill (a clock
 * that went back refills at once). */
static bool take_check(struct admin_gate *g, int64_t now)
{
    if (g->checks_per_s == 0)
        return true;
    if (now - g->refill_ms >= 1000 || now < g->refill_ms) {
        g->tokens = g->checks_per_s;
        g->refill_ms = now;
    }
    if (g->tokens == 0)
        return false;
    g->tokens--;
    return true;
}

enum admin_rule admin_gate_check(struct admin_gate *g, const char *subject_verb, const void *envelope, size_t len,
                                 int64_t now_unix_ms, fleet_admin_command *cmd, const char **operator_name,
                                 char *why, size_t why_len)
{
    fleet_admin_command c;
    const struct supervisor_operator *op;
    struct nonce_slot *slot;
    size_t who;
    fleet_refusal r;

    g->judging = fleet_admin_verb_parse(subject_verb);
    if (g->n_ops == 0)
        return refuse(g, ADMIN_NO_OPERATORS, why, why_len,
                      "this supervisor lists no operators: add them under operators: in its config");
    if (!take_check(g, now_unix_ms))
        return refuse(g, ADMIN_RATE_LIMITED, why, why_len,
                      "more than %u commands a second reach this supervisor: try again shortly (who else "
                      "publishes on the admin subjects? see the NATS permissions in the README)", g->checks_per_s);
    r = fleet_admin_open(envelope, len, (const uint8_t(*)[FLEET_PUBLIC_KEY_BYTES])g->keys, g->n_ops, &who, &c);
    switch (r) {
    case FLEET_REFUSE_NONE:
        break;
    case FLEET_REFUSE_TOO_LARGE:
        return refuse(g, ADMIN_TOO_LARGE, why, why_len, "over %d bytes", FLEET_ENVELOPE_MAX);
    case FLEET_REFUSE_UNTRUSTED_SIGNER:
        return refuse(g, ADMIN_UNKNOWN_OPERATOR, why, why_len,
                      "signed by a key no operator of this supervisor has (operators[].key)");
    case FLEET_REFUSE_BAD_SIGNATURE:
        return refuse(g, ADMIN_BAD_SIGNATURE, why, why_len, "the signature does not match the command");
    default:
        return refuse(g, ADMIN_MALFORMED, why, why_len,
                      "not an Envelope holding a well-formed AdminCommand (DESIGN.md §4)");
    }
    op = &g->ops[who];
    if (subject_verb == NULL || strcmp(subject_verb, fleet_admin_verb_name(c.verb)) != 0)
        return refuse(g, ADMIN_WRONG_SUBJECT, why, why_len, "a %s command sent on the subject of %s",
                      fleet_admin_verb_name(c.verb), subject_verb != NULL ? subject_verb : "no verb");
    if (c.operator_name[0] != '\0' && strcmp(c.operator_name, op->name) != 0)
        return refuse(g, ADMIN_WRONG_OPERATOR, why, why_len, "signed by %s's key but naming %s", op->name,
                      c.operator_name);
    if ((op->verbs & (1u << c.verb)) == 0)
        return refuse(g, ADMIN_VERB_NOT_ALLOWED, why, why_len, "operator %s may not %s (operators[].verbs)",
                      op->name, fleet_admin_verb_name(c.verb));
    if (!services_allow(op, c.service))
        return refuse(g, ADMIN_SERVICE_NOT_ALLOWED, why, why_len,
                      "operator %s may not act on %s (operators[].services)", op->name, c.service);
    if (now_unix_ms > c.expires_unix_ms)
        return refuse(g, ADMIN_EXPIRED, why, why_len, "expired %.1fs ago: check this machine's clock and "
                      "the operator's", (double)(now_unix_ms - c.expires_unix_ms) / 1000.0);
    if (c.issued_unix_ms > now_unix_ms && c.issued_unix_ms - now_unix_ms > g->skew_ms)
        return refuse(g, ADMIN_FROM_FUTURE, why, why_len, "issued %.1fs in the future (skew allowed %.0fs): "
                      "check the clocks", (double)(c.issued_unix_ms - now_unix_ms) / 1000.0,
                      (double)g->skew_ms / 1000.0);
    if (nonce_seen(g, c.nonce, now_unix_ms))
        return refuse(g, ADMIN_REPLAYED, why, why_len, "this command was accepted before; send a new one");
    slot = free_slot(g, now_unix_ms);
    if (slot == NULL)
        return refuse(g, ADMIN_BUSY, why, why_len, "%d commands in the last %d minutes: try again shortly",
                      ADMIN_NONCES_MAX, FLEET_ADMIN_MAX_WINDOW_MS / 60000);
    /* Remembered until it can no longer be accepted anywhere: its expiry
     * (a clock behind by the skew still refuses it as expired then). */
    memcpy(slot->nonce, c.nonce, FLEET_NONCE_LEN);
    slot->until_unix_ms = c.expires_unix_ms + g->skew_ms;
    *cmd = c;
    *operator_name = op->name;
    return ADMIN_ACCEPTED;
}

void admin_gate_count(struct admin_gate *g, fleet_admin_verb verb, enum admin_rule outcome)
{
    if ((unsigned)outcome >= ADMIN_RULE_COUNT)
        return;
    if ((unsigned)verb >= FLEET_VERB_COUNT)
        verb = FLEET_VERB_NONE;
    if (outcome == ADMIN_ACCEPTED)
        g->counters.done++;
    else
        g->counters.refused[outcome]++;
    g->counters.by_verb[verb][outcome]++;
}

void admin_gate_counters(const struct admin_gate *g, struct admin_counters *out)
{
    *out = g->counters;
}
