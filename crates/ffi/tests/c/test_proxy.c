/* (g) zmq_proxy with a capture socket, zmq_proxy_steerable (PAUSE,
 * RESUME, STATISTICS, TERMINATE), zmq_device. */
#include "testutil.h"

/* A proxy running in its own thread; it closes its sockets when the
 * proxy function returns. */
typedef struct
{
    int kind; /* 0 zmq_proxy, 1 zmq_proxy_steerable, 2 zmq_device */
    void *frontend, *backend, *capture, *control;
    int rc;
    int err;
} proxy_run_t;

static void *proxy_thread (void *arg)
{
    proxy_run_t *p = (proxy_run_t *) arg;
    errno = 0;
    if (p->kind == 0)
        p->rc = zmq_proxy (p->frontend, p->backend, p->capture);
    else if (p->kind == 1)
        p->rc = zmq_proxy_steerable (p->frontend, p->backend, p->capture,
                                     p->control);
    else
        p->rc = zmq_device (ZMQ_QUEUE, p->frontend, p->backend);
    p->err = zmq_errno ();
    CHECK_RC (zmq_close (p->frontend));
    CHECK_RC (zmq_close (p->backend));
    if (p->capture)
        CHECK_RC (zmq_close (p->capture));
    if (p->control)
        CHECK_RC (zmq_close (p->control));
    return NULL;
}

/* The proxy's own sockets: no send/receive timeouts (the proxy must not
 * depend on them), no linger. */
static void *proxy_socket (void *ctx, int type)
{
    void *s = CHECK_PTR (zmq_socket (ctx, type));
    test_set_int (s, ZMQ_LINGER, 0);
    return s;
}

/* Receives one frame into buf (NUL-terminated); returns its size and
 * sets *more. */
static int recv_frame (void *s, char *buf, size_t len, int *more)
{
    const int n = CHECK_RC (zmq_recv (s, buf, len - 1, 0));
    CHECK ((size_t) n < len);
    buf[n] = 0;
    *more = test_get_int (s, ZMQ_RCVMORE);
    return n;
}

static void test_proxy_capture (void)
{
    TEST_SECTION ("zmq_proxy: ROUTER/DEALER broker with capture; ETERM");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    proxy_run_t p;
    memset (&p, 0, sizeof p);
    p.kind = 0;
    p.frontend = proxy_socket (ctx, ZMQ_ROUTER);
    p.backend = proxy_socket (ctx, ZMQ_DEALER);
    p.capture = proxy_socket (ctx, ZMQ_PUSH);
    char frontend[256];
    test_bind_tcp (p.frontend, frontend, sizeof frontend);
    CHECK_RC (zmq_bind (p.backend, "inproc://backend"));
    CHECK_RC (zmq_bind (p.capture, "inproc://capture"));
    void *client = test_socket (ctx, ZMQ_REQ);
    void *worker = test_socket (ctx, ZMQ_REP);
    void *captured = test_socket (ctx, ZMQ_PULL);
    CHECK_RC (zmq_connect (client, frontend));
    CHECK_RC (zmq_connect (worker, "inproc://backend"));
    CHECK_RC (zmq_connect (captured, "inproc://capture"));
    pthread_t t = test_thread (proxy_thread, &p);

    for (int round = 0; round < 3; round++) {
        test_send_str (client, "hello", 0);
        TEST_RECV_LAST (worker, "hello");
        test_send_str (worker, "world", 0);
        TEST_RECV_LAST (client, "world");
    }

    /* The capture socket saw every frame of both directions: the
     * ROUTER's routing id, the empty delimiter, then the body. */
    for (int i = 0; i < 6; i++) {
        char buf[300];
        int more;
        const int idlen = recv_frame (captured, buf, sizeof buf, &more);
        CHECK (idlen > 0);
        CHECK_EQ_INT (more, 1);
        CHECK_EQ_INT (recv_frame (captured, buf, sizeof buf, &more), 0);
        CHECK_EQ_INT (more, 1);
        recv_frame (captured, buf, sizeof buf, &more);
        CHECK_EQ_STR (buf, i % 2 == 0 ? "hello" : "world");
        CHECK_EQ_INT (more, 0);
    }
    char buf[8];
    CHECK_ERRNO (zmq_recv (captured, buf, sizeof buf, ZMQ_DONTWAIT), EAGAIN);

    CHECK_RC (zmq_close (client));
    CHECK_RC (zmq_close (worker));
    CHECK_RC (zmq_close (captured));
    /* Terminating the context ends the proxy with ETERM; it closes its
     * sockets, which lets zmq_ctx_term return. */
    CHECK_RC (zmq_ctx_term (ctx));
    test_join (t);
    CHECK_EQ_INT (p.rc, -1);
    CHECK_EQ_INT (p.err, ETERM);
}

/* ---- zmq_proxy_steerable ---- */

static void read_stats (void *control, uint64_t stats[8])
{
    test_send_str (control, "STATISTICS", 0);
    for (int i = 0; i < 8; i++) {
        uint64_t v = 0;
        CHECK_EQ_INT (zmq_recv (control, &v, sizeof v, 0), 8);
        CHECK_EQ_INT (test_get_int (control, ZMQ_RCVMORE), i < 7);
        stats[i] = v;
    }
}

static void check_stats (void *control, uint64_t front_msgs,
                         uint64_t front_bytes)
{
    uint64_t s[8];
    read_stats (control, s);
    printf ("   stats %llu %llu %llu %llu / %llu %llu %llu %llu\n",
            (unsigned long long) s[0], (unsigned long long) s[1],
            (unsigned long long) s[2], (unsigned long long) s[3],
            (unsigned long long) s[4], (unsigned long long) s[5],
            (unsigned long long) s[6], (unsigned long long) s[7]);
    /* frontend: messages in, bytes in, messages out, bytes out */
    CHECK_EQ_INT (s[0], front_msgs);
    CHECK_EQ_INT (s[1], front_bytes);
    CHECK_EQ_INT (s[2], 0);
    CHECK_EQ_INT (s[3], 0);
    /* backend: the same traffic, outbound */
    CHECK_EQ_INT (s[4], 0);
    CHECK_EQ_INT (s[5], 0);
    CHECK_EQ_INT (s[6], front_msgs);
    CHECK_EQ_INT (s[7], front_bytes);
}

static int is_command (const char *frame)
{
    return strcmp (frame, "PAUSE") == 0 || strcmp (frame, "RESUME") == 0
           || strcmp (frame, "STATISTICS") == 0
           || strcmp (frame, "TERMINATE") == 0;
}

static void test_proxy_steerable (void)
{
    TEST_SECTION ("zmq_proxy_steerable: PAUSE, RESUME, STATISTICS, TERMINATE");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    proxy_run_t p;
    memset (&p, 0, sizeof p);
    p.kind = 1;
    p.frontend = proxy_socket (ctx, ZMQ_PULL);
    p.backend = proxy_socket (ctx, ZMQ_PUSH);
    p.capture = proxy_socket (ctx, ZMQ_PUSH);
    /* A PAIR control socket: libzmq 4.3.4 sends nothing back for PAUSE,
     * RESUME and TERMINATE, so a REP control socket could only take one
     * of those; PAIR takes any sequence and carries the STATISTICS
     * reply. */
    p.control = proxy_socket (ctx, ZMQ_PAIR);
    char frontend[256];
    test_bind_tcp (p.frontend, frontend, sizeof frontend);
    CHECK_RC (zmq_bind (p.backend, "inproc://steer-back"));
    CHECK_RC (zmq_bind (p.capture, "inproc://steer-capture"));
    CHECK_RC (zmq_bind (p.control, "inproc://steer-control"));
    void *producer = test_socket (ctx, ZMQ_PUSH);
    void *consumer = test_socket (ctx, ZMQ_PULL);
    void *captured = test_socket (ctx, ZMQ_PULL);
    void *control = test_socket (ctx, ZMQ_PAIR);
    CHECK_RC (zmq_connect (producer, frontend));
    CHECK_RC (zmq_connect (consumer, "inproc://steer-back"));
    CHECK_RC (zmq_connect (captured, "inproc://steer-capture"));
    CHECK_RC (zmq_connect (control, "inproc://steer-control"));
    pthread_t t = test_thread (proxy_thread, &p);

    test_send_str (producer, "m1", 0);
    TEST_RECV_LAST (consumer, "m1");
    check_stats (control, 1, 2);

    /* Paused: STATISTICS answered after PAUSE proves PAUSE was taken. */
    test_send_str (control, "PAUSE", 0);
    check_stats (control, 1, 2);
    test_send_str (producer, "m2", 0);
    zmq_pollitem_t item = {consumer, 0, ZMQ_POLLIN, 0};
    CHECK_EQ_INT (zmq_poll (&item, 1, 300), 0);
    check_stats (control, 1, 2);

    test_send_str (control, "RESUME", 0);
    TEST_RECV_LAST (consumer, "m2");
    /* libzmq 4.3.5 counts frames (4.3.4 counted whole messages): the
     * two-frame message adds 2. */
    test_send_str (producer, "a", ZMQ_SNDMORE);
    test_send_str (producer, "bc", 0);
    TEST_RECV_MORE (consumer, "a");
    TEST_RECV_LAST (consumer, "bc");
    check_stats (control, 4, 7);

    /* The capture socket holds every forwarded frame, in order, with its
     * more flag (libzmq 4.3 copies the control commands there too).
     * Read before TERMINATE: the proxy's capture socket does not linger. */
    const char *want[] = {"m1", "m2", "a", "bc"};
    const int want_more[] = {0, 0, 1, 0};
    for (int i = 0; i < 4;) {
        char buf[64];
        int more;
        recv_frame (captured, buf, sizeof buf, &more);
        if (is_command (buf))
            continue;
        CHECK_EQ_STR (buf, want[i]);
        CHECK_EQ_INT (more, want_more[i]);
        i++;
    }

    test_send_str (control, "TERMINATE", 0);
    test_join (t);
    CHECK_EQ_INT (p.rc, 0);

    CHECK_RC (zmq_close (producer));
    CHECK_RC (zmq_close (consumer));
    CHECK_RC (zmq_close (captured));
    CHECK_RC (zmq_close (control));
    CHECK_RC (zmq_ctx_term (ctx));
}

static void test_steerable_without_control (void)
{
    TEST_SECTION ("zmq_proxy_steerable with no control socket = zmq_proxy");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    proxy_run_t p;
    memset (&p, 0, sizeof p);
    p.kind = 1;
    p.frontend = proxy_socket (ctx, ZMQ_PULL);
    p.backend = proxy_socket (ctx, ZMQ_PUSH);
    CHECK_RC (zmq_bind (p.frontend, "inproc://nc-front"));
    CHECK_RC (zmq_bind (p.backend, "inproc://nc-back"));
    void *producer = test_socket (ctx, ZMQ_PUSH);
    void *consumer = test_socket (ctx, ZMQ_PULL);
    CHECK_RC (zmq_connect (producer, "inproc://nc-front"));
    CHECK_RC (zmq_connect (consumer, "inproc://nc-back"));
    pthread_t t = test_thread (proxy_thread, &p);
    test_send_str (producer, "through", 0);
    TEST_RECV_LAST (consumer, "through");
    CHECK_RC (zmq_close (producer));
    CHECK_RC (zmq_close (consumer));
    CHECK_RC (zmq_ctx_term (ctx));
    test_join (t);
    CHECK_EQ_INT (p.rc, -1);
    CHECK_EQ_INT (p.err, ETERM);
}

static void test_device (void)
{
    TEST_SECTION ("zmq_device (ZMQ_QUEUE)");
    CHECK_EQ_INT (ZMQ_STREAMER, 1);
    CHECK_EQ_INT (ZMQ_FORWARDER, 2);
    CHECK_EQ_INT (ZMQ_QUEUE, 3);
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    proxy_run_t p;
    memset (&p, 0, sizeof p);
    p.kind = 2;
    p.frontend = proxy_socket (ctx, ZMQ_ROUTER);
    p.backend = proxy_socket (ctx, ZMQ_DEALER);
    char frontend[256], backend[256];
    test_bind_tcp (p.frontend, frontend, sizeof frontend);
    test_bind_tcp (p.backend, backend, sizeof backend);
    void *client = test_socket (ctx, ZMQ_REQ);
    void *worker = test_socket (ctx, ZMQ_REP);
    CHECK_RC (zmq_connect (client, frontend));
    CHECK_RC (zmq_connect (worker, backend));
    pthread_t t = test_thread (proxy_thread, &p);
    test_send_str (client, "job", 0);
    TEST_RECV_LAST (worker, "job");
    test_send_str (worker, "done", 0);
    TEST_RECV_LAST (client, "done");
    CHECK_RC (zmq_close (client));
    CHECK_RC (zmq_close (worker));
    CHECK_RC (zmq_ctx_term (ctx));
    test_join (t);
    CHECK_EQ_INT (p.rc, -1);
    CHECK_EQ_INT (p.err, ETERM);
}

static void test_proxy_errors (void)
{
    TEST_SECTION ("zmq_proxy with NULL sockets: EFAULT");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    void *s = test_socket (ctx, ZMQ_PAIR);
    CHECK_ERRNO (zmq_proxy (NULL, s, NULL), EFAULT);
    CHECK_ERRNO (zmq_proxy (s, NULL, NULL), EFAULT);
    CHECK_ERRNO (zmq_proxy_steerable (NULL, NULL, NULL, NULL), EFAULT);
    CHECK_RC (zmq_close (s));
    CHECK_RC (zmq_ctx_term (ctx));
}

int main (void)
{
    test_begin ("test_proxy");
    test_proxy_errors ();
    test_proxy_capture ();
    test_proxy_steerable ();
    test_steerable_without_control ();
    test_device ();
    test_end ("test_proxy");
    return 0;
}
