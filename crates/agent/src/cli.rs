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
    Agent(AgentArgs),
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
    /// Start a handful of agents on loopback, show them converge, kill one, show it detected.
    Demo(DemoArgs),
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
    /// Snapshot file: members and clocks are recorded there, and on restart the agent
    /// rejoins the members it knew and does not handle old events again (Serf's -snapshot).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// After a graceful leave, still rejoin the snapshot's members on restart (Serf's -rejoin).
    #[arg(long)]
    pub rejoin: bool,
}
