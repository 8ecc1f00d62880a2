//! One file per client command. Each connects to an agent's RPC address, asks, prints a
//! table (or JSON with `--format json`), and returns an error for `main` to print as one
//! line with a non-zero exit.

pub mod dcs;
pub mod event;
pub mod force_leave;
pub mod info;
pub mod join;
pub mod keys;
pub mod leave;
pub mod members;
pub mod monitor;
pub mod query;
pub mod reachability;
pub mod rtt;

use std::time::Duration;

use crate::cli::ClientArgs;
use crate::rpc::client::Client;

/// Connect and handshake.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    Ok(Client::connect(&args.rpc_addr, Duration::from_secs(args.timeout.max(1))).await?)
}
