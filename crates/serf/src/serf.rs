//! [`Serf`]: one member's view of one Serf pool, and the entry points that drive it.
//!
//! Same sans-IO surface as [`rumor_swim::Node`]: feed it packets, streams and timeouts, then
//! drain `poll_transmit`, `poll_event` and `poll_timeout`. After every input it settles:
//! SWIM's member notifications are applied to Serf's state (join, leave, update), relayed
//! messages are sent, and a graceful leave moves on to its next step.
//!
//! A graceful leave, step by step (Serf's `Leave`):
//!
//! ```text
//!  leave()   status leaving, leave intent queued        (no other live member: skip the wait)
//!    |       wait until it is gossiped its full count   (at most broadcast_timeout)
//!    v
//!  SWIM leave: "dead, from ourselves" gossiped          (at most broadcast_timeout)
//!    |
//!    v
//!  stay up leave_propagate_delay, answering probes, then status left: Event::LeaveFinished
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use bytes::Bytes;
use rumor_swim::{Instant, JoinId, Node, StreamId, StreamStep, Transmit};
use rumor_wire::serf::{
    encode_tags_for_protocol, LamportTime, LeaveIntent, SerfMessage, UserEvent,
    USER_EVENT_SANE_LIMIT,
};
use rumor_wire::Name;

use crate::config::SerfConfig;
use crate::delegate::SerfDelegate;
use crate::error::SerfError;
use crate::event::Event;
use crate::member::{Member, MemberStatus};
use crate::state::{State, Timing};
use crate::timer::Timer;
use crate::{MEMBERLIST_PROTOCOL, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};

/// Our own lifecycle (Go `SerfState`, without shutdown: the driver just stops calling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerfState {
    /// A member of the pool.
    Alive,
    /// [`Serf::leave`] was called; the leave is being announced.
    Leaving,
    /// The leave is complete.
    Left,
}

/// Where a graceful leave is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeavePhase {
    Idle,
    /// Waiting for our leave intent to be gossiped.
    Intent,
    /// Waiting for SWIM's leave message to be gossiped.
    Swim,
    /// Staying up while the news spreads.
    Propagate,
    Done,
}

/// Counters and sizes for `serf info` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SerfStats {
    /// Members known, in any status, ourselves included.
    pub members: usize,
    /// Members failed.
    pub failed: usize,
    /// Members left.
    pub left: usize,
    /// Member clock.
    pub member_time: LamportTime,
    /// Event clock.
    pub event_time: LamportTime,
    /// Query clock.
    pub query_time: LamportTime,
    /// Intents waiting to be gossiped.
    pub intent_queue: usize,
    /// User events waiting to be gossiped.
    pub event_queue: usize,
    /// Queries waiting to be gossiped.
    pub query_queue: usize,
    /// Intents buffered for members not known yet.
    pub intents_buffered: usize,
}

/// One member of a Serf pool: SWIM underneath, Serf's member status, intents, tags and user
/// events on top. See the module docs.
pub struct Serf {
    node: Node<SerfDelegate>,
    protocol_version: u8,
    user_event_size_limit: usize,
    leave: LeavePhase,
    /// Joins that asked not to replay old events.
    ignore_old: BTreeSet<JoinId>,
    /// Joins refused at once because we are leaving, with their addresses.
    refused_joins: BTreeMap<JoinId, Vec<SocketAddr>>,
    /// Members SWIM counts as live (alive or suspect, ourselves included), kept from its
    /// join and leave notifications so no call has to count the table.
    live: usize,
}

impl std::fmt::Debug for Serf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serf")
            .field("name", &self.core().name)
            .field("state", &self.core().serf_state)
            .field("members", &self.core().members.len())
            .finish_non_exhaustive()
    }
}

impl Serf {
    /// Starts a member at `now`: its SWIM node (alive, with the tags in its meta) and Serf's
    /// clocks at 1. [`Event::MemberJoin`] for ourselves is the first event. Randomness comes
    /// from `seed`.
    pub fn new(config: SerfConfig, seed: u64, now: Instant) -> Result<Serf, SerfError> {
        config.validate()?;
        let SerfConfig {
            mut swim,
            tags,
            protocol_version,
            broadcast_timeout,
            leave_propagate_delay,
            reap_interval,
            reconnect_timeout,
            tombstone_timeout,
            recent_intent_timeout,
            user_event_size_limit,
            guard,
        } = config;
        swim.protocol_version = MEMBERLIST_PROTOCOL;
        swim.delegate_versions = [PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX, protocol_version];
        let meta = encode_tags_for_protocol(&tags, protocol_version)?;
        let timing = Timing {
            broadcast_timeout,
            leave_propagate_delay,
            reap_interval,
            reconnect_timeout,
            tombstone_timeout,
            recent_intent_timeout,
        };
        let mut state = State::new(swim.name.clone(), swim.retransmit_mult, timing);
        state.timers.schedule(now + reap_interval, Timer::Reap);
        let node = Node::new(swim, SerfDelegate { state, guard }, meta, seed, now)?;
        let mut serf = Serf {
            node,
            protocol_version,
            user_event_size_limit,
            leave: LeavePhase::Idle,
            ignore_old: BTreeSet::new(),
            refused_joins: BTreeMap::new(),
            live: 0,
        };
        serf.settle(now);
        Ok(serf)
    }

    fn core(&self) -> &State {
        &self.node.delegate().state
    }

    fn core_mut(&mut self) -> &mut State {
        &mut self.node.delegate_mut().state
    }

    /// Before calling into SWIM: the broadcast queues size their retransmit limit by the
    /// number of live members (memberlist's `NumMembers`).
    fn prepare(&mut self) {
        let n = self.live;
        self.core_mut().queues.num_nodes = n;
    }

    /// After calling into SWIM: apply its member notifications, send relayed messages, move a
    /// leave on. Repeats until nothing more happens.
    fn settle(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            for (to, msg) in std::mem::take(&mut self.core_mut().outbox) {
                progressed = true;
                self.node.send_best_effort(to, &msg);
            }
            while let Some(ev) = self.node.poll_event() {
                progressed = true;
                self.on_swim_event(now, ev);
            }
            if self.leave == LeavePhase::Intent && self.core().queues.watched_done() {
                progressed = true;
                self.start_swim_leave(now);
            }
            if !progressed {
                break;
            }
        }
        self.prepare();
    }

    fn on_swim_event(&mut self, now: Instant, ev: rumor_swim::Event) {
        use rumor_swim::Event as E;
        match ev {
            E::Join(m) => {
                self.live += 1;
                self.core_mut().on_join(now, &m);
            }
            E::Leave(m) => {
                self.live = self.live.saturating_sub(1);
                self.core_mut().on_leave(now, &m);
            }
            E::Update(m) => self.core_mut().on_update(&m),
            E::Conflict { existing, other } => {
                // Name-conflict resolution (the `_serf_conflict` query) comes with queries.
                tracing::warn!(node = %existing.name, existing = %existing.addr(), %other, "name conflict");
            }
            E::JoinFinished {
                id,
                joined,
                mut errors,
            } => {
                if self.ignore_old.remove(&id) {
                    let st = self.core_mut();
                    st.ignore_old_joins = st.ignore_old_joins.saturating_sub(1);
                }
                if let Some(addrs) = self.refused_joins.remove(&id) {
                    errors = addrs
                        .into_iter()
                        .map(|a| (a, "cannot join after leaving".to_string()))
                        .collect();
                }
                let st = self.core_mut();
                if joined > 0 && st.serf_state == SerfState::Alive {
                    let ltime = st.clock.time();
                    st.broadcast_join(now, ltime);
                }
                st.emit(Event::JoinFinished { id, joined, errors });
            }
            E::LeaveFinished => {
                if self.leave == LeavePhase::Swim {
                    self.enter_propagate(now);
                }
            }
            E::PingRtt { .. } => {}
        }
    }

    // ---- outputs ---------------------------------------------------------------------------

    /// The next datagram or stream to send. Call after every input and command, until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.node.poll_transmit()
    }

    /// The next event. Call after every input and command, until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core_mut().events.pop_front()
    }

    /// When [`Serf::handle_timeout`] must next be called: the earliest of SWIM's timers and
    /// Serf's own (reaper, leave steps, prunes). May be early, never late.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.node.poll_timeout(), self.core().timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- inputs ----------------------------------------------------------------------------

    /// A datagram arrived from `from`.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.prepare();
        self.node.handle_packet(now, from, data);
        self.settle(now);
    }

    /// All bytes so far of an incoming TCP stream; the answer says whether to read more,
    /// write a reply, or close.
    pub fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep {
        self.prepare();
        let step = self.node.handle_stream(now, from, data);
        self.settle(now);
        step
    }

    /// All bytes so far of the reply to stream `id`.
    pub fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
        self.prepare();
        let step = self.node.handle_stream_reply(now, id, data);
        self.settle(now);
        step
    }

    /// Stream `id` could not be opened, failed, or passed its deadline.
    pub fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str) {
        self.prepare();
        self.node.stream_failed(now, id, reason);
        self.settle(now);
    }

    /// Runs every timer (SWIM's and Serf's) due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.prepare();
        self.node.handle_timeout(now);
        self.settle(now);
        // Bounded: each timer fires once; the reaper reschedules strictly later.
        while let Some((at, timer)) = self.core_mut().timers.pop_due(now) {
            self.fire(now, at, timer);
            self.settle(now);
        }
    }

    fn fire(&mut self, now: Instant, at: Instant, timer: Timer) {
        match timer {
            Timer::Reap => {
                let interval = self.core().timing.reap_interval;
                let next = if at + interval > now {
                    at + interval
                } else {
                    now + interval
                };
                let st = self.core_mut();
                st.timers.schedule(next, Timer::Reap);
                st.reap(now);
            }
            Timer::LeaveIntentTimeout => {
                if self.leave == LeavePhase::Intent {
                    tracing::warn!(
                        "timeout while waiting for the leave intent to be gossiped; leaving anyway"
                    );
                    self.start_swim_leave(now);
                }
            }
            Timer::LeaveSwimTimeout => {
                if self.leave == LeavePhase::Swim {
                    tracing::warn!("timeout while waiting for the leave message to be gossiped; leaving anyway");
                    self.enter_propagate(now);
                }
            }
            Timer::LeavePropagated => {
                if self.leave == LeavePhase::Propagate {
                    self.leave = LeavePhase::Done;
                    let st = self.core_mut();
                    st.serf_state = SerfState::Left;
                    tracing::info!("graceful leave complete");
                    st.emit(Event::LeaveFinished);
                }
            }
            Timer::Prune { node, ltime } => {
                let st = self.core_mut();
                if st
                    .members
                    .get(&node)
                    .is_some_and(|m| m.status_ltime == ltime)
                {
                    st.erase(&node, "pruned");
                }
            }
        }
    }

    // ---- commands --------------------------------------------------------------------------

    /// Joins the pool through `addrs`: a push-pull with each. When at least one answers, a
    /// join intent is broadcast. The outcome arrives as [`Event::JoinFinished`] with the
    /// returned id. `ignore_old` (Serf's default, the agent without `-replay`) skips the user
    /// events the peers already had.
    pub fn join(&mut self, now: Instant, addrs: &[SocketAddr], ignore_old: bool) -> JoinId {
        self.prepare();
        let id = if self.core().serf_state == SerfState::Alive {
            let id = self.node.join(now, addrs);
            if ignore_old {
                self.ignore_old.insert(id);
                self.core_mut().ignore_old_joins += 1;
            }
            id
        } else {
            let id = self.node.join(now, &[]);
            self.refused_joins.insert(id, addrs.to_vec());
            id
        };
        self.settle(now);
        id
    }

    /// Leaves gracefully (see the module docs). [`Event::LeaveFinished`] comes when done; the
    /// driver should then stop. Calling it again does nothing.
    pub fn leave(&mut self, now: Instant) {
        if self.leave != LeavePhase::Idle {
            return;
        }
        self.prepare();
        let bt = self.core().timing.broadcast_timeout;
        let st = self.core_mut();
        st.serf_state = SerfState::Leaving;
        let msg = LeaveIntent {
            ltime: st.clock.time(),
            node: st.name.clone(),
            prune: false,
        };
        st.clock.increment();
        st.handle_leave_intent(now, &msg);
        if st.has_alive_members() {
            st.queues.push_intent_watched(&msg.into());
            st.timers.schedule(now + bt, Timer::LeaveIntentTimeout);
            self.leave = LeavePhase::Intent;
        } else {
            self.start_swim_leave(now);
        }
        self.settle(now);
    }

    fn start_swim_leave(&mut self, now: Instant) {
        self.leave = LeavePhase::Swim;
        let bt = self.core().timing.broadcast_timeout;
        self.core_mut()
            .timers
            .schedule(now + bt, Timer::LeaveSwimTimeout);
        self.node.leave(now);
    }

    fn enter_propagate(&mut self, now: Instant) {
        self.leave = LeavePhase::Propagate;
        let delay = self.core().timing.leave_propagate_delay;
        self.core_mut()
            .timers
            .schedule(now + delay, Timer::LeavePropagated);
    }

    /// Announces that member `name` left (Serf's force-leave, for a member that failed and
    /// will not come back): failed becomes left everywhere. With `prune` the member is also
    /// erased ([`Event::MemberReap`]). A name not known yet is remembered for a while, as
    /// Serf does. Currently always `Ok`; the `Result` leaves room for waiting on the
    /// broadcast as Serf's RPC does.
    pub fn force_leave(&mut self, now: Instant, name: &str, prune: bool) -> Result<(), SerfError> {
        self.prepare();
        let st = self.core_mut();
        let msg = LeaveIntent {
            ltime: st.clock.time(),
            node: Name::from(name),
            prune,
        };
        st.clock.increment();
        st.handle_leave_intent(now, &msg);
        if st.has_alive_members() {
            st.queues.push_intent(&msg.into());
        }
        self.settle(now);
        Ok(())
    }

    /// Replaces our tags: a new alive message with a higher incarnation carries them, and
    /// peers raise [`Event::MemberUpdate`]. Fails, changing nothing, if they do not fit the
    /// meta limit, or while we leave ([`SerfError::NotAlive`]).
    pub fn set_tags(
        &mut self,
        now: Instant,
        tags: BTreeMap<String, String>,
    ) -> Result<(), SerfError> {
        if self.core().serf_state != SerfState::Alive {
            return Err(SerfError::NotAlive);
        }
        let meta = encode_tags_for_protocol(&tags, self.protocol_version)?;
        self.prepare();
        self.node.set_meta(now, meta)?;
        self.settle(now);
        Ok(())
    }

    /// Sends a user event to every member (and delivers it to ourselves). Fails, changing
    /// nothing, if the name and payload exceed the configured limit before or after encoding.
    pub fn user_event(
        &mut self,
        now: Instant,
        name: &str,
        payload: Bytes,
        coalesce: bool,
    ) -> Result<(), SerfError> {
        let limit = self.user_event_size_limit;
        let raw_len = name.len() + payload.len();
        if raw_len > limit {
            return Err(SerfError::UserEventTooLarge {
                what: "configured",
                limit,
                when: "before",
            });
        }
        if raw_len > USER_EVENT_SANE_LIMIT {
            let limit = USER_EVENT_SANE_LIMIT;
            return Err(SerfError::UserEventTooLarge {
                what: "sane",
                limit,
                when: "before",
            });
        }
        self.prepare();
        let st = self.core_mut();
        let msg = UserEvent {
            ltime: st.event_clock.time(),
            name: name.to_owned(),
            payload,
            cc: coalesce,
        };
        let raw = SerfMessage::UserEvent(msg.clone()).to_shared();
        if raw.len() > limit {
            return Err(SerfError::UserEventTooLarge {
                what: "configured",
                limit,
                when: "after",
            });
        }
        if raw.len() > USER_EVENT_SANE_LIMIT {
            let limit = USER_EVENT_SANE_LIMIT;
            return Err(SerfError::UserEventTooLarge {
                what: "sane",
                limit,
                when: "after",
            });
        }
        st.event_clock.increment();
        st.queues.push_event_raw(raw);
        st.handle_user_event(&msg);
        self.settle(now);
        Ok(())
    }

    // ---- queries ---------------------------------------------------------------------------

    /// Every member we know, by name, ourselves and failed / left members included.
    pub fn members(&self) -> Vec<Member> {
        self.core()
            .members
            .values()
            .map(|st| st.member.clone())
            .collect()
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.core().members.get(name).map(|st| st.member.clone())
    }

    /// Our own entry.
    pub fn local_member(&self) -> Member {
        let st = self.core();
        if let Some(m) = st.members.get(&st.name) {
            return m.member.clone();
        }
        let status = match st.serf_state {
            SerfState::Alive => MemberStatus::Alive,
            SerfState::Leaving => MemberStatus::Leaving,
            SerfState::Left => MemberStatus::Left,
        };
        match self.node.local() {
            Some(m) => Member::from_swim(m, status),
            None => Member {
                name: st.name.clone(),
                addr: self.node.config().advertise,
                tags: BTreeMap::new(),
                status,
                protocol: [0; 3],
                delegate: [0; 3],
            },
        }
    }

    /// Our lifecycle state.
    pub fn state(&self) -> SerfState {
        self.core().serf_state
    }

    /// The member clock.
    pub fn member_clock(&self) -> LamportTime {
        self.core().clock.time()
    }

    /// The user event clock.
    pub fn event_clock(&self) -> LamportTime {
        self.core().event_clock.time()
    }

    /// The query clock.
    pub fn query_clock(&self) -> LamportTime {
        self.core().query_clock.time()
    }

    /// SWIM's local health score (0 = healthy).
    pub fn health_score(&self) -> u32 {
        self.node.health_score()
    }

    /// The Serf protocol version we speak.
    pub fn protocol_version(&self) -> u8 {
        self.protocol_version
    }

    /// The SWIM node underneath (its members, stats, configuration).
    pub fn swim(&self) -> &Node<SerfDelegate> {
        &self.node
    }

    /// Counters and sizes.
    pub fn stats(&self) -> SerfStats {
        let st = self.core();
        let count = |s: MemberStatus| st.members.values().filter(|m| m.member.status == s).count();
        let (intent_queue, event_queue, query_queue) = st.queues.lens();
        SerfStats {
            members: st.members.len(),
            failed: count(MemberStatus::Failed),
            left: count(MemberStatus::Left),
            member_time: st.clock.time(),
            event_time: st.event_clock.time(),
            query_time: st.query_clock.time(),
            intent_queue,
            event_queue,
            query_queue,
            intents_buffered: st.intents.len(),
        }
    }
}
