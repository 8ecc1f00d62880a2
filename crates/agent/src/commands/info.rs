//! `rumor info`: the agent's runtime information (`stats`).

use std::io::Write;

use anyhow::Result;

use crate::cli::{Format, InfoArgs};
use crate::rpc::proto::Stats;

/// Run the command.
pub async fn run(args: InfoArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let stats: Stats = client.call::<(), _>("stats", None, false).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?,
        Format::Table => {
            for (section, kv) in &stats {
                writeln!(out, "{section}:")?;
                for (k, v) in kv {
                    writeln!(out, "\t{k} = {v}")?;
                }
            }
        }
    }
    Ok(())
}
