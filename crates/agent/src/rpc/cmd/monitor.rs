//! `monitor`: follow the agent's log at a level; records carry the request's seq until
//! `stop` or the connection ends.

use serde::{Deserialize, Serialize};

use super::{Body, Next};
use crate::logging::parse_level;
use crate::rpc::proto;
use crate::rpc::server::{frame, Connection};

/// `monitor` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MonitorRequest {
    /// TRACE, DEBUG, INFO, WARN or ERR.
    pub log_level: String,
}

/// A `monitor` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogRecord {
    /// One log line.
    pub log: String,
}

/// Reply, then send the log backlog and every new line at or above the level.
pub(super) async fn apply(conn: &mut Connection, seq: u64, body: Body<'_>) -> Next {
    let Some(req) = body.read::<MonitorRequest>().await else {
        return Next::Close;
    };
    let Some(level) = parse_level(&req.log_level) else {
        conn.reply(seq, &format!("Unknown log level: {}", req.log_level))
            .await;
        return Next::Continue;
    };
    if conn.streams.contains_key(&seq) {
        conn.reply(seq, "Monitor already exists").await;
        return Next::Continue;
    }
    conn.reply(seq, "").await;
    let (backlog, mut rx) = conn.agent.logs.snapshot_and_follow();
    let out = conn.out.clone();
    let task = tokio::spawn(async move {
        let send = |text: String| {
            let out = out.clone();
            async move {
                let record = LogRecord { log: text };
                match frame(seq, "", |buf| proto::encode(&record, buf)) {
                    Some(buf) => out.send(buf).await.is_ok(),
                    None => false,
                }
            }
        };
        for line in backlog.into_iter().filter(|l| l.level <= level) {
            if !send(line.text).await {
                return;
            }
        }
        loop {
            match rx.recv().await {
                Ok(line) if line.level <= level => {
                    if !send(line.text).await {
                        return;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(lost = n, "monitor fell behind");
                }
                Err(_) => return,
            }
        }
    });
    conn.streams.insert(seq, task);
    Next::Continue
}
