//! The chosen server's side: a task on the WAN pool's events that serves every `_rumor_dc`
//! query addressed to us (the query's node filter already kept it from everyone else).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumor_net::PoolHandle;
use rumor_serf::{LamportTime, QueryParams, Serf};

use super::listen::{on_queries, respond_status};
use super::request::{DcAction, DcRequest, DcStatus};
use super::QUERY_NAME;
use crate::agent::Agent;
use crate::query::QueryAnswer;

/// Time kept back at the end of the WAN query, past the LAN query's close, for the last
/// forwarded answers to leave.
const CLOSE_MARGIN: Duration = Duration::from_millis(20);

/// Start serving requests from other datacenters (servers only: a client has no WAN pool).
pub(super) fn start(agent: &Arc<Agent>) {
    let Some(wan) = agent.wan.clone() else {
        return;
    };
    let pool = wan.clone();
    on_queries(
        agent,
        pool,
        QUERY_NAME,
        "another datacenter",
        move |agent, q| serve(agent, wan.clone(), q.ltime, q.id, q.payload, q.left),
    );
}

/// Send our one status answer.
fn respond(wan: &PoolHandle<Serf>, ltime: LamportTime, id: u32, status: &DcStatus) {
    respond_status(wan, ltime, id, status);
}

/// Serve one request: decode, check, do it, answer, and for a query forward its answers.
async fn serve(
    agent: Arc<Agent>,
    wan: PoolHandle<Serf>,
    ltime: LamportTime,
    id: u32,
    payload: Bytes,
    left: Duration,
) {
    let req = match DcRequest::decode(&payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "bad datacenter request");
            respond(&wan, ltime, id, &DcStatus::Error(e.to_string()));
            return;
        }
    };
    if req.dc != agent.config.dc {
        let msg = format!(
            "this server is in datacenter {}, not {}",
            agent.config.dc, req.dc
        );
        respond(&wan, ltime, id, &DcStatus::Error(msg));
        return;
    }
    match req.action {
        DcAction::Event {
            name,
            payload,
            coalesce,
        } => {
            let status = match agent.user_event(&name, payload, coalesce) {
                Ok(()) => {
                    tracing::info!(event = %name, "user event from another datacenter gossiped");
                    DcStatus::Ok
                }
                Err(e) => DcStatus::Error(format!("{e:#}")),
            };
            respond(&wan, ltime, id, &status);
        }
        DcAction::Query {
            name,
            payload,
            filter_nodes,
            filter_tags,
            request_ack,
            relay_factor,
            timeout,
        } => {
            let timeout = timeout.min(left.saturating_sub(CLOSE_MARGIN));
            if timeout.is_zero() {
                let msg = "no time left to run the query".to_string();
                respond(&wan, ltime, id, &DcStatus::Error(msg));
                return;
            }
            let params = QueryParams {
                filter_nodes,
                filter_tags,
                request_ack,
                relay_factor,
                timeout: Some(timeout),
            };
            let mut answers = match crate::query::start(&agent.lan, &name, payload, params) {
                Ok(a) => a,
                Err(e) => {
                    respond(&wan, ltime, id, &DcStatus::Error(format!("{e:#}")));
                    return;
                }
            };
            respond(&wan, ltime, id, &DcStatus::Ok);
            drop(agent);
            while let Some(a) = answers.next().await {
                let (from, ack, payload) = match a {
                    QueryAnswer::Ack { from } => (from, true, Bytes::new()),
                    QueryAnswer::Response { from, payload } => (from, false, payload),
                };
                let r =
                    wan.call(|serf, now| serf.forward_answer(now, ltime, id, &from, ack, payload));
                if let Err(e) = r {
                    tracing::warn!(error = %e, %from, "cannot forward an answer to another datacenter");
                }
            }
        }
    }
}
