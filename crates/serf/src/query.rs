//! Queries (serf.md §8): sending one ([`Serf::query`]), handling one that arrives (dedupe in
//! the 512-slot query ring, filters, the ack, delivery as [`Event::Query`] or to the internal
//! handlers), and answering one ([`Serf::respond`]).
//!
//! ```text
//!  query()  stamp LTime = query clock, random int31 id, filters, flags
//!    |      size <= 1024, a collector keyed by LTime (closes at the deadline)
//!    |      handled locally like any received query, then queued for gossip
//!    v
//!  handle_query (every member, once per (LTime, ID)):
//!    witness clock -> ring dedupe -> filters (fail: stop, still gossip on)
//!    -> ack to Addr:Port (+ relays) -> internal `_serf_*` handler, or Event::Query
//!  respond()  one response per query, before its deadline, <= 1024 bytes, + relays
//! ```
//!
//! Answers travel as memberlist user messages straight to the query's `Addr:Port`
//! ([`rumor_swim::Node::send_best_effort`]), plus copies through relays (`crate::relay`);
//! the source's collector (`crate::query_collector`) dedupes them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::serf::{
    Filter, LamportTime, Query, QueryResponse, SerfMessage, QUERY_BUFFER_SIZE, QUERY_FLAG_ACK,
    QUERY_RESPONSE_SIZE_LIMIT, QUERY_SIZE_LIMIT,
};
use rumor_wire::Name;

use crate::error::SerfError;
use crate::event::Event;
use crate::query_collector::{Collector, Purpose};
use crate::serf::{Serf, SerfState};
use crate::timer::Keyed;

/// Prefix of Serf's internal queries, answered by the core and never delivered.
pub const INTERNAL_QUERY_PREFIX: &str = "_serf_";

/// Serf's `QueryTimeoutMult`: the default timeout is this many gossip intervals per
/// order of magnitude of the cluster size.
pub const QUERY_TIMEOUT_MULT: u32 = 16;

/// Delivered queries waiting for an answer are capped at this many; beyond it the one closest
/// to its deadline is forgotten (a peer cannot grow our memory with long-lived queries).
pub(crate) const MAX_PENDING_QUERIES: usize = 4096;

/// How to send a query (Serf's `QueryParam`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Only these node names answer (empty: all).
    pub filter_nodes: Vec<String>,
    /// Only members whose tag NAME matches REGEX (Go regexp semantics: unanchored search)
    /// answer. One filter per pair, in this order.
    pub filter_tags: Vec<(String, String)>,
    /// Ask every member that passes the filters to ack at once.
    pub request_ack: bool,
    /// Each answer is also relayed through this many random members.
    pub relay_factor: u8,
    /// None (or zero): Serf's default, GossipInterval × 16 × ceil(log10(N+1)).
    pub timeout: Option<Duration>,
}

/// A query we sent: its identity and when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryHandle {
    /// The query's time (the key of its answers).
    pub ltime: LamportTime,
    /// The query's id.
    pub id: u32,
    /// When it closes ([`Event::QueryClosed`]).
    pub deadline: Instant,
    /// The timeout it was sent with.
    pub timeout: Duration,
}

/// Serf's default query timeout: `gossip_interval × 16 × ceil(log10(n + 1))`, `n` the members
/// not dead or left (ourselves included).
pub fn default_query_timeout(gossip_interval: Duration, n: usize) -> Duration {
    // ceil(log10(n + 1)) in integers: the number of decimal orders of magnitude of n + 1.
    let mut mags = 0u32;
    let mut pow = 1u128;
    while pow < n as u128 + 1 {
        pow *= 10;
        mags += 1;
    }
    gossip_interval * QUERY_TIMEOUT_MULT * mags
}

/// Where the answers to a received query go, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    /// The query's time.
    pub(crate) ltime: LamportTime,
    /// The query's id.
    pub(crate) id: u32,
    /// The query's `Addr:Port`.
    pub(crate) dest: SocketAddr,
    /// The query's `SourceNode`.
    pub(crate) source: Name,
    /// The query's `RelayFactor`.
    pub(crate) relay_factor: u8,
}

impl ReplyTo {
    fn of(q: &Query) -> ReplyTo {
        ReplyTo {
            ltime: q.ltime,
            id: q.id,
            dest: SocketAddr::new(q.addr, q.port),
            source: q.source_node.clone(),
            relay_factor: q.relay_factor,
        }
    }
}

/// A query delivered as [`Event::Query`], until its deadline.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) reply: ReplyTo,
    pub(crate) deadline: Instant,
    pub(crate) responded: bool,
    /// Answers forwarded for other senders ([`Serf::forward_answer`]): (ack?, from).
    pub(crate) forwarded: std::collections::BTreeSet<(bool, Name)>,
}

/// Serf's `queryBuffer` plus `queryMinTime`: the ids seen per query time.
#[derive(Debug, Clone)]
pub(crate) struct QueryRing {
    slots: Vec<Option<(LamportTime, Vec<u32>)>>,
    /// Queries older than this are ignored.
    pub(crate) min_time: LamportTime,
}

impl Default for QueryRing {
    fn default() -> Self {
        QueryRing {
            slots: vec![None; QUERY_BUFFER_SIZE],
            min_time: 0,
        }
    }
}

impl QueryRing {
    /// Records the query if it is new; `now_time` is the query clock after witnessing it.
    pub(crate) fn accept(&mut self, ltime: LamportTime, id: u32, now_time: LamportTime) -> bool {
        if ltime < self.min_time {
            return false;
        }
        let size = QUERY_BUFFER_SIZE as LamportTime;
        if now_time > size && ltime < now_time - size {
            tracing::warn!(ltime, now_time, "received an old query");
            return false;
        }
        let Some(slot) = self.slots.get_mut((ltime % size) as usize) else {
            return false;
        };
        match slot {
            Some((t, ids)) if *t == ltime => {
                if ids.contains(&id) {
                    return false;
                }
                ids.push(id);
            }
            _ => *slot = Some((ltime, vec![id])),
        }
        true
    }
}

/// Serf's `shouldProcessQuery`: every filter must pass. A filter that does not decode, of an
/// unknown type, or with a bad regular expression fails (the query is then not processed).
pub(crate) fn passes_filters(
    filters: &[Bytes],
    name: &str,
    tags: &BTreeMap<String, String>,
) -> bool {
    filters.iter().all(|raw| match Filter::decode(raw) {
        Ok(Filter::Nodes(nodes)) => nodes.iter().any(|n| n == name),
        Ok(Filter::Tag { tag, expr }) => match regex::Regex::new(&expr) {
            Ok(re) => re.is_match(tags.get(&tag).map_or("", String::as_str)),
            Err(e) => {
                tracing::warn!(%expr, error = %e, "failed to compile a query's filter regex");
                false
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "query has a filter we cannot read");
            false
        }
    })
}

/// Serf's `encodeFilters`: one node filter if any names were given, then one tag filter per
/// pair. Bad regular expressions are refused here, before anything is sent.
pub(crate) fn encode_filters(params: &QueryParams) -> Result<Vec<Bytes>, SerfError> {
    let mut out = Vec::new();
    if !params.filter_nodes.is_empty() {
        out.push(Filter::Nodes(params.filter_nodes.clone()).encode());
    }
    for (tag, expr) in &params.filter_tags {
        if let Err(e) = regex::Regex::new(expr) {
            return Err(SerfError::BadTagFilter {
                tag: tag.clone(),
                expr: expr.clone(),
                error: e.to_string(),
            });
        }
        out.push(
            Filter::Tag {
                tag: tag.clone(),
                expr: expr.clone(),
            }
            .encode(),
        );
    }
    Ok(out)
}

/// A payload as Serf carries it: an empty one is nil (`c0`).
fn opt_payload(payload: Bytes) -> Option<Bytes> {
    (!payload.is_empty()).then_some(payload)
}

impl Serf {
    /// Serf's default query timeout for the current cluster size:
    /// `gossip_interval × 16 × ceil(log10(N + 1))`, N = [`Serf::num_members`].
    pub fn default_query_timeout(&self) -> Duration {
        default_query_timeout(self.node.config().gossip_interval, self.num_members())
    }

    /// Number of members Serf counts for queries and key replies (memberlist's
    /// `NumMembers`: members not dead or left, ourselves included).
    pub fn num_members(&self) -> usize {
        self.node.num_live()
    }

    /// Sends a query to the cluster (and handles it locally, as Serf: we ack and answer our
    /// own query too, over UDP to ourselves). Acks and responses arrive as
    /// [`Event::QueryAck`] and [`Event::QueryResponse`] until [`Event::QueryClosed`].
    /// Fails, sending nothing and moving no clock, when the Serf protocol is below 4
    /// ([`SerfError::FeatureNotSupported`]), we are leaving ([`SerfError::NotAlive`]), a
    /// tag filter is no regular expression ([`SerfError::BadTagFilter`]), or the encoded
    /// query exceeds 1024 bytes ([`SerfError::QuerySizeLimit`]).
    pub fn query(
        &mut self,
        now: Instant,
        name: &str,
        payload: Bytes,
        params: QueryParams,
    ) -> Result<QueryHandle, SerfError> {
        self.start_query(now, name, payload, &params, Purpose::User)
    }

    /// [`Serf::query`] for any purpose (user, or the core's own conflict vote).
    pub(crate) fn start_query(
        &mut self,
        now: Instant,
        name: &str,
        payload: Bytes,
        params: &QueryParams,
        purpose: Purpose,
    ) -> Result<QueryHandle, SerfError> {
        if self.protocol_version < 4 {
            return Err(SerfError::FeatureNotSupported(self.protocol_version));
        }
        if self.st.serf_state != SerfState::Alive {
            return Err(SerfError::NotAlive);
        }
        let filters = encode_filters(params)?;
        let timeout = match params.timeout {
            Some(t) if !t.is_zero() => t,
            _ => self.default_query_timeout(),
        };
        let local = self.local_member();
        let q = Query {
            ltime: self.st.query_clock.time(),
            id: 0,
            addr: local.addr.ip(),
            port: local.addr.port(),
            source_node: self.st.name.clone(),
            filters,
            flags: if params.request_ack {
                QUERY_FLAG_ACK
            } else {
                0
            },
            relay_factor: params.relay_factor,
            timeout,
            name: name.to_owned(),
            payload: opt_payload(payload),
        };
        // rand.Int31: a non-negative 31-bit id.
        let q = Query {
            id: (self.node.random_u64() >> 33) as u32,
            ..q
        };
        let raw = SerfMessage::Query(q.clone()).to_shared();
        if raw.len() > QUERY_SIZE_LIMIT {
            return Err(SerfError::QuerySizeLimit {
                len: raw.len(),
                limit: QUERY_SIZE_LIMIT,
            });
        }
        let deadline = now + timeout;
        let st = &mut self.st;
        st.collectors.insert(
            q.ltime,
            Collector::new(q.id, q.wants_ack(), deadline, purpose),
        );
        st.timers.set_key(Keyed::QueryClose(q.ltime), deadline);
        tracing::debug!(name, ltime = q.ltime, id = q.id, ?timeout, "query sent");
        self.handle_query(now, &q);
        self.st.queues.push_query_raw(raw);
        Ok(QueryHandle {
            ltime: q.ltime,
            id: q.id,
            deadline,
            timeout,
        })
    }

    /// A query arrived by gossip: handled, and its exact bytes gossiped on if it is new.
    pub(crate) fn on_gossiped_query(&mut self, now: Instant, q: &Query, raw: Bytes) {
        if self.handle_query(now, q) {
            self.st.queues.push_query_raw(raw);
        }
    }

    /// Handles a query (gossiped, or our own), serf.md §8.2 in order. Returns whether to
    /// gossip it on.
    pub(crate) fn handle_query(&mut self, now: Instant, q: &Query) -> bool {
        let st = &mut self.st;
        st.query_clock.witness(q.ltime);
        let now_time = st.query_clock.time();
        if !st.query_ring.accept(q.ltime, q.id, now_time) {
            return false;
        }
        let rebroadcast = !q.no_broadcast();
        let empty = BTreeMap::new();
        let tags = st.members.get(&st.name).map_or(&empty, |m| &m.member.tags);
        if !passes_filters(&q.filters, &st.name, tags) {
            tracing::debug!(name = %q.name, ltime = q.ltime, "query filtered out");
            return rebroadcast;
        }
        let reply = ReplyTo::of(q);
        if q.wants_ack() {
            let ack = QueryResponse {
                ltime: q.ltime,
                id: q.id,
                from: self.st.name.clone(),
                flags: QUERY_FLAG_ACK,
                payload: None,
            };
            self.send_answer(&reply, &ack);
        }
        let deadline = now + q.timeout;
        if let Some(internal) = q.name.strip_prefix(INTERNAL_QUERY_PREFIX) {
            self.handle_internal_query(now, internal, q, &reply, deadline);
            return rebroadcast;
        }
        tracing::debug!(name = %q.name, ltime = q.ltime, from = %q.source_node, "query delivered");
        let st = &mut self.st;
        if st.pending.len() >= MAX_PENDING_QUERIES {
            let oldest = st
                .pending
                .iter()
                .min_by_key(|(k, p)| (p.deadline, **k))
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                tracing::warn!(
                    ltime = k.0,
                    id = k.1,
                    "too many unanswered queries; forgetting one"
                );
                st.pending.remove(&k);
                st.timers.cancel_key(&Keyed::QueryExpire(k.0, k.1));
            }
        }
        st.pending.insert(
            (q.ltime, q.id),
            Pending {
                reply,
                deadline,
                responded: false,
                forwarded: std::collections::BTreeSet::new(),
            },
        );
        st.timers
            .set_key(Keyed::QueryExpire(q.ltime, q.id), deadline);
        st.emit(Event::Query {
            ltime: q.ltime,
            id: q.id,
            name: q.name.clone(),
            payload: q.payload.clone().unwrap_or_default(),
            source: q.source_node.clone(),
            deadline,
        });
        rebroadcast
    }

    /// Answers a query delivered as [`Event::Query`]: one response, sent to its source (and
    /// relayed). Fails, sending nothing, for a query not waiting for us
    /// ([`SerfError::UnknownQuery`]), an encoded response over 1024 bytes
    /// ([`SerfError::ResponseSizeLimit`]), a second answer ([`SerfError::AlreadyResponded`])
    /// or after the deadline ([`SerfError::PastDeadline`]), checked in Serf's order.
    pub fn respond(
        &mut self,
        now: Instant,
        ltime: LamportTime,
        id: u32,
        payload: Bytes,
    ) -> Result<(), SerfError> {
        let Some(p) = self.st.pending.get(&(ltime, id)) else {
            return Err(SerfError::UnknownQuery { ltime, id });
        };
        let (reply, deadline, responded) = (p.reply.clone(), p.deadline, p.responded);
        let resp = self.response(&reply, payload);
        check_response_size(&resp)?;
        if responded {
            return Err(SerfError::AlreadyResponded);
        }
        if now > deadline {
            return Err(SerfError::PastDeadline);
        }
        self.send_answer(&reply, &resp);
        if let Some(p) = self.st.pending.get_mut(&(ltime, id)) {
            p.responded = true;
        }
        Ok(())
    }

    /// Our response to a query (Serf's `createResponse`).
    pub(crate) fn response(&self, reply: &ReplyTo, payload: Bytes) -> QueryResponse {
        QueryResponse {
            ltime: reply.ltime,
            id: reply.id,
            from: self.st.name.clone(),
            flags: 0,
            payload: opt_payload(payload),
        }
    }

    /// Sends an ack or response to the query's source, and its relayed copies.
    pub(crate) fn send_answer(&mut self, reply: &ReplyTo, resp: &QueryResponse) {
        let raw = SerfMessage::QueryResponse(resp.clone()).to_shared();
        self.node.send_best_effort(reply.dest, &raw);
        self.relay_answer(reply, raw);
    }

    /// An ack or response to a query of ours arrived (serf.md §8.1, collector behaviour).
    pub(crate) fn handle_query_response(&mut self, now: Instant, r: QueryResponse) {
        let local = self.local_member().addr;
        let st = &mut self.st;
        let Some(c) = st.collectors.get_mut(&r.ltime) else {
            tracing::warn!(ltime = r.ltime, id = r.id, from = %r.from, "reply for non-running query");
            return;
        };
        if c.id != r.id {
            tracing::warn!(local = c.id, response = r.id, "query reply ID mismatch");
            return;
        }
        if now > c.deadline {
            return;
        }
        if r.is_ack() {
            if c.add_ack(&r.from) && matches!(c.purpose, Purpose::User) {
                st.events.push_back(Event::QueryAck {
                    ltime: r.ltime,
                    id: r.id,
                    from: r.from,
                });
            }
            return;
        }
        if !c.add_response(&r.from) {
            return;
        }
        let payload = r.payload.unwrap_or_default();
        match &mut c.purpose {
            Purpose::User => st.events.push_back(Event::QueryResponse {
                ltime: r.ltime,
                id: r.id,
                from: r.from,
                payload,
            }),
            Purpose::Conflict(vote) => vote.count(&r.from, &payload, local),
        }
    }

    /// A keyed query timer fired: a query of ours closes, or a delivered one expires.
    pub(crate) fn fire_query_timer(&mut self, ltime: LamportTime, id: Option<u32>) {
        match id {
            Some(id) => {
                self.st.pending.remove(&(ltime, id));
            }
            None => {
                let Some(c) = self.st.collectors.remove(&ltime) else {
                    return;
                };
                match c.purpose {
                    Purpose::User => self.st.emit(Event::QueryClosed { ltime, id: c.id }),
                    Purpose::Conflict(vote) => self.decide_conflict(&vote),
                }
            }
        }
    }
}

/// Serf's `checkResponseSize`: the encoded response must fit `QueryResponseSizeLimit`.
pub(crate) fn check_response_size(resp: &QueryResponse) -> Result<(), SerfError> {
    let len = SerfMessage::QueryResponse(resp.clone()).to_bytes().len();
    if len > QUERY_RESPONSE_SIZE_LIMIT {
        return Err(SerfError::ResponseSizeLimit {
            len,
            limit: QUERY_RESPONSE_SIZE_LIMIT,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::IpAddr;

    use rumor_swim::Transmit;
    use rumor_wire::serf::QUERY_FLAG_NO_BROADCAST;

    use super::*;
    use crate::config::SerfConfig;

    #[test]
    fn dedupe_by_time_and_id() {
        let mut r = QueryRing::default();
        assert!(r.accept(3, 7, 4));
        assert!(!r.accept(3, 7, 4));
        assert!(r.accept(3, 8, 4));
        assert!(!r.accept(3, 9, 1000), "too old");
        r.min_time = 10;
        assert!(!r.accept(9, 1, 11), "before the minimum time");
        assert!(r.accept(10, 1, 11));
    }

    #[test]
    fn default_timeout_is_gossip_interval_x_16_x_orders_of_magnitude() {
        let g = Duration::from_millis(200);
        let ms = |n| default_query_timeout(g, n).as_millis();
        assert_eq!(ms(0), 0);
        for n in [1, 5, 9] {
            assert_eq!(ms(n), 3200, "{n}");
        }
        for n in [10, 50, 99] {
            assert_eq!(ms(n), 6400, "{n}");
        }
        for n in [100, 999] {
            assert_eq!(ms(n), 9600, "{n}");
        }
        assert_eq!(ms(1000), 12800);
        assert_eq!(
            default_query_timeout(Duration::from_secs(1), 1),
            Duration::from_secs(16)
        );
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tag(tag: &str, expr: &str) -> Bytes {
        Filter::Tag {
            tag: tag.into(),
            expr: expr.into(),
        }
        .encode()
    }

    #[test]
    fn filters_all_must_pass_with_unanchored_regexps() {
        let t = tags(&[("role", "web"), ("idx", "3")]);
        let pass = |f: &[Bytes]| passes_filters(f, "n3", &t);
        assert!(pass(&[]));
        assert!(pass(&[
            Filter::Nodes(vec!["n1".into(), "n3".into()]).encode()
        ]));
        assert!(!pass(&[Filter::Nodes(vec!["n1".into()]).encode()]));
        assert!(
            !pass(&[Filter::Nodes(vec![]).encode()]),
            "an empty node list admits nobody"
        );
        assert!(
            pass(&[tag("role", "eb")]),
            "unanchored: a substring matches"
        );
        assert!(!pass(&[tag("role", "^eb")]));
        assert!(pass(&[tag("idx", "[0-3]"), tag("role", "w.b")]));
        assert!(
            !pass(&[tag("idx", "[0-3]"), tag("role", "db")]),
            "every filter"
        );
        assert!(
            pass(&[tag("dc", "^$")]),
            "a missing tag is the empty string"
        );
        assert!(!pass(&[tag("dc", ".")]));
        assert!(!pass(&[tag("role", "(")]), "a bad regexp fails the filter");
        assert!(
            !pass(&[Bytes::from_static(&[2, 0x90])]),
            "unknown filter type"
        );
        assert!(!pass(&[Bytes::new()]), "no type byte");
        assert!(!pass(&[Bytes::from_static(&[0, 0xc1])]), "does not decode");
    }

    #[test]
    fn filters_are_encoded_nodes_first_then_tags_in_order() {
        let params = QueryParams {
            filter_nodes: vec!["a".into()],
            filter_tags: vec![("x".into(), "1".into()), ("b".into(), "2".into())],
            ..QueryParams::default()
        };
        let f = encode_filters(&params).unwrap();
        assert_eq!(
            f,
            vec![
                Filter::Nodes(vec!["a".into()]).encode(),
                tag("x", "1"),
                tag("b", "2")
            ]
        );
        assert!(encode_filters(&QueryParams::default()).unwrap().is_empty());
        let bad = QueryParams {
            filter_tags: vec![("x".into(), "a(".into())],
            ..QueryParams::default()
        };
        assert!(matches!(
            encode_filters(&bad),
            Err(SerfError::BadTagFilter { tag, expr, .. }) if tag == "x" && expr == "a("
        ));
    }

    const ME: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 7946);
    const SRC: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 7946);

    fn serf_with(protocol: u8) -> Serf {
        let swim = rumor_swim::Config::lan("me", ME);
        let mut c = SerfConfig::new(swim, tags(&[("role", "web")]));
        c.protocol_version = protocol;
        let mut s = Serf::new(c, 1, Instant::ZERO).unwrap();
        drain(&mut s);
        s
    }

    fn serf() -> Serf {
        serf_with(5)
    }

    fn drain(s: &mut Serf) -> (Vec<Event>, Vec<(SocketAddr, Vec<u8>)>) {
        let events = std::iter::from_fn(|| s.poll_event()).collect();
        let mut sent = Vec::new();
        while let Some(t) = s.poll_transmit() {
            if let Transmit::Packet { to, data } = t {
                sent.push((to, data.to_vec()));
            }
        }
        (events, sent)
    }

    fn query(ltime: LamportTime, id: u32, name: &str) -> Query {
        Query {
            ltime,
            id,
            addr: SRC.ip(),
            port: SRC.port(),
            source_node: "src".into(),
            filters: Vec::new(),
            flags: QUERY_FLAG_ACK,
            relay_factor: 0,
            timeout: Duration::from_secs(2),
            name: name.into(),
            payload: Some(Bytes::from_static(b"p")),
        }
    }

    /// The Serf message inside a user datagram we sent.
    fn serf_msg(data: &[u8]) -> SerfMessage {
        assert_eq!(data[0], rumor_wire::MessageType::User as u8);
        SerfMessage::decode(&data[1..]).unwrap()
    }

    #[test]
    fn a_query_is_witnessed_acked_at_once_and_delivered_with_its_deadline() {
        let mut s = serf();
        let now = Instant::ZERO + Duration::from_secs(5);
        assert!(s.handle_query(now, &query(40, 9, "q")), "new: gossip on");
        assert_eq!(s.query_clock(), 41, "witnessed");
        let (events, sent) = drain(&mut s);
        assert_eq!(
            events,
            vec![Event::Query {
                ltime: 40,
                id: 9,
                name: "q".into(),
                payload: Bytes::from_static(b"p"),
                source: "src".into(),
                deadline: now + Duration::from_secs(2),
            }]
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, SRC);
        assert_eq!(
            serf_msg(&sent[0].1),
            SerfMessage::QueryResponse(QueryResponse {
                ltime: 40,
                id: 9,
                from: "me".into(),
                flags: QUERY_FLAG_ACK,
                payload: None,
            })
        );
        // The same query again: nothing at all.
        assert!(!s.handle_query(now, &query(40, 9, "q")));
        assert_eq!(drain(&mut s), (vec![], vec![]));
    }

    #[test]
    fn a_filtered_out_query_is_still_gossiped_unless_no_broadcast() {
        let mut s = serf();
        let mut q = query(2, 1, "q");
        q.filters = vec![Filter::Nodes(vec!["other".into()]).encode()];
        assert!(s.handle_query(Instant::ZERO, &q));
        assert_eq!(drain(&mut s), (vec![], vec![]), "no ack, no delivery");
        let mut q = query(2, 2, "q");
        q.flags |= QUERY_FLAG_NO_BROADCAST;
        q.filters = vec![tag("role", "db")];
        assert!(!s.handle_query(Instant::ZERO, &q));
        // Passing the filters with NoBroadcast: delivered, not gossiped.
        let mut q = query(2, 3, "q");
        q.flags |= QUERY_FLAG_NO_BROADCAST;
        assert!(!s.handle_query(Instant::ZERO, &q));
        assert_eq!(drain(&mut s).0.len(), 1);
    }

    #[test]
    fn one_response_per_query_before_its_deadline() {
        let mut s = serf();
        let now = Instant::ZERO;
        let mut q = query(3, 4, "q");
        q.flags = 0;
        s.handle_query(now, &q);
        let (_, sent) = drain(&mut s);
        assert!(sent.is_empty(), "no ack asked");
        // Too large first (Serf checks the size before anything else).
        let big = Bytes::from(vec![0u8; 1024]);
        assert!(matches!(
            s.respond(now, 3, 4, big),
            Err(SerfError::ResponseSizeLimit { limit: 1024, .. })
        ));
        assert_eq!(
            s.respond(now, 3, 5, Bytes::new()),
            Err(SerfError::UnknownQuery { ltime: 3, id: 5 })
        );
        let deadline = now + Duration::from_secs(2);
        assert_eq!(
            s.respond(deadline + Duration::from_nanos(1), 3, 4, Bytes::new()),
            Err(SerfError::PastDeadline)
        );
        // At the deadline itself, still in time.
        s.respond(deadline, 3, 4, Bytes::from_static(b"a")).unwrap();
        let (_, sent) = drain(&mut s);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            serf_msg(&sent[0].1),
            SerfMessage::QueryResponse(QueryResponse {
                ltime: 3,
                id: 4,
                from: "me".into(),
                flags: 0,
                payload: Some(Bytes::from_static(b"a")),
            })
        );
        assert_eq!(
            s.respond(now, 3, 4, Bytes::new()),
            Err(SerfError::AlreadyResponded)
        );
        // The deadline timer forgets it.
        s.handle_timeout(deadline);
        assert_eq!(
            s.respond(now, 3, 4, Bytes::new()),
            Err(SerfError::UnknownQuery { ltime: 3, id: 4 })
        );
        assert!(s.st.pending.is_empty());
    }

    #[test]
    fn the_largest_response_that_fits_is_1024_bytes_encoded() {
        let mut s = serf();
        let mut q = query(3, 4, "q");
        q.flags = 0;
        s.handle_query(Instant::ZERO, &q);
        let reply = s.st.pending[&(3, 4)].reply.clone();
        let overhead = SerfMessage::QueryResponse(s.response(&reply, Bytes::from(vec![0u8; 1000])))
            .to_bytes()
            .len()
            - 1000;
        let fits = Bytes::from(vec![0u8; 1024 - overhead]);
        let over = Bytes::from(vec![0u8; 1025 - overhead]);
        assert_eq!(
            s.respond(Instant::ZERO, 3, 4, over),
            Err(SerfError::ResponseSizeLimit {
                len: 1025,
                limit: 1024
            })
        );
        s.respond(Instant::ZERO, 3, 4, fits).unwrap();
    }

    #[test]
    fn sending_a_query_checks_version_size_state_and_regexps_first() {
        let mut s = serf_with(3);
        assert_eq!(
            s.query(Instant::ZERO, "q", Bytes::new(), QueryParams::default()),
            Err(SerfError::FeatureNotSupported(3))
        );
        let mut s = serf();
        let clock = s.query_clock();
        let err = s
            .query(
                Instant::ZERO,
                "q",
                Bytes::from(vec![1u8; 1024]),
                QueryParams::default(),
            )
            .unwrap_err();
        assert!(matches!(err, SerfError::QuerySizeLimit { limit: 1024, len } if len > 1024));
        let bad = QueryParams {
            filter_tags: vec![("role".into(), "[".into())],
            ..QueryParams::default()
        };
        assert!(matches!(
            s.query(Instant::ZERO, "q", Bytes::new(), bad),
            Err(SerfError::BadTagFilter { .. })
        ));
        assert_eq!(s.query_clock(), clock, "nothing sent, no clock moved");
        assert_eq!(s.stats().query_queue, 0);
        assert!(s.st.collectors.is_empty());
        assert_eq!(drain(&mut s), (vec![], vec![]));
        s.leave(Instant::ZERO);
        assert_eq!(
            s.query(Instant::ZERO, "q", Bytes::new(), QueryParams::default()),
            Err(SerfError::NotAlive)
        );
    }

    #[test]
    fn a_query_is_handled_locally_queued_and_closed_at_its_deadline() {
        let mut s = serf();
        let t0 = Instant::ZERO + Duration::from_secs(1);
        let params = QueryParams {
            request_ack: true,
            timeout: Some(Duration::from_millis(700)),
            ..QueryParams::default()
        };
        let h = s.query(t0, "q", Bytes::from_static(b"x"), params).unwrap();
        assert_eq!(h.ltime, 1);
        assert_eq!(h.id >> 31, 0);
        assert_eq!(h.deadline, t0 + Duration::from_millis(700));
        assert_eq!(
            s.query_clock(),
            2,
            "stamped with the clock, which witnessed it"
        );
        assert_eq!(s.stats().query_queue, 1);
        let (events, sent) = drain(&mut s);
        assert!(
            matches!(&events[..], [Event::Query { ltime: 1, .. }]),
            "{events:?}"
        );
        // Our own ack goes to ourselves over UDP.
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, ME);
        // It comes back: one QueryAck, a duplicate is dropped.
        let ack = sent[0].1.clone();
        s.handle_packet(t0, ME, &ack);
        s.handle_packet(t0, ME, &ack);
        let (events, _) = drain(&mut s);
        assert_eq!(
            events,
            vec![Event::QueryAck {
                ltime: 1,
                id: h.id,
                from: "me".into()
            }]
        );
        // A response from someone, twice (a relayed copy): one event.
        let resp = |from: &str, id: u32, ltime: u64| QueryResponse {
            ltime,
            id,
            from: from.into(),
            flags: 0,
            payload: Some(Bytes::from_static(b"r")),
        };
        s.handle_query_response(t0, resp("a", h.id, 1));
        s.handle_query_response(t0, resp("a", h.id, 1));
        s.handle_query_response(t0, resp("b", h.id ^ 1, 1));
        s.handle_query_response(t0, resp("b", h.id, 9));
        let (events, _) = drain(&mut s);
        assert_eq!(
            events,
            vec![Event::QueryResponse {
                ltime: 1,
                id: h.id,
                from: "a".into(),
                payload: Bytes::from_static(b"r")
            }]
        );
        // After the deadline (timer not yet run), late answers are dropped; then it closes.
        s.handle_query_response(h.deadline + Duration::from_nanos(1), resp("c", h.id, 1));
        assert_eq!(drain(&mut s).0, vec![]);
        assert!(s.poll_timeout().is_some_and(|t| t <= h.deadline));
        s.handle_timeout(h.deadline);
        assert_eq!(
            drain(&mut s).0,
            vec![Event::QueryClosed { ltime: 1, id: h.id }]
        );
        s.handle_query_response(h.deadline, resp("c", h.id, 1));
        assert_eq!(drain(&mut s).0, vec![]);
        assert!(s.st.collectors.is_empty());
    }

    #[test]
    fn unanswered_queries_are_capped() {
        let mut s = serf();
        for i in 0..=MAX_PENDING_QUERIES as u32 {
            let mut q = query(5, i, "q");
            q.flags = 0;
            q.timeout = Duration::from_secs(100 + u64::from(i));
            s.handle_query(Instant::ZERO, &q);
        }
        assert_eq!(s.st.pending.len(), MAX_PENDING_QUERIES);
        assert!(
            !s.st.pending.contains_key(&(5, 0)),
            "the one closest to its deadline went"
        );
        assert_eq!(s.st.timers.keyed_len(), MAX_PENDING_QUERIES);
    }
}
