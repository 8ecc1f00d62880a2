//! Serf's event handler scripts (`--event-handler [FILTER=]COMMAND`, serf.md §7.1–7.2).
//!
//! The pool's events go through Serf's two coalescers ([`coalesce`]) and then, one at a
//! time, to every configured script whose filter matches ([`spec`]); each run gets Serf's
//! environment and stdin ([`run`]). A query answered by a script (exit 0, some output) gets
//! that output as our response.
//!
//! Two tasks: the ingest task subscribes to the pool, feeds the coalescers and wakes at their
//! deadlines; the runner takes the flushed events from a bounded queue and runs the scripts
//! sequentially, so a slow script delays later events but never the pool.

pub mod coalesce;
pub mod run;
pub mod spec;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rumor_serf::{Event as SerfEvent, LamportTime, Member};
use tokio::sync::{broadcast, mpsc};

use crate::agent::Agent;
pub use spec::{
    parse_event_script, parse_event_scripts, EventFilter, EventKind, EventScript, SpecError,
};

/// Flushed events waiting for the runner; beyond this an event is dropped with a warning
/// (the runner is stuck behind slow scripts).
pub const QUEUE_DEPTH: usize = 1024;

/// The kind of a member event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberKind {
    /// `member-join`.
    Join,
    /// `member-leave`.
    Leave,
    /// `member-failed`.
    Failed,
    /// `member-update`.
    Update,
    /// `member-reap`.
    Reap,
}

impl MemberKind {
    /// The matching filter kind.
    pub fn event_kind(self) -> EventKind {
        match self {
            MemberKind::Join => EventKind::MemberJoin,
            MemberKind::Leave => EventKind::MemberLeave,
            MemberKind::Failed => EventKind::MemberFailed,
            MemberKind::Update => EventKind::MemberUpdate,
            MemberKind::Reap => EventKind::MemberReap,
        }
    }
}

/// A user event as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    /// Event name.
    pub name: String,
    /// Payload.
    pub payload: Bytes,
    /// Event clock time.
    pub ltime: LamportTime,
    /// Whether it may be coalesced.
    pub coalesce: bool,
}

/// A query as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryEvent {
    /// Query name.
    pub name: String,
    /// Payload.
    pub payload: Bytes,
    /// Query clock time.
    pub ltime: LamportTime,
    /// The query's id (with `ltime`, what a response names).
    pub id: u32,
}

/// One event for the handlers: member events carry every member of a coalesced batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerEvent {
    /// Members that joined, left, failed, changed or were reaped.
    Member {
        /// Which.
        kind: MemberKind,
        /// The members.
        members: Vec<Member>,
    },
    /// A user event.
    User(UserEvent),
    /// A query.
    Query(QueryEvent),
}

impl HandlerEvent {
    /// The event's kind (what `SERF_EVENT` says).
    pub fn kind(&self) -> EventKind {
        match self {
            HandlerEvent::Member { kind, .. } => kind.event_kind(),
            HandlerEvent::User(_) => EventKind::User,
            HandlerEvent::Query(_) => EventKind::Query,
        }
    }

    /// The handler view of a pool event (None for events handlers do not see).
    pub fn from_serf(event: &SerfEvent) -> Option<HandlerEvent> {
        let member = |kind: MemberKind, m: &Member| HandlerEvent::Member {
            kind,
            members: vec![m.clone()],
        };
        Some(match event {
            SerfEvent::MemberJoin(m) => member(MemberKind::Join, m),
            SerfEvent::MemberLeave(m) => member(MemberKind::Leave, m),
            SerfEvent::MemberFailed(m) => member(MemberKind::Failed, m),
            SerfEvent::MemberUpdate(m) => member(MemberKind::Update, m),
            SerfEvent::MemberReap(m) => member(MemberKind::Reap, m),
            SerfEvent::User {
                name,
                payload,
                ltime,
                coalesce,
            } => HandlerEvent::User(UserEvent {
                name: name.clone(),
                payload: payload.clone(),
                ltime: *ltime,
                coalesce: *coalesce,
            }),
            // rumor's own queries (`_rumor_dc_forward`, ...) are never a script's.
            SerfEvent::Query { name, .. } if crate::dc_forward::is_internal(name) => return None,
            SerfEvent::Query {
                ltime,
                id,
                name,
                payload,
                ..
            } => HandlerEvent::Query(QueryEvent {
                name: name.clone(),
                payload: payload.clone(),
                ltime: *ltime,
                id: *id,
            }),
            _ => return None,
        })
    }
}

/// Starts the handlers for `agent.config.event_handlers` (nothing if there are none).
/// Subscribes to the pool before returning; our own `member-join`, which the pool reported
/// before anyone could subscribe, is fed in first, as Serf's handlers see it.
pub fn start(agent: &Arc<Agent>) {
    if agent.config.event_handlers.is_empty() {
        return;
    }
    let events = agent.lan.subscribe();
    let local = agent.lan.call(|serf, _| serf.local_member());
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    for s in &agent.config.event_handlers {
        tracing::info!(event = %s.filter.kind, name = %s.filter.name, script = %s.script, "event handler registered");
    }
    tokio::spawn(ingest(agent.clone(), events, local, tx));
    tokio::spawn(runner(agent.clone(), rx));
}

/// Pool events -> coalescers -> the runner's queue.
async fn ingest(
    agent: Arc<Agent>,
    mut events: broadcast::Receiver<SerfEvent>,
    local: Member,
    tx: mpsc::Sender<HandlerEvent>,
) {
    let mut stop = agent.shutdown_signal();
    let mut coalescers = coalesce::Coalescers::agent_default();
    let enqueue = |ev: HandlerEvent| {
        if let Err(mpsc::error::TrySendError::Full(ev)) = tx.try_send(ev) {
            tracing::warn!(event = %ev.kind(), "event handler queue full ({QUEUE_DEPTH}): dropping an event");
        }
    };
    let first = HandlerEvent::Member {
        kind: MemberKind::Join,
        members: vec![local],
    };
    if let Some(ev) = coalescers.push(Instant::now(), first) {
        enqueue(ev);
    }
    loop {
        let deadline = coalescers.deadline();
        let wake = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = wake => {
                for ev in coalescers.poll(Instant::now()) {
                    enqueue(ev);
                }
            }
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if let Some(ev) = HandlerEvent::from_serf(&ev) {
                        if let Some(ev) = coalescers.push(Instant::now(), ev) {
                            enqueue(ev);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "event handlers fell behind the pool; events lost");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Runs every matching script for each event, one at a time.
async fn runner(agent: Arc<Agent>, mut rx: mpsc::Receiver<HandlerEvent>) {
    let mut stop = agent.shutdown_signal();
    loop {
        let ev = tokio::select! {
            _ = stop.changed() => return,
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => return,
            },
        };
        let local = agent.lan.call(|serf, _| serf.local_member());
        for script in agent
            .config
            .event_handlers
            .iter()
            .filter(|s| s.filter.matches(&ev))
        {
            tokio::select! {
                _ = stop.changed() => return,
                _ = run_one(&agent, &script.script, &local, &ev) => {}
            }
        }
    }
}

/// One script for one event; its failures are logged.
async fn run_one(agent: &Agent, script: &str, local: &Member, event: &HandlerEvent) {
    let env = run::env_vars(local, event);
    let stdin = run::stdin_bytes(event);
    let outcome = match run::invoke(script, &env, stdin, run::Limits::default()).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(script, error = %e, "Error invoking script '{script}': {e}");
            return;
        }
    };
    tracing::debug!(
        event = %event.kind(),
        script,
        "Event '{}' script output: {}",
        event.kind(),
        String::from_utf8_lossy(&outcome.output)
    );
    if !outcome.status.success() {
        tracing::error!(script, status = %outcome.status, "Error invoking script '{script}': {}", outcome.status);
        return;
    }
    if let HandlerEvent::Query(q) = event {
        if outcome.total_output > 0 {
            let payload = Bytes::from(outcome.output);
            let answered = agent
                .lan
                .call(|serf, now| serf.respond(now, q.ltime, q.id, payload));
            match answered {
                Ok(()) => {
                    tracing::debug!(query = %q.name, ltime = q.ltime, "query answered by '{script}'")
                }
                Err(e) => {
                    tracing::warn!(query = %q.name, error = %e, "Failed to respond to query '{}': {e}", q.name)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> SerfEvent {
        SerfEvent::Query {
            ltime: 9,
            id: 4,
            name: name.into(),
            payload: Bytes::from_static(b"p"),
            source: "cli1".into(),
            deadline: rumor_swim::Instant::from_duration(std::time::Duration::from_secs(2)),
        }
    }

    #[test]
    fn rumors_own_queries_reach_no_script() {
        assert_eq!(
            HandlerEvent::from_serf(&query(crate::dc_forward::RELAY_QUERY_NAME)),
            None
        );
        assert_eq!(
            HandlerEvent::from_serf(&query(crate::dc_forward::QUERY_NAME)),
            None
        );
        assert_eq!(
            HandlerEvent::from_serf(&query("deploy")),
            Some(HandlerEvent::Query(QueryEvent {
                name: "deploy".into(),
                payload: Bytes::from_static(b"p"),
                ltime: 9,
                id: 4,
            }))
        );
        assert!(HandlerEvent::from_serf(&query("_rumor")).is_some());
    }
}
