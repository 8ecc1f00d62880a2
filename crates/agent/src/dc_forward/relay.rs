//! A server's side of a client's request: a task on the LAN pool's events that serves every
//! `_rumor_dc_forward` query addressed to us (the client's node filter kept it from everyone
//! else). The payload is the [`DcRequest`] a server's origin sends; we send it on as the
//! origin does (`origin.rs`, never relaying again), forward every answer of the target
//! datacenter into the client's LAN query under the member's name, and answer under our own
//! name with one [`DcStatus`] (the client hides it, as the origin hides the chosen server's).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumor_serf::{LamportTime, QueryParams};

use super::listen::{on_queries, respond_status};
use super::origin::{event_within, margin, query_via};
use super::request::{DcAction, DcRequest, DcStatus};
use super::RELAY_QUERY_NAME;
use crate::agent::Agent;
use crate::query::QueryAnswer;

/// Start relaying clients' requests (servers only: a client has no WAN pool to send them on).
pub(super) fn start(agent: &Arc<Agent>) {
    if agent.wan.is_none() {
        return;
    }
    on_queries(
        agent,
        agent.lan.clone(),
        RELAY_QUERY_NAME,
        "a client",
        |agent, q| serve(agent, q.ltime, q.id, q.payload, q.left),
    );
}

/// Send our one status answer into the client's query.
fn respond(agent: &Agent, ltime: LamportTime, id: u32, status: &DcStatus) {
    respond_status(&agent.lan, ltime, id, status);
}

/// Serve one request: decode, send it on, answer, and for a query forward its answers.
async fn serve(agent: Arc<Agent>, ltime: LamportTime, id: u32, payload: Bytes, left: Duration) {
    let req = match DcRequest::decode(&payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "bad datacenter request from a client");
            respond(&agent, ltime, id, &DcStatus::Error(e.to_string()));
            return;
        }
    };
    // Time kept back for our status and the last forwarded answers to reach the client.
    let limit = left.saturating_sub(margin(left));
    if limit.is_zero() {
        let msg = "no time left to send the request on".to_string();
        respond(&agent, ltime, id, &DcStatus::Error(msg));
        return;
    }
    match req.action {
        DcAction::Event {
            name,
            payload,
            coalesce,
        } => {
            let r = event_within(
                &agent,
                &req.dc,
                &name,
                payload,
                coalesce,
                Some(limit),
                false,
            );
            let status = match r.await {
                Ok(()) => DcStatus::Ok,
                Err(e) => DcStatus::Error(format!("{e:#}")),
            };
            respond(&agent, ltime, id, &status);
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
            let params = QueryParams {
                filter_nodes,
                filter_tags,
                request_ack,
                relay_factor,
                timeout: Some(timeout.min(limit)),
            };
            let mut answers = match query_via(&agent, &req.dc, &name, payload, params, false).await
            {
                Ok(a) => a,
                Err(e) => {
                    respond(&agent, ltime, id, &DcStatus::Error(format!("{e:#}")));
                    return;
                }
            };
            respond(&agent, ltime, id, &DcStatus::Ok);
            let lan = agent.lan.clone();
            drop(agent);
            while let Some(a) = answers.next().await {
                let (from, ack, payload) = match a {
                    QueryAnswer::Ack { from } => (from, true, Bytes::new()),
                    QueryAnswer::Response { from, payload } => (from, false, payload),
                };
                let r =
                    lan.call(|serf, now| serf.forward_answer(now, ltime, id, &from, ack, payload));
                if let Err(e) = r {
                    tracing::warn!(error = %e, %from, "cannot forward an answer to a client");
                }
            }
        }
    }
}
