//! `rumor join`: ask the agent to join through the given addresses (`--wan`: a server joins
//! the WAN pool through WAN addresses).

use std::io::Write;

use anyhow::Result;

use crate::cli::JoinArgs;
use crate::rpc::proto::{JoinRequest, JoinResponse};

/// Run the command.
pub async fn run(args: JoinArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let req = JoinRequest {
        existing: args.addrs.clone(),
        replay: args.replay,
    };
    let (command, what) = if args.wan {
        ("wan-join", "the WAN pool")
    } else {
        ("join", "the cluster")
    };
    let resp: JoinResponse = client
        .call(command, Some(&req), true)
        .await
        .map_err(|e| anyhow::anyhow!("error joining {what}: {e}"))?;
    writeln!(
        std::io::stdout(),
        "Successfully joined cluster by contacting {} nodes.",
        resp.num
    )?;
    Ok(())
}
