/* The HTTP server and its board in-process, no daemon (supervisor/daemon/
 * http.h): the event stream from now on and after Last-Event-ID, the
 * "missed" marker, keepalives while parked, and a client that never reads
 * dropped rather than buffered. Real sockets on loopback; every wait is on
 * a condition with a generous bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet/clock.h"
#include "http.h"

#define WAIT_MS 20000

struct sse_fx {
    struct http_board *board;
    struct http_server *srv;
};

static int setup_ring(void **state, size_t ring)
{
    struct sse_fx *fx = calloc(1, sizeof(*fx));
    struct http_options o = { .listen = "127.0.0.1:0", .timeout_s = 1, .keepalive_ms = 200 };
    char err[256];

    assert_non_null(fx);
    assert_int_equal(http_board_create(ring, &fx->board), 0);
    if (http_start(&o, fx->board, &fx->srv, err, sizeof(err)) != 0)
        fail_msg("http_start: %s", err);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_ring(state, HTTP_BOARD_RING_DEFAULT);
}

static int setup_small_ring(void **state)
{
    return setup_ring(state, 4);
}

static int teardown(void **state)
{
    struct sse_fx *fx = *state;

    http_stop(fx->srv);
    http_board_destroy(fx->board);
    free(fx);
    return 0;
}

static int open_stream(struct sse_fx *fx, const char *last_event_id, int rcvbuf)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(http_port(fx->srv)) };
    char req[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    snprintf(req, sizeof(req), "GET /api/events HTTP/1.1\r\nHost: t\r\n%s%s%s\r\n",
             last_event_id ? "Last-Event-ID: " : "", last_event_id ? last_event_id : "", last_event_id ? "\r\n" : "");
    assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    return fd;
}

/* Reads into buf (appending) until `needle` appears; false at the bound or EOF. */
static bool read_until(int fd, char *buf, size_t cap, const char *needle)
{
    int64_t until = fleet_mono_ms() + WAIT_MS;
    size_t len = strlen(buf);

    while (strstr(buf, needle) == NULL) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (fleet_mono_ms() > until || len + 1 >= cap)
            return false;
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return true;
}

static void stream_from_now_on_and_after_last_event_id(void **state)
{
    struct sse_fx *fx = *state;
    static char buf[65536], buf2[65536];
    int fd, fd2;

    assert_int_equal(http_board_event(fx->board, "{\"n\":1}"), 0);
    assert_int_equal(http_board_event(fx->board, "{\"n\":2}"), 0);
    assert_int_equal(http_board_event(fx->board, "{\"n\":3}"), 0);
    buf[0] = buf2[0] = '\0';
    fd = open_stream(fx, "1", 0);
    assert_true(read_until(fd, buf, sizeof(buf), "id: 3\ndata: {\"n\":3}\n\n"));
    assert_non_null(strstr(buf, "Content-Type: text/event-stream"));
    assert_non_null(strstr(buf, "Cache-Control: no-cache"));
    assert_non_null(strstr(buf, "id: 2\ndata: {\"n\":2}\n\n"));
    assert_null(strstr(buf, "{\"n\":1}"));
    /* Without Last-Event-ID: from now on. */
    fd2 = open_stream(fx, NULL, 0);
    assert_true(read_until(fd2, buf2, sizeof(buf2), ": stream open\n\n"));
    /* A multi-line event is sent as several data: lines. */
    assert_int_equal(http_board_event(fx->board, "{\"n\":\n4}"), 0);
    assert_true(read_until(fd, buf, sizeof(buf), "id: 4\ndata: {\"n\":\ndata: 4}\n\n"));
    assert_true(read_until(fd2, buf2, sizeof(buf2), "id: 4\ndata: {\"n\":\ndata: 4}\n\n"));
    assert_null(strstr(buf2, "{\"n\":3}"));
    /* Parked streams get keepalives, and stay open past the idle timeout. */
    assert_true(read_until(fd2, buf2, sizeof(buf2), ": keepalive\n\n"));
    assert_int_equal(http_board_event(fx->board, "{\"n\":5}"), 0);
    assert_true(read_until(fd2, buf2, sizeof(buf2), "id: 5\n"));
    close(fd);
    close(fd2);
}

static void a_reader_behind_the_ring_is_told(void **state)
{
    struct sse_fx *fx = *state;
    static char buf[65536];
    struct http_counters c;
    char text[32];
    int fd;

    for (int k = 1; k <= 10; k++) {
        snprintf(text, sizeof(text), "{\"n\":%d}", k);
        assert_int_equal(http_board_event(fx->board, text), 0);
    }
    buf[0] = '\0';
    fd = open_stream(fx, "1", 0);
    assert_true(read_until(fd, buf, sizeof(buf), "id: 10\n"));
    assert_non_null(strstr(buf, "id: 6\nevent: missed\ndata: {\"missedTo\":\"6\"}\n\n"));
    assert_non_null(strstr(buf, "id: 7\ndata: {\"n\":7}\n\n"));
    http_counters(fx->srv, &c);
    assert_int_equal(c.streams_missed, 1);
    close(fd);
}

static void a_reader_that_never_reads_is_dropped(void **state)
{
    struct sse_fx *fx = *state;
    static char big[8192];
    struct http_counters c;
    int fd = open_stream(fx, NULL, 1024);
    bool open = true;

    memset(big, 'x', sizeof(big) - 1);
    big[0] = '"';
    big[sizeof(big) - 2] = '"';
    for (int k = 0; k < WAIT_MS / 10 && (k == 0 || c.streams_open == 0); k++) {
        http_counters(fx->srv, &c);
        usleep(10 * 1000);
    }
    assert_int_equal(c.streams_open, 1);
    /* Far more than the socket buffers hold; the writer never waits. */
    for (int k = 0; k < 400; k++)
        assert_int_equal(http_board_event(fx->board, big), 0);
    for (int k = 0; k < WAIT_MS / 10 && open; k++) {
        http_counters(fx->srv, &c);
        open = c.streams_open != 0;
        if (open)
            usleep(10 * 1000);
    }
    assert_false(open);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stream_from_now_on_and_after_last_event_id, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reader_behind_the_ring_is_told, setup_small_ring, teardown),
        cmocka_unit_test_setup_teardown(a_reader_that_never_reads_is_dropped, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
