/* (e) zmq_msg_*: init, init_size, init_data (zero-copy, free function
 * called exactly once), send/recv/close/move/copy/data/size/more,
 * get/set/gets, zmq_sendmsg/zmq_recvmsg, sizeof (zmq_msg_t). */
#include "testutil.h"

#include <stdalign.h>

static void *ctx;

/* ---- free-function bookkeeping (the call may come from any thread) ---- */

typedef struct
{
    int calls;
    void *data;
    void *hint;
} freed_t;

static void count_free (void *data, void *hint)
{
    freed_t *f = (freed_t *) hint;
    __atomic_store_n (&f->data, data, __ATOMIC_SEQ_CST);
    __atomic_store_n (&f->hint, hint, __ATOMIC_SEQ_CST);
    __atomic_fetch_add (&f->calls, 1, __ATOMIC_SEQ_CST);
}

static void free_and_count (void *data, void *hint)
{
    count_free (data, hint);
    free (data);
}

static int freed_calls (freed_t *f)
{
    return __atomic_load_n (&f->calls, __ATOMIC_SEQ_CST);
}

static int freed_once (void *arg)
{
    return freed_calls ((freed_t *) arg) >= 1;
}

/* ------------------------------------------------------------------ */

static void test_layout (void)
{
    TEST_SECTION ("zmq_msg_t layout");
    CHECK_EQ_INT (sizeof (zmq_msg_t), 64);
    CHECK_EQ_INT (alignof (zmq_msg_t), sizeof (void *));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MSG_T_SIZE), 64);
}

static void test_init (void)
{
    TEST_SECTION ("zmq_msg_init / zmq_msg_init_size");
    zmq_msg_t msg;
    memset (&msg, 0xA5, sizeof msg); /* init must not rely on zeroed memory */
    CHECK_RC (zmq_msg_init (&msg));
    CHECK_EQ_INT (zmq_msg_size (&msg), 0);
    CHECK_EQ_INT (zmq_msg_more (&msg), 0);
    CHECK_EQ_INT (zmq_msg_get (&msg, ZMQ_MORE), 0);
    CHECK_EQ_INT (zmq_msg_get (&msg, ZMQ_SHARED), 0);
    CHECK_RC (zmq_msg_close (&msg));

    /* Small and large (heap) sizes are writable through zmq_msg_data. */
    const size_t sizes[] = {0, 1, 29, 33, 64, 1000, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset (&msg, 0xA5, sizeof msg);
        CHECK_RC (zmq_msg_init_size (&msg, sizes[i]));
        CHECK_EQ_INT (zmq_msg_size (&msg), sizes[i]);
        if (sizes[i]) {
            unsigned char *d = (unsigned char *) zmq_msg_data (&msg);
            CHECK (d != NULL);
            memset (d, (int) i, sizes[i]);
            CHECK_EQ_INT (d[sizes[i] - 1], i);
            CHECK (zmq_msg_data (&msg) == d);
        }
        CHECK_EQ_INT (zmq_msg_more (&msg), 0);
        CHECK_RC (zmq_msg_close (&msg));
    }
}

static void test_init_data_close (void)
{
    TEST_SECTION ("zmq_msg_init_data: close calls the free function once");
    freed_t f = {0, NULL, NULL};
    char *buf = (char *) malloc (100);
    CHECK (buf);
    memcpy (buf, "user buffer", 12);
    zmq_msg_t msg;
    CHECK_RC (zmq_msg_init_data (&msg, buf, 100, free_and_count, &f));
    /* The message uses the buffer in place. */
    CHECK (zmq_msg_data (&msg) == buf);
    CHECK_EQ_INT (zmq_msg_size (&msg), 100);
    CHECK_EQ_INT (freed_calls (&f), 0);
    CHECK_RC (zmq_msg_close (&msg));
    CHECK_EQ_INT (freed_calls (&f), 1);
    CHECK (f.data == buf);
    CHECK (f.hint == &f);

    /* Without a free function the buffer stays the caller's. */
    static char still_mine[] = "static buffer";
    CHECK_RC (zmq_msg_init_data (&msg, still_mine, sizeof still_mine, NULL, NULL));
    CHECK (zmq_msg_data (&msg) == still_mine);
    CHECK_RC (zmq_msg_close (&msg));
    CHECK_EQ_STR (still_mine, "static buffer");
}

static void test_init_data_copy (void)
{
    TEST_SECTION ("zmq_msg_init_data + zmq_msg_copy: freed after the last close");
    freed_t f = {0, NULL, NULL};
    char *buf = (char *) malloc (64);
    CHECK (buf);
    memset (buf, 'z', 64);
    zmq_msg_t a, b;
    CHECK_RC (zmq_msg_init_data (&a, buf, 64, free_and_count, &f));
    CHECK_RC (zmq_msg_init (&b));
    CHECK_RC (zmq_msg_copy (&b, &a));
    CHECK_EQ_INT (zmq_msg_size (&b), 64);
    CHECK (memcmp (zmq_msg_data (&b), buf, 64) == 0);
    /* The source is unchanged. */
    CHECK_EQ_INT (zmq_msg_size (&a), 64);
    CHECK (zmq_msg_data (&a) == buf);
    CHECK_RC (zmq_msg_close (&a));
    /* b may still share the buffer, so at most the one free so far. */
    CHECK (freed_calls (&f) <= 1);
    CHECK (memcmp (zmq_msg_data (&b), "zzzz", 4) == 0);
    CHECK_RC (zmq_msg_close (&b));
    CHECK_EQ_INT (freed_calls (&f), 1);
}

/* One per transport; checked again after zmq_ctx_term, so a second
 * (late) call of a free function would show too. */
static freed_t zero_copy_freed[3];

/* Sends one zero-copy message from a to b and checks the free count. */
static void zero_copy_over (void *a, void *b, const char *what, freed_t *f)
{
    printf ("   zero-copy over %s\n", what);
    const size_t size = 200000;
    unsigned char *buf = (unsigned char *) malloc (size);
    CHECK (buf);
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char) (i % 253);
    zmq_msg_t out;
    CHECK_RC (zmq_msg_init_data (&out, buf, size, free_and_count, f));
    CHECK_EQ_INT (zmq_msg_send (&out, a, 0), size);
    /* The sent message is empty now; closing it is allowed. */
    CHECK_EQ_INT (zmq_msg_size (&out), 0);
    CHECK_RC (zmq_msg_close (&out));

    zmq_msg_t in;
    CHECK_RC (zmq_msg_init (&in));
    CHECK_EQ_INT (zmq_msg_recv (&in, b, 0), size);
    CHECK_EQ_INT (zmq_msg_size (&in), size);
    const unsigned char *d = (const unsigned char *) zmq_msg_data (&in);
    for (size_t i = 0; i < size; i++)
        CHECK (d[i] == (unsigned char) (i % 253));
    CHECK_RC (zmq_msg_close (&in));
    /* The library may free the buffer from its I/O thread, a little
     * later than our close: wait for it, then make sure it stays one. */
    CHECK_WAIT (freed_once, f);
    CHECK_EQ_INT (freed_calls (f), 1);
    CHECK (f->data == buf);
    CHECK (f->hint == f);
}

static freed_t term_freed = {0, NULL, NULL};

static void test_zero_copy_send (void)
{
    TEST_SECTION ("zmq_msg_init_data sent over inproc, tcp and ipc");
    void *a = test_socket (ctx, ZMQ_PAIR);
    void *b = test_socket (ctx, ZMQ_PAIR);
    CHECK_RC (zmq_bind (a, "inproc://zero-copy"));
    CHECK_RC (zmq_connect (b, "inproc://zero-copy"));
    zero_copy_over (a, b, "inproc", &zero_copy_freed[0]);
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));

    char endpoint[256];
    a = test_socket (ctx, ZMQ_PAIR);
    b = test_socket (ctx, ZMQ_PAIR);
    test_bind_tcp (b, endpoint, sizeof endpoint);
    CHECK_RC (zmq_connect (a, endpoint));
    zero_copy_over (a, b, "tcp", &zero_copy_freed[1]);
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));

    a = test_socket (ctx, ZMQ_PAIR);
    b = test_socket (ctx, ZMQ_PAIR);
    test_ipc_endpoint (endpoint, sizeof endpoint, "zc");
    CHECK_RC (zmq_bind (b, endpoint));
    CHECK_RC (zmq_connect (a, endpoint));
    zero_copy_over (a, b, "ipc", &zero_copy_freed[2]);

    /* One more, never received: freed at the latest by zmq_ctx_term
     * (checked in main, after the context is gone). */
    char *buf = (char *) malloc (1000);
    CHECK (buf);
    memset (buf, 'q', 1000);
    zmq_msg_t msg;
    CHECK_RC (zmq_msg_init_data (&msg, buf, 1000, free_and_count, &term_freed));
    CHECK_EQ_INT (zmq_msg_send (&msg, a, 0), 1000);
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));
}

static void test_move_copy (void)
{
    TEST_SECTION ("zmq_msg_move / zmq_msg_copy");
    zmq_msg_t src, dst;
    CHECK_RC (zmq_msg_init_size (&src, 5));
    memcpy (zmq_msg_data (&src), "abcde", 5);
    CHECK_RC (zmq_msg_init (&dst));
    CHECK_RC (zmq_msg_copy (&dst, &src));
    CHECK_EQ_INT (zmq_msg_size (&dst), 5);
    CHECK (memcmp (zmq_msg_data (&dst), "abcde", 5) == 0);
    CHECK_EQ_INT (zmq_msg_size (&src), 5);
    CHECK_RC (zmq_msg_close (&dst));

    /* Move into a message that held a zero-copy buffer: that buffer is
     * released, the content moves, the source becomes empty. */
    freed_t f = {0, NULL, NULL};
    static char old_content[] = "old";
    CHECK_RC (zmq_msg_init_data (&dst, old_content, 3, count_free, &f));
    CHECK_RC (zmq_msg_move (&dst, &src));
    CHECK_EQ_INT (freed_calls (&f), 1);
    CHECK (f.data == old_content);
    CHECK_EQ_INT (zmq_msg_size (&dst), 5);
    CHECK (memcmp (zmq_msg_data (&dst), "abcde", 5) == 0);
    CHECK_EQ_INT (zmq_msg_size (&src), 0);
    CHECK_RC (zmq_msg_close (&src));

    /* Copy over a zero-copy message releases it too. */
    freed_t g = {0, NULL, NULL};
    zmq_msg_t other;
    CHECK_RC (zmq_msg_init_data (&other, old_content, 3, count_free, &g));
    CHECK_RC (zmq_msg_copy (&other, &dst));
    CHECK_EQ_INT (freed_calls (&g), 1);
    CHECK_EQ_INT (zmq_msg_size (&other), 5);
    CHECK (memcmp (zmq_msg_data (&other), "abcde", 5) == 0);
    CHECK_RC (zmq_msg_close (&other));

    /* A large message copied: both read the same bytes; ZMQ_SHARED
     * tells whether they may share storage. */
    zmq_msg_t big, big2;
    CHECK_RC (zmq_msg_init_size (&big, 4096));
    memset (zmq_msg_data (&big), 'B', 4096);
    CHECK_EQ_INT (zmq_msg_get (&big, ZMQ_SHARED), 0);
    CHECK_RC (zmq_msg_init (&big2));
    CHECK_RC (zmq_msg_copy (&big2, &big));
    CHECK_EQ_INT (zmq_msg_size (&big2), 4096);
    CHECK (memcmp (zmq_msg_data (&big2), zmq_msg_data (&big), 4096) == 0);
    const int shared = zmq_msg_get (&big2, ZMQ_SHARED);
    CHECK (shared == 0 || shared == 1);
    CHECK_EQ_INT (zmq_msg_get (&big, ZMQ_SHARED), shared);
    if (shared)
        CHECK (zmq_msg_data (&big2) == zmq_msg_data (&big));
    CHECK_RC (zmq_msg_close (&big));
    CHECK_RC (zmq_msg_close (&big2));
    CHECK_RC (zmq_msg_close (&dst));
}

static void test_send_recv_more (void)
{
    TEST_SECTION ("zmq_msg_send / zmq_msg_recv / zmq_msg_more / ZMQ_MORE");
    void *a = test_socket (ctx, ZMQ_DEALER);
    void *b = test_socket (ctx, ZMQ_DEALER);
    CHECK_RC (zmq_bind (a, "inproc://msg-more"));
    CHECK_RC (zmq_connect (b, "inproc://msg-more"));

    zmq_msg_t msg;
    for (int i = 0; i < 3; i++) {
        CHECK_RC (zmq_msg_init_size (&msg, 2));
        memcpy (zmq_msg_data (&msg), i == 0 ? "p0" : i == 1 ? "p1" : "p2", 2);
        CHECK_EQ_INT (zmq_msg_send (&msg, a, i < 2 ? ZMQ_SNDMORE : 0), 2);
        CHECK_RC (zmq_msg_close (&msg));
    }
    CHECK_RC (zmq_msg_init (&msg));
    for (int i = 0; i < 3; i++) {
        /* zmq_msg_recv reuses the same message each time. */
        CHECK_EQ_INT (zmq_msg_recv (&msg, b, 0), 2);
        char want[3] = {'p', (char) ('0' + i), 0};
        CHECK (memcmp (zmq_msg_data (&msg), want, 2) == 0);
        CHECK_EQ_INT (zmq_msg_more (&msg), i < 2);
        CHECK_EQ_INT (zmq_msg_get (&msg, ZMQ_MORE), i < 2);
        CHECK_EQ_INT (test_get_int (b, ZMQ_RCVMORE), i < 2);
    }
    CHECK_RC (zmq_msg_close (&msg));

    /* Receiving into a message with content releases that content. */
    freed_t f = {0, NULL, NULL};
    static char prior[] = "prior";
    CHECK_RC (zmq_msg_init_data (&msg, prior, 5, count_free, &f));
    test_send_str (a, "fresh", 0);
    CHECK_EQ_INT (zmq_msg_recv (&msg, b, 0), 5);
    CHECK_EQ_INT (freed_calls (&f), 1);
    CHECK (memcmp (zmq_msg_data (&msg), "fresh", 5) == 0);

    /* A failed receive leaves the message usable. */
    CHECK_ERRNO (zmq_msg_recv (&msg, b, ZMQ_DONTWAIT), EAGAIN);
    CHECK_RC (zmq_msg_close (&msg));

    /* A failed send leaves the message to the caller, unchanged. */
    void *lonely = test_socket (ctx, ZMQ_DEALER);
    CHECK_RC (zmq_msg_init_size (&msg, 3));
    memcpy (zmq_msg_data (&msg), "abc", 3);
    CHECK_ERRNO (zmq_msg_send (&msg, lonely, ZMQ_DONTWAIT), EAGAIN);
    CHECK_EQ_INT (zmq_msg_size (&msg), 3);
    CHECK (memcmp (zmq_msg_data (&msg), "abc", 3) == 0);
    /* ...and it can be sent after all. */
    CHECK_EQ_INT (zmq_msg_send (&msg, a, 0), 3);
    CHECK_RC (zmq_msg_close (&msg));
    TEST_RECV_LAST (b, "abc");
    CHECK_RC (zmq_close (lonely));

    /* The old names, with socket first. */
    CHECK_RC (zmq_msg_init_size (&msg, 4));
    memcpy (zmq_msg_data (&msg), "old!", 4);
    CHECK_EQ_INT (zmq_sendmsg (a, &msg, ZMQ_SNDMORE), 4);
    CHECK_RC (zmq_msg_close (&msg));
    CHECK_EQ_INT (zmq_send (a, "end", 3, 0), 3);
    CHECK_RC (zmq_msg_init (&msg));
    CHECK_EQ_INT (zmq_recvmsg (b, &msg, 0), 4);
    CHECK (memcmp (zmq_msg_data (&msg), "old!", 4) == 0);
    CHECK_EQ_INT (zmq_msg_more (&msg), 1);
    CHECK_EQ_INT (zmq_recvmsg (b, &msg, 0), 3);
    CHECK_EQ_INT (zmq_msg_more (&msg), 0);
    CHECK_ERRNO (zmq_recvmsg (b, &msg, ZMQ_DONTWAIT), EAGAIN);
    CHECK_RC (zmq_msg_close (&msg));

    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));
}

static void test_properties (void)
{
    TEST_SECTION ("zmq_msg_get / zmq_msg_set / zmq_msg_gets");
    zmq_msg_t msg;
    CHECK_RC (zmq_msg_init (&msg));
    CHECK_ERRNO (zmq_msg_get (&msg, 9999), EINVAL);
    /* No property can be set. */
    CHECK_ERRNO (zmq_msg_set (&msg, ZMQ_MORE, 1), EINVAL);
    CHECK_ERRNO (zmq_msg_set (&msg, 9999, 1), EINVAL);
    CHECK_EQ_INT (zmq_msg_more (&msg), 0);
    /* A message that never crossed a connection has no metadata. */
    CHECK_NULL_ERRNO (zmq_msg_gets (&msg, "Socket-Type"), EINVAL);
    CHECK_RC (zmq_msg_close (&msg));

    /* Over tcp the ZMTP handshake brings the peer's metadata. */
    void *server = test_socket (ctx, ZMQ_ROUTER);
    void *client = test_socket (ctx, ZMQ_DEALER);
    char endpoint[256];
    test_bind_tcp (server, endpoint, sizeof endpoint);
    CHECK_RC (zmq_setsockopt (client, ZMQ_ROUTING_ID, "client-id", 9));
    CHECK_RC (zmq_connect (client, endpoint));
    test_send_str (client, "meta", 0);
    CHECK_RC (zmq_msg_init (&msg));
    CHECK_EQ_INT (zmq_msg_recv (&msg, server, 0), 9);
    CHECK_EQ_INT (zmq_msg_recv (&msg, server, 0), 4);
    CHECK_EQ_STR (zmq_msg_gets (&msg, "Socket-Type"), "DEALER");
    /* The peer's routing id travels as the ZMTP "Identity" property.
     * (libzmq 4.3.4 does not answer to ZMQ_MSG_PROPERTY_ROUTING_ID,
     * "Routing-Id", here: that name is only an alias the other way.) */
    CHECK_EQ_STR (zmq_msg_gets (&msg, "Identity"), "client-id");
    CHECK_EQ_STR (zmq_msg_gets (&msg, "Peer-Address"), "127.0.0.1");
    /* Unknown properties fail. */
    CHECK_NULL_ERRNO (zmq_msg_gets (&msg, "No-Such-Property"), EINVAL);
    CHECK_RC (zmq_msg_close (&msg));

    /* And in the other direction. */
    test_send_str (server, "client-id", ZMQ_SNDMORE);
    test_send_str (server, "back", 0);
    CHECK_RC (zmq_msg_init (&msg));
    CHECK_EQ_INT (zmq_msg_recv (&msg, client, 0), 4);
    CHECK_EQ_STR (zmq_msg_gets (&msg, "Socket-Type"), "ROUTER");
    CHECK_RC (zmq_msg_close (&msg));
    CHECK_RC (zmq_close (server));
    CHECK_RC (zmq_close (client));
}

int main (void)
{
    test_begin ("test_msg");
    ctx = CHECK_PTR (zmq_ctx_new ());
    test_layout ();
    test_init ();
    test_init_data_close ();
    test_init_data_copy ();
    test_zero_copy_send ();
    test_move_copy ();
    test_send_recv_more ();
    test_properties ();
    CHECK_RC (zmq_ctx_term (ctx));
    /* With the context gone every message it held has been released. */
    CHECK_EQ_INT (freed_calls (&term_freed), 1);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT (freed_calls (&zero_copy_freed[i]), 1);
    CHECK (term_freed.hint == &term_freed);
    test_end ("test_msg");
    return 0;
}
