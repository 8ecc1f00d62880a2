//! Serf's state: the member table with statuses and status times, the three clocks, the
//! intent buffer, the event and query rings, the broadcast queues, timers and pending events.
//!
//! It sits beside the SWIM node in [`crate::Serf`], not inside it: SWIM's events (member
//! join, leave, update, user messages, remote state) are applied here after each call into
//! the node, and the node asks for broadcasts and push-pull state through
//! [`crate::hooks::SerfHooks`], which borrows this state for the length of one call.

use std::collections::{BTreeMap, VecDeque};
#[cfg(test)]
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(test)]
use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::Name;

use crate::broadcast::Queues;
use crate::clock::LamportClock;
use crate::event::Event;
use crate::intent::{IntentKind, RecentIntents};
use crate::member::{Member, MemberState, MemberStatus};
use crate::query::{Pending, QueryRing};
use crate::query_collector::Collector;
use crate::serf::SerfState;
use crate::timer::Timers;
use crate::user_event::EventRing;
use rumor_wire::serf::LamportTime;

/// The durations Serf's state machine uses (copied from [`crate::SerfConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) broadcast_timeout: Duration,
    pub(crate) leave_propagate_delay: Duration,
    pub(crate) reap_interval: Duration,
    pub(crate) reconnect_timeout: Duration,
    pub(crate) tombstone_timeout: Duration,
    pub(crate) recent_intent_timeout: Duration,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct State {
    /// Our name.
    pub(crate) name: Name,
    /// Our lifecycle.
    pub(crate) serf_state: SerfState,
    /// Member clock: intents and push-pull.
    pub(crate) clock: LamportClock,
    /// Event clock: user events.
    pub(crate) event_clock: LamportClock,
    /// Query clock: queries.
    pub(crate) query_clock: LamportClock,
    /// Every member we know, ourselves included, failed and left ones until reaped.
    pub(crate) members: BTreeMap<Name, MemberState>,
    /// Intents about members not known yet.
    pub(crate) intents: RecentIntents,
    /// User event ring.
    pub(crate) event_ring: EventRing,
    /// Query ring.
    pub(crate) query_ring: QueryRing,
    /// Collectors of the queries we sent, by query time.
    pub(crate) collectors: BTreeMap<LamportTime, Collector>,
    /// Queries delivered to us and not yet past their deadline, by (time, id).
    pub(crate) pending: BTreeMap<(LamportTime, u32), Pending>,
    /// Intent, query and event queues.
    pub(crate) queues: Queues,
    /// Serf's timers.
    pub(crate) timers: Timers,
    /// Durations.
    pub(crate) timing: Timing,
    /// Events not yet polled.
    pub(crate) events: VecDeque<Event>,
}

impl State {
    pub(crate) fn new(name: Name, retransmit_mult: u32, timing: Timing) -> Self {
        let mut s = State {
            name,
            serf_state: SerfState::Alive,
            clock: LamportClock::new(),
            event_clock: LamportClock::new(),
            query_clock: LamportClock::new(),
            members: BTreeMap::new(),
            intents: RecentIntents::default(),
            event_ring: EventRing::default(),
            query_ring: QueryRing::default(),
            collectors: BTreeMap::new(),
            pending: BTreeMap::new(),
            queues: Queues::new(retransmit_mult),
            timers: Timers::default(),
            timing,
            events: VecDeque::new(),
        };
        // Serf starts every clock at 1.
        s.clock.increment();
        s.event_clock.increment();
        s.query_clock.increment();
        s
    }

    pub(crate) fn emit(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// Whether a member other than us is alive (Serf's `hasAliveMembers`).
    pub(crate) fn has_alive_members(&self) -> bool {
        self.members
            .values()
            .any(|m| m.member.name != self.name && m.member.status == MemberStatus::Alive)
    }

    // ---- SWIM notifications ----------------------------------------------------------------

    /// SWIM says a member joined (new, or back from dead or left).
    pub(crate) fn on_join(&mut self, now: Instant, m: &rumor_swim::Member) {
        let _ = now;
        let member = match self.members.get_mut(&m.name) {
            None => {
                let mut st = MemberState {
                    member: Member::from_swim(m, MemberStatus::Alive),
                    status_ltime: 0,
                    leave_time: None,
                };
                // An intent may have outrun the member itself.
                if let Some(t) = self.intents.get(&m.name, IntentKind::Join) {
                    st.status_ltime = t;
                }
                if let Some(t) = self.intents.get(&m.name, IntentKind::Leave) {
                    st.status_ltime = t;
                    st.member.status = MemberStatus::Leaving;
                }
                let member = st.member.clone();
                self.members.insert(m.name.clone(), st);
                member
            }
            Some(st) => {
                if st.member.status == MemberStatus::Failed {
                    tracing::debug!(node = %m.name, "failed member is back");
                }
                st.member.status = MemberStatus::Alive;
                st.leave_time = None;
                st.member.update_from_swim(m);
                st.member.clone()
            }
        };
        tracing::info!(node = %member.name, addr = %member.addr, "member joined");
        self.emit(Event::MemberJoin(member));
    }

    /// SWIM says a member is gone: failed, or left if it had announced its leave.
    pub(crate) fn on_leave(&mut self, now: Instant, m: &rumor_swim::Member) {
        let Some(st) = self.members.get_mut(&m.name) else {
            return;
        };
        let event = match st.member.status {
            MemberStatus::Leaving => {
                st.member.status = MemberStatus::Left;
                st.leave_time = Some(now);
                Event::MemberLeave(st.member.clone())
            }
            MemberStatus::Alive => {
                st.member.status = MemberStatus::Failed;
                st.leave_time = Some(now);
                Event::MemberFailed(st.member.clone())
            }
            other => {
                tracing::warn!(node = %m.name, status = %other, "leave notice for a member not alive or leaving");
                return;
            }
        };
        tracing::info!(node = %m.name, status = %st.member.status, "member gone");
        self.emit(event);
    }

    /// SWIM says a member's meta (tags) or address changed.
    pub(crate) fn on_update(&mut self, m: &rumor_swim::Member) {
        let Some(st) = self.members.get_mut(&m.name) else {
            return;
        };
        st.member.update_from_swim(m);
        let member = st.member.clone();
        tracing::info!(node = %member.name, "member updated");
        self.emit(Event::MemberUpdate(member));
    }

    // ---- reaping ---------------------------------------------------------------------------

    /// Erases a member and reports it (`member-reap`).
    pub(crate) fn erase(&mut self, node: &str, why: &'static str) {
        if let Some(st) = self.members.remove(node) {
            tracing::info!(node, why, "member reaped");
            self.emit(Event::MemberReap(st.member));
        }
    }

    /// The reaper: failed members past `reconnect_timeout`, left members past
    /// `tombstone_timeout`, intents past `recent_intent_timeout`.
    pub(crate) fn reap(&mut self, now: Instant) {
        let t = self.timing;
        let expired: Vec<Name> = self
            .members
            .values()
            .filter(|st| st.member.name != self.name)
            .filter(|st| {
                let timeout = match st.member.status {
                    MemberStatus::Failed => t.reconnect_timeout,
                    MemberStatus::Left => t.tombstone_timeout,
                    _ => return false,
                };
                st.leave_time
                    .is_some_and(|at| now.saturating_duration_since(at) > timeout)
            })
            .map(|st| st.member.name.clone())
            .collect();
        for name in expired {
            self.erase(&name, "timeout");
        }
        self.intents.reap(now, t.recent_intent_timeout);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A bare [`State`] with members, for unit tests of the state machine.

    use super::*;

    pub(crate) fn timing() -> Timing {
        Timing {
            broadcast_timeout: Duration::from_secs(5),
            leave_propagate_delay: Duration::from_secs(1),
            reap_interval: Duration::from_secs(15),
            reconnect_timeout: Duration::from_secs(3600),
            tombstone_timeout: Duration::from_secs(3600),
            recent_intent_timeout: Duration::from_secs(300),
        }
    }

    /// A state named `me`, knowing only itself (alive).
    pub(crate) fn state(me: &str) -> State {
        let mut s = State::new(Name::from(me), 4, timing());
        add(&mut s, me, MemberStatus::Alive, 0);
        s.events.clear();
        s
    }

    /// Adds a member with a status and status time.
    pub(crate) fn add(s: &mut State, name: &str, status: MemberStatus, ltime: u64) {
        let member = Member {
            name: Name::from(name),
            addr: SocketAddr::from(([10, 0, 0, 1], 7946)),
            tags: BTreeMap::new(),
            status,
            protocol: [1, 5, 2],
            delegate: [2, 5, 5],
        };
        let leave_time =
            matches!(status, MemberStatus::Failed | MemberStatus::Left).then_some(Instant::ZERO);
        s.members.insert(
            Name::from(name),
            MemberState {
                member,
                status_ltime: ltime,
                leave_time,
            },
        );
    }

    /// A SWIM member record for `name`.
    pub(crate) fn swim_member(name: &str, meta: &[u8]) -> rumor_swim::Member {
        rumor_swim::Member {
            name: Name::from(name),
            ip: [10, 0, 0, 9].into(),
            port: 7946,
            meta: Bytes::copy_from_slice(meta),
            incarnation: 1,
            state: rumor_swim::State::Alive,
            vsn: rumor_swim::Versions::from_bytes([1, 5, 2, 2, 5, 5]),
            state_change: Instant::ZERO,
        }
    }

    /// Statuses and status times by name.
    pub(crate) fn summary(s: &State) -> Vec<(String, MemberStatus, u64)> {
        s.members
            .values()
            .map(|m| (m.member.name.to_string(), m.member.status, m.status_ltime))
            .collect()
    }
}
