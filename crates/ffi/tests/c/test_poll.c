/* (f) zmq_poll over several sockets mixed with raw file descriptors,
 * timeouts, and the ZMQ_FD + ZMQ_EVENTS edge-triggered contract. */
#include "testutil.h"

#include <sys/socket.h>

static void *ctx;

static void test_poll_errors_and_empty (void)
{
    TEST_SECTION ("zmq_poll with no items, bad arguments");
    CHECK_EQ_INT (zmq_poll (NULL, 0, 0), 0);
    /* No items and a timeout: just waits. */
    const int64_t start = test_now_ms ();
    CHECK_EQ_INT (zmq_poll (NULL, 0, 50), 0);
    const int64_t took = test_now_ms () - start;
    CHECK_MSG (took >= 45 && took < TEST_DEADLINE_MS, "waited %lld ms",
               (long long) took);
    CHECK_ERRNO (zmq_poll (NULL, 1, 0), EFAULT);
    zmq_pollitem_t item = {NULL, 0, ZMQ_POLLIN, 0};
    CHECK_ERRNO (zmq_poll (&item, -1, 0), EINVAL);
}

static void test_poll_mixed (void)
{
    TEST_SECTION ("zmq_poll: sockets and raw fds together");
    void *pull_tcp = test_socket (ctx, ZMQ_PULL);
    void *pull_inproc = test_socket (ctx, ZMQ_PULL);
    void *push_tcp = test_socket (ctx, ZMQ_PUSH);
    void *push_inproc = test_socket (ctx, ZMQ_PUSH);
    char endpoint[256];
    test_bind_tcp (pull_tcp, endpoint, sizeof endpoint);
    CHECK_RC (zmq_connect (push_tcp, endpoint));
    CHECK_RC (zmq_bind (pull_inproc, "inproc://poll-mixed"));
    CHECK_RC (zmq_connect (push_inproc, "inproc://poll-mixed"));
    int pipefd[2];
    CHECK_RC (pipe (pipefd));
    int sv[2];
    CHECK_RC (socketpair (AF_UNIX, SOCK_STREAM, 0, sv));

    zmq_pollitem_t items[4] = {
      {pull_tcp, 0, ZMQ_POLLIN, 0},
      {NULL, pipefd[0], ZMQ_POLLIN, 0},
      {pull_inproc, 0, ZMQ_POLLIN, 0},
      {NULL, sv[0], ZMQ_POLLIN, 0},
    };

    /* Nothing ready: a zero timeout returns at once... */
    items[0].revents = items[1].revents = 77;
    int64_t start = test_now_ms ();
    CHECK_EQ_INT (zmq_poll (items, 4, 0), 0);
    CHECK (test_now_ms () - start < 1000);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT (items[i].revents, 0);
    /* ...and a small timeout waits about that long. */
    start = test_now_ms ();
    CHECK_EQ_INT (zmq_poll (items, 4, 100), 0);
    const int64_t took = test_now_ms () - start;
    CHECK_MSG (took >= 90 && took < TEST_DEADLINE_MS, "waited %lld ms",
               (long long) took);

    /* The pipe alone. */
    CHECK_EQ_INT (write (pipefd[1], "p", 1), 1);
    CHECK_EQ_INT (zmq_poll (items, 4, TEST_DEADLINE_MS), 1);
    CHECK_EQ_INT (items[0].revents, 0);
    CHECK_EQ_INT (items[1].revents, ZMQ_POLLIN);
    CHECK_EQ_INT (items[2].revents, 0);
    CHECK_EQ_INT (items[3].revents, 0);
    char c;
    CHECK_EQ_INT (read (pipefd[0], &c, 1), 1);

    /* A tcp message: the poll blocks until it arrives. */
    test_send_str (push_tcp, "over tcp", 0);
    CHECK_EQ_INT (zmq_poll (items, 4, TEST_DEADLINE_MS), 1);
    CHECK_EQ_INT (items[0].revents, ZMQ_POLLIN);
    CHECK_EQ_INT (items[1].revents, 0);
    /* Still ready until read. */
    CHECK_EQ_INT (zmq_poll (items, 4, 0), 1);
    CHECK_EQ_INT (items[0].revents, ZMQ_POLLIN);

    /* Everything at once. */
    test_send_str (push_inproc, "over inproc", 0);
    CHECK_EQ_INT (write (pipefd[1], "p", 1), 1);
    CHECK_EQ_INT (write (sv[1], "s", 1), 1);
    /* (Each source may become ready at its own moment: poll until all
     * four are.) */
    const int64_t until = test_now_ms () + TEST_DEADLINE_MS;
    while (CHECK_RC (zmq_poll (items, 4, TEST_DEADLINE_MS)) < 4)
        CHECK_MSG (test_now_ms () < until, "not all four items became ready");
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT (items[i].revents, ZMQ_POLLIN);

    /* Draining each source clears only its own item. */
    TEST_RECV_LAST (pull_tcp, "over tcp");
    CHECK_EQ_INT (zmq_poll (items, 4, 0), 3);
    CHECK_EQ_INT (items[0].revents, 0);
    TEST_RECV_LAST (pull_inproc, "over inproc");
    CHECK_EQ_INT (read (pipefd[0], &c, 1), 1);
    CHECK_EQ_INT (read (sv[0], &c, 1), 1);
    CHECK_EQ_INT (zmq_poll (items, 4, 0), 0);

    /* POLLOUT, on a socket with a peer and on a raw fd. */
    zmq_pollitem_t out[3] = {
      {push_tcp, 0, ZMQ_POLLOUT, 0},
      {NULL, sv[1], ZMQ_POLLOUT, 0},
      {pull_tcp, 0, ZMQ_POLLOUT, 0}, /* PULL can never send */
    };
    CHECK_EQ_INT (zmq_poll (out, 3, TEST_DEADLINE_MS), 2);
    CHECK_EQ_INT (out[0].revents, ZMQ_POLLOUT);
    CHECK_EQ_INT (out[1].revents, ZMQ_POLLOUT);
    CHECK_EQ_INT (out[2].revents, 0);

    /* Asking for both reports only what holds. */
    zmq_pollitem_t both = {push_tcp, 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0};
    CHECK_EQ_INT (zmq_poll (&both, 1, 0), 1);
    CHECK_EQ_INT (both.revents, ZMQ_POLLOUT);

    /* An item with no events never fires. */
    zmq_pollitem_t none = {NULL, pipefd[0], 0, 0};
    CHECK_EQ_INT (write (pipefd[1], "p", 1), 1);
    CHECK_EQ_INT (zmq_poll (&none, 1, 0), 0);
    CHECK_EQ_INT (none.revents, 0);
    CHECK_EQ_INT (read (pipefd[0], &c, 1), 1);

    close (pipefd[0]);
    close (pipefd[1]);
    close (sv[0]);
    close (sv[1]);
    CHECK_RC (zmq_close (pull_tcp));
    CHECK_RC (zmq_close (pull_inproc));
    CHECK_RC (zmq_close (push_tcp));
    CHECK_RC (zmq_close (push_inproc));
}

/* ---- an infinite poll woken by another thread's send ---- */

typedef struct
{
    void *push;
    volatile int go;
} sender_t;

static int go_set (void *arg)
{
    return __atomic_load_n (&((sender_t *) arg)->go, __ATOMIC_SEQ_CST);
}

static void *late_sender (void *arg)
{
    sender_t *s = (sender_t *) arg;
    CHECK_WAIT (go_set, s);
    test_send_str (s->push, "wake up", 0);
    return NULL;
}

static void test_poll_infinite (void)
{
    TEST_SECTION ("zmq_poll with timeout -1 wakes on a message");
    void *pull = test_socket (ctx, ZMQ_PULL);
    sender_t s = {test_socket (ctx, ZMQ_PUSH), 0};
    char endpoint[256];
    test_bind_tcp (pull, endpoint, sizeof endpoint);
    CHECK_RC (zmq_connect (s.push, endpoint));
    pthread_t t = test_thread (late_sender, &s);
    zmq_pollitem_t item = {pull, 0, ZMQ_POLLIN, 0};
    __atomic_store_n (&s.go, 1, __ATOMIC_SEQ_CST);
    CHECK_EQ_INT (zmq_poll (&item, 1, -1), 1);
    CHECK_EQ_INT (item.revents, ZMQ_POLLIN);
    test_join (t);
    TEST_RECV_LAST (pull, "wake up");
    CHECK_RC (zmq_close (pull));
    CHECK_RC (zmq_close (s.push));
}

/* ---- ZMQ_FD / ZMQ_EVENTS ---- */

static int get_fd (void *s)
{
    int fd = -1;
    size_t size = sizeof fd;
    CHECK_RC (zmq_getsockopt (s, ZMQ_FD, &fd, &size));
    CHECK (fd >= 0);
    return fd;
}

/* The edge-triggered contract: once ZMQ_EVENTS has been read, the FD
 * signals (becomes readable) whenever the events may have changed. So:
 * poll(2) the FD, re-read ZMQ_EVENTS, repeat until POLLIN shows. If the
 * FD does not signal within the deadline, an edge was lost. Returns the
 * number of FD wake-ups it took. */
static int wait_pollin_via_fd (void *s)
{
    const int fd = get_fd (s);
    const int64_t until = test_now_ms () + TEST_DEADLINE_MS;
    int wakeups = 0;
    while (!(test_get_int (s, ZMQ_EVENTS) & ZMQ_POLLIN)) {
        const int64_t left = until - test_now_ms ();
        CHECK_MSG (left > 0, "ZMQ_EVENTS never showed POLLIN");
        struct pollfd p = {fd, POLLIN, 0};
        const int rc = poll (&p, 1, (int) left);
        CHECK_MSG (rc == 1, "ZMQ_FD did not signal (edge lost?) rc %d", rc);
        CHECK (p.revents & POLLIN);
        wakeups++;
    }
    return wakeups;
}

static void fd_events_over (void *a, void *b, const char *what)
{
    printf ("   ZMQ_FD/ZMQ_EVENTS over %s\n", what);
    /* The connection is up, both ways. */
    test_bounce (a, b);
    const int fd = get_fd (b);
    CHECK_EQ_INT (get_fd (b), fd); /* the same descriptor every time */
    int events = test_get_int (b, ZMQ_EVENTS);
    CHECK_EQ_INT (events & ZMQ_POLLIN, 0);
    CHECK (events & ZMQ_POLLOUT);

    for (int round = 0; round < 5; round++) {
        const int burst = round + 1;
        for (int i = 0; i < burst; i++)
            test_send_str (a, "edge", 0);
        const int wakeups = wait_pollin_via_fd (b);
        CHECK (wakeups <= 1000);
        /* Edge-triggered: read everything that is there, then EAGAIN. */
        int got = 0;
        char buf[16];
        for (;;) {
            const int n = zmq_recv (b, buf, sizeof buf, ZMQ_DONTWAIT);
            if (n == -1) {
                CHECK_EQ_INT (zmq_errno (), EAGAIN);
                if (got == burst)
                    break;
                /* The rest of the burst is still in flight. */
                wait_pollin_via_fd (b);
                continue;
            }
            CHECK (n == 4 && memcmp (buf, "edge", 4) == 0);
            got++;
        }
        CHECK_EQ_INT (got, burst);
        CHECK_EQ_INT (test_get_int (b, ZMQ_EVENTS) & ZMQ_POLLIN, 0);
    }
}

static void test_fd_events (void)
{
    TEST_SECTION ("ZMQ_FD + ZMQ_EVENTS (edge-triggered)");
    void *a = test_socket (ctx, ZMQ_PAIR);
    void *b = test_socket (ctx, ZMQ_PAIR);
    char endpoint[256];
    test_bind_tcp (b, endpoint, sizeof endpoint);
    CHECK_RC (zmq_connect (a, endpoint));
    fd_events_over (a, b, "tcp");
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));

    a = test_socket (ctx, ZMQ_PAIR);
    b = test_socket (ctx, ZMQ_PAIR);
    CHECK_RC (zmq_bind (b, "inproc://fd-events"));
    CHECK_RC (zmq_connect (a, "inproc://fd-events"));
    fd_events_over (a, b, "inproc");
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));

    /* A socket with no peer yet: reading ZMQ_EVENTS arms the FD, and a
     * peer connecting and sending wakes it. */
    void *pull = test_socket (ctx, ZMQ_PULL);
    test_bind_tcp (pull, endpoint, sizeof endpoint);
    CHECK_EQ_INT (test_get_int (pull, ZMQ_EVENTS), 0);
    void *push = test_socket (ctx, ZMQ_PUSH);
    CHECK_RC (zmq_connect (push, endpoint));
    test_send_str (push, "first", 0);
    wait_pollin_via_fd (pull);
    TEST_RECV_LAST (pull, "first");
    CHECK_RC (zmq_close (pull));
    CHECK_RC (zmq_close (push));
}

int main (void)
{
    test_begin ("test_poll");
    ctx = CHECK_PTR (zmq_ctx_new ());
    test_poll_errors_and_empty ();
    test_poll_mixed ();
    test_poll_infinite ();
    test_fd_events ();
    CHECK_RC (zmq_ctx_term (ctx));
    test_end ("test_poll");
    return 0;
}
