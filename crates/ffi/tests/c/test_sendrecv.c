/* (d) zmq_send / zmq_send_const / zmq_recv over tcp, ipc and inproc:
 * truncation, ZMQ_SNDMORE, ZMQ_DONTWAIT (EAGAIN), timeouts, REQ/REP
 * state (EFSM). */
#include "testutil.h"

static void *ctx;

/* Binds a to a fresh endpoint of the transport and connects b to it. */
static void connect_pair (const char *transport, void *a, void *b)
{
    char endpoint[256];
    static int n = 0;
    if (strcmp (transport, "tcp") == 0)
        test_bind_tcp (a, endpoint, sizeof endpoint);
    else if (strcmp (transport, "ipc") == 0) {
        test_ipc_endpoint (endpoint, sizeof endpoint, "s");
        CHECK_RC (zmq_bind (a, endpoint));
    } else {
        snprintf (endpoint, sizeof endpoint, "inproc://pair-%d", n++);
        CHECK_RC (zmq_bind (a, endpoint));
    }
    CHECK_RC (zmq_connect (b, endpoint));
}

static void check_frames_and_truncation (void *a, void *b)
{
    /* One frame: the return value is the size sent/received. */
    CHECK_EQ_INT (zmq_send (a, "hello", 5, 0), 5);
    char buf[64];
    memset (buf, '#', sizeof buf);
    CHECK_EQ_INT (zmq_recv (b, buf, sizeof buf, 0), 5);
    CHECK (memcmp (buf, "hello#", 6) == 0);

    /* Truncation: zmq_recv returns the full size, copies at most len
     * bytes and leaves the rest of the buffer alone. */
    CHECK_EQ_INT (zmq_send (a, "0123456789", 10, 0), 10);
    memset (buf, '#', sizeof buf);
    CHECK_EQ_INT (zmq_recv (b, buf, 4, 0), 10);
    CHECK (memcmp (buf, "0123####", 8) == 0);
    /* The truncated rest is gone, not left for the next call. */
    CHECK_EQ_INT (test_get_int (b, ZMQ_RCVMORE), 0);
    CHECK_ERRNO (zmq_recv (b, buf, sizeof buf, ZMQ_DONTWAIT), EAGAIN);

    /* A zero-length buffer (even NULL) discards the frame. */
    CHECK_EQ_INT (zmq_send (a, "discarded", 9, 0), 9);
    CHECK_EQ_INT (zmq_recv (b, NULL, 0, 0), 9);

    /* Empty frames. */
    CHECK_EQ_INT (zmq_send (a, NULL, 0, 0), 0);
    CHECK_EQ_INT (zmq_send (a, "", 0, 0), 0);
    CHECK_EQ_INT (zmq_recv (b, buf, sizeof buf, 0), 0);
    CHECK_EQ_INT (zmq_recv (b, buf, sizeof buf, 0), 0);

    /* Multipart: frames arrive together, in order, with ZMQ_RCVMORE. */
    CHECK_EQ_INT (zmq_send (a, "part1", 5, ZMQ_SNDMORE), 5);
    CHECK_EQ_INT (zmq_send (a, "", 0, ZMQ_SNDMORE), 0);
    CHECK_EQ_INT (zmq_send (a, "part3", 5, 0), 5);
    TEST_RECV_MORE (b, "part1");
    TEST_RECV_MORE (b, "");
    TEST_RECV_LAST (b, "part3");

    /* zmq_send_const: the buffer is used in place, the peer sees it. */
    static const char constant[] = "constant data";
    CHECK_EQ_INT (zmq_send_const (a, constant, sizeof constant - 1, ZMQ_SNDMORE),
                  sizeof constant - 1);
    CHECK_EQ_INT (zmq_send_const (a, constant, 8, 0), 8);
    TEST_RECV_MORE (b, "constant data");
    TEST_RECV_LAST (b, "constant");

    /* And the other way round. */
    test_bounce (b, a);

    /* A large message (many TCP segments). */
    const size_t big = 1 << 20;
    unsigned char *out = (unsigned char *) malloc (big);
    unsigned char *in = (unsigned char *) malloc (big + 1);
    CHECK (out && in);
    for (size_t i = 0; i < big; i++)
        out[i] = (unsigned char) (i * 7 + i / 251);
    CHECK_EQ_INT (zmq_send (a, out, big, 0), big);
    CHECK_EQ_INT (zmq_recv (b, in, big + 1, 0), big);
    CHECK (memcmp (in, out, big) == 0);
    free (out);
    free (in);

    /* Many small messages keep their order. */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT (zmq_send (a, &i, sizeof i, 0), sizeof i);
    for (int i = 0; i < 1000; i++) {
        int got = -1;
        CHECK_EQ_INT (zmq_recv (b, &got, sizeof got, 0), sizeof got);
        CHECK_EQ_INT (got, i);
    }
}

static void test_transport (const char *transport)
{
    printf ("-- PAIR over %s\n", transport);
    void *a = test_socket (ctx, ZMQ_PAIR);
    void *b = test_socket (ctx, ZMQ_PAIR);
    connect_pair (transport, a, b);
    check_frames_and_truncation (a, b);
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));

    printf ("-- ROUTER/DEALER over %s\n", transport);
    void *router = test_socket (ctx, ZMQ_ROUTER);
    void *dealer = test_socket (ctx, ZMQ_DEALER);
    CHECK_RC (zmq_setsockopt (dealer, ZMQ_ROUTING_ID, "D", 1));
    connect_pair (transport, router, dealer);
    test_send_str (dealer, "a", ZMQ_SNDMORE);
    test_send_str (dealer, "b", 0);
    TEST_RECV_MORE (router, "D");
    TEST_RECV_MORE (router, "a");
    TEST_RECV_LAST (router, "b");
    test_send_str (router, "D", ZMQ_SNDMORE);
    test_send_str (router, "reply", 0);
    TEST_RECV_LAST (dealer, "reply");
    CHECK_RC (zmq_close (router));
    CHECK_RC (zmq_close (dealer));

    printf ("-- REQ/REP over %s\n", transport);
    void *rep = test_socket (ctx, ZMQ_REP);
    void *req = test_socket (ctx, ZMQ_REQ);
    connect_pair (transport, rep, req);
    for (int i = 0; i < 3; i++) {
        test_send_str (req, "question", 0);
        TEST_RECV_LAST (rep, "question");
        test_send_str (rep, "answer", ZMQ_SNDMORE);
        test_send_str (rep, "answer-2", 0);
        TEST_RECV_MORE (req, "answer");
        TEST_RECV_LAST (req, "answer-2");
    }
    CHECK_RC (zmq_close (rep));
    CHECK_RC (zmq_close (req));
}

static void test_dontwait (void)
{
    TEST_SECTION ("ZMQ_DONTWAIT: EAGAIN");
    void *pull = test_socket (ctx, ZMQ_PULL);
    char buf[8];
    CHECK_ERRNO (zmq_recv (pull, buf, sizeof buf, ZMQ_DONTWAIT), EAGAIN);
    CHECK_RC (zmq_bind (pull, "inproc://dontwait"));
    CHECK_ERRNO (zmq_recv (pull, buf, sizeof buf, ZMQ_DONTWAIT), EAGAIN);
    /* ZMQ_NOBLOCK is the old name. */
    CHECK_EQ_INT (ZMQ_NOBLOCK, ZMQ_DONTWAIT);

    /* A PUSH with no peer cannot send. */
    void *push = test_socket (ctx, ZMQ_PUSH);
    CHECK_ERRNO (zmq_send (push, "x", 1, ZMQ_DONTWAIT), EAGAIN);
    CHECK_ERRNO (zmq_send_const (push, "x", 1, ZMQ_DONTWAIT), EAGAIN);
    CHECK_RC (zmq_connect (push, "inproc://dontwait"));
    CHECK_EQ_INT (zmq_send (push, "x", 1, ZMQ_DONTWAIT), 1);
    CHECK_EQ_INT (zmq_recv (pull, buf, sizeof buf, 0), 1);
    CHECK_RC (zmq_close (push));
    CHECK_RC (zmq_close (pull));
}

static void test_timeouts (void)
{
    TEST_SECTION ("ZMQ_RCVTIMEO / ZMQ_SNDTIMEO: EAGAIN after the timeout");
    void *pull = CHECK_PTR (zmq_socket (ctx, ZMQ_PULL));
    test_set_int (pull, ZMQ_RCVTIMEO, 100);
    char buf[8];
    int64_t start = test_now_ms ();
    CHECK_ERRNO (zmq_recv (pull, buf, sizeof buf, 0), EAGAIN);
    int64_t took = test_now_ms () - start;
    CHECK_MSG (took >= 90 && took < TEST_DEADLINE_MS, "recv waited %lld ms",
               (long long) took);
    /* A zero timeout is "don't wait". */
    test_set_int (pull, ZMQ_RCVTIMEO, 0);
    CHECK_ERRNO (zmq_recv (pull, buf, sizeof buf, 0), EAGAIN);

    void *push = CHECK_PTR (zmq_socket (ctx, ZMQ_PUSH));
    test_set_int (push, ZMQ_SNDTIMEO, 100);
    start = test_now_ms ();
    CHECK_ERRNO (zmq_send (push, "x", 1, 0), EAGAIN);
    took = test_now_ms () - start;
    CHECK_MSG (took >= 90 && took < TEST_DEADLINE_MS, "send waited %lld ms",
               (long long) took);
    CHECK_RC (zmq_close (push));
    CHECK_RC (zmq_close (pull));
}

static void test_req_rep_efsm (void)
{
    TEST_SECTION ("REQ/REP state machine: EFSM");
    void *rep = test_socket (ctx, ZMQ_REP);
    void *req = test_socket (ctx, ZMQ_REQ);
    CHECK_RC (zmq_bind (rep, "inproc://efsm"));
    CHECK_RC (zmq_connect (req, "inproc://efsm"));
    char buf[16];
    /* REQ must send first; REP must receive first. */
    CHECK_ERRNO (zmq_recv (req, buf, sizeof buf, 0), EFSM);
    CHECK_ERRNO (zmq_recv (req, buf, sizeof buf, ZMQ_DONTWAIT), EFSM);
    CHECK_ERRNO (zmq_send (rep, "x", 1, 0), EFSM);
    test_send_str (req, "request", 0);
    /* A second request before the reply. */
    CHECK_ERRNO (zmq_send (req, "again", 5, 0), EFSM);
    TEST_RECV_LAST (rep, "request");
    /* A second receive before replying. */
    CHECK_ERRNO (zmq_recv (rep, buf, sizeof buf, ZMQ_DONTWAIT), EFSM);
    test_send_str (rep, "reply", 0);
    CHECK_ERRNO (zmq_send (rep, "x", 1, 0), EFSM);
    TEST_RECV_LAST (req, "reply");
    CHECK_ERRNO (zmq_recv (req, buf, sizeof buf, 0), EFSM);
    /* Back to the start: a new round trip works. */
    test_send_str (req, "request-2", 0);
    TEST_RECV_LAST (rep, "request-2");
    test_send_str (rep, "reply-2", 0);
    TEST_RECV_LAST (req, "reply-2");
    CHECK_RC (zmq_close (rep));
    CHECK_RC (zmq_close (req));
}

static void test_req_envelope (void)
{
    TEST_SECTION ("REQ through ROUTER: the envelope");
    void *router = test_socket (ctx, ZMQ_ROUTER);
    void *req = test_socket (ctx, ZMQ_REQ);
    char endpoint[256];
    test_bind_tcp (router, endpoint, sizeof endpoint);
    CHECK_RC (zmq_setsockopt (req, ZMQ_ROUTING_ID, "R1", 2));
    CHECK_RC (zmq_connect (req, endpoint));
    test_send_str (req, "ask", 0);
    /* ROUTER sees routing id, the empty delimiter, then the body. */
    TEST_RECV_MORE (router, "R1");
    TEST_RECV_MORE (router, "");
    TEST_RECV_LAST (router, "ask");
    test_send_str (router, "R1", ZMQ_SNDMORE);
    test_send_str (router, "", ZMQ_SNDMORE);
    test_send_str (router, "told", 0);
    TEST_RECV_LAST (req, "told");
    CHECK_RC (zmq_close (router));
    CHECK_RC (zmq_close (req));
}

static void test_router_mandatory (void)
{
    TEST_SECTION ("ROUTER: unknown peers dropped, or EHOSTUNREACH");
    void *router = test_socket (ctx, ZMQ_ROUTER);
    /* By default a message to an unknown peer is silently dropped. */
    CHECK_EQ_INT (zmq_send (router, "nobody", 6, ZMQ_SNDMORE), 6);
    CHECK_EQ_INT (zmq_send (router, "x", 1, 0), 1);
    test_set_int (router, ZMQ_ROUTER_MANDATORY, 1);
    CHECK_ERRNO (zmq_send (router, "nobody", 6, ZMQ_SNDMORE), EHOSTUNREACH);
    CHECK_RC (zmq_close (router));
}

static void test_pub_sub_tcp (void)
{
    TEST_SECTION ("PUB/SUB over tcp");
    void *pub = test_socket (ctx, ZMQ_PUB);
    void *sub = test_socket (ctx, ZMQ_SUB);
    char endpoint[256];
    test_bind_tcp (pub, endpoint, sizeof endpoint);
    CHECK_RC (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "news", 4));
    CHECK_RC (zmq_connect (sub, endpoint));
    /* Publish until the subscription has arrived. */
    zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
    const int64_t until = test_now_ms () + TEST_DEADLINE_MS;
    for (;;) {
        test_send_str (pub, "weather", 0);
        test_send_str (pub, "news-sync", 0);
        if (CHECK_RC (zmq_poll (&item, 1, 10)) == 1)
            break;
        CHECK_MSG (test_now_ms () < until, "subscription never arrived");
    }
    char buf[32];
    int n;
    while ((n = zmq_recv (sub, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0)
        CHECK (n == 9 && memcmp (buf, "news-sync", 9) == 0);
    test_send_str (pub, "weather", ZMQ_SNDMORE);
    test_send_str (pub, "sunny", 0);
    test_send_str (pub, "news", ZMQ_SNDMORE);
    test_send_str (pub, "today", 0);
    TEST_RECV_MORE (sub, "news");
    TEST_RECV_LAST (sub, "today");
    /* PUB cannot receive, SUB cannot send. */
    CHECK_ERRNO (zmq_recv (pub, buf, sizeof buf, ZMQ_DONTWAIT), ENOTSUP);
    CHECK_ERRNO (zmq_send (sub, "x", 1, ZMQ_DONTWAIT), ENOTSUP);
    CHECK_RC (zmq_close (pub));
    CHECK_RC (zmq_close (sub));
}

static void test_push_pull_fanout (void)
{
    TEST_SECTION ("PUSH round-robins to several PULLs");
    void *push = test_socket (ctx, ZMQ_PUSH);
    void *p1 = test_socket (ctx, ZMQ_PULL);
    void *p2 = test_socket (ctx, ZMQ_PULL);
    CHECK_RC (zmq_bind (push, "inproc://fanout"));
    CHECK_RC (zmq_connect (p1, "inproc://fanout"));
    CHECK_RC (zmq_connect (p2, "inproc://fanout"));
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT (zmq_send (push, &i, sizeof i, 0), sizeof i);
    int got1 = 0, got2 = 0, v;
    while (zmq_recv (p1, &v, sizeof v, ZMQ_DONTWAIT) == sizeof v)
        got1++;
    while (zmq_recv (p2, &v, sizeof v, ZMQ_DONTWAIT) == sizeof v)
        got2++;
    CHECK_EQ_INT (got1, 5);
    CHECK_EQ_INT (got2, 5);
    /* Sending is not allowed on PULL, receiving not on PUSH. */
    CHECK_ERRNO (zmq_send (p1, "x", 1, 0), ENOTSUP);
    CHECK_ERRNO (zmq_recv (push, &v, sizeof v, 0), ENOTSUP);
    CHECK_RC (zmq_close (push));
    CHECK_RC (zmq_close (p1));
    CHECK_RC (zmq_close (p2));
}

int main (void)
{
    test_begin ("test_sendrecv");
    ctx = CHECK_PTR (zmq_ctx_new ());
    test_transport ("inproc");
    test_transport ("tcp");
    test_transport ("ipc");
    test_dontwait ();
    test_timeouts ();
    test_req_rep_efsm ();
    test_req_envelope ();
    test_router_mandatory ();
    test_pub_sub_tcp ();
    test_push_pull_fanout ();
    CHECK_RC (zmq_ctx_term (ctx));
    test_end ("test_sendrecv");
    return 0;
}
