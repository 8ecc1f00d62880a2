//! `rumor leave`: the agent leaves gracefully and shuts down.

use std::io::Write;

use anyhow::Result;

use crate::cli::ClientArgs;

/// Run the command.
pub async fn run(args: ClientArgs) -> Result<()> {
    let mut client = super::connect(&args).await?;
    client
        .call_no_reply::<()>("leave", None)
        .await
        .map_err(|e| anyhow::anyhow!("error leaving: {e}"))?;
    writeln!(std::io::stdout(), "Graceful leave complete")?;
    Ok(())
}
