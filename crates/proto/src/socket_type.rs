//! Socket types, their wire names and the compatibility table of RFC 37.

use std::fmt;

/// A ZeroMQ socket type. The discriminants are libzmq's `ZMQ_*` constants so
/// the C ABI can convert with a cast.
///
/// ```
/// use ferromq_proto::SocketType;
/// assert_eq!(SocketType::from_name(b"DEALER"), Some(SocketType::Dealer));
/// assert!(SocketType::Req.is_compatible(SocketType::Router));
/// assert!(!SocketType::Pub.is_compatible(SocketType::Rep));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[allow(missing_docs)] // each variant is the socket type of the same name
pub enum SocketType {
    Pair = 0,
    Pub = 1,
    Sub = 2,
    Req = 3,
    Rep = 4,
    Dealer = 5,
    Router = 6,
    Pull = 7,
    Push = 8,
    Xpub = 9,
    Xsub = 10,
    Stream = 11,
    Server = 12,
    Client = 13,
    Radio = 14,
    Dish = 15,
    Gather = 16,
    Scatter = 17,
    Dgram = 18,
    Peer = 19,
    Channel = 20,
}

const ALL: [SocketType; 21] = [
    SocketType::Pair,
    SocketType::Pub,
    SocketType::Sub,
    SocketType::Req,
    SocketType::Rep,
    SocketType::Dealer,
    SocketType::Router,
    SocketType::Pull,
    SocketType::Push,
    SocketType::Xpub,
    SocketType::Xsub,
    SocketType::Stream,
    SocketType::Server,
    SocketType::Client,
    SocketType::Radio,
    SocketType::Dish,
    SocketType::Gather,
    SocketType::Scatter,
    SocketType::Dgram,
    SocketType::Peer,
    SocketType::Channel,
];

impl SocketType {
    /// Every socket type, in libzmq's numeric order.
    pub const ALL: [SocketType; 21] = ALL;

    /// The name sent in the Socket-Type property (`"REQ"`, `"XPUB"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::Xpub => "XPUB",
            SocketType::Xsub => "XSUB",
            SocketType::Stream => "STREAM",
            SocketType::Server => "SERVER",
            SocketType::Client => "CLIENT",
            SocketType::Radio => "RADIO",
            SocketType::Dish => "DISH",
            SocketType::Gather => "GATHER",
            SocketType::Scatter => "SCATTER",
            SocketType::Dgram => "DGRAM",
            SocketType::Peer => "PEER",
            SocketType::Channel => "CHANNEL",
        }
    }

    /// Parses a Socket-Type property value. Socket type names are matched
    /// exactly (upper case), as libzmq does.
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        ALL.iter().copied().find(|t| t.name().as_bytes() == name)
    }

    /// The socket type with libzmq's numeric value `raw`.
    pub fn from_raw(raw: i32) -> Option<SocketType> {
        usize::try_from(raw).ok().and_then(|i| ALL.get(i).copied())
    }

    /// libzmq's numeric value (`ZMQ_REQ` = 3, ...).
    pub const fn to_raw(self) -> i32 {
        self as i32
    }

    /// Whether a socket of this type may talk to a peer of type `peer`
    /// (the table in RFC 37, "The Socket-Type Property").
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        //= rfc37#the-socket-type-property
        //# The peer SHOULD enforce that the other peer is using a valid socket
        //# type.
        match self {
            Req => matches!(peer, Rep | Router),
            Rep => matches!(peer, Req | Dealer),
            Dealer => matches!(peer, Rep | Dealer | Router),
            Router => matches!(peer, Req | Dealer | Router),
            Pub | Xpub => matches!(peer, Sub | Xsub),
            Sub | Xsub => matches!(peer, Pub | Xpub),
            Push => peer == Pull,
            Pull => peer == Push,
            Pair => peer == Pair,
            Client => peer == Server,
            Server => peer == Client,
            Radio => peer == Dish,
            Dish => peer == Radio,
            Scatter => peer == Gather,
            Gather => peer == Scatter,
            Peer => peer == Peer,
            Channel => peer == Channel,
            // STREAM and DGRAM do not speak ZMTP.
            Stream | Dgram => false,
        }
    }

    /// Whether this socket type announces an Identity property in its READY
    /// (libzmq does so for REQ, DEALER and ROUTER, even when it is empty).
    pub const fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_raw_values_match_libzmq() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_name(t.name().as_bytes()), Some(t));
            assert_eq!(SocketType::from_raw(t.to_raw()), Some(t));
        }
        assert_eq!(SocketType::Push.to_raw(), 8);
        assert_eq!(SocketType::Xsub.to_raw(), 10);
        assert_eq!(SocketType::from_raw(21), None);
        assert_eq!(SocketType::from_raw(-1), None);
        assert_eq!(SocketType::from_name(b"req"), None);
    }

    #[test]
    fn compatibility_table_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn classic_pairs_from_rfc37() {
        use SocketType::*;
        let legal = [
            (Req, Rep),
            (Req, Router),
            (Dealer, Rep),
            (Dealer, Dealer),
            (Dealer, Router),
            (Router, Router),
            (Pub, Sub),
            (Pub, Xsub),
            (Xpub, Sub),
            (Xpub, Xsub),
            (Push, Pull),
            (Pair, Pair),
        ];
        let classic = [
            Pair, Pub, Sub, Req, Rep, Dealer, Router, Pull, Push, Xpub, Xsub,
        ];
        for a in classic {
            for b in classic {
                let expected = legal.contains(&(a, b)) || legal.contains(&(b, a));
                assert_eq!(a.is_compatible(b), expected, "{a} vs {b}");
            }
        }
    }
}
