//! `rumor event`: gossip a user event through the agent.

use std::io::Write;

use anyhow::Result;

use crate::cli::EventArgs;
use crate::rpc::proto::EventRequest;

/// Run the command.
pub async fn run(args: EventArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let req = EventRequest {
        coalesce: !args.no_coalesce,
        name: args.name.clone(),
        payload: args.payload.clone().unwrap_or_default().into_bytes(),
    };
    client
        .call_no_reply("event", Some(&req))
        .await
        .map_err(|e| anyhow::anyhow!("error sending event: {e}"))?;
    writeln!(
        std::io::stdout(),
        "Event '{}' dispatched! Coalescing enabled: {}",
        args.name,
        req.coalesce
    )?;
    Ok(())
}
