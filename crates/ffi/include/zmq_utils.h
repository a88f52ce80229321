/*
 * zmq_utils.h: kept for programs that still include it.
 *
 * libzmq once declared its helper functions (stopwatch, sleep, threads,
 * Z85, atomic counters) here; they all live in zmq.h now, so this header
 * only includes that one.
 */

#ifndef __ZMQ_UTILS_H_INCLUDED__
#define __ZMQ_UTILS_H_INCLUDED__

#include "zmq.h"

#endif /* __ZMQ_UTILS_H_INCLUDED__ */
