//! `rumor force-leave`: move a failed member to left (and optionally prune it).

use anyhow::Result;

use crate::cli::ForceLeaveArgs;
use crate::rpc::proto::ForceLeaveRequest;

/// Run the command.
pub async fn run(args: ForceLeaveArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let req = ForceLeaveRequest {
        node: args.node.clone(),
        prune: args.prune,
    };
    client
        .call_no_reply("force-leave", Some(&req))
        .await
        .map_err(|e| anyhow::anyhow!("error force-leaving: {e}"))?;
    Ok(())
}
