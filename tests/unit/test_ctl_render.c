/* fleetctl's renderers and feed-gap accounting, on in-memory messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../supervisor/ctl/render.h"

#define NOW_MS 1700000000000LL

/* A fleet built on the stack: the renderer only reads, so no packing. */
struct fixture {
    Fleet__V1__FleetStatus st;
    Fleet__V1__ServiceStatus svc[4];
    Fleet__V1__ServiceStatus *svc_ptrs[4];
    Fleet__V1__InstanceStatus inst[3];
    Fleet__V1__InstanceStatus *story_inst[2];
    Fleet__V1__InstanceStatus *kb_inst[1];
    char *story_versions[1];
    char *kb_versions[2];
};

static void fixture_fill(struct fixture *f)
{
    static const Fleet__V1__FleetStatus st_init = FLEET__V1__FLEET_STATUS__INIT;
    static const Fleet__V1__ServiceStatus svc_init = FLEET__V1__SERVICE_STATUS__INIT;
    static const Fleet__V1__InstanceStatus inst_init = FLEET__V1__INSTANCE_STATUS__INIT;

    memset(f, 0, sizeof(*f));
    f->st = st_init;
    for (size_t i = 0; i < 4; i++) {
        f->svc[i] = svc_init;
        f->svc_ptrs[i] = &f->svc[i];
    }
    for (size_t i = 0; i < 3; i++)
        f->inst[i] = inst_init;

    f->st.generated_unix_ms = NOW_MS;
    f->st.feed_seq = 1234;
    f->st.term = 7;
    f->st.services_expected = 45;
    f->st.services_available = 43;
    f->st.availability = 43.0 / 45.0;
    f->st.observer = FLEET__V1__OBSERVER_STATE__OBSERVER_STATE_NORMAL;
    f->st.instances_expected = 68;
    f->st.instances_healthy = 66;
    f->st.supervisor_id = "sup-test-1";
    f->st.n_services = 4;
    f->st.services = f->svc_ptrs;

    /* Listed in an order the renderer must change. */
    f->svc[0].name = "knowledge-base";
    f->svc[0].desired = 2;
    f->svc[0].healthy = 2;
    f->svc[0].health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_AVAILABLE;
    f->svc[0].availability_1h = 1.0;
    f->svc[0].availability_24h = 0.99995;
    f->svc[0].expected = 1;
    f->kb_versions[0] = "1.4.2";
    f->kb_versions[1] = "1.3.9";
    f->svc[0].n_versions = 2;
    f->svc[0].versions = f->kb_versions;
    f->inst[2].instance = "knowledge-base-1";
    f->inst[2].health = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    f->kb_inst[0] = &f->inst[2];
    f->svc[0].n_instances = 1;
    f->svc[0].instances = f->kb_inst;

    f->svc[1].name = "story-teller";
    f->svc[1].desired = 2;
    f->svc[1].healthy = 1;
    f->svc[1].health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_DEGRADED;
    f->svc[1].availability_1h = 0.5;
    f->svc[1].availability_24h = 0.9;
    f->svc[1].expected = 1;
    f->story_versions[0] = "1.4.2";
    f->svc[1].n_versions = 1;
    f->svc[1].versions = f->story_versions;
    f->inst[0].instance = "story-teller-1";
    f->inst[0].health = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD;
    f->inst[0].last_seen_unix_ms = NOW_MS - 2100;
    f->inst[0].phi = 9.31;
    f->inst[0].reason = "silent 2.1s";
    f->inst[1].instance = "story-teller-2";
    f->inst[1].health = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    f->inst[1].last_seen_unix_ms = NOW_MS - 300;
    f->story_inst[0] = &f->inst[0];
    f->story_inst[1] = &f->inst[1];
    f->svc[1].n_instances = 2;
    f->svc[1].instances = f->story_inst;

    f->svc[2].name = "vocal-synthesis";
    f->svc[2].desired = 1;
    f->svc[2].health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_MISSING;
    f->svc[2].expected = 1;

    f->svc[3].name = "orphan-svc";
    f->svc[3].healthy = 1;
    f->svc[3].health = FLEET__V1__SERVICE_HEALTH__SERVICE_HEALTH_UNEXPECTED;
    f->svc[3].expected = 0;
}

/* Hands back open_memstream's buffer through a non-inlined call: gcc 12 at
 * -O3 otherwise takes it for a pointer to the local variable that held it
 * (-Wdangling-pointer false positive). */
__attribute__((noinline)) static char *memstream_result(char *buf)
{
    return buf;
}

/* Renders into a malloc'd string the test frees. */
static char *table_text(const Fleet__V1__FleetStatus *st, uint64_t gap)
{
    struct render_opts o = { .color = false, .now_ms = NOW_MS, .feed_gap = gap };
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    assert_non_null(mem);
    assert_int_equal(render_status_table(mem, st, &o), FLEET_OK);
    assert_int_equal(fclose(mem), 0);
    return memstream_result(buf);
}

/* The line of `text` holding `needle`, as an offset; fails the test when absent. */
static ptrdiff_t line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    ptrdiff_t offset = at != NULL ? at - text : -1;

    if (offset < 0)
        fail_msg("\"%s\" not in:\n%s", needle, text);
    return offset;
}

static void test_header_figures(void **state)
{
    struct fixture f;
    char *t;

    fixture_fill(&f);
    t = table_text(&f.st, 0);
    assert_int_equal(line_of(t, "fleet 43/45 available (95.6%)  instances 66/68 healthy  observer NORMAL  term 7  "
               "supervisor sup-test-1  feed_seq 1234\n"), 0);
    assert_null(strstr(t, "feed gap"));
    assert_null(strstr(t, "\033["));
    free(t);

    t = table_text(&f.st, 3);
    line_of(t, "feed_seq 1234  (feed gap: 3 missed)\n");
    free(t);
}

/* 100.0% means "all": rounding must not claim it, nor 0.0% for some. */
static void test_percentage_rounding(void **state)
{
    struct fixture f;
    char *t;

    fixture_fill(&f);
    f.st.services_expected = 2000;
    f.st.services_available = 1999; /* 99.95% */
    t = table_text(&f.st, 0);
    line_of(t, "fleet 1999/2000 available (99.9%)");
    /* knowledge-base: 1h exactly 1.0, 24h 0.99995 */
    line_of(t, "    100.0%      99.9%  ");
    free(t);

    f.st.services_expected = 3000;
    f.st.services_available = 1; /* 0.033% */
    t = table_text(&f.st, 0);
    line_of(t, "fleet 1/3000 available (0.1%)");
    free(t);

    f.st.services_expected = 45;
    f.st.services_available = 45;
    t = table_text(&f.st, 0);
    line_of(t, "fleet 45/45 available (100.0%)");
    free(t);

    f.st.services_expected = 0;
    f.st.services_available = 0;
    t = table_text(&f.st, 0);
    line_of(t, "fleet 0/0 available (-)");
    free(t);
}

static void test_rows_order_and_marks(void **state)
{
    struct fixture f;
    char *t;
    ptrdiff_t orphan, story, vocal, kb, dead;

    fixture_fill(&f);
    t = table_text(&f.st, 0);
    line_of(t, "NAME");
    line_of(t, "HEALTHY/DESIRED");
    orphan = line_of(t, "orphan-svc");
    story = line_of(t, "story-teller ");
    vocal = line_of(t, "vocal-synthesis");
    kb = line_of(t, "knowledge-base ");
    /* Unhealthy first, by name; then the healthy, by name. */
    assert_true(orphan < story);
    assert_true(story < vocal);
    assert_true(vocal < kb);
    line_of(t, "1.4.2,1.3.9 DRIFT\n");
    assert_null(strstr(t, "1.4.2 DRIFT"));
    line_of(t, "UNEXPECTED");
    line_of(t, "MISSING");
    line_of(t, "DEGRADED");
    /* Non-HEALTHY instances only, under their service. */
    dead = line_of(t, "  story-teller-1");
    assert_true(dead > story && dead < vocal);
    line_of(t, "DEAD        seen 2.1s    phi 9.3   silent 2.1s\n");
    assert_null(strstr(t, "story-teller-2"));
    assert_null(strstr(t, "knowledge-base-1"));
    free(t);
}

/* Past max_feed_bytes the services carry counts only. */
static void test_counts_only(void **state)
{
    struct fixture f;
    char *t;

    fixture_fill(&f);
    for (size_t i = 0; i < 4; i++) {
        f.svc[i].n_instances = 0;
        f.svc[i].instances = NULL;
    }
    t = table_text(&f.st, 0);
    line_of(t, "story-teller ");
    assert_null(strstr(t, "story-teller-1"));
    free(t);

    f.st.n_services = 0;
    f.st.services = NULL;
    t = table_text(&f.st, 0);
    line_of(t, "NAME");
    free(t);
}

static void test_color_only_when_asked(void **state)
{
    struct fixture f;
    struct render_opts o = { .color = true, .now_ms = NOW_MS };
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    fixture_fill(&f);
    assert_int_equal(render_status_table(mem, &f.st, &o), FLEET_OK);
    fclose(mem);
    line_of(buf, "\033[31mDEAD");
    free(buf);
}

static void test_enum_names(void **state)
{
    assert_string_equal(render_enum_name(&fleet__v1__instance_health__descriptor, 5), "DEAD");
    assert_string_equal(render_enum_name(&fleet__v1__service_health__descriptor, 4), "MISSING");
    assert_string_equal(render_enum_name(&fleet__v1__observer_state__descriptor, 3), "SELF_PRESERVATION");
    assert_string_equal(render_enum_name(&fleet__v1__action__descriptor, 1), "RESTART");
    assert_null(render_enum_name(&fleet__v1__action__descriptor, 99));
}

static void test_status_json(void **state)
{
    struct fixture f;
    json_t *j, *svc, *inst;
    json_error_t err;
    char *text;

    fixture_fill(&f);
    f.inst[0].incarnation = UINT64_MAX; /* above what jansson holds */
    j = render_status_json(&f.st);
    assert_non_null(j);
    /* Round trip through text, as a consumer sees it. */
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    j = json_loads(text, 0, &err);
    free(text);
    assert_non_null(j);

    assert_int_equal(json_integer_value(json_object_get(j, "feed_seq")), 1234);
    assert_int_equal(json_integer_value(json_object_get(j, "generated_unix_ms")), NOW_MS);
    assert_int_equal(json_integer_value(json_object_get(j, "services_available")), 43);
    assert_string_equal(json_string_value(json_object_get(j, "observer")), "NORMAL");
    assert_string_equal(json_string_value(json_object_get(j, "supervisor_id")), "sup-test-1");
    assert_true(json_real_value(json_object_get(j, "availability")) > 0.955);
    assert_int_equal(json_array_size(json_object_get(j, "services")), 4);

    svc = json_array_get(json_object_get(j, "services"), 1);
    assert_string_equal(json_string_value(json_object_get(svc, "name")), "story-teller");
    assert_string_equal(json_string_value(json_object_get(svc, "health")), "DEGRADED");
    assert_true(json_is_true(json_object_get(svc, "expected")));
    assert_int_equal(json_array_size(json_object_get(svc, "versions")), 1);
    inst = json_array_get(json_object_get(svc, "instances"), 0);
    assert_string_equal(json_string_value(json_object_get(inst, "health")), "DEAD");
    assert_string_equal(json_string_value(json_object_get(inst, "reason")), "silent 2.1s");
    assert_string_equal(json_string_value(json_object_get(inst, "incarnation")), "18446744073709551615");
    assert_int_equal(json_integer_value(json_object_get(inst, "last_seen_unix_ms")), NOW_MS - 2100);

    svc = json_array_get(json_object_get(j, "services"), 3);
    assert_string_equal(json_string_value(json_object_get(svc, "health")), "UNEXPECTED");
    assert_true(json_is_false(json_object_get(svc, "expected")));
    json_decref(j);
}

static void test_event_line_and_json(void **state)
{
    Fleet__V1__Event ev = FLEET__V1__EVENT__INIT;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;
    json_t *j;

    setenv("TZ", "UTC", 1);
    tzset();
    ev.feed_seq = 99;
    ev.unix_ms = 1700000463000LL; /* 22:21:03 UTC */
    ev.service = "story-teller";
    ev.instance = "story-teller-1";
    ev.from = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_HEALTHY;
    ev.to = FLEET__V1__INSTANCE_HEALTH__INSTANCE_HEALTH_DEAD;
    ev.reason = "silent 2.1s";
    mem = open_memstream(&buf, &len);
    assert_int_equal(render_event_line(mem, &ev, false), FLEET_OK);
    fclose(mem);
    assert_string_equal(buf, "22:21:03 story-teller/story-teller-1 HEALTHY\u2192DEAD (silent 2.1s)");
    free(buf);

    ev.action = FLEET__V1__ACTION__ACTION_RESTART;
    ev.to = 42; /* a newer peer's value */
    j = render_event_json(&ev);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "from")), "HEALTHY");
    assert_int_equal(json_integer_value(json_object_get(j, "to")), 42);
    assert_string_equal(json_string_value(json_object_get(j, "action")), "RESTART");
    assert_int_equal(json_integer_value(json_object_get(j, "feed_seq")), 99);
    json_decref(j);
}

static void test_feedseq(void **state)
{
    struct feedseq f;

    feedseq_init(&f);
    feedseq_note(&f, 100);          /* joining mid-stream owes nothing */
    assert_int_equal(feedseq_missed(&f), 0);
    feedseq_note(&f, 101);
    feedseq_note(&f, 101);          /* duplicate */
    assert_int_equal(feedseq_missed(&f), 0);
    feedseq_note(&f, 104);          /* 102, 103 not (yet) seen */
    assert_int_equal(feedseq_missed(&f), 2);
    feedseq_note(&f, 102);          /* late, from the other subscription */
    assert_int_equal(feedseq_missed(&f), 1);
    feedseq_note(&f, 300);          /* 103 and 105..299 are gone */
    assert_int_equal(feedseq_missed(&f), 1 + 195);
    feedseq_note(&f, 5);            /* a restarted supervisor counts anew */
    feedseq_note(&f, 6);
    assert_int_equal(feedseq_missed(&f), 196);
    feedseq_rebase(&f);
    feedseq_note(&f, 1000);
    assert_int_equal(feedseq_missed(&f), 196);

    /* The first number seen may come from the quicker subscription: an
     * earlier one arriving next makes the numbers between them owed. */
    feedseq_init(&f);
    feedseq_note(&f, 24);
    feedseq_note(&f, 20);
    assert_int_equal(feedseq_missed(&f), 3);
    feedseq_note(&f, 23);
    assert_int_equal(feedseq_missed(&f), 2);
    feedseq_note(&f, 19);
    assert_int_equal(feedseq_missed(&f), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_figures),
        cmocka_unit_test(test_percentage_rounding),
        cmocka_unit_test(test_rows_order_and_marks),
        cmocka_unit_test(test_counts_only),
        cmocka_unit_test(test_color_only_when_asked),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_event_line_and_json),
        cmocka_unit_test(test_feedseq),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
