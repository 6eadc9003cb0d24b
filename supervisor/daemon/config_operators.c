/* The `operators` list (config_operators.h). */
#include "config_operators.h"

#include <stdlib.h>
#include <string.h>

#include "fleet/admin.h"
#include "fleet/nkey.h"

static const cyaml_schema_value_t text_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t operator_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_operator, name, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("key", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_operator, key, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("verbs", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_operator, verbs,
                         &text_entry, 0, FLEET_VERB_COUNT + 1),
    CYAML_FIELD_SEQUENCE("services", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_operator, services,
                         &text_entry, 0, CONFIG_MAX_OPERATOR_SERVICES),
    CYAML_FIELD_END,
};

const cyaml_schema_value_t config_operator_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_operator, operator_fields),
};

/* A service name or a glob over names: 1-64 of [A-Za-z0-9_-*?]. */
static bool service_pattern_valid(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > FLEET_NAME_MAX)
        return false;
    return strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-*?") == n;
}

static int apply_one(struct supervisor_operator *op, const struct raw_operator *raw, const char *at,
                     char *path, size_t path_len, char *why, size_t why_len)
{
    uint8_t key[FLEET_PUBLIC_KEY_BYTES];

    if (raw->name == NULL || !fleet_operator_name_valid(raw->name)) {
        snprintf(path, path_len, "%s.name", at);
        snprintf(why, why_len, raw->name == NULL ? "missing: every operator needs a name"
                                                 : "is not an operator name: 1-64 printable characters, "
                                                   "no spaces");
        return -1;
    }
    snprintf(op->name, sizeof(op->name), "%s", raw->name);
    if (raw->key == NULL || fleet_nkey_public_decode(raw->key, key) != FLEET_OK) {
        snprintf(path, path_len, "%s.key", at);
        snprintf(why, why_len, raw->key == NULL ? "missing: give the operator's public key (U..., from "
                                                  "fleetctl keygen)"
                                                : "is not a public nkey (U..., 56 characters); never put "
                                                  "a seed (S...) here");
        return -1;
    }
    snprintf(op->key, sizeof(op->key), "%s", raw->key);
    snprintf(path, path_len, "%s.verbs", at);
    if (raw->verbs_count == 0) {
        snprintf(why, why_len, "missing or empty: list the verbs allowed, or [\"*\"] for all");
        return -1;
    }
    for (unsigned k = 0; k < raw->verbs_count; k++) {
        fleet_admin_verb v = fleet_admin_verb_parse(raw->verbs[k]);

        if (strcmp(raw->verbs[k], "*") == 0) {
            op->verbs |= CONFIG_OPERATOR_ALL_VERBS;
        } else if (v == FLEET_VERB_NONE) {
            snprintf(why, why_len, "\"%s\" is not a verb: restart, fence, unfence, drain, resume, "
                                   "maintenance-on, maintenance-off or \"*\"", raw->verbs[k]);
            return -1;
        } else {
            op->verbs |= 1u << v;
        }
    }
    snprintf(path, path_len, "%s.services", at);
    if (raw->services_count == 0) {
        snprintf(why, why_len, "missing or empty: list the services (names or globs like \"story-*\"), or "
                               "[\"*\"] for all");
        return -1;
    }
    op->services = calloc(raw->services_count, sizeof(*op->services));
    if (op->services == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (unsigned k = 0; k < raw->services_count; k++) {
        if (!service_pattern_valid(raw->services[k])) {
            snprintf(path, path_len, "%s.services[%u]", at, k);
            snprintf(why, why_len, "\"%s\" is not a service name or glob: 1-64 of [A-Za-z0-9_-] and * ?",
                     raw->services[k]);
            return -1;
        }
        snprintf(op->services[op->n_services++], sizeof(op->services[0]), "%s", raw->services[k]);
    }
    return 0;
}

int config_operators_apply(struct supervisor_config *c, const struct raw_operator *raw, unsigned n,
                           char *path, size_t path_len, char *why, size_t why_len)
{
    char at[32];

    if (n == 0)
        return 0;
    c->operators = calloc(n, sizeof(*c->operators));
    if (c->operators == NULL) {
        snprintf(path, path_len, "operators");
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct supervisor_operator *op = &c->operators[c->n_operators++];

        snprintf(at, sizeof(at), "operators[%u]", i);
        if (apply_one(op, &raw[i], at, path, path_len, why, why_len) != 0)
            return -1;
        for (unsigned j = 0; j < i; j++) {
            const struct supervisor_operator *other = &c->operators[j];
            bool same_name = strcmp(other->name, op->name) == 0;

            if (same_name || strcmp(other->key, op->key) == 0) {
                snprintf(path, path_len, "%s.%s", at, same_name ? "name" : "key");
                snprintf(why, why_len, "%s is also operators[%u]'s: each operator has a name and a key of "
                                       "their own, so the audit trail names who acted",
                         same_name ? "this name" : "this key", j);
                return -1;
            }
        }
    }
    return 0;
}

void config_operators_describe(const struct supervisor_config *c, FILE *out)
{
    fprintf(out, "operators:%s  # %zu operators may sign admin commands\n", c->n_operators == 0 ? " []" : "",
            c->n_operators);
    for (size_t i = 0; i < c->n_operators; i++) {
        const struct supervisor_operator *op = &c->operators[i];
        bool first = true;

        fprintf(out, "  - name: \"%s\"\n    key: %s\n    verbs: [", op->name, op->key);
        if ((op->verbs & CONFIG_OPERATOR_ALL_VERBS) == CONFIG_OPERATOR_ALL_VERBS) {
            fputs("\"*\"", out);
        } else {
            for (int v = FLEET_VERB_NONE + 1; v < FLEET_VERB_COUNT; v++)
                if (op->verbs & (1u << v)) {
                    fprintf(out, "%s%s", first ? "" : ", ", fleet_admin_verb_name((fleet_admin_verb)v));
                    first = false;
                }
        }
        fputs("]\n    services: [", out);
        for (size_t k = 0; k < op->n_services; k++)
            fprintf(out, "%s\"%s\"", k > 0 ? ", " : "", op->services[k]);
        fputs("]\n", out);
    }
}

void config_operators_free(struct supervisor_config *c)
{
    for (size_t i = 0; i < c->n_operators; i++)
        free(c->operators[i].services);
    free(c->operators);
    c->operators = NULL;
    c->n_operators = 0;
}
