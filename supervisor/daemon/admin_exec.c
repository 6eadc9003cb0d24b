/* The edge of operators' commands (admin_exec.h). */
#include "admin_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fleet/control.h"
#include "log.h"

int admin_desk_open(struct admin_desk *desk, const struct supervisor_config *cfg)
{
    memset(desk, 0, sizeof(*desk));
    return admin_gate_create(cfg->operators, cfg->n_operators, FLEET_SKEW_DEFAULT_MS, ADMIN_CHECKS_PER_S,
                             &desk->gate);
}

void admin_desk_close(struct admin_desk *desk)
{
    admin_gate_destroy(desk->gate);
    desk->gate = NULL;
}

static void reply(const struct admin_env *env, const char *to, bool ok, const char *error, const char *result)
{
    uint8_t *buf;
    size_t len;

    if (to[0] == '\0')
        return;
    if (codec_admin_reply_pack(ok, error, result, &buf, &len) != 0) {
        log_kv(LOG_ERROR, "cannot answer an admin command: out of memory", NULL);
        return;
    }
    if (bus_publish(env->bus, to, buf, len) != 0)
        log_kv(LOG_WARN, "cannot answer an admin command", "reply", to, NULL);
    free(buf);
}

static void log_refusal(struct admin_desk *desk, const struct admin_env *env, const char *verb, const char *why)
{
    char suppressed[24];

    if (env->mono_ms - desk->log_window_ms >= 1000) {
        desk->log_window_ms = env->mono_ms;
        desk->logged = 0;
    }
    if (desk->logged == ADMIN_LOG_PER_S) {
        desk->suppressed++;
        return;
    }
    desk->logged++;
    snprintf(suppressed, sizeof(suppressed), "%llu", (unsigned long long)desk->suppressed);
    log_kv(LOG_WARN, "admin command refused", "verb", verb[0] != '\0' ? verb : "?", "why", why,
           "suppressed_before", desk->suppressed != 0 ? suppressed : NULL, NULL);
    desk->suppressed = 0;
}

static enum core_action_kind verb_action(fleet_admin_verb v)
{
    switch (v) {
    case FLEET_VERB_RESTART: return CORE_ACT_RESTART;
    case FLEET_VERB_FENCE: return CORE_ACT_FENCE;
    case FLEET_VERB_UNFENCE: return CORE_ACT_UNFENCE;
    case FLEET_VERB_DRAIN: return CORE_ACT_DRAIN;
    case FLEET_VERB_RESUME: return CORE_ACT_RESUME;
    default: return 0;
    }
}

/* Maintenance: stored first (every replica and a restarted leader read it
 * back), then held in the core. */
static int maintenance(const struct admin_env *env, const fleet_admin_command *c, const char *op, char *result,
                       size_t n)
{
    const char *instance = c->instance[0] != '\0' ? c->instance : NULL;
    const char *reason = c->verb == FLEET_VERB_MAINTENANCE_ON ? c->reason : NULL;
    char held[FLEET_KEPT_REASON_MAX + 1];

    if (observer_operator_target(env->obs, c->service, instance, result, n) != 0)
        return -1;
    if (reason != NULL) {
        /* Held now exactly as every replica will read it back. */
        store_kept_reason(held, reason, strlen(reason));
        reason = held;
    }
    if (store_set_maintenance(env->store, c->service, instance, reason) != 0) {
        snprintf(result, n, "the maintenance flag could not be stored: %s", store_last_error(env->store));
        return -1;
    }
    return observer_operator_maintenance(env->obs, c->service, instance, reason, op, env->mono_ms, result, n);
}

/* The gate remembers the nonces this process heard; the store remembers
 * the ones any leader carried out, across replicas, restarts and link gaps
 * (a command accepted while this replica was not listening). Claimed last,
 * just before acting: a refusal above burns no nonce. Returns 0 when
 * claimed now; else writes why[] and counts the refusal. */
static int claim(struct admin_desk *desk, const struct admin_env *env, const fleet_admin_command *c, char *why,
                 size_t n)
{
    char what[FLEET_NAME_MAX * 2 + 32];
    int rc;

    snprintf(what, sizeof(what), "%s %s%s%s", fleet_admin_verb_name(c->verb), c->service,
             c->instance[0] != '\0' ? "/" : "", c->instance);
    rc = store_claim_nonce(env->store, c->nonce, what);
    if (rc == 0)
        return 0;
    if (rc == 1) {
        admin_gate_count(desk->gate, c->verb, ADMIN_REPLAYED);
        snprintf(why, n, "%s: this command was carried out before (by this supervisor before a restart, or "
                 "another): send a new one", admin_rule_name(ADMIN_REPLAYED));
    } else {
        admin_gate_count(desk->gate, c->verb, ADMIN_NOT_RECORDED);
        snprintf(why, n, "%s: %s; a command is carried out only once its nonce is recorded, or it could be "
                 "replayed: retry when JetStream answers", admin_rule_name(ADMIN_NOT_RECORDED),
                 store_last_error(env->store));
    }
    return -1;
}

void admin_exec(struct admin_desk *desk, const struct admin_env *env, const struct ingest_admin *a)
{
    fleet_admin_command c;
    const char *op = NULL;
    char why[320], result[256];
    enum admin_rule rule, outcome;
    int rc;

    rule = admin_gate_check(desk->gate, a->verb, a->data, a->len, env->unix_ms, &c, &op, why, sizeof(why));
    if (!env->leading)
        return;   /* judged (its nonce remembered), never answered: the leader does */
    if (rule != ADMIN_ACCEPTED) {
        log_refusal(desk, env, a->verb, why);
        reply(env, a->reply, false, why, NULL);
        return;
    }
    if (observer_operator_target(env->obs, c.service, c.instance[0] != '\0' ? c.instance : NULL, result,
                                 sizeof(result)) != 0) {
        admin_gate_count(desk->gate, c.verb, ADMIN_UNKNOWN_TARGET);
        snprintf(why, sizeof(why), "%s: %s", admin_rule_name(ADMIN_UNKNOWN_TARGET), result);
        log_refusal(desk, env, a->verb, why);
        reply(env, a->reply, false, why, NULL);
        return;
    }
    if (claim(desk, env, &c, why, sizeof(why)) != 0) {
        log_refusal(desk, env, a->verb, why);
        reply(env, a->reply, false, why, NULL);
        return;
    }
    if (c.verb == FLEET_VERB_MAINTENANCE_ON || c.verb == FLEET_VERB_MAINTENANCE_OFF) {
        rc = maintenance(env, &c, op, result, sizeof(result));
    } else {
        struct operator_order ord = {
            .action = verb_action(c.verb), .service = c.service,
            .instance = c.instance[0] != '\0' ? c.instance : NULL, .operator_name = op, .reason = c.reason,
            .force = c.force, .batch = c.batch,
            .min_healthy_ms = c.min_healthy_ms != 0 ? c.min_healthy_ms : FLEET_ADMIN_DEFAULT_MIN_HEALTHY_MS,
        };

        rc = observer_operator(env->obs, &ord, env->mono_ms, result, sizeof(result));
    }
    outcome = rc == 0 ? ADMIN_ACCEPTED : ADMIN_NOT_DONE;
    admin_gate_count(desk->gate, c.verb, outcome);
    log_kv(rc == 0 ? LOG_INFO : LOG_WARN, rc == 0 ? "admin command done" : "admin command not done",
           "operator", op, "verb", fleet_admin_verb_name(c.verb), "service", c.service, "instance", c.instance,
           "reason", c.reason, "result", result, NULL);
    if (rc == 0) {
        reply(env, a->reply, true, NULL, result);
    } else {
        snprintf(why, sizeof(why), "%s: %s", admin_rule_name(outcome), result);
        reply(env, a->reply, false, why, NULL);
    }
}
