//! Agent configuration: a TOML file (optional) overlaid by command-line options, checked
//! once, with a clear error for anything wrong.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rumor_wire::Keyring;
use serde::Deserialize;

use crate::cli::AgentArgs;

/// The memberlist timing profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// One local network (memberlist's DefaultLANConfig).
    Lan,
    /// Between datacenters (DefaultWANConfig).
    Wan,
    /// One host or a very fast network (DefaultLocalConfig).
    Local,
}

impl std::str::FromStr for Profile {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "lan" => Ok(Profile::Lan),
            "wan" => Ok(Profile::Wan),
            "local" => Ok(Profile::Local),
            other => bail!("unknown profile '{other}': expected lan, wan or local"),
        }
    }
}

/// The TOML file, every key optional. Unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Node name.
    pub node: Option<String>,
    /// Datacenter.
    pub dc: Option<String>,
    /// Gossip bind address.
    pub bind: Option<String>,
    /// Advertised address.
    pub advertise: Option<String>,
    /// Addresses to join at start.
    #[serde(default)]
    pub join: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// RPC address.
    pub rpc_addr: Option<String>,
    /// Timing profile.
    pub profile: Option<String>,
    /// Log level.
    pub log_level: Option<String>,
    /// Seconds to keep retrying the start join.
    pub join_timeout: Option<u64>,
    /// Event handler specs, `[FILTER=]COMMAND` (before those given as options).
    #[serde(default)]
    pub event_handlers: Vec<String>,
    /// Seconds between reconnect attempts to failed members.
    pub reconnect_interval: Option<u64>,
    /// Base64 encryption key (as `--encrypt`).
    pub encrypt_key: Option<String>,
    /// Keyring file (as `--keyring-file`).
    pub keyring_file: Option<PathBuf>,
    /// Snapshot file (Serf's `snapshot_path`).
    pub snapshot_path: Option<PathBuf>,
    /// Rejoin the snapshot's members after a graceful leave (Serf's `rejoin_after_leave`).
    pub rejoin_after_leave: Option<bool>,
    /// Run as a server (also a member of the WAN pool; needs `wan_bind`).
    pub server: Option<bool>,
    /// WAN pool bind address (servers).
    pub wan_bind: Option<String>,
    /// WAN address advertised to other servers.
    pub wan_advertise: Option<String>,
    /// WAN addresses to join at start (before those given as options).
    #[serde(default)]
    pub wan_join: Vec<String>,
    /// memberlist label of the LAN pool.
    pub lan_label: Option<String>,
    /// memberlist label of the WAN pool.
    pub wan_label: Option<String>,
}

/// The agent's settled configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node name.
    pub node: String,
    /// Datacenter (also the `dc` tag).
    pub dc: String,
    /// Gossip bind address.
    pub bind: SocketAddr,
    /// Advertised address (default: the bind address; required when binding 0.0.0.0).
    pub advertise: Option<SocketAddr>,
    /// Addresses to join at start.
    pub join: Vec<String>,
    /// Tags, `dc` included.
    pub tags: BTreeMap<String, String>,
    /// RPC listen address.
    pub rpc_addr: SocketAddr,
    /// Timing profile.
    pub profile: Profile,
    /// Log level.
    pub log_level: String,
    /// How long to keep retrying the start join.
    pub join_timeout: Duration,
    /// Event handler scripts, one entry per filter (file first, then options).
    pub event_handlers: Vec<crate::handler::EventScript>,
    /// How often to try to reach failed members again (Serf's `reconnect_interval`).
    pub reconnect_interval: Duration,
    /// Gossip encryption keys, primary first (`None`: plaintext).
    pub keyring: Option<Keyring>,
    /// The keyring file to rewrite when a key query changes the keyring.
    pub keyring_file: Option<PathBuf>,
    /// Snapshot file, if any.
    pub snapshot: Option<PathBuf>,
    /// Rejoin the snapshot's members even after a graceful leave.
    pub rejoin_after_leave: bool,
    /// This agent is a server: it also runs a WAN pool (`crate::wan`).
    pub server: bool,
    /// Where the WAN pool binds (`Some` exactly for servers).
    pub wan_bind: Option<SocketAddr>,
    /// The WAN address advertised (default: the bound WAN address).
    pub wan_advertise: Option<SocketAddr>,
    /// WAN addresses to join at start (retried as the LAN start join).
    pub wan_join: Vec<String>,
    /// memberlist label of the LAN pool (off by default).
    pub lan_label: Option<String>,
    /// memberlist label of the WAN pool (off by default).
    pub wan_label: Option<String>,
}

/// Parse `IP:PORT` or `[IPv6]:PORT`, naming the option in the error.
pub fn parse_socket_addr(what: &str, s: &str) -> Result<SocketAddr> {
    s.parse::<SocketAddr>().with_context(|| {
        format!("{what} '{s}' is not an address of the form IP:PORT or [IPv6]:PORT")
    })
}

/// Parse `KEY=VALUE`.
pub fn parse_tag(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("tag '{s}' is not of the form KEY=VALUE"),
    }
}

fn valid_name(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        bail!("{what} '{s}' must be 1 to 128 characters without spaces or control characters");
    }
    Ok(())
}

impl AgentConfig {
    /// File (if any), then options; validated.
    pub fn load(args: &AgentArgs) -> Result<AgentConfig> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let node = match args.node.clone().or(file.node) {
            Some(n) => n,
            None => hostname(),
        };
        valid_name("node name", &node)?;
        let dc = args
            .dc
            .clone()
            .or(file.dc)
            .unwrap_or_else(|| "dc1".to_string());
        valid_name("datacenter", &dc)?;
        let bind = parse_socket_addr(
            "bind address",
            args.bind
                .as_deref()
                .or(file.bind.as_deref())
                .unwrap_or("0.0.0.0:7946"),
        )?;
        let advertise = match args.advertise.as_deref().or(file.advertise.as_deref()) {
            Some(a) => Some(parse_socket_addr("advertise address", a)?),
            None => None,
        };
        if advertise.is_none() && bind.ip().is_unspecified() {
            bail!("binding {bind} needs --advertise IP:PORT: other members must be told a reachable address");
        }
        let mut tags = file.tags;
        for t in &args.tags {
            let (k, v) = parse_tag(t)?;
            tags.insert(k, v);
        }
        if let Some(tag_dc) = tags.get("dc") {
            if *tag_dc != dc {
                bail!("tag dc={tag_dc} contradicts datacenter '{dc}': set the datacenter with --dc only");
            }
        }
        tags.insert("dc".to_string(), dc.clone());
        let mut wan_join = file.wan_join;
        wan_join.extend(args.wan_join.iter().cloned());
        let wan = crate::wan::config::settle(crate::wan::config::WanOptions {
            server: args.server || file.server.unwrap_or(false),
            wan_bind: args.wan_bind.clone().or(file.wan_bind),
            wan_advertise: args.wan_advertise.clone().or(file.wan_advertise),
            wan_join,
            lan_label: args.lan_label.clone().or(file.lan_label),
            wan_label: args.wan_label.clone().or(file.wan_label),
        })?;
        crate::wan::config::server_tags(&mut tags, wan.server)?;
        let rpc_addr = parse_socket_addr(
            "RPC address",
            args.rpc_addr
                .as_deref()
                .or(file.rpc_addr.as_deref())
                .unwrap_or("127.0.0.1:7373"),
        )?;
        let profile = args
            .profile
            .as_deref()
            .or(file.profile.as_deref())
            .unwrap_or("lan")
            .parse()?;
        let log_level = args
            .log_level
            .clone()
            .or(file.log_level)
            .unwrap_or_else(|| "info".to_string());
        if !["trace", "debug", "info", "warn", "error"]
            .contains(&log_level.to_ascii_lowercase().as_str())
        {
            bail!("log level '{log_level}' is not one of trace, debug, info, warn, error");
        }
        let mut join = file.join;
        join.extend(args.join.iter().cloned());
        let join_timeout =
            Duration::from_secs(args.join_timeout.or(file.join_timeout).unwrap_or(60));
        let mut handler_specs = file.event_handlers;
        handler_specs.extend(args.event_handlers.iter().cloned());
        let event_handlers = crate::handler::parse_event_scripts(&handler_specs)?;
        let reconnect_interval = args
            .reconnect_interval
            .or(file.reconnect_interval)
            .unwrap_or(30);
        if reconnect_interval == 0 {
            bail!("reconnect interval must be at least 1 second");
        }
        let reconnect_interval = Duration::from_secs(reconnect_interval);
        let (keyring, keyring_file) = crate::keyring::from_config(
            args.encrypt.as_deref().or(file.encrypt_key.as_deref()),
            args.keyring_file.clone().or(file.keyring_file),
        )?;
        let snapshot = args.snapshot.clone().or(file.snapshot_path);
        let rejoin_after_leave = args.rejoin || file.rejoin_after_leave.unwrap_or(false);
        Ok(AgentConfig {
            keyring,
            keyring_file,
            node,
            dc,
            bind,
            advertise,
            join,
            tags,
            rpc_addr,
            profile,
            log_level,
            join_timeout,
            event_handlers,
            reconnect_interval,
            snapshot,
            rejoin_after_leave,
            server: wan.server,
            wan_bind: wan.wan_bind,
            wan_advertise: wan.wan_advertise,
            wan_join: wan.wan_join,
            lan_label: wan.lan_label,
            wan_label: wan.wan_label,
        })
    }

    /// The address other members reach us at.
    pub fn advertise_addr(&self, bound: SocketAddr) -> SocketAddr {
        self.advertise.unwrap_or(bound)
    }
}

fn read_file(p: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read config file {}", p.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is invalid", p.display()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rumor".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args() -> AgentArgs {
        AgentArgs {
            node: Some("a".into()),
            bind: Some("127.0.0.1:0".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_dc_tag() {
        let c = AgentConfig::load(&args()).unwrap();
        assert_eq!(c.dc, "dc1");
        assert_eq!(c.tags.get("dc").map(String::as_str), Some("dc1"));
        assert_eq!(c.rpc_addr, "127.0.0.1:7373".parse().unwrap());
        assert_eq!(c.profile, Profile::Lan);
        assert_eq!(c.reconnect_interval, Duration::from_secs(30));
        let mut a = args();
        a.reconnect_interval = Some(5);
        let c = AgentConfig::load(&a).unwrap();
        assert_eq!(c.reconnect_interval, Duration::from_secs(5));
        a.reconnect_interval = Some(0);
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .contains("reconnect interval"));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let mut a = args();
        a.bind = Some("nonsense".into());
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .contains("bind address 'nonsense'"));
        let mut a = args();
        a.tags = vec!["novalue".into()];
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .contains("KEY=VALUE"));
        let mut a = args();
        a.dc = Some("east".into());
        a.tags = vec!["dc=west".into()];
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .contains("contradicts"));
        let mut a = args();
        a.bind = Some("0.0.0.0:7946".into());
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .contains("--advertise"));
        let mut a = args();
        a.profile = Some("fast".into());
        assert!(AgentConfig::load(&a).is_err());
    }

    #[test]
    fn event_handlers_from_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        std::fs::write(&p, "event_handlers = [\"user:deploy=/bin/deploy\"]\n").unwrap();
        let mut a = args();
        a.config = Some(p);
        a.event_handlers = vec!["member-join,member-leave=/bin/m".into()];
        let c = AgentConfig::load(&a).unwrap();
        let got: Vec<(String, &str)> = c
            .event_handlers
            .iter()
            .map(|s| (s.stats_key(), s.script.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("user:deploy".to_string(), "/bin/deploy"),
                ("member-join:".to_string(), "/bin/m"),
                ("member-leave:".to_string(), "/bin/m"),
            ]
        );
        let mut a = args();
        a.event_handlers = vec!["member-joined=/bin/m".into()];
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .starts_with("Invalid event script: Event 'member-joined' invoking '/bin/m'"));
    }

    #[test]
    fn server_and_labels_from_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        std::fs::write(
            &p,
            "server = true\nwan_bind = \"127.0.0.1:8302\"\nwan_join = [\"127.0.0.2:8302\"]\nlan_label = \"l\"\nwan_label = \"w\"\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(p);
        a.wan_join = vec!["127.0.0.3:8302".into()];
        a.wan_advertise = Some("127.0.0.9:9".into());
        let c = AgentConfig::load(&a).unwrap();
        assert!(c.server);
        assert_eq!(c.wan_bind, Some("127.0.0.1:8302".parse().unwrap()));
        assert_eq!(c.wan_advertise, Some("127.0.0.9:9".parse().unwrap()));
        assert_eq!(c.wan_join, ["127.0.0.2:8302", "127.0.0.3:8302"]);
        assert_eq!(c.lan_label.as_deref(), Some("l"));
        assert_eq!(c.wan_label.as_deref(), Some("w"));
        assert_eq!(c.tags.get("role").map(String::as_str), Some("server"));
        let mut a = args();
        a.server = true;
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .starts_with("--server needs --wan-bind"));
        let mut a = args();
        a.wan_bind = Some("127.0.0.1:8302".into());
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .starts_with("--wan-bind needs --server"));
        let c = AgentConfig::load(&args()).unwrap();
        assert!(!c.server && c.wan_bind.is_none() && !c.tags.contains_key("role"));
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        std::fs::write(&p, "node = \"filenode\"\ndc = \"east\"\nbind = \"[::1]:7000\"\ntags = { role = \"web\" }\n").unwrap();
        let a = AgentArgs {
            config: Some(p.clone()),
            ..Default::default()
        };
        let c = AgentConfig::load(&a).unwrap();
        assert_eq!(c.node, "filenode");
        assert_eq!(c.bind, "[::1]:7000".parse().unwrap());
        assert_eq!(c.tags.get("role").map(String::as_str), Some("web"));
        std::fs::write(&p, "nod = \"typo\"\n").unwrap();
        assert!(AgentConfig::load(&a)
            .unwrap_err()
            .to_string()
            .contains("invalid"));
    }
}
