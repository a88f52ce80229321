/* (c) Sockets and options: every socket type, get/setsockopt of int,
 * int64, binary and string options, ZMQ_TYPE, ZMQ_LAST_ENDPOINT,
 * ZMQ_RCVMORE, ZMQ_LINGER, HWMs, ZMQ_ROUTING_ID, ZMQ_SUBSCRIBE, bad
 * endpoints, unbind/disconnect, ENOTSOCK. */
#include "testutil.h"

#include <sys/socket.h>
#include <netinet/in.h>

static void *ctx;

static void test_socket_types (void)
{
    TEST_SECTION ("every socket type");
    static const int types[] = {ZMQ_PAIR,   ZMQ_PUB,  ZMQ_SUB,  ZMQ_REQ,
                                ZMQ_REP,    ZMQ_DEALER, ZMQ_ROUTER, ZMQ_PULL,
                                ZMQ_PUSH,   ZMQ_XPUB, ZMQ_XSUB};
    /* ZMQ_STREAM is not built yet: refused with EINVAL, as libzmq refuses
     * an unknown type (the README lists it). */
    CHECK_NULL_ERRNO (zmq_socket (ctx, ZMQ_STREAM), EINVAL);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        void *s = zmq_socket (ctx, types[i]);
        CHECK_MSG (s != NULL, "zmq_socket (type %d)", types[i]);
        CHECK_EQ_INT (test_get_int (s, ZMQ_TYPE), types[i]);
        /* Every socket type binds and connects. */
        char endpoint[64];
        snprintf (endpoint, sizeof endpoint, "inproc://type-%d", types[i]);
        CHECK_RC (zmq_bind (s, endpoint));
        CHECK_RC (zmq_close (s));
    }
    /* The historical aliases. */
    CHECK_EQ_INT (ZMQ_XREQ, ZMQ_DEALER);
    CHECK_EQ_INT (ZMQ_XREP, ZMQ_ROUTER);
    /* ZMQ_TYPE is read-only. */
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PAIR));
    int v = ZMQ_PUB;
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_TYPE, &v, sizeof v), EINVAL);
    CHECK_EQ_INT (test_get_int (s, ZMQ_TYPE), ZMQ_PAIR);
    CHECK_RC (zmq_close (s));
}

/* Default, then set/get round trip, of one int option. */
static void check_int_option (
  void *s, int option, const char *name, int dflt, int value)
{
    int got = -12345;
    size_t size = sizeof got;
    CHECK_MSG (zmq_getsockopt (s, option, &got, &size) == 0, "get %s", name);
    CHECK_MSG (size == sizeof (int), "%s size %zu", name, size);
    CHECK_MSG (got == dflt, "%s default %d, expected %d", name, got, dflt);
    CHECK_MSG (zmq_setsockopt (s, option, &value, sizeof value) == 0, "set %s",
               name);
    got = -12345;
    size = sizeof got;
    CHECK_MSG (zmq_getsockopt (s, option, &got, &size) == 0, "get %s", name);
    CHECK_MSG (got == value, "%s read back %d, expected %d", name, got, value);

    /* Wrong sizes: EINVAL on set, EINVAL on a too small get buffer. */
    int64_t wide = value;
    errno = 0;
    CHECK_MSG (zmq_setsockopt (s, option, &wide, sizeof wide) == -1
                 && zmq_errno () == EINVAL,
               "set %s with 8 bytes", name);
    errno = 0;
    CHECK_MSG (zmq_setsockopt (s, option, &value, 2) == -1
                 && zmq_errno () == EINVAL,
               "set %s with 2 bytes", name);
    errno = 0;
    CHECK_MSG (zmq_setsockopt (s, option, NULL, 0) == -1
                 && zmq_errno () == EINVAL,
               "set %s with 0 bytes", name);
    size = 2;
    errno = 0;
    CHECK_MSG (zmq_getsockopt (s, option, &got, &size) == -1
                 && zmq_errno () == EINVAL,
               "get %s into 2 bytes", name);
    /* The failed calls changed nothing. */
    CHECK_EQ_INT (test_get_int (s, option), value);
}

static void test_int_options (void)
{
    TEST_SECTION ("int options: defaults, round trips, wrong sizes");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    check_int_option (s, ZMQ_LINGER, "ZMQ_LINGER", -1, 0);
    check_int_option (s, ZMQ_SNDHWM, "ZMQ_SNDHWM", 1000, 5);
    check_int_option (s, ZMQ_RCVHWM, "ZMQ_RCVHWM", 1000, 0);
    check_int_option (s, ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", -1, 250);
    check_int_option (s, ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", -1, 0);
    check_int_option (s, ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", 100, 50);
    check_int_option (s, ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", 0, 500);
    check_int_option (s, ZMQ_BACKLOG, "ZMQ_BACKLOG", 100, 10);
    check_int_option (s, ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", 0, 1);
    check_int_option (s, ZMQ_IPV6, "ZMQ_IPV6", 0, 1);
    check_int_option (s, ZMQ_SNDBUF, "ZMQ_SNDBUF", -1, 65536);
    check_int_option (s, ZMQ_RCVBUF, "ZMQ_RCVBUF", -1, 65536);
    check_int_option (s, ZMQ_TCP_KEEPALIVE, "ZMQ_TCP_KEEPALIVE", -1, 1);
    check_int_option (s, ZMQ_HANDSHAKE_IVL, "ZMQ_HANDSHAKE_IVL", 30000, 1000);
    check_int_option (s, ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", 0, 1000);
    check_int_option (s, ZMQ_CONNECT_TIMEOUT, "ZMQ_CONNECT_TIMEOUT", 0, 1000);
    check_int_option (s, ZMQ_TOS, "ZMQ_TOS", 0, 0x10);
    check_int_option (s, ZMQ_CONFLATE, "ZMQ_CONFLATE", 0, 1);

    /* Out of range values. */
    CHECK_EQ_INT (test_get_int (s, ZMQ_SNDHWM), 5);
    int bad = -1;
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_SNDHWM, &bad, sizeof bad), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_RCVHWM, &bad, sizeof bad), EINVAL);
    CHECK_EQ_INT (test_get_int (s, ZMQ_SNDHWM), 5);
    bad = -2;
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_LINGER, &bad, sizeof bad), EINVAL);
    /* -1 means "forever" for ZMQ_LINGER and the timeouts. */
    test_set_int (s, ZMQ_LINGER, -1);
    CHECK_EQ_INT (test_get_int (s, ZMQ_LINGER), -1);
    test_set_int (s, ZMQ_RCVTIMEO, -1);
    CHECK_EQ_INT (test_get_int (s, ZMQ_RCVTIMEO), -1);
    /* Boolean options take only 0 and 1. */
    bad = 2;
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_IMMEDIATE, &bad, sizeof bad), EINVAL);

    /* Read-only options. */
    CHECK_EQ_INT (test_get_int (s, ZMQ_RCVMORE), 0);
    CHECK_EQ_INT (test_get_int (s, ZMQ_MECHANISM), ZMQ_NULL);
    CHECK_EQ_INT (test_get_int (s, ZMQ_THREAD_SAFE), 0);
    int one = 1;
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_RCVMORE, &one, sizeof one), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_EVENTS, &one, sizeof one), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_FD, &one, sizeof one), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_MECHANISM, &one, sizeof one), EINVAL);

    /* Unknown options. */
    CHECK_ERRNO (zmq_setsockopt (s, 9999, &one, sizeof one), EINVAL);
    size_t size = sizeof one;
    CHECK_ERRNO (zmq_getsockopt (s, 9999, &one, &size), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (s, -1, &one, sizeof one), EINVAL);
    CHECK_RC (zmq_close (s));
}

static void test_int64_options (void)
{
    TEST_SECTION ("int64/uint64 options");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PULL));
    int64_t max = 0;
    size_t size = sizeof max;
    CHECK_RC (zmq_getsockopt (s, ZMQ_MAXMSGSIZE, &max, &size));
    CHECK_EQ_INT (size, sizeof (int64_t));
    CHECK_EQ_INT (max, -1);
    max = 1 << 20;
    CHECK_RC (zmq_setsockopt (s, ZMQ_MAXMSGSIZE, &max, sizeof max));
    max = 0;
    size = sizeof max;
    CHECK_RC (zmq_getsockopt (s, ZMQ_MAXMSGSIZE, &max, &size));
    CHECK_EQ_INT (max, 1 << 20);
    /* An int where an int64 belongs is EINVAL, both ways. */
    int small = 5;
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_MAXMSGSIZE, &small, sizeof small),
                 EINVAL);
    size = sizeof small;
    CHECK_ERRNO (zmq_getsockopt (s, ZMQ_MAXMSGSIZE, &small, &size), EINVAL);

    uint64_t affinity = 99;
    size = sizeof affinity;
    CHECK_RC (zmq_getsockopt (s, ZMQ_AFFINITY, &affinity, &size));
    CHECK_EQ_INT (size, sizeof (uint64_t));
    CHECK_EQ_INT (affinity, 0);
    affinity = 3;
    CHECK_RC (zmq_setsockopt (s, ZMQ_AFFINITY, &affinity, sizeof affinity));
    affinity = 0;
    size = sizeof affinity;
    CHECK_RC (zmq_getsockopt (s, ZMQ_AFFINITY, &affinity, &size));
    CHECK_EQ_INT (affinity, 3);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_AFFINITY, &small, sizeof small), EINVAL);
    CHECK_RC (zmq_close (s));
}

static void test_routing_id (void)
{
    TEST_SECTION ("ZMQ_ROUTING_ID (binary)");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    unsigned char buf[256];
    size_t size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_ROUTING_ID, buf, &size));
    CHECK_EQ_INT (size, 0);
    /* Binary values may hold NULs. */
    const unsigned char id[5] = {'a', 0, 'b', 0xff, 'c'};
    CHECK_RC (zmq_setsockopt (s, ZMQ_ROUTING_ID, id, sizeof id));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_ROUTING_ID, buf, &size));
    CHECK_EQ_INT (size, sizeof id);
    CHECK (memcmp (buf, id, sizeof id) == 0);
    /* ZMQ_IDENTITY is the old name of the same option. */
    CHECK_EQ_INT (ZMQ_IDENTITY, ZMQ_ROUTING_ID);
    /* A buffer too small for the value. */
    size = 3;
    CHECK_ERRNO (zmq_getsockopt (s, ZMQ_ROUTING_ID, buf, &size), EINVAL);
    /* 1..255 bytes are allowed. */
    memset (buf, 'x', sizeof buf);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_ROUTING_ID, buf, 0), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_ROUTING_ID, buf, 256), EINVAL);
    CHECK_RC (zmq_setsockopt (s, ZMQ_ROUTING_ID, buf, 255));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_ROUTING_ID, buf, &size));
    CHECK_EQ_INT (size, 255);
    CHECK_RC (zmq_close (s));
}

static void test_routing_id_on_the_wire (void)
{
    TEST_SECTION ("ZMQ_ROUTING_ID reaches a ROUTER peer");
    void *router = test_socket (ctx, ZMQ_ROUTER);
    void *dealer = test_socket (ctx, ZMQ_DEALER);
    char endpoint[256];
    test_bind_tcp (router, endpoint, sizeof endpoint);
    CHECK_RC (zmq_setsockopt (dealer, ZMQ_ROUTING_ID, "dealer-1", 8));
    CHECK_RC (zmq_connect (dealer, endpoint));
    test_send_str (dealer, "hello", 0);
    TEST_RECV_MORE (router, "dealer-1");
    TEST_RECV_LAST (router, "hello");
    test_send_str (router, "dealer-1", ZMQ_SNDMORE);
    test_send_str (router, "world", 0);
    TEST_RECV_LAST (dealer, "world");
    CHECK_RC (zmq_close (router));
    CHECK_RC (zmq_close (dealer));
}

/* Whether the library takes PLAIN credentials and a ZAP domain: libzmq
 * does; ferromq will with its security mechanisms (issue 10), and until
 * then refuses them with EINVAL rather than ignore them. */
static int has_security_options (void)
{
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    const int rc = zmq_setsockopt (s, ZMQ_ZAP_DOMAIN, "probe", 5);
    if (rc != 0)
        CHECK_EQ_INT (errno, EINVAL);
    CHECK_RC (zmq_close (s));
    return rc == 0;
}

static void test_string_options (void)
{
    TEST_SECTION ("string options");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    char buf[256];
    size_t size = sizeof buf;
    /* Unset strings read as "" with the NUL counted. */
    CHECK_RC (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, buf, &size));
    CHECK_EQ_INT (size, 1);
    CHECK_EQ_STR (buf, "");
    CHECK_RC (zmq_close (s));

    if (!has_security_options ()) {
        printf ("   not run: ZAP_DOMAIN and PLAIN_* (the library refuses "
                "them with EINVAL: no security mechanisms yet)\n");
        return;
    }
    s = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_ZAP_DOMAIN, buf, &size));
    CHECK_EQ_INT (size, 1);
    CHECK_EQ_STR (buf, "");

    /* Set without the NUL, read back with it. */
    CHECK_RC (zmq_setsockopt (s, ZMQ_ZAP_DOMAIN, "global", 6));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_ZAP_DOMAIN, buf, &size));
    CHECK_EQ_INT (size, 7);
    CHECK_EQ_STR (buf, "global");
    /* A buffer without room for the NUL is too small. */
    size = 6;
    CHECK_ERRNO (zmq_getsockopt (s, ZMQ_ZAP_DOMAIN, buf, &size), EINVAL);

    /* PLAIN credentials switch the mechanism. */
    CHECK_RC (zmq_setsockopt (s, ZMQ_PLAIN_USERNAME, "admin", 5));
    CHECK_RC (zmq_setsockopt (s, ZMQ_PLAIN_PASSWORD, "secret", 6));
    CHECK_EQ_INT (test_get_int (s, ZMQ_MECHANISM), ZMQ_PLAIN);
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_PLAIN_USERNAME, buf, &size));
    CHECK_EQ_STR (buf, "admin");
    CHECK_EQ_INT (size, 6);
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_PLAIN_PASSWORD, buf, &size));
    CHECK_EQ_STR (buf, "secret");
    /* Clearing the username (NULL, 0) goes back to NULL security. */
    CHECK_RC (zmq_setsockopt (s, ZMQ_PLAIN_USERNAME, NULL, 0));
    CHECK_EQ_INT (test_get_int (s, ZMQ_MECHANISM), ZMQ_NULL);
    CHECK_RC (zmq_close (s));
}

static void test_last_endpoint (void)
{
    TEST_SECTION ("ZMQ_LAST_ENDPOINT");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PULL));
    char tcp[256], buf[256];
    test_bind_tcp (s, tcp, sizeof tcp);
    /* Too small a buffer. */
    size_t size = 5;
    CHECK_ERRNO (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, buf, &size), EINVAL);
    /* Exactly enough. */
    size = strlen (tcp) + 1;
    CHECK_RC (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, buf, &size));
    CHECK_EQ_STR (buf, tcp);
    CHECK_EQ_INT (size, strlen (tcp) + 1);
    /* The port is a real one. */
    const char *port = tcp + strlen ("tcp://127.0.0.1:");
    CHECK (atoi (port) > 0 && atoi (port) < 65536);
    /* ZMQ_LAST_ENDPOINT is read-only. */
    CHECK_ERRNO (zmq_setsockopt (s, ZMQ_LAST_ENDPOINT, "x", 1), EINVAL);

    /* It follows the latest bind or connect. */
    CHECK_RC (zmq_bind (s, "inproc://last-endpoint"));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, buf, &size));
    CHECK_EQ_STR (buf, "inproc://last-endpoint");

    char ipc[256];
    test_ipc_endpoint (ipc, sizeof ipc, "last");
    CHECK_RC (zmq_bind (s, ipc));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, buf, &size));
    CHECK_EQ_STR (buf, ipc);

    void *c = CHECK_PTR (zmq_socket (ctx, ZMQ_PUSH));
    CHECK_RC (zmq_connect (c, tcp));
    size = sizeof buf;
    CHECK_RC (zmq_getsockopt (c, ZMQ_LAST_ENDPOINT, buf, &size));
    CHECK_EQ_STR (buf, tcp);
    CHECK_RC (zmq_close (c));
    CHECK_RC (zmq_close (s));
}

static void test_subscribe (void)
{
    TEST_SECTION ("ZMQ_SUBSCRIBE / ZMQ_UNSUBSCRIBE");
    void *pub = test_socket (ctx, ZMQ_PUB);
    void *sub = test_socket (ctx, ZMQ_SUB);
    CHECK_RC (zmq_bind (pub, "inproc://subscribe"));
    CHECK_RC (zmq_connect (sub, "inproc://subscribe"));
    CHECK_RC (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "A", 1));
    CHECK_RC (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "B", 1));
    /* A subscription may hold any bytes, or none (everything). */
    CHECK_RC (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "\0\1", 2));
    CHECK_RC (zmq_setsockopt (sub, ZMQ_UNSUBSCRIBE, "\0\1", 2));
    CHECK_RC (zmq_setsockopt (sub, ZMQ_UNSUBSCRIBE, "B", 1));

    /* The subscription reaches the publisher asynchronously: publish
     * until the first "A" message arrives. */
    zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
    const int64_t until = test_now_ms () + TEST_DEADLINE_MS;
    for (;;) {
        test_send_str (pub, "A-sync", 0);
        if (CHECK_RC (zmq_poll (&item, 1, 10)) == 1)
            break;
        CHECK_MSG (test_now_ms () < until, "subscription never arrived");
    }
    char buf[64];
    while (zmq_recv (sub, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) {
    }
    CHECK_EQ_INT (zmq_errno (), EAGAIN);
    test_send_str (pub, "B-dropped", 0);
    test_send_str (pub, "C-dropped", 0);
    test_send_str (pub, "A-kept", 0);
    TEST_RECV_LAST (sub, "A-kept");

    /* Write-only on SUB, meaningless elsewhere. */
    size_t size = sizeof buf;
    CHECK_ERRNO (zmq_getsockopt (sub, ZMQ_SUBSCRIBE, buf, &size), EINVAL);
    CHECK_ERRNO (zmq_setsockopt (pub, ZMQ_SUBSCRIBE, "A", 1), EINVAL);
    void *dealer = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    CHECK_ERRNO (zmq_setsockopt (dealer, ZMQ_SUBSCRIBE, "", 0), EINVAL);
    CHECK_RC (zmq_close (dealer));
    CHECK_RC (zmq_close (pub));
    CHECK_RC (zmq_close (sub));
}

static void test_type_specific_options (void)
{
    TEST_SECTION ("socket-type specific options");
    void *router = CHECK_PTR (zmq_socket (ctx, ZMQ_ROUTER));
    void *dealer = CHECK_PTR (zmq_socket (ctx, ZMQ_DEALER));
    int one = 1;
    CHECK_RC (zmq_setsockopt (router, ZMQ_ROUTER_MANDATORY, &one, sizeof one));
    CHECK_ERRNO (zmq_setsockopt (dealer, ZMQ_ROUTER_MANDATORY, &one, sizeof one),
                 EINVAL);
    void *req = CHECK_PTR (zmq_socket (ctx, ZMQ_REQ));
    CHECK_RC (zmq_setsockopt (req, ZMQ_REQ_RELAXED, &one, sizeof one));
    CHECK_RC (zmq_setsockopt (req, ZMQ_REQ_CORRELATE, &one, sizeof one));
    CHECK_ERRNO (zmq_setsockopt (dealer, ZMQ_REQ_RELAXED, &one, sizeof one),
                 EINVAL);
    void *xpub = CHECK_PTR (zmq_socket (ctx, ZMQ_XPUB));
    CHECK_RC (zmq_setsockopt (xpub, ZMQ_XPUB_VERBOSE, &one, sizeof one));
    CHECK_ERRNO (zmq_setsockopt (dealer, ZMQ_XPUB_VERBOSE, &one, sizeof one),
                 EINVAL);
    CHECK_RC (zmq_close (router));
    CHECK_RC (zmq_close (dealer));
    CHECK_RC (zmq_close (req));
    CHECK_RC (zmq_close (xpub));
}

static void test_events_and_fd (void)
{
    TEST_SECTION ("ZMQ_EVENTS and ZMQ_FD sizes");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PUB));
    /* A PUB socket can always send and never receive. */
    CHECK_EQ_INT (test_get_int (s, ZMQ_EVENTS), ZMQ_POLLOUT);
    int fd = -1;
    size_t size = sizeof fd;
    CHECK_RC (zmq_getsockopt (s, ZMQ_FD, &fd, &size));
    CHECK_EQ_INT (size, sizeof (int));
    CHECK (fd >= 0);
    size = 2;
    CHECK_ERRNO (zmq_getsockopt (s, ZMQ_FD, &fd, &size), EINVAL);
    void *pull = CHECK_PTR (zmq_socket (ctx, ZMQ_PULL));
    CHECK_EQ_INT (test_get_int (pull, ZMQ_EVENTS), 0);
    CHECK_RC (zmq_close (pull));
    CHECK_RC (zmq_close (s));
}

static void test_rcvmore (void)
{
    TEST_SECTION ("ZMQ_RCVMORE");
    void *a = test_socket (ctx, ZMQ_PAIR);
    void *b = test_socket (ctx, ZMQ_PAIR);
    CHECK_RC (zmq_bind (a, "inproc://rcvmore"));
    CHECK_RC (zmq_connect (b, "inproc://rcvmore"));
    test_send_str (a, "1", ZMQ_SNDMORE);
    test_send_str (a, "2", ZMQ_SNDMORE);
    test_send_str (a, "3", 0);
    CHECK_EQ_INT (test_get_int (b, ZMQ_RCVMORE), 0);
    TEST_RECV_MORE (b, "1");
    CHECK_EQ_INT (test_get_int (b, ZMQ_RCVMORE), 1);
    TEST_RECV_MORE (b, "2");
    TEST_RECV_LAST (b, "3");
    CHECK_EQ_INT (test_get_int (b, ZMQ_RCVMORE), 0);
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));
}

static void test_hwm (void)
{
    TEST_SECTION ("ZMQ_SNDHWM / ZMQ_RCVHWM bound an inproc queue");
    /* Over inproc the queue holds SNDHWM + RCVHWM messages. */
    void *push = test_socket (ctx, ZMQ_PUSH);
    void *pull = test_socket (ctx, ZMQ_PULL);
    test_set_int (push, ZMQ_SNDHWM, 4);
    test_set_int (pull, ZMQ_RCVHWM, 4);
    CHECK_RC (zmq_bind (pull, "inproc://hwm"));
    CHECK_RC (zmq_connect (push, "inproc://hwm"));
    int sent = 0;
    while (zmq_send (push, "m", 1, ZMQ_DONTWAIT) == 1)
        sent++;
    CHECK_EQ_INT (zmq_errno (), EAGAIN);
    CHECK_EQ_INT (sent, 8);
    /* Draining the queue makes room again. */
    char buf[4];
    for (int i = 0; i < sent; i++)
        CHECK_EQ_INT (zmq_recv (pull, buf, sizeof buf, 0), 1);
    CHECK_ERRNO (zmq_recv (pull, buf, sizeof buf, ZMQ_DONTWAIT), EAGAIN);
    TEST_POLL_FOR (push, ZMQ_POLLOUT);
    CHECK_EQ_INT (zmq_send (push, "m", 1, ZMQ_DONTWAIT), 1);
    CHECK_RC (zmq_close (push));
    CHECK_RC (zmq_close (pull));
}

static void test_linger (void)
{
    TEST_SECTION ("ZMQ_LINGER: close delivers what was queued");
    void *pull = test_socket (ctx, ZMQ_PULL);
    char endpoint[256];
    test_bind_tcp (pull, endpoint, sizeof endpoint);
    void *push = CHECK_PTR (zmq_socket (ctx, ZMQ_PUSH));
    test_set_int (push, ZMQ_LINGER, TEST_DEADLINE_MS);
    CHECK_RC (zmq_connect (push, endpoint));
    test_send_str (push, "sent-before-close", 0);
    /* Closing right away still delivers, since the socket lingers. */
    CHECK_RC (zmq_close (push));
    TEST_RECV_LAST (pull, "sent-before-close");
    CHECK_RC (zmq_close (pull));
}

static void test_bad_endpoints (void)
{
    TEST_SECTION ("bad endpoints");
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PAIR));
    CHECK_ERRNO (zmq_bind (s, "nocolon"), EINVAL);
    CHECK_ERRNO (zmq_bind (s, "tcp:/127.0.0.1:5555"), EINVAL);
    CHECK_ERRNO (zmq_bind (s, "tcp://"), EINVAL);
    CHECK_ERRNO (zmq_bind (s, "tcp://127.0.0.1"), EINVAL);
    CHECK_ERRNO (zmq_bind (s, "tcp://127.0.0.1:notaport"), EINVAL);
    /* (Ports above 65535 are not checked: libzmq 4.3.4 accepts
     * "tcp://127.0.0.1:70000" and binds the port modulo 65536.) */
    CHECK_ERRNO (zmq_connect (s, "tcp://127.0.0.1"), EINVAL);
    CHECK_ERRNO (zmq_connect (s, "tcp://127.0.0.1:*"), EINVAL);
    CHECK_ERRNO (zmq_connect (s, "tcp://"), EINVAL);
    CHECK_ERRNO (zmq_connect (s, "nocolon"), EINVAL);
    /* Unknown transports. */
    CHECK_ERRNO (zmq_bind (s, "foo://bar"), EPROTONOSUPPORT);
    CHECK_ERRNO (zmq_connect (s, "foo://bar"), EPROTONOSUPPORT);
    CHECK_ERRNO (zmq_bind (s, "http://127.0.0.1:80"), EPROTONOSUPPORT);
    /* A local address that is not this host's. */
    CHECK_ERRNO (zmq_bind (s, "tcp://192.0.2.1:5555"), EADDRNOTAVAIL);
    /* ipc paths are limited by sockaddr_un. */
    char longpath[300];
    memset (longpath, 'p', sizeof longpath);
    memcpy (longpath, "ipc:///tmp/", 11);
    longpath[sizeof longpath - 1] = 0;
    CHECK_ERRNO (zmq_bind (s, longpath), ENAMETOOLONG);

    /* Endpoints in use. */
    CHECK_RC (zmq_bind (s, "inproc://taken"));
    void *t = CHECK_PTR (zmq_socket (ctx, ZMQ_PAIR));
    CHECK_ERRNO (zmq_bind (t, "inproc://taken"), EADDRINUSE);
    char endpoint[256];
    test_bind_tcp (s, endpoint, sizeof endpoint);
    CHECK_ERRNO (zmq_bind (t, endpoint), EADDRINUSE);
    CHECK_RC (zmq_close (t));
    CHECK_RC (zmq_close (s));
}

/* Binds endpoint, retrying while the old listener is still going away. */
static void rebind (void *s, const char *endpoint)
{
    const int64_t until = test_now_ms () + TEST_DEADLINE_MS;
    while (zmq_bind (s, endpoint) == -1) {
        CHECK_EQ_INT (zmq_errno (), EADDRINUSE);
        CHECK_MSG (test_now_ms () < until, "%s never freed", endpoint);
        test_nap_ms (2);
    }
}

static void test_unbind_disconnect (void)
{
    TEST_SECTION ("zmq_unbind / zmq_disconnect");
    void *s = test_socket (ctx, ZMQ_PULL);
    char endpoint[256];
    test_bind_tcp (s, endpoint, sizeof endpoint);
    /* The wildcard is not what is bound: the real endpoint is. */
    CHECK_ERRNO (zmq_unbind (s, "tcp://127.0.0.1:*"), ENOENT);
    CHECK_RC (zmq_unbind (s, endpoint));
    CHECK_ERRNO (zmq_unbind (s, endpoint), ENOENT);
    /* The port is free again (once the listener is really closed). */
    void *t = test_socket (ctx, ZMQ_PULL);
    rebind (t, endpoint);
    CHECK_RC (zmq_close (t));

    CHECK_RC (zmq_bind (s, "inproc://unbind-me"));
    CHECK_RC (zmq_unbind (s, "inproc://unbind-me"));
    CHECK_ERRNO (zmq_unbind (s, "inproc://unbind-me"), ENOENT);
    /* The name can be bound again at once. */
    t = test_socket (ctx, ZMQ_PULL);
    CHECK_RC (zmq_bind (t, "inproc://unbind-me"));
    CHECK_RC (zmq_close (t));

    char ipc[256];
    test_ipc_endpoint (ipc, sizeof ipc, "unbind");
    CHECK_RC (zmq_bind (s, ipc));
    CHECK_RC (zmq_unbind (s, ipc));
    CHECK_ERRNO (zmq_unbind (s, ipc), ENOENT);

    CHECK_ERRNO (zmq_unbind (s, "nocolon"), EINVAL);
    CHECK_ERRNO (zmq_disconnect (s, "nocolon"), EINVAL);

    /* Disconnect. */
    void *server = test_socket (ctx, ZMQ_PULL);
    test_bind_tcp (server, endpoint, sizeof endpoint);
    void *c = test_socket (ctx, ZMQ_PUSH);
    CHECK_ERRNO (zmq_disconnect (c, endpoint), ENOENT);
    CHECK_RC (zmq_connect (c, endpoint));
    test_send_str (c, "connected", 0);
    TEST_RECV_LAST (server, "connected");
    CHECK_RC (zmq_disconnect (c, endpoint));
    CHECK_ERRNO (zmq_disconnect (c, endpoint), ENOENT);
    /* With no peer left a PUSH cannot send. */
    CHECK_ERRNO (zmq_send (c, "x", 1, ZMQ_DONTWAIT), EAGAIN);
    CHECK_RC (zmq_connect (c, "inproc://disconnect-me"));
    CHECK_RC (zmq_disconnect (c, "inproc://disconnect-me"));
    CHECK_ERRNO (zmq_disconnect (c, "inproc://disconnect-me"), ENOENT);
    CHECK_RC (zmq_close (c));
    CHECK_RC (zmq_close (server));
    CHECK_RC (zmq_close (s));
}

static void test_enotsock (void)
{
    TEST_SECTION ("NULL socket: ENOTSOCK");
    int v = 0;
    size_t size = sizeof v;
    char buf[8];
    zmq_msg_t msg;
    CHECK_RC (zmq_msg_init (&msg));
    CHECK_ERRNO (zmq_setsockopt (NULL, ZMQ_LINGER, &v, sizeof v), ENOTSOCK);
    CHECK_ERRNO (zmq_getsockopt (NULL, ZMQ_LINGER, &v, &size), ENOTSOCK);
    CHECK_ERRNO (zmq_bind (NULL, "inproc://x"), ENOTSOCK);
    CHECK_ERRNO (zmq_connect (NULL, "inproc://x"), ENOTSOCK);
    CHECK_ERRNO (zmq_unbind (NULL, "inproc://x"), ENOTSOCK);
    CHECK_ERRNO (zmq_disconnect (NULL, "inproc://x"), ENOTSOCK);
    CHECK_ERRNO (zmq_send (NULL, "x", 1, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_send_const (NULL, "x", 1, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_recv (NULL, buf, sizeof buf, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_msg_send (&msg, NULL, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_msg_recv (&msg, NULL, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_sendmsg (NULL, &msg, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_recvmsg (NULL, &msg, 0), ENOTSOCK);
    CHECK_ERRNO (zmq_socket_monitor (NULL, "inproc://m", ZMQ_EVENT_ALL),
                 ENOTSOCK);
    CHECK_ERRNO (zmq_close (NULL), ENOTSOCK);
    CHECK_RC (zmq_msg_close (&msg));
    /* A context is not a socket either. */
    CHECK_ERRNO (zmq_close (ctx), ENOTSOCK);
    CHECK_ERRNO (zmq_bind (ctx, "inproc://x"), ENOTSOCK);
}

int main (void)
{
    test_begin ("test_sockopt");
    ctx = CHECK_PTR (zmq_ctx_new ());
    test_socket_types ();
    test_int_options ();
    test_int64_options ();
    test_routing_id ();
    test_routing_id_on_the_wire ();
    test_string_options ();
    test_last_endpoint ();
    test_subscribe ();
    test_type_specific_options ();
    test_events_and_fd ();
    test_rcvmore ();
    test_hwm ();
    test_linger ();
    test_bad_endpoints ();
    test_unbind_disconnect ();
    test_enotsock ();
    CHECK_RC (zmq_ctx_term (ctx));
    test_end ("test_sockopt");
    return 0;
}
