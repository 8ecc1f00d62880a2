//! The command line: Serf's commands with long options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rumor: gossip membership (SWIM + Lifeguard) on the Serf wire protocol.
#[derive(Debug, Parser)]
#[command(name = "rumor", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an agent.
    Agent(Box<AgentArgs>),
    /// List the members the agent knows.
    Members(MembersArgs),
    /// Ask the agent to join a cluster through the given addresses.
    Join(JoinArgs),
    /// Make the agent leave its cluster gracefully and shut down.
    Leave(ClientArgs),
    /// Force a failed member into the left state.
    ForceLeave(ForceLeaveArgs),
    /// Gossip a user event to the cluster.
    Event(EventArgs),
    /// Show the agent's runtime information.
    Info(InfoArgs),
    /// Stream the agent's logs.
    Monitor(MonitorArgs),
    /// Send a query to the cluster and print the acks and responses as they arrive.
    Query(QueryArgs),
    /// Check that every live member answers a ping query.
    Reachability(ReachabilityArgs),
    /// Estimate the round trip time between two nodes from their network coordinates.
    Rtt(RttArgs),
    /// Start a handful of agents on loopback, show them converge, kill one, show it detected.
    Demo(DemoArgs),
    /// Manage the cluster's encryption keyring (install, use, remove, list keys).
    Keys(KeysArgs),
    /// Print a new random encryption key (32 bytes, base64).
    Keygen,
    /// List the datacenters the WAN pool knows, nearest first (servers only).
    Dcs(DcsArgs),
}

/// `rumor keys`: exactly one of the operations.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("op").required(true).args(["install", "use_key", "remove", "list"])))]
pub struct KeysArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Install this key (base64) on every member, for decryption only.
    #[arg(long, value_name = "KEY")]
    pub install: Option<String>,
    /// Make this installed key (base64) the primary key on every member.
    #[arg(long = "use", value_name = "KEY")]
    pub use_key: Option<String>,
    /// Remove this key (base64, not the primary) from every member.
    #[arg(long, value_name = "KEY")]
    pub remove: Option<String>,
    /// List every member's keys, with how many members hold each.
    #[arg(long)]
    pub list: bool,
}

/// Options shared by every client command.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// RPC address of the agent.
    #[arg(long, default_value = "127.0.0.1:7373", env = "RUMOR_RPC_ADDR")]
    pub rpc_addr: String,
    /// Seconds to wait for the agent.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// Machine-readable JSON.
    Json,
}

/// `rumor members`.
#[derive(Debug, Args)]
pub struct MembersArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Only members whose status matches this regular expression.
    #[arg(long)]
    pub status: Option<String>,
    /// Only members whose name matches this regular expression.
    #[arg(long)]
    pub name: Option<String>,
    /// Only members with tag KEY matching the regular expression VALUE (KEY=VALUE).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The members of the WAN pool (servers only).
    #[arg(long)]
    pub wan: bool,
}

/// `rumor join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Replay past user events.
    #[arg(long)]
    pub replay: bool,
    /// Join the WAN pool through the given WAN addresses (servers only).
    #[arg(long)]
    pub wan: bool,
    /// Addresses to join.
    #[arg(required = true)]
    pub addrs: Vec<String>,
}

/// `rumor event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Do not let handlers coalesce this event with later ones of the same name.
    #[arg(long)]
    pub no_coalesce: bool,
    /// Send the event to this datacenter (through one of its servers, over the WAN pool).
    #[arg(long, value_name = "DC")]
    pub dc: Option<String>,
    /// Event name.
    pub name: String,
    /// Payload (bytes of the argument).
    pub payload: Option<String>,
}

/// `rumor force-leave`.
#[derive(Debug, Args)]
pub struct ForceLeaveArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Also remove the member from the list.
    #[arg(long)]
    pub prune: bool,
    /// The member.
    pub node: String,
}

/// `rumor info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `rumor monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// TRACE, DEBUG, INFO, WARN or ERR.
    #[arg(long, default_value = "INFO")]
    pub log_level: String,
}

/// `rumor query`. (Its `--timeout` is the query's, so the connection options are spelled out
/// here instead of flattening [`ClientArgs`].)
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// RPC address of the agent.
    #[arg(long, default_value = "127.0.0.1:7373", env = "RUMOR_RPC_ADDR")]
    pub rpc_addr: String,
    /// Run the query in this datacenter (through one of its servers, over the WAN pool).
    #[arg(long, value_name = "DC")]
    pub dc: Option<String>,
    /// Only this node answers (repeatable).
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Only members with tag KEY matching the regular expression REGEX answer (repeatable).
    #[arg(long = "tag", value_name = "KEY=REGEX")]
    pub tags: Vec<String>,
    /// Query timeout as a Go duration (`500ms`, `15s`, `1m30s`); default: Serf's, scaled
    /// to the cluster size.
    #[arg(long, value_parser = crate::commands::query::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Do not ask for acknowledgements.
    #[arg(long)]
    pub no_ack: bool,
    /// Relay every answer through this many extra members.
    #[arg(long, default_value_t = 0)]
    pub relay_factor: u8,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Query name.
    pub name: String,
    /// Payload (bytes of the argument).
    pub payload: Option<String>,
}

impl QueryArgs {
    /// The connection options (10 s to reach the agent, as the serf CLI).
    pub fn client(&self) -> ClientArgs {
        ClientArgs {
            rpc_addr: self.rpc_addr.clone(),
            timeout: 10,
        }
    }
}

/// `rumor reachability`.
#[derive(Debug, Args)]
pub struct ReachabilityArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Print every ack and the timings.
    #[arg(long)]
    pub verbose: bool,
}

/// `rumor rtt`.
#[derive(Debug, Args)]
pub struct RttArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// The first node.
    pub node: String,
    /// The second node (default: the agent's own).
    pub other: Option<String>,
}

/// `rumor demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of agents.
    #[arg(long, default_value_t = 5)]
    pub agents: usize,
}

/// `rumor agent`.
#[derive(Debug, Args, Clone, Default)]
pub struct AgentArgs {
    /// Node name (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Datacenter of this agent (tag `dc`).
    #[arg(long)]
    pub dc: Option<String>,
    /// Gossip address, IP:PORT (default 0.0.0.0:7946).
    #[arg(long)]
    pub bind: Option<String>,
    /// Address to advertise to other members, IP:PORT.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Join these addresses at start (retried with backoff).
    #[arg(long = "join", value_name = "ADDR")]
    pub join: Vec<String>,
    /// Tag KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// RPC address (default 127.0.0.1:7373).
    #[arg(long)]
    pub rpc_addr: Option<String>,
    /// Timing profile: lan, wan or local.
    #[arg(long)]
    pub profile: Option<String>,
    /// TOML configuration file; command-line options override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Log level: trace, debug, info, warn, error.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Give up joining after this many seconds (default 60).
    #[arg(long)]
    pub join_timeout: Option<u64>,
    /// Run COMMAND (`/bin/sh -c`) on events, as Serf's `-event-handler`; FILTER is a comma
    /// list of member-join, member-leave, member-failed, member-update, member-reap, user,
    /// user:NAME, query, query:NAME, * (repeatable).
    #[arg(long = "event-handler", value_name = "[FILTER=]COMMAND")]
    pub event_handlers: Vec<String>,
    /// Seconds between attempts to reach failed members again (default 30, as Serf).
    #[arg(long)]
    pub reconnect_interval: Option<u64>,
    /// Encrypt gossip with this base64 key (16, 24 or 32 bytes); see `rumor keygen`.
    #[arg(long, value_name = "BASE64")]
    pub encrypt: Option<String>,
    /// Keyring file (JSON array of base64 keys, primary first); rewritten on key rotation.
    #[arg(long, value_name = "PATH")]
    pub keyring_file: Option<PathBuf>,
    /// Snapshot file: members and clocks are recorded there, and on restart the agent
    /// rejoins the members it knew and does not handle old events again (Serf's -snapshot).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// After a graceful leave, still rejoin the snapshot's members on restart (Serf's -rejoin).
    #[arg(long)]
    pub rejoin: bool,
    /// Run as a server: also join the WAN pool of servers (needs --wan-bind).
    #[arg(long)]
    pub server: bool,
    /// WAN pool address of a server, IP:PORT.
    #[arg(long, value_name = "IP:PORT")]
    pub wan_bind: Option<String>,
    /// WAN address to advertise to other servers, IP:PORT (default: the WAN bind address).
    #[arg(long, value_name = "IP:PORT")]
    pub wan_advertise: Option<String>,
    /// Join the WAN pool through these addresses at start (retried with backoff; servers).
    #[arg(long = "wan-join", value_name = "ADDR")]
    pub wan_join: Vec<String>,
    /// memberlist label of the LAN pool (1 to 255 bytes): only agents with the same label
    /// form a pool (off by default; Serf 0.9.4 has no labels).
    #[arg(long, value_name = "LABEL")]
    pub lan_label: Option<String>,
    /// memberlist label of the WAN pool (1 to 255 bytes; servers).
    #[arg(long, value_name = "LABEL")]
    pub wan_label: Option<String>,
    /// The datacenter guard of the LAN pool: on (default) refuses members of other
    /// datacenters, of the WAN pool, and without a `dc` tag; off admits everyone.
    #[arg(long, value_enum, value_name = "on|off")]
    pub guard: Option<Switch>,
    /// Admit members that carry no `dc` tag (refused by default, as Consul does).
    #[arg(long)]
    pub allow_untagged: bool,
}

/// `rumor dcs`.
#[derive(Debug, Args)]
pub struct DcsArgs {
    #[command(flatten)]
    /// Connection.
    pub client: ClientArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// A setting that is on or off.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}
