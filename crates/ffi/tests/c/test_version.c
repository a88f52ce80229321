/* (a) zmq_version, zmq_errno, zmq_strerror, zmq_has. */
#include "testutil.h"

static void test_version (void)
{
    TEST_SECTION ("zmq_version");
    int major = -1, minor = -1, patch = -1;
    zmq_version (&major, &minor, &patch);
    /* The library reports the version its header promises. */
    CHECK_EQ_INT (major, ZMQ_VERSION_MAJOR);
    CHECK_EQ_INT (minor, ZMQ_VERSION_MINOR);
    CHECK_EQ_INT (patch, ZMQ_VERSION_PATCH);
    /* And it is the 4.3 ABI (libzmq.so.5). */
    CHECK_EQ_INT (major, 4);
    CHECK_EQ_INT (minor, 3);
    CHECK (patch >= 0);
    CHECK_EQ_INT (ZMQ_VERSION, ZMQ_MAKE_VERSION (major, minor, patch));
    CHECK_EQ_INT (ZMQ_MAKE_VERSION (4, 3, 5), 40305);
}

static void test_errno_values (void)
{
    TEST_SECTION ("error numbers");
    /* libzmq's own error numbers are fixed offsets from ZMQ_HAUSNUMERO. */
    CHECK_EQ_INT (ZMQ_HAUSNUMERO, 156384712);
    CHECK_EQ_INT (EFSM, ZMQ_HAUSNUMERO + 51);
    CHECK_EQ_INT (ENOCOMPATPROTO, ZMQ_HAUSNUMERO + 52);
    CHECK_EQ_INT (ETERM, ZMQ_HAUSNUMERO + 53);
    CHECK_EQ_INT (EMTHREAD, ZMQ_HAUSNUMERO + 54);
    /* On Linux the POSIX ones are the system's, not redefined. */
    CHECK_EQ_INT (ENOTSUP, 95);
    CHECK_EQ_INT (EPROTONOSUPPORT, 93);
    CHECK_EQ_INT (ENOTSOCK, 88);
    CHECK_EQ_INT (EAGAIN, 11);
}

static void test_zmq_errno (void)
{
    TEST_SECTION ("zmq_errno");
    /* zmq_errno reads the calling thread's errno. */
    errno = EINTR;
    CHECK_EQ_INT (zmq_errno (), EINTR);
    errno = ETERM;
    CHECK_EQ_INT (zmq_errno (), ETERM);

    /* A failing call sets both errno and zmq_errno. */
    errno = 0;
    CHECK_EQ_INT (zmq_close (NULL), -1);
    CHECK_EQ_INT (errno, ENOTSOCK);
    CHECK_EQ_INT (zmq_errno (), ENOTSOCK);

    errno = 0;
    CHECK (zmq_socket (NULL, ZMQ_PAIR) == NULL);
    CHECK_EQ_INT (zmq_errno (), EFAULT);
}

static void *errno_thread (void *arg)
{
    (void) arg;
    /* errno is per thread: a failure here is invisible to main. */
    errno = 0;
    CHECK_EQ_INT (zmq_bind (NULL, "inproc://x"), -1);
    CHECK_EQ_INT (zmq_errno (), ENOTSOCK);
    return NULL;
}

static void test_errno_per_thread (void)
{
    TEST_SECTION ("zmq_errno is per thread");
    errno = EINTR;
    test_join (test_thread (errno_thread, NULL));
    CHECK_EQ_INT (zmq_errno (), EINTR);
}

static void test_strerror (void)
{
    TEST_SECTION ("zmq_strerror");
    CHECK_EQ_STR (zmq_strerror (EFSM),
                  "Operation cannot be accomplished in current state");
    CHECK_EQ_STR (zmq_strerror (ENOCOMPATPROTO),
                  "The protocol is not compatible with the socket type");
    CHECK_EQ_STR (zmq_strerror (ETERM), "Context was terminated");
    CHECK_EQ_STR (zmq_strerror (EMTHREAD), "No thread available");
    /* System errors read as strerror's. */
    CHECK_EQ_STR (zmq_strerror (EINVAL), strerror (EINVAL));
    CHECK_EQ_STR (zmq_strerror (EAGAIN), strerror (EAGAIN));
    CHECK_EQ_STR (zmq_strerror (ENOTSOCK), strerror (ENOTSOCK));
    CHECK_EQ_STR (zmq_strerror (EPROTONOSUPPORT), strerror (EPROTONOSUPPORT));
    /* Unknown numbers still give a string, never NULL. */
    CHECK (zmq_strerror (ZMQ_HAUSNUMERO + 999) != NULL);
    CHECK (zmq_strerror (0) != NULL);
}

static void test_has (void)
{
    TEST_SECTION ("zmq_has");
    /* Linux libzmq always has ipc. */
    CHECK_EQ_INT (zmq_has ("ipc"), 1);
    /* Unknown capabilities are simply absent. */
    CHECK_EQ_INT (zmq_has ("no-such-capability"), 0);
    CHECK_EQ_INT (zmq_has (""), 0);
    CHECK_EQ_INT (zmq_has ("IPC"), 0); /* case matters */
    /* Every documented capability answers 0 or 1. */
    static const char *const caps[] = {"ipc",    "pgm",   "tipc",  "norm",
                                       "curve",  "gssapi", "draft", "ws",
                                       "wss",    "vmci"};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        const int has = zmq_has (caps[i]);
        CHECK_MSG (has == 0 || has == 1, "zmq_has(\"%s\") = %d", caps[i], has);
        printf ("   zmq_has(\"%s\") = %d\n", caps[i], has);
    }
    /* A stable build (no ZMQ_BUILD_DRAFT_API) has no draft API. */
#ifndef ZMQ_BUILD_DRAFT_API
    CHECK_EQ_INT (zmq_has ("draft"), 0);
#endif
}

int main (void)
{
    test_begin ("test_version");
    test_version ();
    test_errno_values ();
    test_zmq_errno ();
    test_errno_per_thread ();
    test_strerror ();
    test_has ();
    test_end ("test_version");
    return 0;
}
