//! Serf's two event coalescers (`serf/coalesce*.go`), as pure state machines: the caller
//! passes `now` in, asks for the next deadline, and polls for what is due.
//!
//! Both share one timing rule ([`Window`]): a batch is flushed `coalesce` after its first
//! event (the quantum) or `quiescent` after its latest event, whichever comes first; the
//! agent uses 3 s and 1 s for both (serf.md §7.1).
//!
//! - [`MemberCoalescer`]: per member only the newest event type is kept; at a flush members
//!   are grouped into one batch per type; a member whose type equals the last type flushed
//!   for it is suppressed, except `member-update`.
//! - [`UserCoalescer`]: only user events with `coalesce = true`; per event name only the
//!   events at the highest Lamport time survive (all of them, if several).
//!
//! One departure from Serf 0.9.4: Serf never empties its member table after a flush, so a
//! member whose newest event was a `member-update` is delivered again as `member-update`
//! with every later member flush (the handler sample in `testdata/serf-0.9.4/` shows it).
//! We empty the pending table at each flush, so an update is delivered once; the last
//! flushed type per member is kept, as in Serf, for the suppression rule.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rumor_serf::{LamportTime, Member};

use super::{HandlerEvent, MemberKind, UserEvent};

/// The agent's coalesce period (`CoalescePeriod`, `UserCoalescePeriod`).
pub const COALESCE_PERIOD: Duration = Duration::from_secs(3);
/// The agent's quiescent period (`QuiescentPeriod`, `UserQuiescentPeriod`).
pub const QUIESCENT_PERIOD: Duration = Duration::from_secs(1);

/// When a batch is due: `coalesce` after its first event or `quiescent` after its latest.
#[derive(Debug, Clone)]
pub struct Window {
    coalesce: Duration,
    quiescent: Duration,
    quantum_end: Option<Instant>,
    quiet_end: Option<Instant>,
}

impl Window {
    /// A window with the given periods.
    pub fn new(coalesce: Duration, quiescent: Duration) -> Window {
        Window {
            coalesce,
            quiescent,
            quantum_end: None,
            quiet_end: None,
        }
    }

    /// An event arrived at `now`: start the quantum if none runs, restart the quiet timer.
    pub fn touch(&mut self, now: Instant) {
        if self.quantum_end.is_none() {
            self.quantum_end = Some(now + self.coalesce);
        }
        self.quiet_end = Some(now + self.quiescent);
    }

    /// When the batch is due (None: nothing pending).
    pub fn deadline(&self) -> Option<Instant> {
        match (self.quantum_end, self.quiet_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the batch is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    fn reset(&mut self) {
        self.quantum_end = None;
        self.quiet_end = None;
    }
}

/// Serf's member-event coalescer.
#[derive(Debug, Clone)]
pub struct MemberCoalescer {
    window: Window,
    /// Newest event per member since the last flush.
    latest: BTreeMap<String, (MemberKind, Member)>,
    /// The type last flushed per member.
    last: BTreeMap<String, MemberKind>,
}

impl MemberCoalescer {
    /// A coalescer with the given periods.
    pub fn new(coalesce: Duration, quiescent: Duration) -> MemberCoalescer {
        MemberCoalescer {
            window: Window::new(coalesce, quiescent),
            latest: BTreeMap::new(),
            last: BTreeMap::new(),
        }
    }

    /// A member event arrived at `now`.
    pub fn push(&mut self, now: Instant, kind: MemberKind, member: Member) {
        self.window.touch(now);
        self.latest.insert(member.name.to_string(), (kind, member));
    }

    /// When the pending batch is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.window.deadline()
    }

    /// The batches due at `now` (empty if not due): one per type, in [`MemberKind`] order,
    /// members by name.
    pub fn poll(&mut self, now: Instant) -> Vec<HandlerEvent> {
        if !self.window.due(now) {
            return Vec::new();
        }
        self.flush()
    }

    /// Flush whatever is pending, due or not (shutdown).
    pub fn flush(&mut self) -> Vec<HandlerEvent> {
        self.window.reset();
        let mut groups: BTreeMap<MemberKind, Vec<Member>> = BTreeMap::new();
        for (name, (kind, member)) in std::mem::take(&mut self.latest) {
            if self.last.get(&name) == Some(&kind) && kind != MemberKind::Update {
                continue;
            }
            self.last.insert(name, kind);
            groups.entry(kind).or_default().push(member);
        }
        groups
            .into_iter()
            .map(|(kind, members)| HandlerEvent::Member { kind, members })
            .collect()
    }
}

/// Serf's user-event coalescer.
#[derive(Debug, Clone)]
pub struct UserCoalescer {
    window: Window,
    /// Per name: the highest Lamport time seen and the events at it, in arrival order.
    latest: BTreeMap<String, (LamportTime, Vec<UserEvent>)>,
}

impl UserCoalescer {
    /// A coalescer with the given periods.
    pub fn new(coalesce: Duration, quiescent: Duration) -> UserCoalescer {
        UserCoalescer {
            window: Window::new(coalesce, quiescent),
            latest: BTreeMap::new(),
        }
    }

    /// Whether this coalescer takes the event (only `coalesce = true` events).
    pub fn handles(event: &UserEvent) -> bool {
        event.coalesce
    }

    /// A coalescable user event arrived at `now`. Even one older than what is kept restarts
    /// the quiet timer, as in Serf.
    pub fn push(&mut self, now: Instant, event: UserEvent) {
        self.window.touch(now);
        match self.latest.get_mut(&event.name) {
            Some((ltime, events)) if *ltime == event.ltime => events.push(event),
            Some((ltime, _)) if *ltime > event.ltime => {}
            _ => {
                self.latest
                    .insert(event.name.clone(), (event.ltime, vec![event]));
            }
        }
    }

    /// When the pending batch is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.window.deadline()
    }

    /// The events due at `now` (empty if not due): by name, then in arrival order.
    pub fn poll(&mut self, now: Instant) -> Vec<HandlerEvent> {
        if !self.window.due(now) {
            return Vec::new();
        }
        self.flush()
    }

    /// Flush whatever is pending, due or not (shutdown).
    pub fn flush(&mut self) -> Vec<HandlerEvent> {
        self.window.reset();
        std::mem::take(&mut self.latest)
            .into_values()
            .flat_map(|(_, events)| events.into_iter().map(HandlerEvent::User))
            .collect()
    }
}

/// Both coalescers in front of the handlers, as the agent wires them: user events with
/// `coalesce = true` and member events are held; everything else passes at once.
#[derive(Debug, Clone)]
pub struct Coalescers {
    /// Member events.
    pub member: MemberCoalescer,
    /// User events.
    pub user: UserCoalescer,
}

impl Coalescers {
    /// The agent's periods (3 s coalesce, 1 s quiescent) for both.
    pub fn agent_default() -> Coalescers {
        Coalescers {
            member: MemberCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD),
            user: UserCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD),
        }
    }

    /// An event arrived at `now`; returns what passes through at once.
    pub fn push(&mut self, now: Instant, event: HandlerEvent) -> Option<HandlerEvent> {
        match event {
            HandlerEvent::Member { kind, members } => {
                for m in members {
                    self.member.push(now, kind, m);
                }
                None
            }
            HandlerEvent::User(u) if UserCoalescer::handles(&u) => {
                self.user.push(now, u);
                None
            }
            other => Some(other),
        }
    }

    /// The earliest deadline of the two.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.user.deadline(), self.member.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Everything due at `now`: user events first (Serf's user coalescer sits in front).
    pub fn poll(&mut self, now: Instant) -> Vec<HandlerEvent> {
        let mut out = self.user.poll(now);
        out.extend(self.member.poll(now));
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;
    use rumor_serf::MemberStatus;

    const MS: Duration = Duration::from_millis(1);

    fn member(name: &str) -> Member {
        Member {
            name: name.into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            tags: BTreeMap::new(),
            status: MemberStatus::Alive,
            protocol: [1, 5, 2],
            delegate: [2, 5, 4],
        }
    }

    fn user(name: &str, ltime: LamportTime, payload: &str, coalesce: bool) -> UserEvent {
        UserEvent {
            name: name.into(),
            payload: Bytes::from(payload.to_string()),
            ltime,
            coalesce,
        }
    }

    /// (kind, [names]) of member batches.
    fn shape(events: &[HandlerEvent]) -> Vec<(MemberKind, Vec<String>)> {
        events
            .iter()
            .map(|e| match e {
                HandlerEvent::Member { kind, members } => {
                    (*kind, members.iter().map(|m| m.name.to_string()).collect())
                }
                other => panic!("not a member event: {other:?}"),
            })
            .collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quiescent_flush_is_one_second_after_the_last_event() {
        let t0 = Instant::now();
        let mut c = MemberCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD);
        assert_eq!(c.deadline(), None);
        c.push(t0, MemberKind::Join, member("a"));
        c.push(t0 + 400 * MS, MemberKind::Join, member("b"));
        assert_eq!(c.deadline(), Some(t0 + 1400 * MS));
        assert!(c.poll(t0 + 1399 * MS).is_empty());
        let out = c.poll(t0 + 1400 * MS);
        assert_eq!(shape(&out), vec![(MemberKind::Join, names(&["a", "b"]))]);
        assert_eq!(c.deadline(), None);
        assert!(c.poll(t0 + 10_000 * MS).is_empty());
    }

    #[test]
    fn quantum_caps_a_busy_batch_at_three_seconds() {
        let t0 = Instant::now();
        let mut c = MemberCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD);
        // An event every 900 ms keeps the quiet timer from ever firing.
        for i in 0..4u32 {
            c.push(
                t0 + i * 900 * MS,
                MemberKind::Join,
                member(&format!("m{i}")),
            );
        }
        assert_eq!(c.deadline(), Some(t0 + 3000 * MS));
        assert!(c.poll(t0 + 2999 * MS).is_empty());
        let out = c.poll(t0 + 3000 * MS);
        assert_eq!(
            shape(&out),
            vec![(MemberKind::Join, names(&["m0", "m1", "m2", "m3"]))]
        );
        // A new batch starts its own quantum.
        c.push(t0 + 3100 * MS, MemberKind::Leave, member("m0"));
        assert_eq!(c.deadline(), Some(t0 + 4100 * MS));
    }

    #[test]
    fn newest_type_per_member_grouped_by_type() {
        let t0 = Instant::now();
        let mut c = MemberCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD);
        c.push(t0, MemberKind::Join, member("a"));
        c.push(t0, MemberKind::Join, member("b"));
        c.push(t0, MemberKind::Join, member("c"));
        c.push(t0 + MS, MemberKind::Failed, member("b"));
        c.push(t0 + MS, MemberKind::Update, member("c"));
        let out = c.poll(t0 + 1001 * MS);
        assert_eq!(
            shape(&out),
            vec![
                (MemberKind::Join, names(&["a"])),
                (MemberKind::Failed, names(&["b"])),
                (MemberKind::Update, names(&["c"])),
            ]
        );
    }

    #[test]
    fn repeat_of_the_last_flushed_type_is_suppressed_except_update() {
        let t0 = Instant::now();
        let mut c = MemberCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD);
        c.push(t0, MemberKind::Join, member("a"));
        c.push(t0, MemberKind::Update, member("u"));
        assert_eq!(c.poll(t0 + 1000 * MS).len(), 2);
        // a joins again (no change seen in between) and u updates again.
        c.push(t0 + 2000 * MS, MemberKind::Join, member("a"));
        c.push(t0 + 2000 * MS, MemberKind::Update, member("u"));
        assert_eq!(
            shape(&c.poll(t0 + 3000 * MS)),
            vec![(MemberKind::Update, names(&["u"]))]
        );
        // A different type goes out, then the same type again is fine.
        c.push(t0 + 4000 * MS, MemberKind::Failed, member("a"));
        assert_eq!(
            shape(&c.poll(t0 + 5000 * MS)),
            vec![(MemberKind::Failed, names(&["a"]))]
        );
        c.push(t0 + 6000 * MS, MemberKind::Join, member("a"));
        assert_eq!(
            shape(&c.poll(t0 + 7000 * MS)),
            vec![(MemberKind::Join, names(&["a"]))]
        );
        // An update is not repeated by a later flush of someone else.
        c.push(t0 + 8000 * MS, MemberKind::Join, member("b"));
        assert_eq!(
            shape(&c.poll(t0 + 9000 * MS)),
            vec![(MemberKind::Join, names(&["b"]))]
        );
        // A batch that suppresses everything still resets the window.
        c.push(t0 + 10_000 * MS, MemberKind::Join, member("b"));
        assert!(c.poll(t0 + 11_000 * MS).is_empty());
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn user_only_highest_ltime_per_name_survives() {
        let t0 = Instant::now();
        let mut c = UserCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD);
        c.push(t0, user("deploy", 5, "a", true));
        c.push(t0 + MS, user("deploy", 7, "b", true));
        c.push(t0 + 2 * MS, user("deploy", 7, "c", true));
        c.push(t0 + 3 * MS, user("deploy", 6, "old", true));
        c.push(t0 + 4 * MS, user("restart", 2, "r", true));
        assert_eq!(c.deadline(), Some(t0 + 1004 * MS));
        assert!(c.poll(t0 + 1003 * MS).is_empty());
        let out: Vec<(String, LamportTime, Bytes)> = c
            .poll(t0 + 1004 * MS)
            .into_iter()
            .map(|e| match e {
                HandlerEvent::User(u) => (u.name, u.ltime, u.payload),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            out,
            vec![
                ("deploy".into(), 7, Bytes::from("b")),
                ("deploy".into(), 7, Bytes::from("c")),
                ("restart".into(), 2, Bytes::from("r")),
            ]
        );
        assert_eq!(c.deadline(), None);
        // After a flush, an older time than the one flushed starts afresh (Serf forgets).
        c.push(t0 + 2000 * MS, user("deploy", 3, "x", true));
        assert_eq!(c.poll(t0 + 3000 * MS).len(), 1);
    }

    #[test]
    fn user_quantum_and_quiet_bounds() {
        let t0 = Instant::now();
        let mut c = UserCoalescer::new(COALESCE_PERIOD, QUIESCENT_PERIOD);
        for i in 0..5u32 {
            c.push(t0 + i * 700 * MS, user("e", u64::from(i), "", true));
        }
        // Last push at 2800 ms: quiet end 3800 ms, quantum end 3000 ms.
        assert_eq!(c.deadline(), Some(t0 + 3000 * MS));
        assert!(c.poll(t0 + 2999 * MS).is_empty());
        assert_eq!(c.poll(t0 + 3000 * MS).len(), 1);
    }

    #[test]
    fn coalescers_pass_through_what_they_do_not_hold() {
        let t0 = Instant::now();
        let mut c = Coalescers::agent_default();
        let nc = HandlerEvent::User(user("now", 1, "p", false));
        assert_eq!(c.push(t0, nc.clone()), Some(nc));
        let q = HandlerEvent::Query(crate::handler::QueryEvent {
            name: "q".into(),
            payload: Bytes::new(),
            ltime: 1,
            id: 9,
        });
        assert_eq!(c.push(t0, q.clone()), Some(q));
        assert_eq!(c.deadline(), None);
        assert_eq!(
            c.push(t0, HandlerEvent::User(user("later", 1, "", true))),
            None
        );
        assert_eq!(
            c.push(
                t0 + 500 * MS,
                HandlerEvent::Member {
                    kind: MemberKind::Join,
                    members: vec![member("a")],
                }
            ),
            None
        );
        assert_eq!(c.deadline(), Some(t0 + 1000 * MS));
        let first = c.poll(t0 + 1000 * MS);
        assert!(matches!(&first[..], [HandlerEvent::User(u)] if u.name == "later"));
        assert_eq!(c.deadline(), Some(t0 + 1500 * MS));
        let second = c.poll(t0 + 1500 * MS);
        assert_eq!(shape(&second), vec![(MemberKind::Join, names(&["a"]))]);
    }
}
