//! Protocol versions, named: the six version bytes every member advertises
//! (`[PMin, PMax, PCur, DMin, DMax, DCur]`) and what each memberlist protocol version allows.

use std::fmt;

use bytes::Bytes;

/// A member's version ranges: memberlist protocol `pmin..=pmax` speaking `pcur`, and the
/// delegate (Serf) protocol `dmin..=dmax` speaking `dcur`. All zeros when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Versions {
    /// Lowest memberlist protocol understood.
    pub pmin: u8,
    /// Highest memberlist protocol understood.
    pub pmax: u8,
    /// Memberlist protocol spoken.
    pub pcur: u8,
    /// Lowest delegate protocol understood.
    pub dmin: u8,
    /// Highest delegate protocol understood.
    pub dmax: u8,
    /// Delegate protocol spoken.
    pub dcur: u8,
}

/// Memberlist protocol 3 added the TCP fallback ping.
const TCP_PING_SINCE: u8 = 3;
/// Memberlist protocol 4 added nacks from indirect-probe relays.
const NACK_SINCE: u8 = 4;
/// Memberlist protocol 5 added the CRC on datagrams.
const CRC_SINCE: u8 = 5;

impl Versions {
    /// Unknown (all zeros).
    pub const UNKNOWN: Versions = Versions::from_bytes([0; 6]);

    /// From the wire's six bytes.
    pub const fn from_bytes(b: [u8; 6]) -> Self {
        Versions {
            pmin: b[0],
            pmax: b[1],
            pcur: b[2],
            dmin: b[3],
            dmax: b[4],
            dcur: b[5],
        }
    }

    /// The wire's six bytes.
    pub const fn to_bytes(self) -> [u8; 6] {
        [
            self.pmin, self.pmax, self.pcur, self.dmin, self.dmax, self.dcur,
        ]
    }

    /// From a wire field: `None` when absent or not exactly readable as six bytes (a short
    /// field is padded with zeros, as memberlist reads it).
    pub fn from_wire(v: &Option<Bytes>) -> Option<Self> {
        let b = v.as_ref().filter(|b| !b.is_empty())?;
        let mut out = [0u8; 6];
        for (o, i) in out.iter_mut().zip(b.iter()) {
            *o = *i;
        }
        Some(Versions::from_bytes(out))
    }

    /// Whether nothing is known.
    pub fn is_unknown(self) -> bool {
        self == Versions::UNKNOWN
    }

    /// Whether the member takes a CRC on datagrams sent to it.
    pub fn supports_crc(self) -> bool {
        self.pmax >= CRC_SINCE
    }

    /// Whether the member, relaying an indirect probe, answers with a nack.
    pub fn supports_nack(self) -> bool {
        self.pmax >= NACK_SINCE
    }

    /// Whether the member answers a ping over TCP.
    pub fn supports_tcp_ping(self) -> bool {
        self.pmax >= TCP_PING_SINCE
    }

    /// Whether the memberlist range is well formed (`0 < pmin <= pmax`), as memberlist checks
    /// every alive message.
    pub fn memberlist_range_ok(self) -> bool {
        self.pmin != 0 && self.pmax != 0 && self.pmin <= self.pmax
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memberlist {}..={} speaking {}, delegate {}..={} speaking {}",
            self.pmin, self.pmax, self.pcur, self.dmin, self.dmax, self.dcur
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_pmax() {
        let v = |pmax| Versions::from_bytes([1, pmax, 2, 0, 0, 0]);
        assert!(!v(2).supports_tcp_ping());
        assert!(v(3).supports_tcp_ping() && !v(3).supports_nack());
        assert!(v(4).supports_nack() && !v(4).supports_crc());
        assert!(v(5).supports_crc());
        assert!(!Versions::from_bytes([0, 5, 2, 0, 0, 0]).memberlist_range_ok());
        assert!(!Versions::from_bytes([3, 2, 2, 0, 0, 0]).memberlist_range_ok());
        assert!(Versions::from_bytes([1, 5, 2, 0, 0, 0]).memberlist_range_ok());
    }

    #[test]
    fn wire_round_trip_and_padding() {
        let b = [1, 5, 2, 2, 5, 5];
        assert_eq!(Versions::from_bytes(b).to_bytes(), b);
        assert_eq!(Versions::from_wire(&None), None);
        assert_eq!(Versions::from_wire(&Some(Bytes::new())), None);
        let short = Versions::from_wire(&Some(Bytes::from_static(&[1, 5, 2])));
        assert_eq!(short, Some(Versions::from_bytes([1, 5, 2, 0, 0, 0])));
    }
}
