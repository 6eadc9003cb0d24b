/* Unit tests of the registry: name index and deadline heap
 * (supervisor/core/registry.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corefx.h"
#include "registry.h"

#define N_SERVICES 100
#define PER_SERVICE 100
#define N_INSTANCES (N_SERVICES * PER_SERVICE)

/* ---- helpers ---- */

static void shuffle(size_t *v, size_t n, uint64_t *rng)
{
    for (size_t k = n; k > 1; k--) {
        size_t j = (size_t)(policy_rng_next(rng) % k);
        size_t tmp = v[k - 1];

        v[k - 1] = v[j];
        v[j] = tmp;
    }
}

static struct registry *new_registry(void)
{
    struct registry *r = NULL;

    assert_int_equal(registry_create(&r), 0);
    assert_non_null(r);
    return r;
}

static const char *service_name(int k)
{
    static char buf[FLEET_NAME_MAX + 1];

    snprintf(buf, sizeof(buf), "svc-%d", k);
    return buf;
}

static const char *instance_name(int k)
{
    static char buf[FLEET_NAME_MAX + 1];

    snprintf(buf, sizeof(buf), "i-%d", k);
    return buf;
}

static struct service *add_service(struct registry *r, const char *name)
{
    struct service *s = registry_add_service(r, name);

    assert_non_null(s);
    return s;
}

static struct instance *add_instance(struct registry *r, struct service *s, const char *name)
{
    struct instance *i = registry_add_instance(r, s, name);

    assert_non_null(i);
    return i;
}

/* Instance number n: service n / PER_SERVICE, name "i-<n % PER_SERVICE>". */
static struct instance *lookup(const struct registry *r, size_t n)
{
    const struct service *s = registry_service(r, service_name((int)(n / PER_SERVICE)));

    assert_non_null(s);
    return registry_instance(r, s, instance_name((int)(n % PER_SERVICE)));
}

/* Walks a service's instance list both ways; returns its length. */
static uint32_t checked_list_length(const struct service *s)
{
    uint32_t n = 0;
    const struct instance *prev = NULL;

    for (const struct instance *i = s->first; i != NULL; i = i->next) {
        assert_ptr_equal(i->prev, prev);
        assert_ptr_equal(i->service, s);
        prev = i;
        n++;
    }
    return n;
}

/* Fills a registry with N_INSTANCES instances, remembered in `all`. */
static void populate(struct registry *r, struct instance **all)
{
    for (int k = 0; k < N_SERVICES; k++) {
        struct service *s = add_service(r, service_name(k));

        for (int j = 0; j < PER_SERVICE; j++)
            all[k * PER_SERVICE + j] = add_instance(r, s, instance_name(j));
    }
}

/* Pops every scheduled instance in order; returns how many. */
static size_t drain_in_order(struct registry *r, int64_t *last_out)
{
    struct instance *i;
    int64_t last = INT64_MIN;
    size_t n = 0;

    while ((i = registry_due(r, NO_DEADLINE - 1)) != NULL) {
        assert_int_equal(registry_next_deadline(r), i->deadline_ms);
        assert_int64_le(last, i->deadline_ms);
        last = i->deadline_ms;
        registry_schedule(r, i, NO_DEADLINE);
        assert_int_equal(i->heap_slot, UINT32_MAX);
        n++;
    }
    if (last_out != NULL)
        *last_out = last;
    return n;
}

/* ---- lifecycle ---- */

static void test_create_destroy(void **state)
{
    struct registry *r = new_registry();

    (void)state;
    assert_int_equal(registry_service_count(r), 0);
    assert_int_equal(registry_instance_count(r), 0);
    assert_int_equal(registry_next_deadline(r), NO_DEADLINE);
    assert_null(registry_due(r, NO_DEADLINE - 1));
    assert_null(registry_service(r, "nothing"));
    assert_null(registry_service_at(r, 0));
    registry_destroy(r);
    registry_destroy(NULL);
}

static void test_destroy_frees_everything_left(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "a");

    (void)state;
    registry_schedule(r, add_instance(r, s, "x"), 10);
    add_instance(r, s, "y");
    add_service(r, "b");
    registry_destroy(r); /* ASan reports anything leaked */
}

/* ---- services ---- */

static void test_add_and_find_service(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "story-teller");

    (void)state;
    assert_string_equal(s->name, "story-teller");
    assert_ptr_equal(registry_service(r, "story-teller"), s);
    assert_null(registry_service(r, "story-telle"));
    assert_null(registry_service(r, "story-tellers"));
    assert_int_equal(s->n_instances, 0);
    assert_null(s->first);
    assert_false(s->expected);
    assert_int_equal(s->health, SVC_UNSPECIFIED);
    assert_int_equal(registry_service_count(r), 1);
    assert_ptr_equal(registry_service_at(r, 0), s);
    registry_destroy(r);
}

static void test_services_in_insertion_order(void **state)
{
    struct registry *r = new_registry();
    struct service *s[N_SERVICES];

    (void)state;
    for (int k = 0; k < N_SERVICES; k++)
        s[k] = add_service(r, service_name(k));
    assert_int_equal(registry_service_count(r), N_SERVICES);
    for (int k = 0; k < N_SERVICES; k++) {
        assert_ptr_equal(registry_service_at(r, (size_t)k), s[k]);
        assert_ptr_equal(registry_service(r, service_name(k)), s[k]);
    }
    assert_null(registry_service_at(r, N_SERVICES));
    /* Removing one keeps the others in order. */
    registry_remove_service(r, s[10]);
    assert_int_equal(registry_service_count(r), N_SERVICES - 1);
    assert_ptr_equal(registry_service_at(r, 9), s[9]);
    assert_ptr_equal(registry_service_at(r, 10), s[11]);
    assert_ptr_equal(registry_service_at(r, N_SERVICES - 2), s[N_SERVICES - 1]);
    assert_null(registry_service(r, service_name(10)));
    registry_destroy(r);
}

static void test_remove_services_random_order(void **state)
{
    struct registry *r = new_registry();
    struct service *s[N_SERVICES * 10];
    size_t order[N_SERVICES * 10];
    uint64_t rng = 7;
    const size_t n = N_SERVICES * 10;

    (void)state;
    for (size_t k = 0; k < n; k++) {
        s[k] = add_service(r, service_name((int)k));
        order[k] = k;
    }
    shuffle(order, n, &rng);
    for (size_t k = 0; k < n / 2; k++)
        registry_remove_service(r, s[order[k]]);
    for (size_t k = 0; k < n; k++) {
        bool removed = false;

        for (size_t j = 0; j < n / 2; j++)
            removed = removed || order[j] == k;
        if (removed)
            assert_null(registry_service(r, service_name((int)k)));
        else
            assert_ptr_equal(registry_service(r, service_name((int)k)), s[k]);
    }
    assert_int_equal(registry_service_count(r), n - n / 2);
    registry_destroy(r);
}

/* ---- instances ---- */

static void test_add_instance_starts_empty(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "svc");
    struct instance *i = add_instance(r, s, "i-1");

    (void)state;
    assert_string_equal(i->name, "i-1");
    assert_ptr_equal(i->service, s);
    assert_int_equal(i->health, INST_UNSPECIFIED);
    assert_int_equal(i->deadline_ms, NO_DEADLINE);
    assert_int_equal(i->heap_slot, UINT32_MAX);
    assert_int_equal(i->incarnation, 0);
    assert_int_equal(i->seq, 0);
    assert_int_equal(i->restarts, 0);
    assert_string_equal(i->version, "");
    assert_int_equal(s->n_instances, 1);
    assert_int_equal(s->count[INST_UNSPECIFIED], 1);
    assert_ptr_equal(s->first, i);
    assert_int_equal(registry_instance_count(r), 1);
    assert_ptr_equal(registry_instance(r, s, "i-1"), i);
    assert_null(registry_instance(r, s, "i-2"));
    registry_destroy(r);
}

static void test_same_instance_name_in_two_services(void **state)
{
    struct registry *r = new_registry();
    struct service *a = add_service(r, "a");
    struct service *b = add_service(r, "b");
    struct instance *ia = add_instance(r, a, "same");
    struct instance *ib;

    (void)state;
    assert_null(registry_instance(r, b, "same"));
    ib = add_instance(r, b, "same");
    assert_ptr_not_equal(ia, ib);
    assert_ptr_equal(registry_instance(r, a, "same"), ia);
    assert_ptr_equal(registry_instance(r, b, "same"), ib);
    registry_remove_instance(r, ia);
    assert_null(registry_instance(r, a, "same"));
    assert_ptr_equal(registry_instance(r, b, "same"), ib);
    registry_destroy(r);
}

static void test_remove_instance_keeps_counts(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "svc");
    struct instance *i = add_instance(r, s, "x");
    struct instance *j = add_instance(r, s, "y");

    (void)state;
    /* Move x to HEALTHY as the observer does: counts follow health. */
    s->count[INST_UNSPECIFIED]--;
    s->count[INST_HEALTHY]++;
    i->health = INST_HEALTHY;
    registry_remove_instance(r, i);
    assert_int_equal(s->count[INST_HEALTHY], 0);
    assert_int_equal(s->count[INST_UNSPECIFIED], 1);
    assert_int_equal(s->n_instances, 1);
    assert_ptr_equal(s->first, j);
    assert_null(j->prev);
    assert_null(j->next);
    assert_int_equal(registry_instance_count(r), 1);
    registry_remove_instance(r, j);
    assert_null(s->first);
    assert_int_equal(registry_instance_count(r), 0);
    registry_remove_service(r, s);
    assert_int_equal(registry_service_count(r), 0);
    registry_destroy(r);
}

static void test_list_unlinks_head_middle_tail(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "svc");
    struct instance *i[5];

    (void)state;
    for (int k = 0; k < 5; k++)
        i[k] = add_instance(r, s, instance_name(k));
    registry_remove_instance(r, i[2]); /* middle */
    assert_int_equal(checked_list_length(s), 4);
    registry_remove_instance(r, i[4]); /* head: newest first */
    assert_int_equal(checked_list_length(s), 3);
    registry_remove_instance(r, i[0]); /* tail */
    assert_int_equal(checked_list_length(s), 2);
    assert_int_equal(s->n_instances, 2);
    registry_destroy(r);
}

/* 10,000 instances over 100 services, half removed in random order: every
 * lookup still finds exactly what is left (backward-shift deletion must not
 * break probe runs), then the removed ones come back. */
static void test_many_add_find_remove(void **state)
{
    struct registry *r = new_registry();
    struct instance **all = calloc(N_INSTANCES, sizeof(*all));
    size_t *order = calloc(N_INSTANCES, sizeof(*order));
    bool *removed = calloc(N_INSTANCES, sizeof(*removed));
    uint64_t rng = 0x1234567ULL;

    (void)state;
    assert_non_null(all);
    assert_non_null(order);
    assert_non_null(removed);
    populate(r, all);
    assert_int_equal(registry_instance_count(r), N_INSTANCES);
    for (size_t n = 0; n < N_INSTANCES; n++) {
        assert_ptr_equal(lookup(r, n), all[n]);
        order[n] = n;
    }
    shuffle(order, N_INSTANCES, &rng);
    for (size_t k = 0; k < N_INSTANCES / 2; k++) {
        registry_remove_instance(r, all[order[k]]);
        removed[order[k]] = true;
        all[order[k]] = NULL;
        /* Spot-check along the way, not only at the end. */
        if (k % 500 == 0)
            for (size_t n = 0; n < N_INSTANCES; n++)
                assert_ptr_equal(lookup(r, n), all[n]);
    }
    assert_int_equal(registry_instance_count(r), N_INSTANCES / 2);
    for (size_t n = 0; n < N_INSTANCES; n++)
        assert_ptr_equal(lookup(r, n), all[n]);
    for (int k = 0; k < N_SERVICES; k++) {
        const struct service *s = registry_service(r, service_name(k));
        uint32_t left = 0;

        for (int j = 0; j < PER_SERVICE; j++)
            left += !removed[k * PER_SERVICE + j];
        assert_int_equal(s->n_instances, left);
        assert_int_equal(checked_list_length(s), left);
        assert_int_equal(s->count[INST_UNSPECIFIED], left);
    }
    /* Add the removed ones back. */
    for (size_t n = 0; n < N_INSTANCES; n++) {
        if (!removed[n])
            continue;
        all[n] = add_instance(r, registry_service(r, service_name((int)(n / PER_SERVICE))),
                              instance_name((int)(n % PER_SERVICE)));
    }
    assert_int_equal(registry_instance_count(r), N_INSTANCES);
    for (size_t n = 0; n < N_INSTANCES; n++)
        assert_ptr_equal(lookup(r, n), all[n]);
    registry_destroy(r);
    free(removed);
    free(order);
    free(all);
}

/* Remove everything, in random order, down to an empty registry. */
static void test_remove_all_random_order(void **state)
{
    struct registry *r = new_registry();
    struct instance **all = calloc(N_INSTANCES, sizeof(*all));
    size_t *order = calloc(N_INSTANCES, sizeof(*order));
    uint64_t rng = 99;

    (void)state;
    assert_non_null(all);
    assert_non_null(order);
    populate(r, all);
    for (size_t n = 0; n < N_INSTANCES; n++)
        order[n] = n;
    shuffle(order, N_INSTANCES, &rng);
    for (size_t k = 0; k < N_INSTANCES; k++) {
        size_t n = order[k];

        assert_ptr_equal(lookup(r, n), all[n]);
        registry_remove_instance(r, all[n]);
        all[n] = NULL;
        assert_null(lookup(r, n));
    }
    assert_int_equal(registry_instance_count(r), 0);
    for (int k = 0; k < N_SERVICES; k++)
        registry_remove_service(r, registry_service(r, service_name(k)));
    assert_int_equal(registry_service_count(r), 0);
    registry_destroy(r);
    free(order);
    free(all);
}

/* ---- deadline heap ---- */

static void test_heap_empty_and_single(void **state)
{
    struct registry *r = new_registry();
    struct instance *i = add_instance(r, add_service(r, "s"), "x");

    (void)state;
    registry_schedule(r, i, NO_DEADLINE); /* unscheduled stays unscheduled */
    assert_int_equal(registry_next_deadline(r), NO_DEADLINE);
    registry_schedule(r, i, 500);
    assert_int_equal(i->deadline_ms, 500);
    assert_int_equal(registry_next_deadline(r), 500);
    assert_null(registry_due(r, 499));
    assert_ptr_equal(registry_due(r, 500), i);
    assert_ptr_equal(registry_due(r, 501), i); /* stays until rescheduled */
    registry_schedule(r, i, NO_DEADLINE);
    assert_int_equal(i->deadline_ms, NO_DEADLINE);
    assert_null(registry_due(r, 10000));
    assert_int_equal(registry_next_deadline(r), NO_DEADLINE);
    registry_destroy(r);
}

static void test_heap_pops_in_deadline_order(void **state)
{
    struct registry *r = new_registry();
    struct instance **all = calloc(N_INSTANCES, sizeof(*all));
    uint64_t rng = 0xABCDEFULL;
    int64_t min = NO_DEADLINE;

    (void)state;
    assert_non_null(all);
    populate(r, all);
    for (size_t n = 0; n < N_INSTANCES; n++) {
        int64_t at = (int64_t)(policy_rng_next(&rng) % 1000000);

        registry_schedule(r, all[n], at);
        if (at < min)
            min = at;
    }
    assert_int_equal(registry_next_deadline(r), min);
    assert_null(registry_due(r, min - 1));
    assert_non_null(registry_due(r, min));
    assert_int_equal(drain_in_order(r, NULL), N_INSTANCES);
    assert_int_equal(registry_next_deadline(r), NO_DEADLINE);
    registry_destroy(r);
    free(all);
}

/* A tick loop: pop what is due at successive times, each popped instance
 * rescheduled later, as the observer does; nothing due is ever missed. */
static void test_heap_due_by_time(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "s");
    struct instance *i[64];
    uint64_t rng = 5;
    int popped = 0;

    (void)state;
    for (int k = 0; k < 64; k++) {
        i[k] = add_instance(r, s, instance_name(k));
        registry_schedule(r, i[k], 1000 + (int64_t)(policy_rng_next(&rng) % 1000));
    }
    for (int64_t now = 0; now < 5000; now += 37) {
        struct instance *due;

        while ((due = registry_due(r, now)) != NULL) {
            assert_int64_le(due->deadline_ms, now);
            registry_schedule(r, due, now + 1000 + (int64_t)(policy_rng_next(&rng) % 1000));
            popped++;
        }
        for (int k = 0; k < 64; k++)
            if (i[k]->deadline_ms <= now)
                fail_msg("instance %d due at %lld not popped at %lld", k,
                         (long long)i[k]->deadline_ms, (long long)now);
    }
    assert_in_range(popped, 64, 64 * 5);
    registry_destroy(r);
}

static void test_heap_moves_deadlines_up_and_down(void **state)
{
    struct registry *r = new_registry();
    struct instance **all = calloc(N_INSTANCES, sizeof(*all));
    uint64_t rng = 0xFEEDULL;

    (void)state;
    assert_non_null(all);
    populate(r, all);
    for (size_t n = 0; n < N_INSTANCES; n++)
        registry_schedule(r, all[n], 500000 + (int64_t)(policy_rng_next(&rng) % 100000));
    /* Move every other one earlier or later by a random amount, several times. */
    for (int round = 0; round < 3; round++) {
        for (size_t n = 0; n < N_INSTANCES; n += 2) {
            int64_t shift = (int64_t)(policy_rng_next(&rng) % 300000) - 150000; /* stays > 1 */

            registry_schedule(r, all[n], all[n]->deadline_ms + shift);
        }
    }
    /* Some to the very front and the very back. */
    registry_schedule(r, all[17], 1);
    registry_schedule(r, all[4242], 10000000);
    assert_int_equal(registry_next_deadline(r), 1);
    assert_ptr_equal(registry_due(r, 1), all[17]);
    {
        int64_t last;

        assert_int_equal(drain_in_order(r, &last), N_INSTANCES);
        assert_int_equal(last, 10000000);
    }
    registry_destroy(r);
    free(all);
}

static void test_heap_same_deadline_again_is_harmless(void **state)
{
    struct registry *r = new_registry();
    struct service *s = add_service(r, "s");
    struct instance *a = add_instance(r, s, "a");
    struct instance *b = add_instance(r, s, "b");

    (void)state;
    registry_schedule(r, a, 100);
    registry_schedule(r, b, 100);
    registry_schedule(r, a, 100);
    assert_int_equal(drain_in_order(r, NULL), 2);
    registry_destroy(r);
}

static void test_heap_remove_scheduled_instances(void **state)
{
    struct registry *r = new_registry();
    struct instance **all = calloc(N_INSTANCES, sizeof(*all));
    size_t *order = calloc(N_INSTANCES, sizeof(*order));
    uint64_t rng = 31337;

    (void)state;
    assert_non_null(all);
    assert_non_null(order);
    populate(r, all);
    for (size_t n = 0; n < N_INSTANCES; n++) {
        registry_schedule(r, all[n], (int64_t)(policy_rng_next(&rng) % 1000000));
        order[n] = n;
    }
    shuffle(order, N_INSTANCES, &rng);
    for (size_t k = 0; k < N_INSTANCES / 2; k++)
        registry_remove_instance(r, all[order[k]]);
    /* Half were removed from the heap with them; the rest pop in order. */
    assert_int_equal(drain_in_order(r, NULL), N_INSTANCES - N_INSTANCES / 2);
    registry_destroy(r);
    free(order);
    free(all);
}

static void test_heap_unschedule_random_subset(void **state)
{
    struct registry *r = new_registry();
    struct instance **all = calloc(N_INSTANCES, sizeof(*all));
    uint64_t rng = 2024;
    size_t kept = 0;

    (void)state;
    assert_non_null(all);
    populate(r, all);
    for (size_t n = 0; n < N_INSTANCES; n++)
        registry_schedule(r, all[n], (int64_t)(policy_rng_next(&rng) % 1000000));
    for (size_t n = 0; n < N_INSTANCES; n++) {
        if (policy_rng_next(&rng) % 3 == 0)
            registry_schedule(r, all[n], NO_DEADLINE);
        else
            kept++;
    }
    assert_int_equal(drain_in_order(r, NULL), kept);
    registry_destroy(r);
    free(all);
}

/* Every scheduled instance holds a distinct slot below their count, and
 * the earliest deadline is the brute-force minimum. */
static void check_heap_against(const struct registry *r, struct instance **all, size_t n, unsigned char *seen)
{
    int64_t min = NO_DEADLINE;
    size_t scheduled = 0;

    for (size_t k = 0; k < n; k++)
        if (all[k]->heap_slot != UINT32_MAX)
            scheduled++;
    memset(seen, 0, n);
    for (size_t k = 0; k < n; k++) {
        if (all[k]->heap_slot == UINT32_MAX) {
            assert_int_equal(all[k]->deadline_ms, NO_DEADLINE);
            continue;
        }
        assert_true(all[k]->heap_slot < scheduled);
        assert_int_equal(seen[all[k]->heap_slot], 0);
        seen[all[k]->heap_slot] = 1;
        if (all[k]->deadline_ms < min)
            min = all[k]->deadline_ms;
    }
    assert_int_equal(registry_next_deadline(r), min);
}

/* Random inserts, moves earlier and later, repeats and removals, as the
 * observer mixes them, checked against brute force after each step; then
 * everything left pops in order. Many equal keys on purpose (a small range). */
static void test_heap_random_operations_match_brute_force(void **state)
{
    enum { N = 700, STEPS = 20000 };
    struct registry *r = new_registry();
    struct service *s = add_service(r, "s");
    struct instance *all[N];
    unsigned char *seen = malloc(N);
    uint64_t rng = 0x5EEDULL;
    size_t left = 0;

    (void)state;
    assert_non_null(seen);
    for (size_t k = 0; k < N; k++)
        all[k] = add_instance(r, s, instance_name((int)k));
    for (int step = 0; step < STEPS; step++) {
        struct instance *i = all[policy_rng_next(&rng) % N];
        uint64_t roll = policy_rng_next(&rng) % 10;
        int64_t at = (int64_t)(policy_rng_next(&rng) % 5000);

        if (roll == 0)
            registry_schedule(r, i, NO_DEADLINE);
        else if (roll == 1 && i->deadline_ms != NO_DEADLINE)
            registry_schedule(r, i, i->deadline_ms); /* the same again */
        else
            registry_schedule(r, i, at);
        check_heap_against(r, all, N, seen);
    }
    for (size_t k = 0; k < N; k++)
        left += all[k]->heap_slot != UINT32_MAX;
    assert_int_equal(drain_in_order(r, NULL), left);
    free(seen);
    registry_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy),
        cmocka_unit_test(test_destroy_frees_everything_left),
        cmocka_unit_test(test_add_and_find_service),
        cmocka_unit_test(test_services_in_insertion_order),
        cmocka_unit_test(test_remove_services_random_order),
        cmocka_unit_test(test_add_instance_starts_empty),
        cmocka_unit_test(test_same_instance_name_in_two_services),
        cmocka_unit_test(test_remove_instance_keeps_counts),
        cmocka_unit_test(test_list_unlinks_head_middle_tail),
        cmocka_unit_test(test_many_add_find_remove),
        cmocka_unit_test(test_remove_all_random_order),
        cmocka_unit_test(test_heap_empty_and_single),
        cmocka_unit_test(test_heap_pops_in_deadline_order),
        cmocka_unit_test(test_heap_due_by_time),
        cmocka_unit_test(test_heap_moves_deadlines_up_and_down),
        cmocka_unit_test(test_heap_same_deadline_again_is_harmless),
        cmocka_unit_test(test_heap_remove_scheduled_instances),
        cmocka_unit_test(test_heap_unschedule_random_subset),
        cmocka_unit_test(test_heap_random_operations_match_brute_force),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
