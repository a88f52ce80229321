//! The inproc transport: two sockets of one context joined by a pair of
//! pipes, with no I/O thread, no codec and no copy (a `Msg` moves by
//! reference from one socket's pipe to the other's).
//!
//! A connect to a name nobody has bound yet parks the binder's pipe ends in
//! the context's registry; the connector can queue messages meanwhile (up
//! to the HWM), and the bind hands the parked ends to the binder, as libzmq
//! 4.x does.
//!
//! CONFLATE: the pipe from one socket to the other conflates if the
//! writing socket conflates what it sends or the reading one what it
//! receives (see [`pipe::conflates`]). libzmq consults only the connecting
//! socket's option, for both directions; here the binder's counts too,
//! except for a connect made before the bind: its pipes exist before the
//! binder's options are known, so only the connector's apply.

use crate::pattern::{PipeId, SocketPipe};
use crate::pipe::{self, End, Queue};
use crate::socket::{SocketCmd, SocketLink};
use crate::stats::PeerShared;
use bytes::Bytes;
use ferromq_proto::SocketType;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// What one side of an inproc connection tells the other about itself.
#[derive(Clone)]
pub(crate) struct PeerOptions {
    pub(crate) socket_type: SocketType,
    pub(crate) sndhwm: i32,
    pub(crate) rcvhwm: i32,
    pub(crate) conflate: bool,
    pub(crate) routing_id: Bytes,
}

impl PeerOptions {
    /// What libzmq assumes of a peer that has not bound yet.
    fn unknown(socket_type: SocketType) -> PeerOptions {
        PeerOptions {
            socket_type,
            sndhwm: 1000,
            rcvhwm: 1000,
            conflate: false,
            routing_id: Bytes::new(),
        }
    }
}

/// The HWM of a pipe from `writer` to `reader`: the two sides' limits
/// added, or unlimited if either side is unlimited (libzmq's rule).
fn combined_hwm(writer: &PeerOptions, reader: &PeerOptions) -> u64 {
    if writer.sndhwm <= 0 || reader.rcvhwm <= 0 {
        0
    } else {
        writer.sndhwm as u64 + reader.rcvhwm as u64
    }
}

/// The queue of the pipe from `writer` to `reader`: a conflating slot if
/// either side conflates that direction (counted by the reader if it asked
/// for it), else the combined HWM.
fn queue(writer: &PeerOptions, reader: &PeerOptions) -> Queue {
    if pipe::conflates(reader.conflate, reader.socket_type, true) {
        Queue::Conflate(End::Reader)
    } else if pipe::conflates(writer.conflate, writer.socket_type, false) {
        Queue::Conflate(End::Writer)
    } else {
        Queue::Hwm(combined_hwm(writer, reader))
    }
}

/// One side of a connection, as the other side must reach it.
struct Side {
    link: Arc<SocketLink>,
    pipe: PipeId,
}

/// The two sides of one inproc connection: when one side's pipe goes, the
/// other is told (a `Detach`), the way an engine tells its socket.
#[derive(Default)]
struct Sides {
    /// `None` once that side dropped its pipe, or (the binder) before the
    /// bind happened.
    alive: [Option<Side>; 2],
    /// The side dropped its pipe (as opposed to not having joined yet).
    gone: [bool; 2],
}

/// Held by each side's `SocketPipe`; dropping it tells the other side.
pub(crate) struct PeerNotice {
    sides: Arc<Mutex<Sides>>,
    me: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for PeerNotice {
    fn drop(&mut self) {
        let other = {
            let mut sides = lock(&self.sides);
            sides.alive[self.me] = None;
            sides.gone[self.me] = true;
            sides.alive[1 - self.me].take()
        };
        if let Some(side) = other {
            side.link.mailbox.send(SocketCmd::Detach { id: side.pipe });
        }
    }
}

const CONNECTOR: usize = 0;
const BINDER: usize = 1;

/// A connect waiting for its bind.
struct Pending {
    connector: PeerOptions,
    /// The binder's ends of the pipes, made at connect time.
    ends: SocketPipe,
    /// Sent-to and woken: the connector's socket and pipe.
    connector_link: Arc<SocketLink>,
    connector_pipe: PipeId,
}

struct Binder {
    link: Arc<SocketLink>,
    options: PeerOptions,
}

/// The names bound in one context, and the connects waiting for a name.
#[derive(Default)]
pub(crate) struct Registry {
    bound: HashMap<String, Binder>,
    pending: HashMap<String, Vec<Pending>>,
}

/// The binder's side of a new connection, for the binder to attach.
pub(crate) struct Accepted {
    pub(crate) pipe: SocketPipe,
    /// The connector is already gone: read what it queued, then drop it.
    pub(crate) connector_gone: bool,
}

/// Makes the pipe pair between a connector and a binder. Returns the
/// connector's and the binder's `SocketPipe`.
fn make_pair(
    name: &str,
    connector: (&Arc<SocketLink>, &PeerOptions, PipeId),
    binder: Option<(&Arc<SocketLink>, &PeerOptions, PipeId)>,
) -> (SocketPipe, SocketPipe) {
    let (c_link, c_opts, c_pipe) = connector;
    let unknown = PeerOptions::unknown(c_opts.socket_type);
    let (b_opts, b_reader_waker, b_writer_waker) = match binder {
        Some((link, opts, pipe)) => (opts, link.reader_waker(pipe), link.waker()),
        None => (&unknown, pipe::no_waker(), pipe::no_waker()),
    };
    let (to_binder_w, to_binder_r) =
        pipe::pipe(queue(c_opts, b_opts), b_reader_waker, c_link.waker());
    let (to_connector_w, to_connector_r) = pipe::pipe(
        queue(b_opts, c_opts),
        c_link.reader_waker(c_pipe),
        b_writer_waker,
    );
    let peer = PeerShared::new(format!("inproc://{name}"));
    peer.set_connected(binder.is_some());
    let sides = Arc::new(Mutex::new(Sides::default()));
    lock(&sides).alive[CONNECTOR] = Some(Side {
        link: c_link.clone(),
        pipe: c_pipe,
    });
    let connector_end = SocketPipe {
        reader: to_connector_r,
        writer: to_binder_w,
        routing_id: match binder {
            Some((_, opts, _)) => opts.routing_id.clone(),
            None => Bytes::new(),
        },
        notice: Some(PeerNotice {
            sides: sides.clone(),
            me: CONNECTOR,
        }),
        peer: peer.clone(),
        properties: None,
    };
    let binder_end = SocketPipe {
        reader: to_binder_r,
        writer: to_connector_w,
        routing_id: c_opts.routing_id.clone(),
        notice: Some(PeerNotice {
            sides: sides.clone(),
            me: BINDER,
        }),
        peer,
        properties: None,
    };
    (connector_end, binder_end)
}

/// Records the binder's side once it has a pipe id; reports whether the
/// connector already left.
fn join_binder(notice: &PeerNotice, link: &Arc<SocketLink>, pipe: PipeId) -> bool {
    let mut sides = lock(&notice.sides);
    sides.alive[BINDER] = Some(Side {
        link: link.clone(),
        pipe,
    });
    sides.gone[CONNECTOR]
}

/// The outcome of a connect.
pub(crate) enum Connected {
    /// Joined to a bound socket (which was sent its end): the connector's
    /// end, with the peer's routing id set.
    Joined(SocketPipe),
    /// Nobody bound the name yet: the connector's end; the bind finishes it.
    Waiting(SocketPipe),
    /// The bound socket's type cannot talk to ours: no connection, as a
    /// failed handshake would leave it over tcp.
    Incompatible,
}

impl Registry {
    /// Binds `name` for `link`. Returns the connections that were waiting,
    /// for the binder to attach (each already has the binder's pipe id
    /// recorded, from `new_id`).
    /// Whether a socket is bound at `name` (without `inproc://`).
    pub(crate) fn is_bound(&self, name: &str) -> bool {
        self.bound.contains_key(name)
    }

    pub(crate) fn bind(
        &mut self,
        name: &str,
        link: &Arc<SocketLink>,
        options: PeerOptions,
        mut new_id: impl FnMut() -> PipeId,
    ) -> Result<Vec<(PipeId, Accepted)>, ()> {
        if self.bound.contains_key(name) {
            return Err(());
        }
        let mut accepted = Vec::new();
        for pending in self.pending.remove(name).unwrap_or_default() {
            let Pending {
                connector,
                ends,
                connector_link,
                connector_pipe,
            } = pending;
            if !link.socket_type.is_compatible(connector.socket_type) {
                // Dropping the ends tells the connector (Detach).
                continue;
            }
            let id = new_id();
            ends.peer.set_connected(true);
            ends.reader.set_waker(link.reader_waker(id));
            ends.writer.set_waker(link.waker());
            ends.reader.set_hwm(combined_hwm(&connector, &options));
            ends.writer.set_hwm(combined_hwm(&options, &connector));
            let connector_gone = ends
                .notice
                .as_ref()
                .is_some_and(|n| join_binder(n, link, id));
            if !connector_gone {
                connector_link.mailbox.send(SocketCmd::PeerReady {
                    id: connector_pipe,
                    routing_id: options.routing_id.clone(),
                    reconnected: false,
                    properties: None,
                });
            }
            accepted.push((
                id,
                Accepted {
                    pipe: ends,
                    connector_gone,
                },
            ));
        }
        self.bound.insert(
            name.to_owned(),
            Binder {
                link: link.clone(),
                options,
            },
        );
        Ok(accepted)
    }

    /// Connects `link` (pipe `pipe`) to `name`: joins the bound socket at
    /// once, or waits for the bind.
    pub(crate) fn connect(
        &mut self,
        name: &str,
        link: &Arc<SocketLink>,
        options: PeerOptions,
        pipe: PipeId,
        binder_pipe: PipeId,
    ) -> Connected {
        match self.bound.get(name) {
            Some(binder) => {
                if !binder.link.socket_type.is_compatible(options.socket_type) {
                    return Connected::Incompatible;
                }
                let (mine, theirs) = make_pair(
                    name,
                    (link, &options, pipe),
                    Some((&binder.link, &binder.options, binder_pipe)),
                );
                if let Some(n) = &theirs.notice {
                    join_binder(n, &binder.link, binder_pipe);
                }
                binder.link.mailbox.send(SocketCmd::Attach {
                    id: binder_pipe,
                    pipe: theirs,
                });
                Connected::Joined(mine)
            }
            None => {
                let (mine, theirs) = make_pair(name, (link, &options, pipe), None);
                self.pending
                    .entry(name.to_owned())
                    .or_default()
                    .push(Pending {
                        connector: options,
                        ends: theirs,
                        connector_link: link.clone(),
                        connector_pipe: pipe,
                    });
                Connected::Waiting(mine)
            }
        }
    }

    /// Unbinds `name` if `socket_id` bound it. Connections stay.
    pub(crate) fn unbind(&mut self, name: &str, socket_id: u64) -> bool {
        if self.bound.get(name).is_some_and(|b| b.link.id == socket_id) {
            self.bound.remove(name);
            true
        } else {
            false
        }
    }

    /// Forgets a connect still waiting for its bind (a disconnect).
    /// Returns the parked ends so the caller drops them outside the lock.
    pub(crate) fn cancel_pending(&mut self, name: &str, pipe: PipeId) -> Vec<SocketPipe> {
        let Some(list) = self.pending.get_mut(name) else {
            return Vec::new();
        };
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(list)
            .into_iter()
            .partition(|p| p.connector_pipe == pipe);
        *list = keep;
        if list.is_empty() {
            self.pending.remove(name);
        }
        gone.into_iter().map(|p| p.ends).collect()
    }

    /// A socket closed: its names are free again.
    pub(crate) fn socket_closed(&mut self, socket_id: u64) {
        self.bound.retain(|_, b| b.link.id != socket_id);
    }
}
