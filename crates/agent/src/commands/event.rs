//! `rumor event`: gossip a user event through the agent.

use std::io::Write;

use anyhow::Result;

use crate::cli::EventArgs;
use crate::rpc::proto::{DcEventRequest, EventRequest};

/// Run the command.
pub async fn run(args: EventArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let coalesce = !args.no_coalesce;
    let name = args.name.clone();
    let payload = args.payload.clone().unwrap_or_default().into_bytes();
    match &args.dc {
        None => {
            let req = EventRequest {
                coalesce,
                name,
                payload,
            };
            client
                .call_no_reply("event", Some(&req))
                .await
                .map_err(|e| anyhow::anyhow!("error sending event: {e}"))?;
        }
        Some(dc) => {
            let req = DcEventRequest {
                coalesce,
                dc: dc.clone(),
                name,
                payload,
            };
            client
                .call_no_reply("dc-event", Some(&req))
                .await
                .map_err(|e| anyhow::anyhow!("error sending event to datacenter {dc}: {e}"))?;
        }
    }
    let to = args
        .dc
        .as_ref()
        .map(|dc| format!(" to datacenter {dc}"))
        .unwrap_or_default();
    writeln!(
        std::io::stdout(),
        "Event '{}' dispatched{to}! Coalescing enabled: {coalesce}",
        args.name,
    )?;
    Ok(())
}
