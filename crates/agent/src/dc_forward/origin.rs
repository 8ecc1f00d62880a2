//! The origin's side: choose a server of the target datacenter, send it the request as a
//! `_rumor_dc` WAN query, wait for its ack or status (trying another server if it stays
//! silent), and hand the LAN answers it forwards to the RPC stream.

use std::collections::{BTreeSet, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use bytes::Bytes;
use rumor_net::PoolHandle;
use rumor_serf::{MemberStatus, QueryParams, Serf};

use super::request::{DcAction, DcRequest, DcStatus};
use super::{DcError, MAX_ATTEMPTS, QUERY_NAME, RELAY_QUERY_NAME};
use crate::agent::Agent;
use crate::guard::DC_TAG;
use crate::query::{QueryAnswer, QueryAnswers};
use crate::wan::{ROLE_SERVER, ROLE_TAG, WAN_ADDR_TAG};

/// Where a request goes.
enum Route {
    /// Our own datacenter: the plain command.
    Local,
    /// Through the WAN pool to one of these servers (WAN names, in the order to try).
    Remote(PoolHandle<Serf>, Vec<String>),
    /// A client: through the LAN pool to one of these servers of our datacenter (LAN names,
    /// in the order to try), which sends it on as [`Route::Remote`].
    Relay(Vec<String>),
}

/// The alive servers of our datacenter, from the LAN pool, as (name, address): members with
/// `role=server` and a `wan_addr` (a client may carry `role=server` too), by name.
fn lan_servers(agent: &Agent) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = agent
        .members()
        .into_iter()
        .filter(|m| {
            m.status == MemberStatus::Alive
                && *m.name != *agent.config.node
                && m.tags.get(ROLE_TAG).map(String::as_str) == Some(ROLE_SERVER)
                && m.tags.contains_key(WAN_ADDR_TAG)
        })
        .map(|m| (m.name.to_string(), m.addr.to_string()))
        .collect();
    v.sort();
    v
}

/// A random order (a fresh random hasher per request), so load spreads over the servers.
fn shuffle(mut names: Vec<String>) -> Vec<String> {
    let state = std::collections::hash_map::RandomState::new();
    names.sort_by_cached_key(|n| state.hash_one(n));
    names
}

/// `relay`: a client may go through a server of its datacenter (a server relaying for a
/// client may not, so a request never travels LAN to LAN).
fn route(agent: &Agent, dc: &str, relay: bool) -> Result<Route, DcError> {
    if dc.is_empty() {
        return Err(DcError::Request("a datacenter name is required".into()));
    }
    if dc == agent.config.dc {
        return Ok(Route::Local);
    }
    let Some(wan) = agent.wan.clone() else {
        let servers = lan_servers(agent);
        if relay && !servers.is_empty() {
            return Ok(Route::Relay(shuffle(
                servers.into_iter().map(|(n, _)| n).collect(),
            )));
        }
        return Err(DcError::NotServer {
            node: agent.config.node.clone(),
            dc: agent.config.dc.clone(),
            servers: servers
                .into_iter()
                .map(|(n, a)| format!("{n} ({a})"))
                .collect(),
        });
    };
    let members = wan.call(|serf, _| serf.members());
    let mut known = BTreeSet::from([agent.config.dc.clone()]);
    let mut servers = Vec::new();
    for m in &members {
        let Some(mdc) = m.tags.get(DC_TAG) else {
            continue;
        };
        known.insert(mdc.clone());
        if mdc == dc
            && m.status == MemberStatus::Alive
            && m.tags.get(ROLE_TAG).map(String::as_str) == Some(ROLE_SERVER)
        {
            servers.push(m.name.to_string());
        }
    }
    let known: Vec<String> = known.into_iter().collect();
    if !known.iter().any(|k| k == dc) {
        return Err(DcError::UnknownDc {
            dc: dc.to_string(),
            known,
        });
    }
    if servers.is_empty() {
        return Err(DcError::NoServer {
            dc: dc.to_string(),
            known,
        });
    }
    Ok(Route::Remote(wan, shuffle(servers)))
}

/// How long to wait for a server's ack (or status) before trying the next one.
fn ack_wait(left: Duration) -> Duration {
    (left / 4).clamp(Duration::from_millis(200), Duration::from_secs(2))
}

/// The time kept back, on the chosen server, for its forwarded answers to come back.
pub(super) fn margin(left: Duration) -> Duration {
    (left / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Below this much time left, no new attempt is started.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// What one attempt came to.
enum Attempt {
    /// The server took the request; its query (if any) is still open on `answers`.
    Accepted {
        answers: QueryAnswers,
        buffered: VecDeque<QueryAnswer>,
    },
    /// The server acked and refused.
    Refused(String),
    /// No ack and no status in time: try another.
    Silent,
}

/// Send the request to `server` as query `query_name` in `pool` and wait for its verdict.
async fn attempt(
    wan: &PoolHandle<Serf>,
    query_name: &str,
    server: &str,
    payload: Vec<u8>,
    left: Duration,
) -> Result<Attempt, DcError> {
    let params = QueryParams {
        filter_nodes: vec![server.to_string()],
        request_ack: true,
        timeout: Some(left),
        ..QueryParams::default()
    };
    let rx = wan.subscribe();
    let (handle, until) = wan
        .call(|serf, now| {
            serf.query(now, query_name, Bytes::from(payload), params)
                .map(|h| (h, h.deadline.saturating_duration_since(now)))
        })
        .map_err(|e| DcError::Request(format!("cannot send the request: {e}")))?;
    let mut answers = QueryAnswers::new(rx, handle, until);
    let wait = ack_wait(left);
    // A relaying server answers only once the target datacenter's server did: after its ack,
    // wait for its status as long as the query runs.
    let after_ack = if query_name == RELAY_QUERY_NAME {
        left
    } else {
        wait
    };
    let mut deadline = tokio::time::Instant::now() + wait;
    let mut acked = false;
    let mut buffered = VecDeque::new();
    loop {
        let next = match tokio::time::timeout_at(deadline, answers.next()).await {
            Err(_) if acked => {
                tracing::warn!(%server, "the server acked the request but its status did not arrive; taking it as accepted");
                return Ok(Attempt::Accepted { answers, buffered });
            }
            Err(_) => return Ok(Attempt::Silent),
            Ok(n) => n,
        };
        match next {
            None if acked => return Ok(Attempt::Accepted { answers, buffered }),
            None => return Ok(Attempt::Silent),
            Some(QueryAnswer::Ack { from }) if from == server => {
                acked = true;
                deadline = tokio::time::Instant::now() + after_ack;
            }
            Some(QueryAnswer::Response { from, payload }) if from == server => {
                return Ok(match DcStatus::decode(&payload) {
                    Ok(DcStatus::Ok) => Attempt::Accepted { answers, buffered },
                    Ok(DcStatus::Error(e)) => Attempt::Refused(e),
                    Err(e) => Attempt::Refused(e.to_string()),
                });
            }
            Some(a) => buffered.push_back(a),
        }
    }
}

/// Try the servers in order (at most [`MAX_ATTEMPTS`]) until one takes the request, sent as
/// query `query_name` in `wan` (the LAN pool for [`Route::Relay`]).
async fn send(
    wan: &PoolHandle<Serf>,
    query_name: &str,
    servers: &[String],
    mut request: DcRequest,
    total: Duration,
) -> Result<(String, QueryAnswers, VecDeque<QueryAnswer>), DcError> {
    let deadline = tokio::time::Instant::now() + total;
    let mut tried = Vec::new();
    for server in servers.iter().take(MAX_ATTEMPTS) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left < MIN_ATTEMPT {
            break;
        }
        if let DcAction::Query { timeout, .. } = &mut request.action {
            *timeout = left.saturating_sub(margin(left));
        }
        let payload = request
            .encode()
            .map_err(|e| DcError::Request(e.to_string()))?;
        tried.push(server.clone());
        tracing::debug!(%server, dc = %request.dc, ?left, "sending a datacenter request");
        match attempt(wan, query_name, server, payload, left).await? {
            Attempt::Accepted { answers, buffered } => {
                return Ok((server.clone(), answers, buffered))
            }
            Attempt::Refused(reason) => {
                return Err(DcError::Refused {
                    server: server.clone(),
                    reason,
                })
            }
            Attempt::Silent => {
                tracing::warn!(%server, dc = %request.dc, "no answer from the server; trying another")
            }
        }
    }
    Err(DcError::NoAnswer {
        dc: request.dc,
        tried,
    })
}

/// The default time a request for another datacenter may take: a WAN query's default plus a
/// LAN query's default in a datacenter the size of ours.
fn default_total(agent: &Agent, wan: &PoolHandle<Serf>) -> Duration {
    wan.call(|s, _| s.default_query_timeout()) + agent.lan.call(|s, _| s.default_query_timeout())
}

/// What a client adds to its LAN query's default time for the part it cannot see (the
/// server's WAN query, and for a query the target datacenter's LAN query) when it relays a
/// request through a server of its datacenter.
pub(super) const RELAY_EXTRA: Duration = Duration::from_secs(5);

fn lan_default(agent: &Agent) -> Duration {
    agent.lan.call(|s, _| s.default_query_timeout())
}

/// Gossip a user event in datacenter `dc` (ours: the plain event). Returns once a server of
/// `dc` confirmed it (or acked it, if its confirmation was lost). A client sends the request
/// through a server of its datacenter.
pub async fn event(
    agent: &Agent,
    dc: &str,
    name: &str,
    payload: Vec<u8>,
    coalesce: bool,
) -> anyhow::Result<()> {
    event_within(agent, dc, name, payload, coalesce, None, true).await
}

/// [`event`] taking at most `limit` (None: a default), relaying through a server of our
/// datacenter only if `relay`.
pub(super) async fn event_within(
    agent: &Agent,
    dc: &str,
    name: &str,
    payload: Vec<u8>,
    coalesce: bool,
    limit: Option<Duration>,
    relay: bool,
) -> anyhow::Result<()> {
    if name.is_empty() {
        anyhow::bail!("an event needs a name");
    }
    let req = |payload| DcRequest {
        dc: dc.to_string(),
        action: DcAction::Event {
            name: name.to_string(),
            payload,
            coalesce,
        },
    };
    match route(agent, dc, relay)? {
        Route::Local => agent.user_event(name, payload, coalesce),
        Route::Remote(wan, servers) => {
            let mut total = wan.call(|s, _| s.default_query_timeout());
            if let Some(l) = limit {
                total = total.min(l);
            }
            let (server, _, _) = send(&wan, QUERY_NAME, &servers, req(payload), total).await?;
            tracing::info!(%dc, %server, event = %name, "user event sent to another datacenter");
            Ok(())
        }
        Route::Relay(servers) => {
            let total = lan_default(agent) + RELAY_EXTRA;
            let (server, _, _) =
                send(&agent.lan, RELAY_QUERY_NAME, &servers, req(payload), total).await?;
            tracing::info!(%dc, %server, event = %name, "user event for another datacenter relayed by a server");
            Ok(())
        }
    }
}

/// The answers to a query, as [`QueryAnswers`] gives them, without the chosen server's
/// control answers.
#[derive(Debug)]
pub struct DcAnswers {
    answers: QueryAnswers,
    buffered: VecDeque<QueryAnswer>,
    /// The chosen server's WAN name, or LAN name when relayed (None for a query in our own
    /// datacenter).
    control: Option<String>,
}

impl crate::query::AnswerSource for DcAnswers {
    fn next_answer(&mut self) -> impl std::future::Future<Output = Option<QueryAnswer>> + Send {
        self.next()
    }
}

impl DcAnswers {
    /// The next ack or response of a member of the target datacenter; `None` once closed.
    pub async fn next(&mut self) -> Option<QueryAnswer> {
        if let Some(a) = self.buffered.pop_front() {
            return Some(a);
        }
        loop {
            let a = self.answers.next().await?;
            let from = match &a {
                QueryAnswer::Ack { from } | QueryAnswer::Response { from, .. } => from,
            };
            if self.control.as_deref() == Some(from.as_str()) {
                if let QueryAnswer::Response { payload, .. } = &a {
                    if let Ok(DcStatus::Error(e)) = DcStatus::decode(payload) {
                        tracing::warn!(server = %from, error = %e, "late refusal of a datacenter query");
                    }
                }
                continue;
            }
            return Some(a);
        }
    }
}

/// Run a query in datacenter `dc` (ours: the plain query) and follow its answers. `params`
/// are the LAN query's; `params.timeout` is the whole request's (None: a default). A client
/// sends the request through a server of its datacenter.
pub async fn query(
    agent: &Agent,
    dc: &str,
    name: &str,
    payload: Option<Vec<u8>>,
    params: QueryParams,
) -> anyhow::Result<DcAnswers> {
    query_via(agent, dc, name, payload, params, true).await
}

/// [`query`], relaying through a server of our datacenter only if `relay`.
pub(super) async fn query_via(
    agent: &Agent,
    dc: &str,
    name: &str,
    payload: Option<Vec<u8>>,
    params: QueryParams,
    relay: bool,
) -> anyhow::Result<DcAnswers> {
    let (pool, query_name, servers, default) = match route(agent, dc, relay)? {
        Route::Local => {
            return Ok(DcAnswers {
                answers: agent.query(name, payload, params)?,
                buffered: VecDeque::new(),
                control: None,
            })
        }
        Route::Remote(wan, servers) => {
            let default = default_total(agent, &wan);
            (wan, QUERY_NAME, servers, default)
        }
        Route::Relay(servers) => {
            let default = lan_default(agent) * 2 + RELAY_EXTRA;
            (agent.lan.clone(), RELAY_QUERY_NAME, servers, default)
        }
    };
    crate::query::check_name(name, payload.as_deref())?;
    for (tag, re) in &params.filter_tags {
        regex::Regex::new(re)
            .map_err(|e| anyhow::anyhow!("bad regular expression for tag {tag}: {e}"))?;
    }
    let total = match params.timeout {
        Some(t) if !t.is_zero() => t,
        _ => default,
    };
    let req = DcRequest {
        dc: dc.to_string(),
        action: DcAction::Query {
            name: name.to_string(),
            payload,
            filter_nodes: params.filter_nodes,
            filter_tags: params.filter_tags,
            request_ack: params.request_ack,
            relay_factor: params.relay_factor,
            timeout: total,
        },
    };
    let (server, answers, buffered) = send(&pool, query_name, &servers, req, total).await?;
    tracing::debug!(%dc, %server, query = %name, "query running in another datacenter");
    Ok(DcAnswers {
        answers,
        buffered,
        control: Some(server),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::sync::Arc;

    use rumor_serf::Event as SerfEvent;
    use tokio::sync::broadcast;

    use crate::cli::AgentArgs;
    use crate::config::AgentConfig;
    use crate::logging::LogRing;

    async fn agent(name: &str, dc: &str, ip: &str) -> Arc<Agent> {
        let args = AgentArgs {
            node: Some(name.into()),
            dc: Some(dc.into()),
            bind: Some(format!("{ip}:0")),
            server: true,
            wan_bind: Some(format!("{ip}:0")),
            profile: Some("local".into()),
            ..Default::default()
        };
        let config = AgentConfig::load(&args).unwrap();
        Agent::start(config, LogRing::new()).await.unwrap()
    }

    /// User events named `name` that arrive on `rx` within `limit`.
    async fn events_named(
        rx: &mut broadcast::Receiver<SerfEvent>,
        name: &str,
        limit: Duration,
    ) -> usize {
        let mut n = 0;
        let until = tokio::time::Instant::now() + limit;
        while let Ok(Ok(ev)) = tokio::time::timeout_at(until, rx.recv()).await {
            if matches!(ev, SerfEvent::User { name: ref e, .. } if e == name) {
                n += 1;
            }
        }
        n
    }

    fn event(name: &str) -> DcRequest {
        DcRequest {
            dc: "dc2".into(),
            action: DcAction::Event {
                name: name.into(),
                payload: b"p".to_vec(),
                coalesce: false,
            },
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn silent_servers_are_skipped_three_at_most_and_a_taker_ends_the_tries() {
        let o = agent("o", "dc1", "127.0.126.1").await;
        let b = agent("b", "dc2", "127.0.126.2").await;
        let c = agent("c", "dc2", "127.0.126.3").await;
        let wan0 = o.wan.as_ref().unwrap().local_addr().to_string();
        b.wan_join(std::slice::from_ref(&wan0)).await.unwrap();
        c.wan_join(std::slice::from_ref(&wan0)).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while o.wan_members().unwrap().len() < 3 {
            assert!(tokio::time::Instant::now() < deadline, "no WAN federation");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let wan = o.wan.clone().unwrap();
        let (mut b_rx, mut c_rx) = (b.member_events(), c.member_events());

        // A server that is not there (no ack) is skipped after one ack wait; b takes it, and
        // c, after it in the order, is never asked.
        let total = Duration::from_secs(2);
        let t0 = tokio::time::Instant::now();
        let order = names(&["ghost1.dc2", "b.dc2", "c.dc2"]);
        let (server, _, _) = send(&wan, QUERY_NAME, &order, event("e1"), total)
            .await
            .unwrap();
        let took = t0.elapsed();
        assert_eq!(server, "b.dc2");
        assert!(took >= ack_wait(total), "{took:?}");
        assert!(took < total, "{took:?}");
        assert_eq!(
            events_named(&mut b_rx, "e1", Duration::from_secs(2)).await,
            1
        );
        assert_eq!(
            events_named(&mut c_rx, "e1", Duration::from_millis(200)).await,
            0
        );

        // Three silent servers in a row: the fourth is not tried, though time is left.
        let order = names(&["ghost1.dc2", "ghost2.dc2", "ghost3.dc2", "b.dc2"]);
        let t0 = tokio::time::Instant::now();
        let err = send(
            &wan,
            QUERY_NAME,
            &order,
            event("e2"),
            Duration::from_secs(4),
        )
        .await
        .unwrap_err();
        let took = t0.elapsed();
        assert_eq!(
            err,
            DcError::NoAnswer {
                dc: "dc2".into(),
                tried: names(&["ghost1.dc2", "ghost2.dc2", "ghost3.dc2"]),
            }
        );
        assert_eq!(
            err.to_string(),
            "no server of datacenter 'dc2' answered (tried ghost1.dc2, ghost2.dc2, ghost3.dc2)"
        );
        // Three ack waits of a quarter of the time left: 1 s, 0.75 s, 0.5625 s.
        assert!(took >= Duration::from_millis(2300), "{took:?}");
        assert!(took < Duration::from_secs(4), "{took:?}");
        assert_eq!(
            events_named(&mut b_rx, "e2", Duration::from_millis(500)).await,
            0
        );

        // A refusal from the chosen server is final (its datacenter is not the request's).
        let mut wrong = event("e3");
        wrong.dc = "dc1".into();
        let err = send(&wan, QUERY_NAME, &names(&["b.dc2", "c.dc2"]), wrong, total)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DcError::Refused {
                server: "b.dc2".into(),
                reason: "this server is in datacenter dc2, not dc1".into(),
            }
        );
        for a in [&o, &b, &c] {
            a.request_shutdown();
            a.lan.shutdown().await;
            if let Some(w) = &a.wan {
                w.shutdown().await;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_relays_through_one_server_skipping_silent_ones() {
        let s1 = agent("s1", "dc1", "127.0.126.4").await;
        let args = AgentArgs {
            node: Some("cl".into()),
            dc: Some("dc1".into()),
            bind: Some("127.0.126.5:0".into()),
            profile: Some("local".into()),
            ..Default::default()
        };
        let cl = Agent::start(AgentConfig::load(&args).unwrap(), LogRing::new())
            .await
            .unwrap();
        cl.join(&[s1.lan.local_addr().to_string()], false)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while lan_servers(&cl).is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "no LAN join");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(matches!(route(&cl, "dc2", true), Ok(Route::Relay(v)) if v == names(&["s1"])));
        // A server relaying for a client never relays again: without a WAN pool, an error.
        let Err(DcError::NotServer { servers, .. }) = route(&cl, "dc2", false) else {
            panic!("a relayed request relayed again");
        };
        assert_eq!(servers, vec![format!("s1 ({})", s1.lan.local_addr())]);

        // A silent server is skipped after one ack wait; s1 takes the request, sends it on,
        // and its WAN pool's refusal (no dc2 there) comes back as s1's, ending the tries.
        let total = Duration::from_secs(2);
        let t0 = tokio::time::Instant::now();
        let order = names(&["ghost1", "s1", "ghost2"]);
        let err = send(&cl.lan, RELAY_QUERY_NAME, &order, event("e1"), total)
            .await
            .unwrap_err();
        let took = t0.elapsed();
        assert_eq!(
            err,
            DcError::Refused {
                server: "s1".into(),
                reason: "unknown datacenter 'dc2' (known datacenters: dc1)".into(),
            }
        );
        assert!(took >= ack_wait(total), "{took:?}");
        assert!(took < total, "{took:?}");
        for a in [&s1, &cl] {
            a.request_shutdown();
            a.lan.shutdown().await;
            if let Some(w) = &a.wan {
                w.shutdown().await;
            }
        }
    }

    #[test]
    fn waits_and_margins_are_bounded() {
        let ms = Duration::from_millis;
        assert_eq!(ack_wait(ms(400)), ms(200));
        assert_eq!(ack_wait(ms(3200)), ms(800));
        assert_eq!(ack_wait(Duration::from_secs(60)), Duration::from_secs(2));
        assert_eq!(margin(ms(100)), ms(50));
        assert_eq!(margin(ms(3200)), ms(320));
        assert_eq!(margin(Duration::from_secs(60)), Duration::from_secs(1));
    }

    #[test]
    fn shuffles_keep_every_server_once() {
        let names: Vec<String> = (0..8).map(|i| format!("s{i}.dc2")).collect();
        let mut got = shuffle(names.clone());
        got.sort();
        assert_eq!(got, names);
    }
}
