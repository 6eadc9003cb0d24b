/* Unit tests of the HTTP board (supervisor/daemon/http_board.h): blobs
 * swapped under readers, readiness and beats, the event ring with its
 * "missed" marker, and concurrent readers against a publishing writer
 * (run it under TSan to check the design: every shared field is under the
 * mutex or atomic). No clock is read: nothing here is timed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_board.h"

static void test_blob_swap_keeps_readers(void **state)
{
    struct http_board *b;
    struct http_blob *first, *second;

    (void)state;
    assert_int_equal(http_board_create(4, &b), 0);
    assert_null(http_board_get(b, "metrics"));
    assert_int_equal(http_board_publish(b, "metrics", "one", 3, "text/plain"), 0);
    first = http_board_get(b, "metrics");
    assert_non_null(first);
    assert_int_equal(http_board_publish(b, "metrics", "second", 6, "text/plain"), 0);
    second = http_board_get(b, "metrics");
    /* The old reader still has its bytes after the swap. */
    assert_string_equal(first->data, "one");
    assert_int_equal(first->len, 3);
    assert_string_equal(second->data, "second");
    assert_string_equal(second->content_type, "text/plain");
    assert_null(http_board_get(b, "status"));
    http_blob_release(first);
    /* A reader may outlive the board. */
    http_board_destroy(b);
    assert_string_equal(second->data, "second");
    http_blob_release(second);
    http_blob_release(NULL);
    http_board_destroy(NULL);
}

static void test_names_bounded(void **state)
{
    struct http_board *b;
    char name[40];
    int published = 0;

    (void)state;
    assert_int_equal(http_board_create(1, &b), 0);
    memset(name, 'x', sizeof(name));
    name[HTTP_BOARD_NAME_MAX + 1] = '\0';
    assert_int_equal(http_board_publish(b, name, "a", 1, "x"), -1);
    assert_int_equal(http_board_publish(b, "", "a", 1, "x"), -1);
    for (int k = 0; k < 100; k++) {
        snprintf(name, sizeof(name), "n%d", k);
        if (http_board_publish(b, name, "a", 1, "x") == 0)
            published++;
    }
    assert_true(published >= 3 && published < 100);
    assert_int_equal(http_board_publish(b, "n0", "b", 1, "x"), 0); /* an existing name is replaced */
    http_board_destroy(b);
    assert_int_equal(http_board_create(0, &b), -1);
}

static void test_ready_and_beat(void **state)
{
    struct http_board *b;
    char reason[16];

    (void)state;
    assert_int_equal(http_board_create(1, &b), 0);
    assert_false(http_board_ready(b, reason, sizeof(reason)));
    assert_string_equal(reason, "starting");
    http_board_set_ready(b, false, "JetStream is not available here");
    assert_false(http_board_ready(b, reason, sizeof(reason)));
    assert_string_equal(reason, "JetStream is no"); /* cut to the caller's buffer */
    http_board_set_ready(b, true, "leader");
    assert_true(http_board_ready(b, reason, sizeof(reason)));
    assert_string_equal(reason, "leader");
    assert_int_equal(http_board_last_beat(b), 0);
    http_board_beat(b, 12345);
    assert_int_equal(http_board_last_beat(b), 12345);
    http_board_destroy(b);
}

static void test_ring_order_and_missed(void **state)
{
    struct http_board *b;
    struct http_blob *ev = NULL;
    uint64_t missed = 0;
    char text[16];

    (void)state;
    assert_int_equal(http_board_create(4, &b), 0);
    assert_int_equal(http_board_last_seq(b), 0);
    assert_int_equal(http_board_next(b, 0, &ev, &missed), HTTP_BOARD_NONE);
    for (int k = 1; k <= 3; k++) {
        snprintf(text, sizeof(text), "{\"n\":%d}", k);
        assert_int_equal(http_board_event(b, text), 0);
    }
    assert_int_equal(http_board_last_seq(b), 3);
    assert_int_equal(http_board_next(b, 1, &ev, &missed), HTTP_BOARD_EVENT);
    assert_int_equal(ev->seq, 2);
    assert_string_equal(ev->data, "{\"n\":2}");
    http_blob_release(ev);
    assert_int_equal(http_board_next(b, 3, &ev, &missed), HTTP_BOARD_NONE);
    /* A Last-Event-ID from another board's life: read from the newest on. */
    assert_int_equal(http_board_next(b, 99, &ev, &missed), HTTP_BOARD_NONE);
    /* Ten events into a ring of four: seqs 7..10 remain. */
    for (int k = 4; k <= 10; k++) {
        snprintf(text, sizeof(text), "{\"n\":%d}", k);
        assert_int_equal(http_board_event(b, text), 0);
    }
    assert_int_equal(http_board_next(b, 2, &ev, &missed), HTTP_BOARD_MISSED);
    assert_int_equal(missed, 6);
    assert_int_equal(http_board_next(b, missed, &ev, &missed), HTTP_BOARD_EVENT);
    assert_int_equal(ev->seq, 7);
    assert_string_equal(ev->data, "{\"n\":7}");
    http_blob_release(ev);
    assert_int_equal(http_board_next(b, 9, &ev, &missed), HTTP_BOARD_EVENT);
    assert_int_equal(ev->seq, 10);
    http_blob_release(ev);
    http_board_destroy(b);
}

/* ---- concurrency: one writer, several readers ---- */

#define EVENTS 20000
#define READERS 4

struct reader_arg {
    struct http_board *b;
    uint64_t seen;       /* events read in order */
    uint64_t missed;     /* times it was told it missed some */
    bool out_of_order;
    bool bad_blob;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    uint64_t last = 0;

    while (last < EVENTS) {
        struct http_blob *ev, *m;
        uint64_t to;

        switch (http_board_next(a->b, last, &ev, &to)) {
        case HTTP_BOARD_NONE:
            http_board_wait(a->b, last, 1000);
            break;
        case HTTP_BOARD_MISSED:
            a->missed++;
            last = to;
            break;
        case HTTP_BOARD_EVENT:
            if (ev->seq != last + 1)
                a->out_of_order = true;
            last = ev->seq;
            a->seen++;
            http_blob_release(ev);
            break;
        }
        m = http_board_get(a->b, "metrics");
        if (m != NULL) {
            if (m->len != strlen(m->data) || strncmp(m->data, "metrics ", 8) != 0)
                a->bad_blob = true;
            http_blob_release(m);
        }
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    struct reader_arg args[READERS];
    pthread_t threads[READERS];
    struct http_board *b;
    char text[64];

    (void)state;
    assert_int_equal(http_board_create(64, &b), 0);
    for (int k = 0; k < READERS; k++) {
        args[k] = (struct reader_arg){ .b = b };
        assert_int_equal(pthread_create(&threads[k], NULL, reader, &args[k]), 0);
    }
    for (int k = 1; k <= EVENTS; k++) {
        snprintf(text, sizeof(text), "{\"n\":%d}", k);
        assert_int_equal(http_board_event(b, text), 0);
        if (k % 50 == 0) {
            int n = snprintf(text, sizeof(text), "metrics %d", k);

            assert_int_equal(http_board_publish(b, "metrics", text, (size_t)n, "text/plain"), 0);
            http_board_beat(b, k);
            http_board_set_ready(b, k % 100 == 0, "flip");
        }
    }
    for (int k = 0; k < READERS; k++) {
        assert_int_equal(pthread_join(threads[k], NULL), 0);
        /* Every event was either read in order or reported missed. */
        assert_false(args[k].out_of_order);
        assert_false(args[k].bad_blob);
        assert_true(args[k].seen >= 64 || args[k].missed > 0);
    }
    http_board_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_swap_keeps_readers),
        cmocka_unit_test(test_names_bounded),
        cmocka_unit_test(test_ready_and_beat),
        cmocka_unit_test(test_ring_order_and_missed),
        cmocka_unit_test(test_concurrent_readers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
