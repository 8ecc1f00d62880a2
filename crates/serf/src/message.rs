//! Serf messages arriving as memberlist user messages: dispatch by type, and the
//! rebroadcast-if-new rule (the exact received bytes go back on the matching queue).

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::serf::{Query, QueryResponse, SerfMessage};

use crate::state::State;

/// What a user message leaves for [`crate::Serf`] to do with the node: a query needs to send
/// answers and draw randomness, a relay to send a datagram.
#[derive(Debug)]
pub(crate) enum Followup {
    /// A relay asks us to forward `msg` to `to` as one datagram.
    Forward(SocketAddr, Bytes),
    /// A query to handle; its exact received bytes are gossiped on if it is new.
    Query(Query, Bytes),
    /// An ack or response to a query of ours.
    Response(QueryResponse),
}

impl State {
    /// Handles one user message (`NotifyMsg`). Queries, answers and relays come back as a
    /// [`Followup`].
    pub(crate) fn notify_msg(&mut self, now: Instant, raw: Bytes) -> Option<Followup> {
        if raw.is_empty() {
            return None;
        }
        let msg = match SerfMessage::decode(&raw) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "dropped a Serf message that does not decode");
                return None;
            }
        };
        match msg {
            SerfMessage::Leave(m) => {
                tracing::debug!(node = %m.node, ltime = m.ltime, prune = m.prune, "leave intent");
                if self.handle_leave_intent(now, &m) {
                    self.queues.push_intent_raw(raw);
                }
            }
            SerfMessage::Join(m) => {
                tracing::debug!(node = %m.node, ltime = m.ltime, "join intent");
                if self.handle_join_intent(now, &m) {
                    self.queues.push_intent_raw(raw);
                }
            }
            SerfMessage::UserEvent(m) => {
                if self.handle_user_event(&m) {
                    self.queues.push_event_raw(raw);
                }
            }
            SerfMessage::Query(q) => return Some(Followup::Query(q, raw)),
            SerfMessage::QueryResponse(r) => return Some(Followup::Response(r)),
            SerfMessage::Relay(r) => {
                let to: SocketAddr = r.header.dest_addr;
                if r.message.is_empty() {
                    return None;
                }
                tracing::debug!(%to, dest = %r.header.dest_name, "relaying a message");
                return Some(Followup::Forward(to, r.message));
            }
            other => {
                tracing::warn!(kind = %other.message_type(), "Serf message of a type not sent alone; ignored");
            }
        }
        None
    }
}
