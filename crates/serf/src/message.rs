//! Serf messages arriving as memberlist user messages: dispatch by type, and the
//! rebroadcast-if-new rule (the exact received bytes go back on the matching queue).

use std::net::SocketAddr;

use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::serf::SerfMessage;

use crate::state::State;

/// A message a relay asks us to forward: send `msg` to `to` as one datagram.
pub(crate) type Forward = (SocketAddr, Bytes);

impl State {
    /// Handles one user message (`NotifyMsg`). A relay message is not ours to handle: its
    /// inner message comes back to be forwarded.
    pub(crate) fn notify_msg(&mut self, now: Instant, raw: Bytes) -> Option<Forward> {
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
            SerfMessage::Query(q) => {
                if self.handle_query(&q) {
                    self.queues.push_query_raw(raw);
                }
            }
            SerfMessage::QueryResponse(r) => {
                tracing::debug!(from = %r.from, id = r.id, "query response for no query of ours; ignored");
            }
            SerfMessage::Relay(r) => {
                let to: SocketAddr = r.header.dest_addr;
                if r.message.is_empty() {
                    return None;
                }
                tracing::debug!(%to, dest = %r.header.dest_name, "relaying a message");
                return Some((to, r.message));
            }
            other => {
                tracing::warn!(kind = %other.message_type(), "Serf message of a type not sent alone; ignored");
            }
        }
        None
    }
}
