//! Serf's snapshot file (`-snapshot=path`): its records, a parser that never gives up on a
//! file, the replay that rebuilds what a restarting member needs, and [`Restore`], the clocks
//! a [`crate::Serf`] starts from.
//!
//! The file is text, one record a line, appended to as things happen:
//!
//! ```text
//! alive: <name> <ip:port>     a member joined (the address is after the last space)
//! not-alive: <name>           it left or failed
//! clock: <n>                  member clock - 1 (the last time actually used)
//! event-clock: <n>            newest user event seen
//! query-clock: <n>            newest query seen
//! leave                       we left gracefully
//! # ...                       comment; `coordinate: ...` lines of older versions are ignored
//! ```
//!
//! Replay goes through the lines in order. A `leave` clears the alive set and the clocks,
//! unless the agent rejoins after a leave (`-rejoin`), in which case it is skipped. A line
//! that cannot be read is reported with its number and skipped; the rest of the file still
//! counts. A last line without its newline is a write that was cut short: it is reported and
//! not used (a cut `clock: 123` could read as `clock: 12`).
//!
//! Everything here is pure: no file, no clock. The agent owns the file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, SocketAddrV6};
use std::time::Duration;

use rumor_wire::serf::LamportTime;

use crate::state::State;

/// Smallest size a snapshot may grow to before it is compacted (Serf's `MinSnapshotSize`,
/// 128 KiB).
pub const MIN_COMPACT_SIZE: u64 = 128 * 1024;

/// Estimated bytes per alive member in a snapshot (Serf's `snapshotBytesPerNode`).
pub const BYTES_PER_NODE: u64 = 128;

/// A snapshot is compacted when it exceeds this many times its estimated size (Serf's
/// `snapshotCompactionThreshold`).
pub const COMPACTION_FACTOR: u64 = 2;

/// How often buffered records are written out, and how often the clocks are looked at
/// (Serf's `flushInterval` and `clockUpdateInterval`).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Suffix of the file a compaction writes before renaming it over the snapshot.
pub const COMPACT_SUFFIX: &str = ".compact";

/// The clocks a member restarts from, read from its snapshot. Given to
/// [`crate::SerfConfig::restore`], they make [`crate::Serf::new`] start the clocks past them
/// and ignore user events and queries at or below the times already handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restore {
    /// Last member clock time used (`clock:`): the member clock witnesses it.
    pub clock: LamportTime,
    /// Newest user event seen (`event-clock:`): events at or below it are not delivered again.
    pub event_clock: LamportTime,
    /// Newest query seen (`query-clock:`): queries at or below it are ignored.
    pub query_clock: LamportTime,
}

impl State {
    /// Starts the clocks from a snapshot, as Serf's constructor does: each clock witnesses
    /// its restored time (Serf 0.9.4 witnesses all three), and the event and query rings
    /// ignore anything at or below the restored times.
    pub(crate) fn restore(&mut self, r: &Restore) {
        self.clock.witness(r.clock);
        self.event_clock.witness(r.event_clock);
        self.query_clock.witness(r.query_clock);
        self.event_ring.min_time = r.event_clock.saturating_add(1);
        self.query_ring.min_time = r.query_clock.saturating_add(1);
    }
}

/// One line of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `alive: <name> <addr>`: a member joined, reachable at `addr`.
    Alive {
        /// Member name (may contain spaces, never a newline).
        name: String,
        /// Its gossip address.
        addr: SocketAddr,
    },
    /// `not-alive: <name>`: a member left or failed.
    NotAlive {
        /// Member name.
        name: String,
    },
    /// `clock: <n>`: the last member clock time used.
    Clock(LamportTime),
    /// `event-clock: <n>`: the newest user event seen.
    EventClock(LamportTime),
    /// `query-clock: <n>`: the newest query seen.
    QueryClock(LamportTime),
    /// `leave`: this member left gracefully.
    Leave,
    /// `#<text>`: a comment.
    Comment(String),
    /// `coordinate: <text>`: written by Serf versions before 0.8, ignored.
    Coordinate(String),
}

/// Why a snapshot line could not be read. The line is skipped; the others still count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// An `alive:` record without a space between name and address.
    #[error("alive record without an address: {0:?}")]
    MissingAddress(String),
    /// An `alive:` record whose address is not `IP:PORT` / `[IPv6]:PORT`.
    #[error("alive record with a bad address {0:?}")]
    BadAddress(String),
    /// A clock record whose value is not a decimal unsigned 64-bit number.
    #[error("{record} record with a bad time {value:?}")]
    BadTime {
        /// `clock`, `event-clock` or `query-clock`.
        record: &'static str,
        /// The text after the prefix (at most 64 characters of it).
        value: String,
    },
    /// No record starts this way.
    #[error("unrecognized line {0:?}")]
    Unrecognized(String),
    /// The file's last line has no newline: a write was cut short. Not used.
    #[error("last line is not terminated (a write cut short): {0:?}")]
    Unterminated(String),
}

/// A line that could not be read, with its number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub error: ParseError,
}

/// Why a record cannot be written as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A name or comment contains a newline, which would split the record.
    #[error("{0:?} contains a newline and cannot be written to the snapshot")]
    Newline(String),
}

/// At most this many characters of a bad line are quoted in an error.
const QUOTE_MAX: usize = 64;

fn quote(s: &str) -> String {
    s.chars().take(QUOTE_MAX).collect()
}

/// Parses a decimal time as Go's `strconv.ParseUint(s, 10, 64)`: digits only, no sign.
fn parse_time(record: &'static str, s: &str) -> Result<LamportTime, ParseError> {
    let bad = || ParseError::BadTime {
        record,
        value: quote(s),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// Parses one line, without its newline.
pub fn parse_line(line: &[u8]) -> Result<Record, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    if let Some(info) = line.strip_prefix("alive: ") {
        let Some((name, addr)) = info.rsplit_once(' ') else {
            return Err(ParseError::MissingAddress(quote(info)));
        };
        let addr = addr
            .parse::<SocketAddr>()
            .map_err(|_| ParseError::BadAddress(quote(addr)))?;
        Ok(Record::Alive {
            name: name.to_owned(),
            addr,
        })
    } else if let Some(name) = line.strip_prefix("not-alive: ") {
        Ok(Record::NotAlive {
            name: name.to_owned(),
        })
    } else if let Some(t) = line.strip_prefix("clock: ") {
        parse_time("clock", t).map(Record::Clock)
    } else if let Some(t) = line.strip_prefix("event-clock: ") {
        parse_time("event-clock", t).map(Record::EventClock)
    } else if let Some(t) = line.strip_prefix("query-clock: ") {
        parse_time("query-clock", t).map(Record::QueryClock)
    } else if let Some(text) = line.strip_prefix("coordinate: ") {
        Ok(Record::Coordinate(text.to_owned()))
    } else if line == "leave" {
        Ok(Record::Leave)
    } else if let Some(text) = line.strip_prefix('#') {
        Ok(Record::Comment(text.to_owned()))
    } else {
        Err(ParseError::Unrecognized(quote(line)))
    }
}

/// An address as Go's `net.TCPAddr.String()` writes it (an IPv4-mapped IPv6 address as
/// plain IPv4).
fn go_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, v6.scope_id())),
        },
        v4 => v4,
    }
}

fn no_newline(s: &str) -> Result<&str, EncodeError> {
    if s.contains('\n') {
        Err(EncodeError::Newline(quote(s)))
    } else {
        Ok(s)
    }
}

impl Record {
    /// The record as one line, newline included. Addresses are written as Go writes them.
    pub fn encode(&self) -> Result<String, EncodeError> {
        Ok(match self {
            Record::Alive { name, addr } => {
                format!("alive: {} {}\n", no_newline(name)?, go_addr(*addr))
            }
            Record::NotAlive { name } => format!("not-alive: {}\n", no_newline(name)?),
            Record::Clock(t) => format!("clock: {t}\n"),
            Record::EventClock(t) => format!("event-clock: {t}\n"),
            Record::QueryClock(t) => format!("query-clock: {t}\n"),
            Record::Leave => "leave\n".to_owned(),
            Record::Comment(text) => format!("#{}\n", no_newline(text)?),
            Record::Coordinate(text) => format!("coordinate: {}\n", no_newline(text)?),
        })
    }
}

/// The records of a whole file, in order, each with its 1-based line number. See [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
    line: usize,
}

/// Reads a whole file line by line. A last line without a newline yields
/// [`ParseError::Unterminated`].
pub fn lines(data: &[u8]) -> Lines<'_> {
    Lines {
        rest: data,
        line: 0,
    }
}

impl Iterator for Lines<'_> {
    type Item = (usize, Result<Record, ParseError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        self.line += 1;
        match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some((self.line, parse_line(line)))
            }
            None => {
                let text = quote(&String::from_utf8_lossy(self.rest));
                self.rest = &[];
                Some((self.line, Err(ParseError::Unterminated(text))))
            }
        }
    }
}

/// What a snapshot says: the members alive at the end and the last clocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotState {
    /// Members alive, by name, with their address (ourselves included, as Serf writes it).
    pub alive: BTreeMap<String, SocketAddr>,
    /// Last member clock time used.
    pub clock: LamportTime,
    /// Newest user event seen.
    pub event_clock: LamportTime,
    /// Newest query seen.
    pub query_clock: LamportTime,
}

/// What [`SnapshotState::apply`] did with a `leave` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Not a leave: applied (or ignored, for comments).
    Record,
    /// A leave: alive set and clocks cleared.
    LeaveCleared,
    /// A leave, skipped because the member rejoins after leaving.
    LeaveIgnored,
}

impl SnapshotState {
    /// Applies one record as replay does.
    pub fn apply(&mut self, record: &Record, rejoin_after_leave: bool) -> Applied {
        match record {
            Record::Alive { name, addr } => {
                self.alive.insert(name.clone(), *addr);
            }
            Record::NotAlive { name } => {
                self.alive.remove(name);
            }
            Record::Clock(t) => self.clock = *t,
            Record::EventClock(t) => self.event_clock = *t,
            Record::QueryClock(t) => self.query_clock = *t,
            Record::Leave if rejoin_after_leave => return Applied::LeaveIgnored,
            Record::Leave => {
                *self = SnapshotState::default();
                return Applied::LeaveCleared;
            }
            Record::Comment(_) | Record::Coordinate(_) => {}
        }
        Applied::Record
    }

    /// The clocks to start from.
    pub fn restore(&self) -> Restore {
        Restore {
            clock: self.clock,
            event_clock: self.event_clock,
            query_clock: self.query_clock,
        }
    }

    /// The compacted file: every alive member, then the three clocks. Names that cannot be
    /// written (a newline in them) are left out, as they are when appending.
    pub fn compacted(&self) -> String {
        let mut out = String::new();
        for (name, addr) in &self.alive {
            let rec = Record::Alive {
                name: name.clone(),
                addr: *addr,
            };
            if let Ok(line) = rec.encode() {
                out.push_str(&line);
            }
        }
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "clock: {}\nevent-clock: {}\nquery-clock: {}\n",
            self.clock, self.event_clock, self.query_clock
        );
        out
    }

    /// The size past which the file is compacted: `max(min, 2 × 128 B × alive members)`.
    pub fn compaction_threshold(&self, min: u64) -> u64 {
        let est = (self.alive.len() as u64).saturating_mul(BYTES_PER_NODE);
        est.saturating_mul(COMPACTION_FACTOR).max(min)
    }
}

/// The result of reading a snapshot at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The alive members and clocks at the end of the file.
    pub state: SnapshotState,
    /// Lines that could not be read (skipped).
    pub errors: Vec<LineError>,
    /// `leave` records that cleared the state.
    pub leaves_applied: usize,
    /// `leave` records skipped because the member rejoins after leaving.
    pub leaves_ignored: usize,
    /// Whether the file ends in a line without a newline (the next append must not extend it).
    pub unterminated: bool,
}

/// Replays a whole snapshot (see the module docs).
pub fn replay(data: &[u8], rejoin_after_leave: bool) -> Replay {
    let mut r = Replay::default();
    for (line, rec) in lines(data) {
        match rec {
            Ok(rec) => match r.state.apply(&rec, rejoin_after_leave) {
                Applied::Record => {}
                Applied::LeaveCleared => r.leaves_applied += 1,
                Applied::LeaveIgnored => r.leaves_ignored += 1,
            },
            Err(error) => {
                r.unterminated |= matches!(error, ParseError::Unterminated(_));
                r.errors.push(LineError { line, error });
            }
        }
    }
    r
}

impl Replay {
    /// The members to try rejoining: every alive member but `own_name`, in name order (the
    /// caller shuffles them, as Serf does).
    pub fn previous_nodes(&self, own_name: &str) -> Vec<(String, SocketAddr)> {
        self.state
            .alive
            .iter()
            .filter(|(n, _)| n.as_str() != own_name)
            .map(|(n, a)| (n.clone(), *a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const PLAIN: &[u8] = include_bytes!("../../../testdata/serf-0.9.4/snapshot-plain-n1");
    const ENCRYPTED: &[u8] = include_bytes!("../../../testdata/serf-0.9.4/snapshot-encrypted-n1");

    #[test]
    fn serf_plain_sample_replays() {
        let r = replay(PLAIN, false);
        assert_eq!(r.errors, vec![]);
        assert!(!r.unterminated);
        let alive: Vec<_> = r
            .state
            .alive
            .iter()
            .map(|(n, a)| (n.as_str(), *a))
            .collect();
        assert_eq!(
            alive,
            vec![
                ("n1", addr("127.0.1.1:7946")),
                ("n2", addr("127.0.1.2:7946")),
                ("n3", addr("127.0.1.3:7946")),
            ]
        );
        assert_eq!(
            r.state.restore(),
            Restore {
                clock: 6,
                event_clock: 2,
                query_clock: 4
            }
        );
        assert_eq!(
            r.previous_nodes("n1"),
            vec![
                ("n2".to_string(), addr("127.0.1.2:7946")),
                ("n3".to_string(), addr("127.0.1.3:7946"))
            ]
        );
        // Every line of Serf's file is written back byte for byte.
        let rewritten: String = lines(PLAIN)
            .map(|(_, r)| r.unwrap().encode().unwrap())
            .collect();
        assert_eq!(rewritten.as_bytes(), PLAIN);
    }

    #[test]
    fn serf_encrypted_sample_replays() {
        let r = replay(ENCRYPTED, false);
        assert_eq!(r.errors, vec![]);
        assert_eq!(r.state.alive.len(), 3);
        assert_eq!(
            r.state.restore(),
            Restore {
                clock: 1,
                event_clock: 0,
                query_clock: 7
            }
        );
    }

    #[test]
    fn leave_clears_unless_rejoining() {
        let data = b"alive: a 10.0.0.1:7946\nclock: 5\nevent-clock: 3\nquery-clock: 2\nleave\n";
        let r = replay(data, false);
        assert_eq!(r.state, SnapshotState::default());
        assert_eq!((r.leaves_applied, r.leaves_ignored), (1, 0));
        let r = replay(data, true);
        assert_eq!(r.state.alive.len(), 1);
        assert_eq!(r.state.clock, 5);
        assert_eq!((r.leaves_applied, r.leaves_ignored), (0, 1));
        // Serf's n3 after a graceful leave: a clock written after the leave still counts.
        let r = replay(
            b"alive: a 10.0.0.1:7946\nevent-clock: 2\nleave\nclock: 2\n",
            false,
        );
        assert!(r.state.alive.is_empty());
        assert_eq!(
            r.state.restore(),
            Restore {
                clock: 2,
                event_clock: 0,
                query_clock: 0
            }
        );
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_skipped() {
        let data = b"alive: a 10.0.0.1:7946\ngarbage\nclock: x1\nalive: nospace\n\
            alive: b nothost:1\nclock: +4\n\xff\xfe\n# fine\ncoordinate: {}\nclock: 9\nalive: c 10.0.0.3:79";
        let r = replay(data, false);
        let got: Vec<(usize, ParseError)> =
            r.errors.iter().map(|e| (e.line, e.error.clone())).collect();
        assert_eq!(
            got,
            vec![
                (2, ParseError::Unrecognized("garbage".into())),
                (
                    3,
                    ParseError::BadTime {
                        record: "clock",
                        value: "x1".into()
                    }
                ),
                (4, ParseError::MissingAddress("nospace".into())),
                (5, ParseError::BadAddress("nothost:1".into())),
                (
                    6,
                    ParseError::BadTime {
                        record: "clock",
                        value: "+4".into()
                    }
                ),
                (7, ParseError::NotUtf8),
                (11, ParseError::Unterminated("alive: c 10.0.0.3:79".into())),
            ]
        );
        assert!(r.unterminated);
        // What parsed is used; the cut last line is not.
        assert_eq!(r.state.alive.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(r.state.clock, 9);
        assert_eq!(
            r.errors[0].to_string(),
            "line 2: unrecognized line \"garbage\""
        );
        // An empty line is not a record (Serf warns about it too); a time past u64 is bad.
        assert!(matches!(parse_line(b""), Err(ParseError::Unrecognized(_))));
        assert!(matches!(
            parse_line(b"query-clock: 18446744073709551616"),
            Err(ParseError::BadTime {
                record: "query-clock",
                ..
            })
        ));
        assert_eq!(
            parse_line(b"event-clock: 18446744073709551615"),
            Ok(Record::EventClock(u64::MAX))
        );
    }

    #[test]
    fn names_with_spaces_and_ipv6_addresses() {
        let rec = parse_line(b"alive: my node [fe80::1]:7946").unwrap();
        assert_eq!(
            rec,
            Record::Alive {
                name: "my node".into(),
                addr: addr("[fe80::1]:7946")
            }
        );
        // An IPv4-mapped address is written as Go writes it: plain IPv4.
        let mapped = Record::Alive {
            name: "m".into(),
            addr: addr("[::ffff:10.0.0.1]:7946"),
        };
        assert_eq!(mapped.encode().unwrap(), "alive: m 10.0.0.1:7946\n");
        let bad = Record::NotAlive {
            name: "a\nleave".into(),
        };
        assert!(matches!(bad.encode(), Err(EncodeError::Newline(_))));
    }

    #[test]
    fn compaction_keeps_alive_set_and_clocks() {
        let mut s = SnapshotState::default();
        s.apply(
            &Record::Alive {
                name: "b".into(),
                addr: addr("10.0.0.2:1"),
            },
            false,
        );
        s.apply(
            &Record::Alive {
                name: "a".into(),
                addr: addr("10.0.0.1:1"),
            },
            false,
        );
        s.apply(&Record::Clock(7), false);
        s.apply(&Record::QueryClock(3), false);
        let text = s.compacted();
        assert_eq!(
            text,
            "alive: a 10.0.0.1:1\nalive: b 10.0.0.2:1\nclock: 7\nevent-clock: 0\nquery-clock: 3\n"
        );
        assert_eq!(replay(text.as_bytes(), false).state, s);
        assert_eq!(s.compaction_threshold(MIN_COMPACT_SIZE), 128 * 1024);
        assert_eq!(s.compaction_threshold(0), 2 * 128 * 2);
    }

    fn serf_restored(restore: Option<Restore>) -> crate::Serf {
        let swim = rumor_swim::Config::lan("me", addr("10.0.0.1:7946"));
        let mut cfg = crate::SerfConfig::new(swim, BTreeMap::new());
        cfg.restore = restore;
        crate::Serf::new(cfg, 1, crate::Instant::ZERO).unwrap()
    }

    fn user_event_packet(ltime: LamportTime, name: &str) -> Vec<u8> {
        let msg = rumor_wire::serf::SerfMessage::UserEvent(rumor_wire::serf::UserEvent {
            ltime,
            name: name.into(),
            payload: bytes::Bytes::from_static(b"p"),
            cc: false,
        });
        let mut b = vec![rumor_wire::MessageType::User as u8];
        b.extend_from_slice(&msg.to_shared());
        b
    }

    fn delivered(s: &mut crate::Serf) -> Vec<(String, LamportTime)> {
        std::iter::from_fn(|| s.poll_event())
            .filter_map(|e| match e {
                crate::Event::User { name, ltime, .. } => Some((name, ltime)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_restored_serf_starts_past_the_snapshot_clocks() {
        let restore = replay(PLAIN, false).state.restore();
        let s = serf_restored(Some(restore));
        // Each clock witnesses its time: time + 1.
        assert_eq!(s.member_clock(), 7);
        assert_eq!(s.event_clock(), 3);
        assert_eq!(s.query_clock(), 5);
        let fresh = serf_restored(None);
        assert_eq!(
            (
                fresh.member_clock(),
                fresh.event_clock(),
                fresh.query_clock()
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_restored_serf_does_not_deliver_events_already_handled() {
        let restore = Restore {
            clock: 3,
            event_clock: 5,
            query_clock: 0,
        };
        let mut s = serf_restored(Some(restore));
        let from = addr("10.0.0.2:7946");
        s.handle_packet(crate::Instant::ZERO, from, &user_event_packet(4, "old"));
        s.handle_packet(crate::Instant::ZERO, from, &user_event_packet(5, "last"));
        s.handle_packet(crate::Instant::ZERO, from, &user_event_packet(6, "new"));
        assert_eq!(delivered(&mut s), vec![("new".to_string(), 6)]);
        assert_eq!(s.stats().event_queue, 1, "only the new one is gossiped on");
        // Without a restore the same events are all delivered.
        let mut fresh = serf_restored(None);
        for (t, n) in [(4, "old"), (5, "last"), (6, "new")] {
            fresh.handle_packet(crate::Instant::ZERO, from, &user_event_packet(t, n));
        }
        assert_eq!(delivered(&mut fresh).len(), 3);
    }

    #[test]
    fn restore_sets_both_rings_floors() {
        let timing = crate::state::Timing {
            broadcast_timeout: Duration::from_secs(5),
            leave_propagate_delay: Duration::from_secs(1),
            reap_interval: Duration::from_secs(15),
            reconnect_timeout: Duration::from_secs(60),
            tombstone_timeout: Duration::from_secs(60),
            recent_intent_timeout: Duration::from_secs(60),
            reconnect_interval: Duration::from_secs(30),
            queue_check_interval: Duration::from_secs(30),
        };
        let mut st = State::new(rumor_wire::Name::from("me"), 4, timing);
        st.restore(&Restore {
            clock: 0,
            event_clock: 9,
            query_clock: 7,
        });
        assert_eq!(st.clock.time(), 1, "clock 0 leaves the start value");
        assert_eq!(st.event_clock.time(), 10);
        assert_eq!(st.query_clock.time(), 8);
        assert_eq!(st.event_ring.min_time, 10);
        assert_eq!(st.query_ring.min_time, 8);
        assert!(!st.query_ring.accept(7, 1, 8), "at the restored time: seen");
        assert!(st.query_ring.accept(8, 1, 9));
        assert!(!st.event_ring.accept(9, "e", b"", 10));
        assert!(st.event_ring.accept(10, "e", b"", 11));
        // Saturates rather than wrapping to a floor of 0.
        st.restore(&Restore {
            clock: u64::MAX,
            event_clock: u64::MAX,
            query_clock: u64::MAX,
        });
        assert_eq!(st.event_ring.min_time, u64::MAX);
        assert_eq!(st.clock.time(), u64::MAX);
    }

    fn name() -> impl Strategy<Value = String> {
        // Anything but a newline, spaces and non-ASCII included.
        "[^\n]{0,20}"
    }

    fn socket() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            (any::<[u16; 8]>(), any::<u16>())
                .prop_filter("not IPv4-mapped", |(ip, _)| {
                    std::net::Ipv6Addr::from(*ip).to_ipv4_mapped().is_none()
                })
                .prop_map(|(ip, p)| SocketAddr::from((std::net::Ipv6Addr::from(ip), p))),
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            (name(), socket()).prop_map(|(name, addr)| Record::Alive { name, addr }),
            name().prop_map(|name| Record::NotAlive { name }),
            any::<u64>().prop_map(Record::Clock),
            any::<u64>().prop_map(Record::EventClock),
            any::<u64>().prop_map(Record::QueryClock),
            Just(Record::Leave),
            name().prop_map(Record::Comment),
            name().prop_map(Record::Coordinate),
        ]
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(recs in proptest::collection::vec(record(), 0..20)) {
            let text: String = recs.iter().map(|r| r.encode().unwrap()).collect();
            let parsed: Vec<Record> = lines(text.as_bytes()).map(|(_, r)| r.unwrap()).collect();
            prop_assert_eq!(parsed, recs);
        }

        #[test]
        fn compacted_replays_to_the_same_state(recs in proptest::collection::vec(record(), 0..40)) {
            let mut s = SnapshotState::default();
            for r in &recs {
                s.apply(r, false);
            }
            let again = replay(s.compacted().as_bytes(), false);
            prop_assert_eq!(again.errors, vec![]);
            prop_assert_eq!(again.state, s);
        }

        #[test]
        fn any_bytes_parse_without_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = replay(&data, false);
            let newlines = data.iter().filter(|&&b| b == b'\n').count();
            let cut = usize::from(!data.is_empty() && data.last() != Some(&b'\n'));
            prop_assert_eq!(lines(&data).count(), newlines + cut);
            prop_assert_eq!(lines(&data).last().map(|(n, _)| n).unwrap_or(0), newlines + cut);
        }
    }
}
