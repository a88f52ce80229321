//! Contexts: zmq_ctx_new/term/shutdown/set/get and the old zmq_init/term.
//!
//! libzmq lets options such as ZMQ_IO_THREADS be set after zmq_ctx_new and
//! before the first socket, so the ferromq [`Context`] is made lazily, by
//! the first zmq_socket.

use crate::errno::{fail, guard, Errno, ETERM};
use ferromq::Context;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) const ZMQ_IO_THREADS: i32 = 1;
pub(crate) const ZMQ_MAX_SOCKETS: i32 = 2;
/// Read-only: the largest MAX_SOCKETS accepted. (Written, the same number
/// is ZMQ_THREAD_PRIORITY.)
pub(crate) const ZMQ_SOCKET_LIMIT: i32 = 3;
pub(crate) const ZMQ_THREAD_PRIORITY: i32 = 3;
pub(crate) const ZMQ_THREAD_SCHED_POLICY: i32 = 4;
pub(crate) const ZMQ_MAX_MSGSZ: i32 = 5;
pub(crate) const ZMQ_MSG_T_SIZE: i32 = 6;
pub(crate) const ZMQ_THREAD_AFFINITY_CPU_ADD: i32 = 7;
pub(crate) const ZMQ_THREAD_AFFINITY_CPU_REMOVE: i32 = 8;
pub(crate) const ZMQ_THREAD_NAME_PREFIX: i32 = 9;
pub(crate) const ZMQ_IPV6: i32 = 42;
pub(crate) const ZMQ_BLOCKY: i32 = 70;

const SOCKET_LIMIT: i32 = 65535;
const CTX_TAG: u32 = 0xabad_cafe;
const CTX_DEAD: u32 = 0xdead_cafe;

/// What `zmq_ctx_new` returns.
pub(crate) struct FfiContext {
    tag: u32,
    state: Mutex<CtxState>,
    /// Open sockets, for MAX_SOCKETS; shared with each socket so closing
    /// one needs no access to the context.
    pub(crate) open_sockets: Arc<AtomicUsize>,
}

struct CtxState {
    io_threads: i32,
    max_sockets: i32,
    ipv6: bool,
    blocky: bool,
    max_msgsz: i32,
    context: Option<Context>,
    terminated: bool,
}

/// Defaults a new socket takes from its context.
pub(crate) struct SocketDefaults {
    pub(crate) ipv6: bool,
    pub(crate) blocky: bool,
}

impl FfiContext {
    fn new() -> FfiContext {
        FfiContext {
            tag: CTX_TAG,
            state: Mutex::new(CtxState {
                io_threads: 1,
                max_sockets: 1023,
                ipv6: false,
                blocky: true,
                max_msgsz: i32::MAX,
                context: None,
                terminated: false,
            }),
            open_sockets: Arc::default(),
        }
    }

    /// The context behind a C pointer, if it is one of ours and alive.
    ///
    /// # Safety
    /// `ptr` is NULL or was returned by `zmq_ctx_new` and not yet freed by
    /// a finished `zmq_ctx_term` (the rule libzmq sets its callers).
    pub(crate) unsafe fn from_ptr<'a>(ptr: *mut c_void) -> Result<&'a FfiContext, Errno> {
        // SAFETY: the caller's contract; the tag catches stale and foreign
        // pointers in the common cases, as libzmq's check_tag does.
        let ctx = unsafe { (ptr as *const FfiContext).as_ref() };
        match ctx {
            Some(ctx) if ctx.tag == CTX_TAG => Ok(ctx),
            _ => fail(libc::EFAULT),
        }
    }

    /// The ferromq context for a new socket (made on first use), with the
    /// defaults the socket takes from it.
    pub(crate) fn for_new_socket(&self) -> Result<(Context, SocketDefaults), Errno> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.terminated {
            return fail(ETERM);
        }
        let open = self.open_sockets.load(Ordering::Relaxed);
        if open >= state.max_sockets as usize {
            return fail(libc::EMFILE);
        }
        let context = match &state.context {
            Some(context) => context.clone(),
            None => {
                let threads = state.io_threads.max(1) as usize;
                let context = Context::with_io_threads(threads)?;
                state.context = Some(context.clone());
                context
            }
        };
        let defaults = SocketDefaults {
            ipv6: state.ipv6,
            blocky: state.blocky,
        };
        Ok((context, defaults))
    }

    fn set(&self, option: i32, value: i32) -> Result<(), Errno> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match option {
            ZMQ_IO_THREADS if value >= 0 => state.io_threads = value,
            ZMQ_MAX_SOCKETS if (1..=SOCKET_LIMIT).contains(&value) => state.max_sockets = value,
            ZMQ_IPV6 if value >= 0 => state.ipv6 = value != 0,
            ZMQ_BLOCKY if value >= 0 => state.blocky = value != 0,
            ZMQ_MAX_MSGSZ if value >= 0 => state.max_msgsz = value,
            // Scheduling hints for the I/O threads: accepted (libzmq
            // applies them where the OS lets it), not acted on.
            ZMQ_THREAD_PRIORITY | ZMQ_THREAD_SCHED_POLICY if value >= -1 => {}
            ZMQ_THREAD_AFFINITY_CPU_ADD | ZMQ_THREAD_AFFINITY_CPU_REMOVE if value >= 0 => {}
            ZMQ_THREAD_NAME_PREFIX => {}
            _ => return fail(libc::EINVAL),
        }
        Ok(())
    }

    fn get(&self, option: i32) -> Result<i32, Errno> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(match option {
            ZMQ_IO_THREADS => state.io_threads,
            ZMQ_MAX_SOCKETS => state.max_sockets,
            ZMQ_SOCKET_LIMIT => SOCKET_LIMIT,
            ZMQ_IPV6 => i32::from(state.ipv6),
            ZMQ_BLOCKY => i32::from(state.blocky),
            ZMQ_MAX_MSGSZ => state.max_msgsz,
            ZMQ_MSG_T_SIZE => crate::msg::ZMQ_MSG_T_SIZE as i32,
            _ => return fail(libc::EINVAL),
        })
    }

    /// Makes every blocked call return ETERM and new sockets fail with it.
    fn shutdown(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.terminated = true;
        if let Some(context) = &state.context {
            context.shutdown();
        }
    }

    /// Shuts down, then waits for every socket to be closed and its linger
    /// to pass.
    fn term(&self) {
        let context = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.terminated = true;
            state.context.take()
        };
        if let Some(context) = context {
            context.term();
        }
    }
}

/// `void *zmq_ctx_new(void)`
#[no_mangle]
pub extern "C" fn zmq_ctx_new() -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(FfiContext::new())) as *mut c_void)
    })
}

/// `int zmq_ctx_term(void *context)`
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_term(context: *mut c_void) -> i32 {
    guard(-1, || {
        // SAFETY: zmq_ctx_term's contract (see from_ptr).
        let ctx = unsafe { FfiContext::from_ptr(context)? };
        ctx.term();
        // SAFETY: the pointer came from Box::into_raw in zmq_ctx_new; every
        // socket is closed (term waited for that), so nothing else refers to
        // it, and the caller may not use it after this call. Marking it dead
        // first lets a stray later call fail with EFAULT more often than not.
        unsafe {
            let raw = context as *mut FfiContext;
            (*raw).tag = CTX_DEAD;
            drop(Box::from_raw(raw));
        }
        Ok(0)
    })
}

/// `int zmq_ctx_shutdown(void *context)`
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_shutdown(context: *mut c_void) -> i32 {
    guard(-1, || {
        // SAFETY: zmq_ctx_shutdown's contract (see from_ptr).
        unsafe { FfiContext::from_ptr(context)? }.shutdown();
        Ok(0)
    })
}

/// `int zmq_ctx_set(void *context, int option, int optval)`
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_set(context: *mut c_void, option: i32, optval: i32) -> i32 {
    guard(-1, || {
        // SAFETY: zmq_ctx_set's contract (see from_ptr).
        unsafe { FfiContext::from_ptr(context)? }.set(option, optval)?;
        Ok(0)
    })
}

/// `int zmq_ctx_get(void *context, int option)`
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_get(context: *mut c_void, option: i32) -> i32 {
    guard(-1, || {
        // SAFETY: zmq_ctx_get's contract (see from_ptr).
        unsafe { FfiContext::from_ptr(context)? }.get(option)
    })
}

/// `void *zmq_init(int io_threads)`: the 2.x way to make a context.
#[no_mangle]
pub extern "C" fn zmq_init(io_threads: i32) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        if io_threads < 0 {
            return fail(libc::EINVAL);
        }
        let ctx = FfiContext::new();
        ctx.set(ZMQ_IO_THREADS, io_threads)?;
        Ok(Box::into_raw(Box::new(ctx)) as *mut c_void)
    })
}

/// `int zmq_term(void *context)`: zmq_ctx_term's old name.
#[no_mangle]
pub unsafe extern "C" fn zmq_term(context: *mut c_void) -> i32 {
    // SAFETY: the same contract as zmq_ctx_term.
    unsafe { zmq_ctx_term(context) }
}

/// `int zmq_ctx_destroy(void *context)`: zmq_ctx_term's old name.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_destroy(context: *mut c_void) -> i32 {
    // SAFETY: the same contract as zmq_ctx_term.
    unsafe { zmq_ctx_term(context) }
}
