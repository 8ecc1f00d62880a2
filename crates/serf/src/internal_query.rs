//! Serf's internal queries (serf.md §8.4), names starting `_serf_`: answered here, in the
//! core, and never delivered as [`crate::Event::Query`]. They were acked (if asked) like any
//! query before reaching this point.
//!
//! | name                | answer                                        |
//! |---------------------|-----------------------------------------------|
//! | `_serf_ping`        | none (the ack is the answer)                  |
//! | `_serf_conflict`    | `[6]` + our record of the named member, or nil |
//! | `_serf_install-key` | `[8]` + nodeKeyResponse                       |
//! | `_serf_use-key`     | `[8]` + nodeKeyResponse                       |
//! | `_serf_remove-key`  | `[8]` + nodeKeyResponse                       |
//! | `_serf_list-keys`   | `[8]` + nodeKeyResponse, trimmed to 1024 bytes |

use bytes::Bytes;
use rumor_swim::Instant;
use rumor_wire::serf::Query;

use crate::conflict::CONFLICT_QUERY;
use crate::key_query::KeyOp;
use crate::query::{check_response_size, ReplyTo};
use crate::serf::Serf;

/// `_serf_ping`, sent by `serf reachability`.
pub(crate) const PING_QUERY: &str = "ping";

impl Serf {
    /// Handles internal query `name` (the part after `_serf_`).
    pub(crate) fn handle_internal_query(
        &mut self,
        now: Instant,
        name: &str,
        q: &Query,
        reply: &ReplyTo,
        deadline: Instant,
    ) {
        let payload = q.payload.as_deref().unwrap_or_default();
        match name {
            PING_QUERY => {}
            CONFLICT_QUERY => self.answer_conflict(now, payload, reply, deadline),
            other => match KeyOp::from_query_name(other) {
                Some(op) => self.answer_key_query(now, op, payload, reply, deadline),
                None => tracing::warn!(name = other, "unhandled internal query"),
            },
        }
    }

    /// Sends our answer to an internal query, as `Query.Respond` does (size, then deadline);
    /// a refusal is logged.
    pub(crate) fn answer_internal(
        &mut self,
        now: Instant,
        reply: &ReplyTo,
        deadline: Instant,
        payload: Bytes,
    ) {
        let resp = self.response(reply, payload);
        if let Err(e) = check_response_size(&resp) {
            tracing::error!(error = %e, "failed to respond to an internal query");
            return;
        }
        if now > deadline {
            tracing::error!("failed to respond to an internal query: past the deadline");
            return;
        }
        self.send_answer(reply, &resp);
    }
}
