/* Operators' commands at the supervisor (DESIGN.md §3 `<prefix>.v1.admin.<verb>`,
 * §7; issue 11): which signed AdminCommand is let through, and why not.
 *
 * Pure: no I/O and no clock (the wall-clock time is passed in). One thread
 * owns a gate (the daemon's owner thread). Every replica runs every command
 * through its gate, the standbys too, so a command accepted anywhere is
 * remembered everywhere: a standby that becomes leader refuses an envelope
 * replayed from the bus as the old leader would. Only the leader executes
 * and answers (daemon.c). */
#ifndef SUPERVISOR_ADMIN_H
#define SUPERVISOR_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fleet/admin.h"

/* How many accepted commands' nonces are remembered. A command lives at
 * most FLEET_ADMIN_MAX_WINDOW_MS (+ the skew); while every slot holds one
 * still alive, new commands are refused as `busy` rather than forgetting a
 * nonce that could be replayed. */
#define ADMIN_NONCES_MAX 4096
/* How many commands a second the supervisor judges at most (a burst of as
 * many, then that rate). Judging one may cost a signature check on the owner
 * thread: a flood on fleet.v1.admin.* is refused unread past this rate, so
 * it can never starve the heartbeats' processing. */
#define ADMIN_CHECKS_PER_S 100
/* How long the nonce of a command carried out is kept in the store's nonce
 * bucket (store_claim_nonce): past this no supervisor accepts the command
 * anyway. A command lives at most FLEET_ADMIN_MAX_WINDOW_MS from its issue
 * time, which may be a skew ahead of the claiming supervisor's clock, and a
 * replica whose clock is a skew behind still accepts it that much longer. */
#define ADMIN_NONCE_KEEP_MS (FLEET_ADMIN_MAX_WINDOW_MS + 2 * FLEET_SKEW_DEFAULT_MS)

/* Why a command was refused: one value per rule, in the order checked. */
enum admin_rule {
    ADMIN_ACCEPTED = 0,
    ADMIN_NO_OPERATORS,        /* the config lists no operators: admin commands are off */
    ADMIN_RATE_LIMITED,        /* more than the gate's checks a second: refused unread */
    ADMIN_TOO_LARGE,           /* envelope or payload over its limit */
    ADMIN_MALFORMED,           /* not an Envelope holding a well-formed AdminCommand */
    ADMIN_UNKNOWN_OPERATOR,    /* signed by a key no operator in the config has */
    ADMIN_BAD_SIGNATURE,       /* the signature does not cover the payload */
    ADMIN_WRONG_SUBJECT,       /* sent on another verb's subject than the command's */
    ADMIN_WRONG_OPERATOR,      /* names an operator other than its key's */
    ADMIN_VERB_NOT_ALLOWED,    /* the operator may not use this verb */
    ADMIN_SERVICE_NOT_ALLOWED, /* nor act on this service */
    ADMIN_EXPIRED,             /* now is past expires_unix_ms */
    ADMIN_FROM_FUTURE,         /* issued more than the skew ahead of us */
    ADMIN_REPLAYED,            /* its nonce was accepted before */
    ADMIN_BUSY,                /* every nonce slot holds a live command */
    ADMIN_UNKNOWN_TARGET,      /* no such service or instance (admin_exec counts it) */
    ADMIN_NOT_RECORDED,        /* its nonce could not be claimed in JetStream (admin_exec counts it) */
    ADMIN_NOT_DONE,            /* accepted here, but the fleet refused it (admin_exec counts it) */
    ADMIN_RULE_COUNT
};

/* Stable rule name for replies, logs and $SRV.STATS, e.g. "verb_not_allowed". */
const char *admin_rule_name(enum admin_rule r);

struct admin_counters {
    uint64_t done;                      /* accepted and carried out */
    uint64_t refused[ADMIN_RULE_COUNT]; /* per rule; [ADMIN_ACCEPTED] unused */
    /* The same per verb: [verb][ADMIN_ACCEPTED] is done. A refusal is
     * counted under the verb of the subject it came on (FLEET_VERB_NONE
     * when that is no verb). */
    uint64_t by_verb[FLEET_VERB_COUNT][ADMIN_RULE_COUNT];
};

struct admin_gate;

/* A gate over the config's operators (copied), with `skew_ms` of accepted
 * clock skew, judging at most `checks_per_s` commands a second (0: no
 * limit). Returns 0 and *out, or -1 (out of memory; *out untouched). */
int admin_gate_create(const struct supervisor_operator *ops, size_t n, int64_t skew_ms, uint32_t checks_per_s,
                      struct admin_gate **out);
void admin_gate_destroy(struct admin_gate *g);

/* Takes a new list of operators (SIGHUP), keeping the nonces seen and the
 * counters. Returns 0, or -1 (out of memory) with the old list kept. */
int admin_gate_set_operators(struct admin_gate *g, const struct supervisor_operator *ops, size_t n);

/* Judges `envelope` (len bytes) that arrived on the subject whose last
 * token is `subject_verb`, at wall-clock `now_unix_ms`. On ADMIN_ACCEPTED
 * writes *cmd and *operator_name (the configured name of the signer; valid
 * until the operators change) and remembers the nonce. Otherwise writes
 * why[] (the rule's name, a colon and what is wrong, e.g.
 * "verb_not_allowed: operator bob may not fence") and counts the refusal;
 * *cmd and *operator_name are untouched. */
enum admin_rule admin_gate_check(struct admin_gate *g, const char *subject_verb, const void *envelope, size_t len,
                                 int64_t now_unix_ms, fleet_admin_command *cmd, const char **operator_name,
                                 char *why, size_t why_len);

/* Counts the outcome of carrying out an accepted command of `verb`:
 * ADMIN_ACCEPTED (done), ADMIN_UNKNOWN_TARGET, ADMIN_REPLAYED (claimed
 * before in the store), ADMIN_NOT_RECORDED or ADMIN_NOT_DONE. */
void admin_gate_count(struct admin_gate *g, fleet_admin_verb verb, enum admin_rule outcome);

void admin_gate_counters(const struct admin_gate *g, struct admin_counters *out);

/* Whether `pattern` (a service name, or a glob with * and ?) matches `service`. */
bool admin_service_matches(const char *pattern, const char *service);

#endif
