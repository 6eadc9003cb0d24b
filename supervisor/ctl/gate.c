/* The deploy gate's judgement: see gate.h for the words and the rules. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/names.h"
#include "fleet/subjects.h"

#include "duration.h"
#include "gate.h"

enum {
    H_HEALTHY = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY,
    H_DEAD = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD,
    H_FENCED = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_FENCED,
    H_STOPPED = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STOPPED,
    H_STARTING = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_STARTING,
};

/* How many services a progress line names before "and N more". */
#define GATE_PROGRESS_NAMED 3

struct gate_inst {
    char name[FLEET_NAME_MAX + 1];
    char version[FLEET_VERSION_MAX + 1];  /* "" until a status tells */
    char reason[FLEET_KEPT_REASON_MAX + 1];
    int health;
    uint64_t incarnation;                 /* 0: not known yet */
    uint64_t prev_incarnation;            /* the life before: a status naming it is stale */
    int64_t life_seen_unix_ms;            /* supervisor's clock when this life was first listed */
    uint32_t restarts;
    bool restarts_known;
    bool listed;                          /* in the service's latest status */
    bool life_dead;                       /* this life's death is counted */
    bool planned;                         /* an operator restarted this life: its end is no death */
    int64_t healthy_since;                /* -1: not HEALTHY */
    uint32_t deaths;
};

struct gate_svc {
    char name[FLEET_NAME_MAX + 1];
    uint32_t desired;
    struct gate_inst *inst;
    int64_t *scratch;                     /* cap entries: healthy_since values, sorted */
    size_t n, cap;
    /* As of the last gate_update: */
    uint32_t required, healthy, stable, other, failures;
    int64_t max_failures;
    int64_t ready_at;                     /* when it is ready if nothing changes; INT64_MAX: not in sight */
    uint32_t failures_at_ready;
    char last_death[FLEET_NAME_MAX + 1];           /* the instance that died last */
    char last_death_why[FLEET_KEPT_REASON_MAX + 1];
};

struct gate {
    struct gate_opts o;
    char version[FLEET_VERSION_MAX + 1];
    struct gate_svc *svc;
    size_t n, cap;
    int64_t start_ms, ready_ms;
    enum gate_verdict verdict;
    int64_t deadline;
    uint64_t signature, generation;
    char reason[GATE_REASON_MAX];
};

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src != NULL ? src : "");
}

struct gate *gate_create(const struct gate_opts *o, int64_t now_ms)
{
    struct gate *g = calloc(1, sizeof(*g));

    if (g == NULL)
        return NULL;
    g->o = *o;
    copy_str(g->version, sizeof(g->version), o->version);
    g->o.version = g->version;
    g->start_ms = now_ms;
    g->ready_ms = -1;
    g->verdict = GATE_WAITING;
    g->deadline = now_ms + o->timeout_ms;
    return g;
}

void gate_destroy(struct gate *g)
{
    if (g == NULL)
        return;
    for (size_t k = 0; k < g->n; k++) {
        free(g->svc[k].inst);
        free(g->svc[k].scratch);
    }
    free(g->svc);
    free(g);
}

static struct gate_svc *find_service(struct gate *g, const char *name)
{
    for (size_t k = 0; k < g->n; k++)
        if (strcmp(g->svc[k].name, name) == 0)
            return &g->svc[k];
    return NULL;
}

fleet_status gate_add_service(struct gate *g, const char *name)
{
    if (find_service(g, name) != NULL)
        return FLEET_OK;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct gate_svc *s = realloc(g->svc, cap * sizeof(*s));

        if (s == NULL)
            return FLEET_ERR_NO_MEMORY;
        g->svc = s;
        g->cap = cap;
    }
    memset(&g->svc[g->n], 0, sizeof(g->svc[g->n]));
    copy_str(g->svc[g->n].name, sizeof(g->svc[g->n].name), name);
    g->svc[g->n].ready_at = INT64_MAX;
    g->n++;
    return FLEET_OK;
}

/* The record of `name` in `s`, made if new (NULL when out of memory). */
static struct gate_inst *instance_for(struct gate_svc *s, const char *name, bool *made)
{
    struct gate_inst *i;

    *made = false;
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->inst[k].name, name) == 0)
            return &s->inst[k];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        struct gate_inst *inst = realloc(s->inst, cap * sizeof(*inst));
        int64_t *scratch;

        if (inst == NULL)
            return NULL;
        s->inst = inst;
        scratch = realloc(s->scratch, cap * sizeof(*scratch));
        if (scratch == NULL)
            return NULL; /* the larger inst array is kept; cap stays, so nothing is lost */
        s->scratch = scratch;
        s->cap = cap;
    }
    i = &s->inst[s->n++];
    memset(i, 0, sizeof(*i));
    copy_str(i->name, sizeof(i->name), name);
    i->healthy_since = -1;
    *made = true;
    return i;
}

/* Counts the death of i's current life, once per life. */
static void note_death(struct gate_svc *s, struct gate_inst *i, const char *why)
{
    if (i->life_dead)
        return;
    i->life_dead = true;
    i->deaths++;
    copy_str(s->last_death, sizeof(s->last_death), i->name);
    copy_str(s->last_death_why, sizeof(s->last_death_why), why);
}

/* A new life of `i` began: the one before it ended, by a death the gate has
 * counted, an announced stop, an operator's restart (a rolling restart
 * during a deploy is not a failure of the new version), or a death it
 * missed (counted now). */
static void note_new_life(struct gate_svc *s, struct gate_inst *i, int prev_health)
{
    if (!i->life_dead && prev_health != H_STOPPED && !i->planned)
        note_death(s, i, "restarted");
    i->life_dead = false;
    i->planned = false;
    i->healthy_since = -1;
}

/* Health moves to `to` at `now`: the min-healthy clock and deaths follow. */
static void set_health(struct gate_svc *s, struct gate_inst *i, int prev, int to, const char *why, int64_t now)
{
    if (to == H_DEAD)
        note_death(s, i, why);
    if (to == H_HEALTHY) {
        if (prev != H_HEALTHY || i->healthy_since < 0)
            i->healthy_since = now;
    } else {
        i->healthy_since = -1;
    }
    i->health = to;
}

fleet_status gate_status(struct gate *g, const Fleet__V1__ServiceStatus *st, int64_t now_ms)
{
    struct gate_svc *s = st->name != NULL ? find_service(g, st->name) : NULL;
    fleet_status rc = FLEET_OK;

    if (s == NULL || g->verdict == GATE_READY || g->verdict == GATE_FAILED || g->verdict == GATE_TIMED_OUT)
        return FLEET_OK;
    s->desired = st->desired;
    for (size_t k = 0; k < s->n; k++)
        s->inst[k].listed = false;
    for (size_t k = 0; k < st->n_instances; k++) {
        const Fleet__V1__InstanceStatus *is = st->instances[k];
        struct gate_inst *i;
        uint32_t new_lives = 0;
        int prev;
        bool made;

        if (is->instance == NULL || !fleet_name_valid(is->instance))
            continue;
        i = instance_for(s, is->instance, &made);
        if (i == NULL) {
            rc = FLEET_ERR_NO_MEMORY;
            continue;
        }
        i->listed = true;
        copy_str(i->version, sizeof(i->version), is->version);
        if (made || i->incarnation == 0) {
            /* What happened before the gate started is not its business: an
             * instance already DEAD owes no death, nor does its next life. */
            i->life_dead = (int)is->health == H_DEAD || i->life_dead;
            i->healthy_since = (int)is->health == H_HEALTHY ? now_ms : -1;
            i->health = is->health;
            i->incarnation = is->incarnation;
            i->life_seen_unix_ms = is->last_seen_unix_ms;
            i->restarts = is->restarts;
            i->restarts_known = true;
            copy_str(i->reason, sizeof(i->reason), is->reason);
            continue;
        }
        /* The query's answer and the feed race: a status older than what
         * the gate knows (the previous life, fewer restarts) says nothing. */
        if ((is->incarnation != 0 && is->incarnation == i->prev_incarnation) ||
            (i->restarts_known && is->restarts < i->restarts && is->incarnation == i->incarnation))
            continue;
        copy_str(i->reason, sizeof(i->reason), is->reason);
        prev = i->health;
        if (i->restarts_known && is->restarts > i->restarts)
            new_lives = is->restarts - i->restarts;
        if (new_lives == 0 && is->incarnation != 0 && is->incarnation != i->incarnation)
            new_lives = 1;
        for (uint32_t n = 0; n < new_lives; n++) {
            note_new_life(s, i, prev);
            prev = H_STARTING;   /* the new life starts afresh */
        }
        if (is->incarnation != i->incarnation) {
            i->prev_incarnation = i->incarnation;
            i->life_seen_unix_ms = is->last_seen_unix_ms;
        }
        i->incarnation = is->incarnation;
        i->restarts = is->restarts;
        i->restarts_known = true;
        set_health(s, i, prev, is->health, is->reason, now_ms);
    }
    return rc;
}

fleet_status gate_event(struct gate *g, const Fleet__V1__Event *ev, int64_t now_ms)
{
    struct gate_svc *s = ev->service != NULL ? find_service(g, ev->service) : NULL;
    struct gate_inst *i;
    bool made;

    if (s == NULL || ev->instance == NULL || !fleet_name_valid(ev->instance) ||
        g->verdict == GATE_READY || g->verdict == GATE_FAILED || g->verdict == GATE_TIMED_OUT)
        return FLEET_OK;
    i = instance_for(s, ev->instance, &made);
    if (i == NULL)
        return FLEET_ERR_NO_MEMORY;
    if (made)
        i->health = ev->from;
    /* An event about a life older than the one the feed already listed
     * (events and statuses arrive on different threads) is accounted for. */
    if (!made && ev->unix_ms != 0 && ev->unix_ms < i->life_seen_unix_ms)
        return FLEET_OK;
    if ((int)ev->to == H_FENCED)
        copy_str(i->reason, sizeof(i->reason), ev->reason);
    if (ev->action == FLEET__V1__ACTION__ACTION_RESTART && ev->operator_ != NULL && ev->operator_[0] != '\0')
        i->planned = true;
    set_health(s, i, i->health, ev->to, ev->reason, now_ms);
    return FLEET_OK;
}

static bool counted(const struct gate *g, const struct gate_inst *i)
{
    return g->version[0] == '\0' || strcmp(i->version, g->version) == 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* " on V" when a version is targeted, else "". */
static const char *on_version(const struct gate *g, char *buf, size_t n)
{
    if (g->version[0] == '\0')
        return "";
    snprintf(buf, n, " on %s", g->version);
    return buf;
}

/* Appends to out[0..n) at *used, never past n. */
__attribute__((format(printf, 4, 5)))
static void append(char *out, size_t n, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (*used >= n)
        return;
    va_start(ap, fmt);
    w = vsnprintf(out + *used, n - *used, fmt, ap);
    va_end(ap);
    if (w > 0)
        *used = *used + (size_t)w < n ? *used + (size_t)w : n - 1;
}

/* Recomputes s's figures at `now`; returns a fenced counted instance, if any. */
static const struct gate_inst *summarize(const struct gate *g, struct gate_svc *s, int64_t now)
{
    const struct gate_inst *fenced = NULL;
    size_t n_since = 0;

    s->required = g->o.healthy > 0 ? g->o.healthy : (s->desired > 0 ? s->desired : 1);
    s->max_failures = g->o.max_failures >= 0 ? g->o.max_failures
                                              : (int64_t)(s->desired + 1) / 2 > 3 ? (int64_t)(s->desired + 1) / 2 : 3;
    s->healthy = s->stable = s->other = s->failures = 0;
    for (size_t k = 0; k < s->n; k++) {
        const struct gate_inst *i = &s->inst[k];

        if (!counted(g, i)) {
            if (i->listed)
                s->other++;
            continue;
        }
        s->failures += i->deaths;
        if (!i->listed)
            continue;
        if (i->health == H_FENCED && fenced == NULL)
            fenced = i;
        if (i->health == H_HEALTHY && i->healthy_since >= 0) {
            s->healthy++;
            if (now - i->healthy_since >= g->o.min_healthy_ms)
                s->stable++;
            s->scratch[n_since++] = i->healthy_since;
        }
    }
    s->ready_at = INT64_MAX;
    if (n_since >= s->required) {
        qsort(s->scratch, n_since, sizeof(s->scratch[0]), cmp_i64);
        s->ready_at = s->scratch[s->required - 1] + g->o.min_healthy_ms;
    }
    return fenced;
}

/* "story-teller 1/2 on 1.5.0 healthy, 6s of min-healthy-time left". */
static void describe_service(const struct gate *g, const struct gate_svc *s, int64_t now, char *out, size_t n,
                             size_t *used)
{
    char v[FLEET_VERSION_MAX + 8], d[DURATION_TEXT_MAX];

    append(out, n, used, "%s %" PRIu32 "/%" PRIu32 "%s healthy", s->name, s->healthy, s->required,
           on_version(g, v, sizeof(v)));
    if (s->other > 0)
        append(out, n, used, " (%" PRIu32 " on other versions)", s->other);
    if (s->stable < s->required && s->ready_at != INT64_MAX)
        append(out, n, used, ", %s of min-healthy-time left", duration_format(s->ready_at - now, d, sizeof(d)));
    if (s->failures > 0)
        append(out, n, used, ", %" PRIu32 " death%s (%" PRId64 " tolerated)", s->failures,
               s->failures == 1 ? "" : "s", s->max_failures);
}

static size_t services_ready(const struct gate *g)
{
    size_t ready = 0;

    for (size_t k = 0; k < g->n; k++)
        ready += g->svc[k].stable >= g->svc[k].required;
    return ready;
}

void gate_progress(const struct gate *g, int64_t now_ms, char *out, size_t n)
{
    char d[DURATION_TEXT_MAX], v[FLEET_VERSION_MAX + 8];
    size_t used = 0, named = 0;

    out[0] = '\0';
    if (g->verdict == GATE_BAKING)
        append(out, n, &used, "ready, baking (%s left): ",
               duration_format(g->ready_ms + g->o.bake_ms - now_ms, d, sizeof(d)));
    if (!g->o.fleet) {
        for (size_t k = 0; k < g->n; k++) {
            if (k > 0)
                append(out, n, &used, "; ");
            describe_service(g, &g->svc[k], now_ms, out, n, &used);
        }
        return;
    }
    append(out, n, &used, "%zu/%zu services%s ready", services_ready(g), g->n, on_version(g, v, sizeof(v)));
    for (size_t k = 0; k < g->n; k++) {
        const struct gate_svc *s = &g->svc[k];

        if (s->stable >= s->required && s->failures == 0)
            continue;
        if (named == GATE_PROGRESS_NAMED) {
            append(out, n, &used, ", \u2026");
            break;
        }
        append(out, n, &used, named == 0 ? "; " : ", ");
        describe_service(g, s, now_ms, out, n, &used);
        named++;
    }
}

/* " (text)" as three %s arguments, nothing when text is empty. */
#define PAREN(text) (text)[0] ? " (" : "", (text), (text)[0] ? ")" : ""

static void finish(struct gate *g, enum gate_verdict v)
{
    g->verdict = v;
    g->deadline = INT64_MAX;
}

__attribute__((format(printf, 2, 3)))
static void fail(struct gate *g, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
    va_end(ap);
    finish(g, GATE_FAILED);
}

/* Fail-fast rules, in gate.h's order; true when one fired. */
static bool check_failures(struct gate *g, int64_t now)
{
    char v[FLEET_VERSION_MAX + 8], d[DURATION_TEXT_MAX];

    for (size_t k = 0; k < g->n; k++) {
        struct gate_svc *s = &g->svc[k];
        const struct gate_inst *fenced = summarize(g, s, now);

        if (fenced != NULL) {
            fail(g, "failed: %s/%s%s fenced%s%s%s", s->name, fenced->name, on_version(g, v, sizeof(v)),
                 PAREN(fenced->reason));
            return true;
        }
        if (g->verdict == GATE_BAKING && s->failures > s->failures_at_ready) {
            fail(g, "failed: %s/%s%s died during the bake, %s after ready%s%s%s", s->name, s->last_death,
                 on_version(g, v, sizeof(v)), duration_format(now - g->ready_ms, d, sizeof(d)),
                 PAREN(s->last_death_why));
            return true;
        }
        if ((int64_t)s->failures > s->max_failures) {
            if (s->max_failures == 0)
                fail(g, "failed: %s/%s%s died%s%s%s and --max-failures is 0", s->name, s->last_death,
                     on_version(g, v, sizeof(v)), PAREN(s->last_death_why));
            else
                fail(g, "failed: %s: %" PRIu32 " deaths%s, more than the %" PRId64 " tolerated "
                     "(last: %s%s%s)", s->name, s->failures, on_version(g, v, sizeof(v)), s->max_failures,
                     s->last_death, s->last_death_why[0] ? ", " : "", s->last_death_why);
            return true;
        }
    }
    return false;
}

static void ready_reason(struct gate *g)
{
    char v[FLEET_VERSION_MAX + 8], d[DURATION_TEXT_MAX], b[DURATION_TEXT_MAX];
    size_t used = 0;

    append(g->reason, sizeof(g->reason), &used, "ready: ");
    duration_format(g->o.min_healthy_ms, d, sizeof(d));
    if (g->o.fleet) {
        append(g->reason, sizeof(g->reason), &used, "%zu/%zu services%s healthy for %s", g->n, g->n,
               on_version(g, v, sizeof(v)), d);
    } else {
        for (size_t k = 0; k < g->n; k++)
            append(g->reason, sizeof(g->reason), &used, "%s%s %" PRIu32 "/%" PRIu32 "%s healthy for %s",
                   k > 0 ? "; " : "", g->svc[k].name, g->svc[k].stable, g->svc[k].required,
                   on_version(g, v, sizeof(v)), d);
    }
    if (g->o.bake_ms > 0)
        append(g->reason, sizeof(g->reason), &used, ", then baked %s without a death",
               duration_format(g->o.bake_ms, b, sizeof(b)));
}

/* A fingerprint of what an operator would want to hear about. */
static uint64_t signature(const struct gate *g)
{
    uint64_t h = 1469598103934665603ULL;
    uint64_t parts[6];

    h = (h ^ (uint64_t)g->verdict) * 1099511628211ULL;
    for (size_t k = 0; k < g->n; k++) {
        const struct gate_svc *s = &g->svc[k];

        parts[0] = s->required;
        parts[1] = s->healthy;
        parts[2] = s->stable;
        parts[3] = s->other;
        parts[4] = s->failures;
        parts[5] = s->ready_at == INT64_MAX;
        for (size_t p = 0; p < 6; p++)
            h = (h ^ parts[p]) * 1099511628211ULL;
    }
    return h;
}

static void note_change(struct gate *g)
{
    uint64_t sig = signature(g);

    if (sig != g->signature || g->generation == 0) {
        g->signature = sig;
        g->generation++;
    }
}

enum gate_verdict gate_update(struct gate *g, int64_t now_ms)
{
    char d[DURATION_TEXT_MAX];
    bool all_ready = g->n > 0;
    int64_t deadline;

    if (g->verdict == GATE_READY || g->verdict == GATE_FAILED || g->verdict == GATE_TIMED_OUT)
        return g->verdict;
    if (check_failures(g, now_ms)) {
        note_change(g);
        return g->verdict;
    }
    for (size_t k = 0; k < g->n; k++)
        all_ready = all_ready && g->svc[k].stable >= g->svc[k].required;
    if (g->verdict == GATE_WAITING && all_ready) {
        g->ready_ms = now_ms;
        for (size_t k = 0; k < g->n; k++)
            g->svc[k].failures_at_ready = g->svc[k].failures;
        if (g->o.bake_ms > 0)
            g->verdict = GATE_BAKING;
        else {
            ready_reason(g);
            finish(g, GATE_READY);
        }
    } else if (g->verdict == GATE_BAKING && now_ms >= g->ready_ms + g->o.bake_ms) {
        ready_reason(g);
        finish(g, GATE_READY);
    } else if (g->verdict == GATE_WAITING && now_ms - g->start_ms >= g->o.timeout_ms) {
        size_t used = 0;

        append(g->reason, sizeof(g->reason), &used, "timed out after %s: ",
               duration_format(g->o.timeout_ms, d, sizeof(d)));
        gate_progress(g, now_ms, g->reason + used, sizeof(g->reason) - used);
        finish(g, GATE_TIMED_OUT);
    }
    if (g->verdict == GATE_WAITING) {
        deadline = g->start_ms + g->o.timeout_ms;
        for (size_t k = 0; k < g->n; k++)
            if (g->svc[k].ready_at > now_ms && g->svc[k].ready_at < deadline)
                deadline = g->svc[k].ready_at;
        g->deadline = deadline;
    } else if (g->verdict == GATE_BAKING) {
        g->deadline = g->ready_ms + g->o.bake_ms;
    }
    note_change(g);
    return g->verdict;
}

int64_t gate_next_deadline(const struct gate *g)
{
    return g->deadline;
}

uint64_t gate_generation(const struct gate *g)
{
    return g->generation;
}

const char *gate_reason(const struct gate *g)
{
    return g->reason;
}

size_t gate_service_count(const struct gate *g)
{
    return g->n;
}

void gate_service(const struct gate *g, size_t k, struct gate_service_view *out)
{
    const struct gate_svc *s = &g->svc[k];

    out->name = s->name;
    out->required = s->required;
    out->healthy = s->healthy;
    out->stable = s->stable;
    out->other = s->other;
    out->failures = s->failures;
    out->max_failures = s->max_failures;
    out->ready = s->stable >= s->required;
}

const char *gate_verdict_name(enum gate_verdict v)
{
    switch (v) {
    case GATE_WAITING: return "waiting";
    case GATE_BAKING: return "baking";
    case GATE_READY: return "ready";
    case GATE_FAILED: return "failed";
    case GATE_TIMED_OUT: return "timed out";
    }
    return "unknown";
}
