//! Queries the agent sends on behalf of RPC clients: the name rule Serf's agent enforces, and
//! [`QueryAnswers`], the acks and responses of one query of ours as they arrive, until the
//! core reports it closed (`Event::QueryClosed`) at its deadline.
//!
//! The pool's event channel is subscribed to *before* the query is sent, so an answer that
//! arrives at once (our own ack and response, over loopback) is not missed; answers are
//! matched by the query's (Lamport time, ID).

use std::time::Duration;

use bytes::Bytes;
use rumor_net::PoolHandle;
use rumor_serf::{Event, LamportTime, QueryHandle, QueryParams, Serf};
use tokio::sync::broadcast;

/// Names with this prefix are Serf's internal queries.
pub const INTERNAL_PREFIX: &str = "_serf_";

/// The one internal query clients may send (with a nil payload): `serf reachability`.
pub const PING: &str = "_serf_ping";

/// How long after the deadline the answers end even if the close was never seen (the
/// subscriber lagged and lost it).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why a query was refused before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryNameError {
    /// An internal name other than a nil-payload ping (Serf's wording).
    #[error("Queries cannot contain the '{INTERNAL_PREFIX}' prefix")]
    Internal,
}

/// Serf's agent rule: no `_serf_` names, except `_serf_ping` with a nil payload.
pub fn check_name(name: &str, payload: Option<&[u8]>) -> Result<(), QueryNameError> {
    if name.starts_with(INTERNAL_PREFIX) && (name != PING || payload.is_some()) {
        return Err(QueryNameError::Internal);
    }
    Ok(())
}

/// One answer to a query of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    /// A member acknowledged it.
    Ack {
        /// The member.
        from: String,
    },
    /// A member responded.
    Response {
        /// The member.
        from: String,
        /// Its response.
        payload: Bytes,
    },
}

/// The answers to one query of ours, in arrival order.
#[derive(Debug)]
pub struct QueryAnswers {
    rx: broadcast::Receiver<Event>,
    handle: QueryHandle,
    /// Latest end if the close is never seen.
    until: tokio::time::Instant,
    closed: bool,
}

impl QueryAnswers {
    /// Follow the query `handle` on `rx` (subscribed before the query was sent); `left` is
    /// the time until its deadline.
    pub fn new(rx: broadcast::Receiver<Event>, handle: QueryHandle, left: Duration) -> Self {
        QueryAnswers {
            rx,
            handle,
            until: tokio::time::Instant::now() + left + CLOSE_GRACE,
            closed: false,
        }
    }

    /// The query's identity and deadline.
    pub fn handle(&self) -> QueryHandle {
        self.handle
    }

    fn ours(&self, ltime: LamportTime, id: u32) -> bool {
        ltime == self.handle.ltime && id == self.handle.id
    }

    /// The next ack or response; `None` once the query closed.
    pub async fn next(&mut self) -> Option<QueryAnswer> {
        while !self.closed {
            let ev = match tokio::time::timeout_at(self.until, self.rx.recv()).await {
                Err(_) => {
                    tracing::debug!(
                        id = self.handle.id,
                        "query close not seen; ending at the deadline"
                    );
                    self.closed = true;
                    return None;
                }
                Ok(Ok(ev)) => ev,
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(lost = n, "query answers fell behind");
                    continue;
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    self.closed = true;
                    return None;
                }
            };
            match ev {
                Event::QueryAck { ltime, id, from } if self.ours(ltime, id) => {
                    return Some(QueryAnswer::Ack {
                        from: from.to_string(),
                    })
                }
                Event::QueryResponse {
                    ltime,
                    id,
                    from,
                    payload,
                } if self.ours(ltime, id) => {
                    return Some(QueryAnswer::Response {
                        from: from.to_string(),
                        payload,
                    })
                }
                Event::QueryClosed { ltime, id } if self.ours(ltime, id) => {
                    self.closed = true;
                }
                _ => {}
            }
        }
        None
    }
}

/// Check the name, subscribe, send the query.
pub fn start(
    lan: &PoolHandle<Serf>,
    name: &str,
    payload: Option<Vec<u8>>,
    params: QueryParams,
) -> anyhow::Result<QueryAnswers> {
    check_name(name, payload.as_deref())?;
    let rx = lan.subscribe();
    let payload = Bytes::from(payload.unwrap_or_default());
    let (handle, left) = lan.call(|serf, now| {
        serf.query(now, name, payload, params)
            .map(|h| (h, h.deadline.saturating_duration_since(now)))
    })?;
    tracing::debug!(%name, ltime = handle.ltime, id = handle.id, timeout = ?handle.timeout, "query sent");
    Ok(QueryAnswers::new(rx, handle, left))
}

/// Where a stream of query answers comes from: a query in our pool ([`QueryAnswers`]) or one
/// sent to another datacenter (`crate::dc_forward::DcAnswers`).
pub trait AnswerSource: Send + 'static {
    /// The next ack or response; `None` once the query is closed.
    fn next_answer(&mut self) -> impl std::future::Future<Output = Option<QueryAnswer>> + Send;
}

impl AnswerSource for QueryAnswers {
    fn next_answer(&mut self) -> impl std::future::Future<Output = Option<QueryAnswer>> + Send {
        self.next()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rumor_swim::Instant;

    use super::*;

    #[test]
    fn internal_names_are_refused_except_a_nil_ping() {
        assert_eq!(check_name("uptime", Some(b"x")), Ok(()));
        assert_eq!(check_name("uptime", None), Ok(()));
        assert_eq!(check_name(PING, None), Ok(()));
        assert_eq!(check_name(PING, Some(b"")), Err(QueryNameError::Internal));
        assert_eq!(
            check_name("_serf_conflict", None),
            Err(QueryNameError::Internal)
        );
        assert_eq!(check_name("_serf_", None), Err(QueryNameError::Internal));
        assert_eq!(check_name("serf_ping", None), Ok(()));
        assert_eq!(
            QueryNameError::Internal.to_string(),
            "Queries cannot contain the '_serf_' prefix"
        );
    }

    fn handle(ltime: LamportTime, id: u32) -> QueryHandle {
        QueryHandle {
            ltime,
            id,
            deadline: Instant::from_duration(Duration::from_secs(3)),
            timeout: Duration::from_secs(3),
        }
    }

    #[tokio::test]
    async fn answers_are_matched_by_ltime_and_id_until_closed() {
        let (tx, rx) = broadcast::channel(16);
        let mut answers = QueryAnswers::new(rx, handle(7, 42), Duration::from_secs(3));
        let evs = [
            Event::QueryAck {
                ltime: 7,
                id: 41,
                from: "other-id".into(),
            },
            Event::QueryAck {
                ltime: 6,
                id: 42,
                from: "other-ltime".into(),
            },
            Event::QueryAck {
                ltime: 7,
                id: 42,
                from: "n1".into(),
            },
            Event::QueryResponse {
                ltime: 7,
                id: 42,
                from: "n2".into(),
                payload: Bytes::from_static(b"up"),
            },
            Event::QueryClosed { ltime: 7, id: 41 },
            Event::QueryAck {
                ltime: 7,
                id: 42,
                from: "n3".into(),
            },
            Event::QueryClosed { ltime: 7, id: 42 },
            Event::QueryAck {
                ltime: 7,
                id: 42,
                from: "late".into(),
            },
        ];
        for e in evs {
            tx.send(e).unwrap();
        }
        let mut got = Vec::new();
        while let Some(a) = answers.next().await {
            got.push(a);
        }
        assert_eq!(
            got,
            vec![
                QueryAnswer::Ack { from: "n1".into() },
                QueryAnswer::Response {
                    from: "n2".into(),
                    payload: Bytes::from_static(b"up")
                },
                QueryAnswer::Ack { from: "n3".into() },
            ]
        );
        assert_eq!(answers.next().await, None);
    }

    #[tokio::test]
    async fn answers_end_after_the_deadline_if_the_close_is_lost() {
        let (tx, rx) = broadcast::channel(16);
        let start = tokio::time::Instant::now();
        let left = Duration::from_millis(100);
        let mut answers = QueryAnswers::new(rx, handle(1, 1), left);
        // Someone else's close does not end it.
        tx.send(Event::QueryClosed { ltime: 1, id: 2 }).unwrap();
        assert_eq!(answers.next().await, None);
        let waited = start.elapsed();
        assert!(waited >= left + CLOSE_GRACE, "{waited:?}");
        assert!(
            waited < left + CLOSE_GRACE + Duration::from_secs(2),
            "{waited:?}"
        );
        drop(tx);
    }
}
