//! [`Serf`]: one member's view of one Serf pool, and the entry points that drive it.
//!
//! Same sans-IO surface as [`rumor_swim::Node`] (it implements [`rumor_swim::Core`]): feed it
//! packets, streams and timeouts, then drain `poll_transmit`, `poll_event` and
//! `poll_timeout`. `Serf` owns its node and its own state side by side. Each input goes to
//! the node with [`SerfHooks`] borrowing Serf's state (the node asks for broadcasts,
//! push-pull state and the guard's verdict inside the call); then the node's events are
//! applied to Serf's state in order (member join / leave / update, user messages, remote
//! state, join results), each once. Data flows one way: nothing loops until settled.
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
use rumor_swim::timer::{periodic_next, Expired};
use rumor_swim::{
    Core, Instant, JoinError, JoinId, JoinOutcome, Node, StreamId, StreamStep, Transmit,
};
use rumor_wire::serf::{
    encode_tags_for_protocol, Coordinate, LamportTime, LeaveIntent, SerfMessage, UserEvent,
    USER_EVENT_SANE_LIMIT,
};
use rumor_wire::Name;

use crate::config::SerfConfig;
use crate::coordinate::{Coordinates, VivaldiConfig};
use crate::error::{LeaveError, SerfError};
use crate::event::Event;
use crate::guard::MemberGuard;
use crate::hooks::SerfHooks;
use crate::member::{Member, MemberStatus};
use crate::message::Followup;
use crate::state::{State, Timing};
use crate::timer::{Fixed, Keyed, Prune};
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
    pub(crate) node: Node,
    pub(crate) st: State,
    pub(crate) guard: Option<Box<dyn MemberGuard + Send>>,
    pub(crate) protocol_version: u8,
    /// No `_serf_conflict` vote when another node claims our name.
    pub(crate) disable_name_resolution: bool,
    user_event_size_limit: usize,
    leave: LeavePhase,
    /// Joins that asked not to replay old events.
    ignore_old: BTreeSet<JoinId>,
    /// Ids for joins refused at once (we are leaving), above any id the node hands out.
    next_refused_join: JoinId,
    /// Memberlist joins we started to reconnect to failed members: their outcome stays here.
    reconnect_joins: BTreeSet<JoinId>,
    /// Joins started by [`Serf::rejoin`]: reported, but announced by no join intent.
    quiet_joins: BTreeSet<JoinId>,
}

impl std::fmt::Debug for Serf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serf")
            .field("name", &self.st.name)
            .field("state", &self.st.serf_state)
            .field("members", &self.st.members.len())
            .finish_non_exhaustive()
    }
}

impl Serf {
    /// Starts a member at `now`: its SWIM node (alive, with the tags in its meta) and Serf's
    /// clocks at 1 (or past a snapshot's, [`SerfConfig::restore`]). [`Event::MemberJoin`] for ourselves is the first event. Randomness comes
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
            disable_coordinates,
            reconnect_interval,
            queue_check_interval,
            queue_depth_warning,
            max_queue_depth,
            min_queue_depth,
            guard,
            disable_name_resolution,
            restore,
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
            reconnect_interval,
            queue_check_interval,
        };
        let mut st = State::new(swim.name.clone(), swim.retransmit_mult, timing);
        if let Some(r) = restore {
            st.restore(&r);
        }
        st.timers.set(Fixed::Reap, now + reap_interval);
        st.timers.set(Fixed::Reconnect, now + reconnect_interval);
        st.timers.set(Fixed::QueueCheck, now + queue_check_interval);
        st.queues.limits = crate::broadcast::DepthLimits {
            warning: queue_depth_warning,
            max: max_queue_depth,
            min: min_queue_depth,
        };
        if !disable_coordinates {
            st.coords = Some(Coordinates::new(
                swim.name.clone(),
                VivaldiConfig::default(),
            ));
        }
        let node = Node::new(swim, meta, seed, now)?;
        let mut serf = Serf {
            node,
            st,
            guard,
            protocol_version,
            disable_name_resolution,
            user_event_size_limit,
            leave: LeavePhase::Idle,
            ignore_old: BTreeSet::new(),
            next_refused_join: JoinId::MAX / 2,
            reconnect_joins: BTreeSet::new(),
            quiet_joins: BTreeSet::new(),
        };
        serf.apply_node_events(now);
        Ok(serf)
    }

    /// Runs `f` on the node with Serf's hooks, then applies what the node reported.
    fn with_node<R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Node, &mut SerfHooks<'_>) -> R,
    ) -> R {
        let mut hooks = SerfHooks {
            st: &mut self.st,
            guard: self.guard.as_deref(),
        };
        let r = f(&mut self.node, &mut hooks);
        self.apply_node_events(now);
        // Our leave intent may have gone out its full count in that call: the leave moves on.
        if self.leave == LeavePhase::Intent && self.st.queues.watched_done() {
            self.start_swim_leave(now);
        }
        r
    }

    /// Applies the node's events to Serf's state, in the order the node reported them.
    fn apply_node_events(&mut self, now: Instant) {
        while let Some(ev) = self.node.poll_event() {
            self.on_swim_event(now, ev);
        }
    }

    fn on_swim_event(&mut self, now: Instant, ev: rumor_swim::Event) {
        use rumor_swim::Event as E;
        match ev {
            E::Join(m) => self.st.on_join(now, &m),
            E::Leave(m) => self.st.on_leave(now, &m),
            E::Update(m) => self.st.on_update(&m),
            E::UserMessage(raw) => match self.st.notify_msg(now, raw) {
                Some(Followup::Forward(to, msg)) => self.node.send_best_effort(to, &msg),
                Some(Followup::Query(q, raw)) => self.on_gossiped_query(now, &q, raw),
                Some(Followup::Response(r)) => self.handle_query_response(now, r),
                None => {}
            },
            E::RemoteState { state, join_id, .. } => {
                let ignore_old = join_id.is_some_and(|id| self.ignore_old.contains(&id));
                self.st.merge_remote_state(now, &state, ignore_old);
            }
            E::Conflict { existing, other } => self.on_name_conflict(now, &existing, other),
            E::Removed(m) => {
                // The guard refused it back from a restart into another pool (see purge.rs).
                self.st.forget_member(&m.name, Some(&m));
                let names = BTreeSet::from([m.name.clone()]);
                self.st.queues.drop_intents_about(&names);
            }
            E::JoinFinished { id, joined, errors } => {
                if self.reconnect_joins.remove(&id) {
                    // A reconnect (memberlist join only): no intent, nothing for the user.
                    tracing::debug!(joined, errors = errors.len(), "reconnect attempt done");
                    return;
                }
                self.ignore_old.remove(&id);
                let quiet = self.quiet_joins.remove(&id);
                if joined > 0 && !quiet && self.st.serf_state == SerfState::Alive {
                    let ltime = self.st.clock.time();
                    self.st.broadcast_join(now, ltime);
                }
                self.st.emit(Event::JoinFinished { id, joined, errors });
            }
            E::LeaveFinished => {
                if self.leave == LeavePhase::Swim {
                    self.enter_propagate(now);
                }
            }
            E::PingComplete { name, rtt, payload } => {
                if let Some(coords) = &mut self.st.coords {
                    let node = &mut self.node;
                    coords.on_ping(&name, rtt, &payload, &mut || node.random_u64());
                }
            }
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
        self.st.events.pop_front()
    }

    /// When [`Serf::handle_timeout`] must next be called: exactly the earliest of SWIM's
    /// timers and Serf's own (reaper, leave steps, prunes).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.node.poll_timeout(), self.st.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- inputs ----------------------------------------------------------------------------

    /// A datagram arrived from `from`.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.with_node(now, |node, hooks| {
            node.handle_packet(now, from, data, hooks)
        });
    }

    /// All bytes so far of an incoming TCP stream; the answer says whether to read more,
    /// write a reply, or close.
    pub fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep {
        self.with_node(now, |node, hooks| {
            node.handle_stream(now, from, data, hooks)
        })
    }

    /// All bytes so far of the reply to stream `id`.
    pub fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
        self.with_node(now, |node, hooks| {
            node.handle_stream_reply(now, id, data, hooks)
        })
    }

    /// Stream `id` could not be opened, failed, or passed its deadline.
    pub fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str) {
        self.with_node(now, |node, _| node.stream_failed(now, id, reason));
    }

    /// Runs every timer (SWIM's and Serf's) due at or before `now`: SWIM's first, then
    /// Serf's in deadline order.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.with_node(now, |node, hooks| node.handle_timeout(now, hooks));
        // Bounded: each timer fires once; the reaper re-arms strictly after `now`.
        while let Some(expired) = self.st.timers.expire(now) {
            match expired {
                Expired::Fixed(t, at) => self.fire(now, at, t),
                Expired::Keyed(Keyed::QueryClose(ltime), _) => self.fire_query_timer(ltime, None),
                Expired::Keyed(Keyed::QueryExpire(ltime, id), _) => {
                    self.fire_query_timer(ltime, Some(id));
                }
                Expired::Keyed(Keyed::Prune(Prune { node, ltime }), _) => {
                    if self
                        .st
                        .members
                        .get(&node)
                        .is_some_and(|m| m.status_ltime == ltime)
                    {
                        self.st.erase(&node, "pruned");
                    }
                }
            }
        }
    }

    fn fire(&mut self, now: Instant, at: Instant, timer: Fixed) {
        match timer {
            Fixed::Reap => {
                let next = periodic_next(at, now, self.st.timing.reap_interval);
                self.st.timers.set(Fixed::Reap, next);
                self.st.reap(now);
            }
            Fixed::LeaveIntentTimeout => {
                if self.leave == LeavePhase::Intent {
                    // As Serf: the leave fails here, without the memberlist leave.
                    tracing::warn!("timeout while waiting for the leave intent to be gossiped");
                    self.finish_leave(Some(LeaveError::IntentTimeout));
                }
            }
            Fixed::LeaveSwimTimeout => {
                if self.leave == LeavePhase::Swim {
                    tracing::warn!("timeout while waiting for the leave message to be gossiped");
                    self.finish_leave(Some(LeaveError::BroadcastTimeout));
                }
            }
            Fixed::Reconnect => {
                let next = periodic_next(at, now, self.st.timing.reconnect_interval);
                self.st.timers.set(Fixed::Reconnect, next);
                self.reconnect(now);
            }
            Fixed::QueueCheck => {
                let next = periodic_next(at, now, self.st.timing.queue_check_interval);
                self.st.timers.set(Fixed::QueueCheck, next);
                let members = self.st.members.len();
                self.st.queues.check_depths(members);
            }
            Fixed::LeavePropagated => {
                if self.leave == LeavePhase::Propagate {
                    self.st.serf_state = SerfState::Left;
                    tracing::info!("graceful leave complete");
                    self.finish_leave(None);
                }
            }
        }
    }

    /// One reconnect round (see [`crate::reconnect`]): maybe a memberlist join to a failed
    /// member, whose outcome is kept from the user.
    fn reconnect(&mut self, now: Instant) {
        if self.st.serf_state != SerfState::Alive {
            return;
        }
        let node = &mut self.node;
        let Some((_, addr)) = crate::reconnect::choose(&self.st, &mut || node.random_u64()) else {
            return;
        };
        let mut hooks = SerfHooks {
            st: &mut self.st,
            guard: self.guard.as_deref(),
        };
        let id = self.node.join(now, &[addr], &mut hooks);
        self.reconnect_joins.insert(id);
        self.apply_node_events(now);
    }

    fn finish_leave(&mut self, error: Option<LeaveError>) {
        self.leave = LeavePhase::Done;
        self.st.timers.stop(Fixed::LeaveIntentTimeout);
        self.st.timers.stop(Fixed::LeaveSwimTimeout);
        self.st.timers.stop(Fixed::LeavePropagated);
        self.st.emit(Event::LeaveFinished { error });
    }

    // ---- commands --------------------------------------------------------------------------

    /// Joins the pool through `addrs`: a push-pull with each. When at least one answers, a
    /// join intent is broadcast. The outcome arrives as [`Event::JoinFinished`] with the
    /// returned id. `ignore_old` (Serf's default, the agent without `-replay`) skips the user
    /// events the peers already had. While leaving, every address fails with
    /// [`JoinError::Leaving`] and nothing is sent.
    pub fn join(&mut self, now: Instant, addrs: &[SocketAddr], ignore_old: bool) -> JoinId {
        if self.st.serf_state != SerfState::Alive {
            self.next_refused_join += 1;
            let id = self.next_refused_join;
            let errors = addrs.iter().map(|a| (*a, JoinError::Leaving)).collect();
            self.st.emit(Event::JoinFinished {
                id,
                joined: 0,
                errors,
            });
            return id;
        }
        let mut hooks = SerfHooks {
            st: &mut self.st,
            guard: self.guard.as_deref(),
        };
        let id = self.node.join(now, addrs, &mut hooks);
        // Marked before the node's events are applied: a join with no address is finished
        // at once.
        if ignore_old {
            self.ignore_old.insert(id);
        }
        self.apply_node_events(now);
        id
    }

    /// Rejoins through `addrs` at the memberlist level only, as Serf does for the members a
    /// snapshot remembers: a push-pull with each (replaying the user events they carry, which
    /// the restored event clock filters), reported as [`Event::JoinFinished`] like a join,
    /// but announced by no join intent: we are not a new member, only back.
    pub fn rejoin(&mut self, now: Instant, addrs: &[SocketAddr]) -> JoinId {
        if self.st.serf_state != SerfState::Alive {
            return self.join(now, addrs, false);
        }
        let mut hooks = SerfHooks {
            st: &mut self.st,
            guard: self.guard.as_deref(),
        };
        let id = self.node.join(now, addrs, &mut hooks);
        // Marked before the node's events are applied: a join with no address is finished
        // at once.
        self.quiet_joins.insert(id);
        self.apply_node_events(now);
        id
    }

    /// Leaves gracefully (see the module docs). [`Event::LeaveFinished`] comes when done; the
    /// driver should then stop. Calling it again does nothing.
    pub fn leave(&mut self, now: Instant) {
        if self.leave != LeavePhase::Idle {
            return;
        }
        let bt = self.st.timing.broadcast_timeout;
        let st = &mut self.st;
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
            st.timers.set(Fixed::LeaveIntentTimeout, now + bt);
            self.leave = LeavePhase::Intent;
        } else {
            self.start_swim_leave(now);
        }
    }

    fn start_swim_leave(&mut self, now: Instant) {
        self.leave = LeavePhase::Swim;
        self.st.timers.stop(Fixed::LeaveIntentTimeout);
        let bt = self.st.timing.broadcast_timeout;
        self.st.timers.set(Fixed::LeaveSwimTimeout, now + bt);
        self.node.leave(now);
        self.apply_node_events(now);
    }

    fn enter_propagate(&mut self, now: Instant) {
        self.leave = LeavePhase::Propagate;
        self.st.timers.stop(Fixed::LeaveSwimTimeout);
        let delay = self.st.timing.leave_propagate_delay;
        self.st.timers.set(Fixed::LeavePropagated, now + delay);
    }

    /// Announces that member `name` left (Serf's force-leave, for a member that failed and
    /// will not come back): failed becomes left everywhere. With `prune` the member is also
    /// erased ([`Event::MemberReap`]). A name not known yet is remembered for a while, as
    /// Serf does. Currently always `Ok`; the `Result` leaves room for waiting on the
    /// broadcast as Serf's RPC does.
    pub fn force_leave(&mut self, now: Instant, name: &str, prune: bool) -> Result<(), SerfError> {
        let st = &mut self.st;
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
        if self.st.serf_state != SerfState::Alive {
            return Err(SerfError::NotAlive);
        }
        let meta = encode_tags_for_protocol(&tags, self.protocol_version)?;
        self.node.set_meta(now, meta)?;
        self.apply_node_events(now);
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
        // Commands take the time like every input; a user event needs none (its order is
        // the event clock's).
        let _ = now;
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
        let st = &mut self.st;
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
        Ok(())
    }

    // ---- queries ---------------------------------------------------------------------------

    /// Every member we know, by name, ourselves and failed / left members included.
    pub fn members(&self) -> Vec<Member> {
        self.st
            .members
            .values()
            .map(|st| st.member.clone())
            .collect()
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.st.members.get(name).map(|st| st.member.clone())
    }

    /// Our own entry.
    pub fn local_member(&self) -> Member {
        let st = &self.st;
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
        self.st.serf_state
    }

    /// The member clock.
    pub fn member_clock(&self) -> LamportTime {
        self.st.clock.time()
    }

    /// The user event clock.
    pub fn event_clock(&self) -> LamportTime {
        self.st.event_clock.time()
    }

    /// The query clock.
    pub fn query_clock(&self) -> LamportTime {
        self.st.query_clock.time()
    }

    /// Our own Vivaldi coordinate (`None` when coordinates are disabled).
    pub fn coordinate(&self) -> Option<Coordinate> {
        self.st.coords.as_ref().map(|c| c.own().clone())
    }

    /// The cached coordinate of member `name` (ourselves included), if any: the one its
    /// last ack to our probe carried. Forgotten when the member is reaped or pruned.
    pub fn member_coordinate(&self, name: &str) -> Option<Coordinate> {
        self.st.coords.as_ref().and_then(|c| c.get(name).cloned())
    }

    /// How many times our coordinate was reset after becoming invalid (stats
    /// `coordinate_resets`).
    pub fn coordinate_resets(&self) -> u64 {
        self.st.coords.as_ref().map_or(0, Coordinates::resets)
    }

    /// How many coordinates in acks were rejected (Serf's `serf.coordinate.rejected`).
    pub fn coordinates_rejected(&self) -> u64 {
        self.st.coords.as_ref().map_or(0, Coordinates::rejected)
    }

    /// SWIM's local health score (0 = healthy).
    pub fn health_score(&self) -> u32 {
        self.node.health_score()
    }

    /// The Serf protocol version we speak.
    pub fn protocol_version(&self) -> u8 {
        self.protocol_version
    }

    /// Share names and meta values with other tables through `interner` (see
    /// [`rumor_swim::Node::set_interner`]).
    pub fn set_interner(&mut self, interner: Box<dyn rumor_swim::Intern>) {
        self.node.set_interner(interner);
    }

    /// The SWIM node underneath (its members, stats, configuration).
    pub fn swim(&self) -> &Node {
        &self.node
    }

    /// Counters and sizes.
    pub fn stats(&self) -> SerfStats {
        let st = &self.st;
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

impl Core for Serf {
    type Event = Event;

    fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        Serf::handle_packet(self, now, from, data)
    }
    fn handle_stream(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> StreamStep {
        Serf::handle_stream(self, now, from, data)
    }
    fn handle_stream_reply(&mut self, now: Instant, id: StreamId, data: &[u8]) -> StreamStep {
        Serf::handle_stream_reply(self, now, id, data)
    }
    fn stream_failed(&mut self, now: Instant, id: StreamId, reason: &str) {
        Serf::stream_failed(self, now, id, reason)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Serf::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Serf::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Serf::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Serf::poll_timeout(self)
    }
    /// Serf's default join: without replaying old user events.
    fn join(&mut self, now: Instant, addrs: &[SocketAddr]) -> JoinId {
        Serf::join(self, now, addrs, true)
    }
    fn leave(&mut self, now: Instant) {
        Serf::leave(self, now)
    }
    fn join_result(event: &Event) -> Option<JoinOutcome> {
        match event {
            Event::JoinFinished { id, joined, errors } => {
                Some(JoinOutcome::new(*id, *joined, errors))
            }
            _ => None,
        }
    }
    fn is_leave_finished(event: &Event) -> bool {
        matches!(event, Event::LeaveFinished { .. })
    }
    fn stream_framing(&self) -> Box<dyn rumor_swim::StreamFraming> {
        self.node.stream_framing()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn serf() -> Serf {
        let swim = rumor_swim::Config::lan("me", SocketAddr::from(([10, 0, 0, 1], 7946)));
        let mut tags = BTreeMap::new();
        tags.insert("role".to_string(), "web".to_string());
        Serf::new(SerfConfig::new(swim, tags), 1, Instant::ZERO).unwrap()
    }

    fn events(s: &mut Serf) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn starts_with_a_join_of_ourselves_and_an_exact_timeout() {
        let mut s = serf();
        assert!(matches!(&events(&mut s)[..], [Event::MemberJoin(m)] if &*m.name == "me"));
        let swim = s.node.poll_timeout().unwrap();
        let reap = s.st.timers.get(Fixed::Reap).unwrap();
        assert_eq!(reap, Instant::ZERO + Duration::from_secs(15));
        assert_eq!(s.poll_timeout(), Some(swim.min(reap)));
    }

    #[test]
    fn leaving_alone_skips_the_waits_and_refuses_later_commands() {
        let mut s = serf();
        events(&mut s);
        s.leave(Instant::ZERO);
        assert_eq!(s.state(), SerfState::Leaving);
        assert_eq!(s.leave, LeavePhase::Propagate, "nobody to tell: no waits");
        let at = s.st.timers.get(Fixed::LeavePropagated).unwrap();
        assert_eq!(at, Instant::ZERO + Duration::from_secs(1));
        s.handle_timeout(at);
        assert_eq!(s.state(), SerfState::Left);
        let evs = events(&mut s);
        assert!(
            evs.contains(&Event::LeaveFinished { error: None }),
            "{evs:?}"
        );
        // After leaving: joins fail at once and typed, tags are refused, leave does nothing.
        let a = SocketAddr::from(([10, 0, 0, 2], 7946));
        let id = s.join(at, &[a], true);
        assert_eq!(
            events(&mut s),
            vec![Event::JoinFinished {
                id,
                joined: 0,
                errors: vec![(a, JoinError::Leaving)]
            }]
        );
        assert!(s.poll_transmit().is_none(), "nothing sent");
        assert_eq!(s.set_tags(at, BTreeMap::new()), Err(SerfError::NotAlive));
        s.leave(at);
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn user_events_over_the_limits_are_refused_and_change_nothing() {
        let mut s = serf();
        let clock = s.event_clock();
        let err = s
            .user_event(Instant::ZERO, "e", Bytes::from(vec![0u8; 600]), false)
            .unwrap_err();
        assert_eq!(
            err,
            SerfError::UserEventTooLarge {
                what: "configured",
                limit: 512,
                when: "before"
            }
        );
        assert_eq!(s.event_clock(), clock);
        // Fits before encoding, not after (the encoding adds a few bytes).
        let err = s
            .user_event(Instant::ZERO, "e", Bytes::from(vec![0u8; 510]), false)
            .unwrap_err();
        assert!(matches!(
            err,
            SerfError::UserEventTooLarge { when: "after", .. }
        ));
        assert_eq!(s.stats().event_queue, 0);
        s.user_event(Instant::ZERO, "e", Bytes::from_static(b"ok"), false)
            .unwrap();
        assert_eq!(s.event_clock(), clock + 1);
        assert_eq!(s.stats().event_queue, 1);
    }

    #[test]
    fn a_relay_message_is_forwarded_as_one_datagram() {
        use rumor_wire::serf::{Relay, RelayHeader};
        let mut s = serf();
        while s.poll_transmit().is_some() {}
        let dest = SocketAddr::from(([10, 0, 0, 9], 7946));
        let relay = SerfMessage::Relay(Relay {
            header: RelayHeader {
                dest_addr: dest,
                dest_zone: String::new(),
                dest_name: "other".into(),
            },
            message: Bytes::from_static(b"\x0finner"),
        });
        let mut b = vec![rumor_wire::MessageType::User as u8];
        b.extend_from_slice(&relay.to_shared());
        s.handle_packet(Instant::ZERO, SocketAddr::from(([10, 0, 0, 2], 7946)), &b);
        let t = s.poll_transmit().unwrap();
        match t {
            Transmit::Packet { to, data } => {
                assert_eq!(to, dest);
                assert_eq!(&data[..], b"\x08\x0finner");
            }
            other => panic!("{other:?}"),
        }
    }
}
