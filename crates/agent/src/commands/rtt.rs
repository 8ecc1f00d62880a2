//! `rumor rtt`: estimate the round trip time between two nodes from the coordinates the
//! agent caches (`get-coordinate`), as `serf rtt` does. With one node, the other is the
//! agent's own (`stats` → `agent.name`).

use std::io::Write;

use anyhow::{anyhow, bail, Result};

use crate::cli::RttArgs;
use crate::rpc::client::Client;
use crate::rpc::proto::{CoordinateRequest, CoordinateResponse, Stats};

/// Serf's line: `Estimated A <-> B rtt: X.XXX ms`.
pub fn rtt_line(a: &str, b: &str, rtt: std::time::Duration) -> String {
    format!(
        "Estimated {a} <-> {b} rtt: {:.3} ms",
        rtt.as_secs_f64() * 1000.0
    )
}

async fn coordinate(client: &mut Client, node: &str) -> Result<rumor_serf::Coordinate> {
    let resp: CoordinateResponse = client
        .call(
            "get-coordinate",
            Some(&CoordinateRequest {
                node: node.to_string(),
            }),
            false,
        )
        .await
        .map_err(|e| anyhow!("error getting coordinates: {e}"))?;
    if !resp.ok {
        bail!("Could not find a coordinate for node {node:?}");
    }
    Ok((&resp.coord).into())
}

/// Run the command.
pub async fn run(args: RttArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let other = match args.other {
        Some(o) => o,
        None => {
            let stats: Stats = client
                .call::<(), _>("stats", None, false)
                .await
                .map_err(|e| anyhow!("error querying agent: {e}"))?;
            stats
                .get("agent")
                .and_then(|a| a.get("name"))
                .cloned()
                .ok_or_else(|| anyhow!("the agent's stats carry no agent name"))?
        }
    };
    let a = coordinate(&mut client, &args.node).await?;
    let b = coordinate(&mut client, &other).await?;
    let rtt = a.distance_to(&b);
    writeln!(std::io::stdout(), "{}", rtt_line(&args.node, &other, rtt))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serfs_line() {
        assert_eq!(
            rtt_line("n2", "n1", std::time::Duration::from_nanos(477_400)),
            "Estimated n2 <-> n1 rtt: 0.477 ms"
        );
        assert_eq!(
            rtt_line("a", "b", std::time::Duration::from_millis(12)),
            "Estimated a <-> b rtt: 12.000 ms"
        );
    }
}
