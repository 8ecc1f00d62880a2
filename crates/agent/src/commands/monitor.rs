//! `rumor monitor`: stream the agent's log lines until interrupted.

use std::io::Write;

use anyhow::Result;

use crate::cli::MonitorArgs;
use crate::rpc::proto::{LogRecord, MonitorRequest};

/// Run the command.
pub async fn run(args: MonitorArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let seq = client
        .start_stream(
            "monitor",
            &MonitorRequest {
                log_level: args.log_level.to_ascii_uppercase(),
            },
        )
        .await?;
    loop {
        tokio::select! {
            rec = client.next_record::<LogRecord>(seq) => {
                let rec = rec?;
                writeln!(std::io::stdout(), "{}", rec.log.trim_end())?;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
