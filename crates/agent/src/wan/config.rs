//! The server, WAN and label settings of the agent configuration, checked once: the
//! WAN options only make sense together with `--server`, and labels are 1 to 255 bytes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{bail, Result};

use crate::config::parse_socket_addr;

/// The tag that marks a server on its LAN member (`role=server`).
pub const ROLE_TAG: &str = "role";

/// The value of [`ROLE_TAG`] on servers.
pub const ROLE_SERVER: &str = "server";

/// The tag on a server's LAN member that carries its advertised WAN address (`IP:PORT`).
pub const WAN_ADDR_TAG: &str = "wan_addr";

/// Longest label memberlist accepts.
pub const MAX_LABEL: usize = 255;

/// The raw options (flags overlaid on the file), before checking.
#[derive(Debug, Clone, Default)]
pub struct WanOptions {
    /// `--server` / `server`.
    pub server: bool,
    /// `--wan-bind` / `wan_bind`.
    pub wan_bind: Option<String>,
    /// `--wan-advertise` / `wan_advertise`.
    pub wan_advertise: Option<String>,
    /// `--wan-join` / `wan_join` (file first, then flags).
    pub wan_join: Vec<String>,
    /// `--lan-label` / `lan_label`.
    pub lan_label: Option<String>,
    /// `--wan-label` / `wan_label`.
    pub wan_label: Option<String>,
}

/// The checked settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WanSettings {
    /// This agent is a server (it runs a WAN pool).
    pub server: bool,
    /// Where the WAN pool binds (`Some` exactly when `server`).
    pub wan_bind: Option<SocketAddr>,
    /// The WAN address advertised to other servers (default: the bound address).
    pub wan_advertise: Option<SocketAddr>,
    /// WAN addresses to join at start.
    pub wan_join: Vec<String>,
    /// The LAN pool's memberlist label.
    pub lan_label: Option<String>,
    /// The WAN pool's memberlist label.
    pub wan_label: Option<String>,
}

/// Check a label: 1 to 255 bytes.
pub fn check_label(what: &str, label: &str) -> Result<()> {
    if label.is_empty() || label.len() > MAX_LABEL {
        bail!(
            "{what} must be 1 to {MAX_LABEL} bytes long, not {} bytes",
            label.len()
        );
    }
    Ok(())
}

/// Check the options: the WAN options need `--server`, a server needs `--wan-bind`, and an
/// unspecified WAN bind address needs `--wan-advertise`.
pub fn settle(o: WanOptions) -> Result<WanSettings> {
    let wan_bind = match o.wan_bind.as_deref() {
        Some(a) => Some(parse_socket_addr("WAN bind address", a)?),
        None => None,
    };
    let wan_advertise = match o.wan_advertise.as_deref() {
        Some(a) => Some(parse_socket_addr("WAN advertise address", a)?),
        None => None,
    };
    if let Some(l) = &o.lan_label {
        check_label("the LAN label", l)?;
    }
    if let Some(l) = &o.wan_label {
        check_label("the WAN label", l)?;
    }
    if !o.server {
        let stray = [
            (wan_bind.is_some(), "--wan-bind"),
            (wan_advertise.is_some(), "--wan-advertise"),
            (!o.wan_join.is_empty(), "--wan-join"),
            (o.wan_label.is_some(), "--wan-label"),
        ];
        if let Some((_, opt)) = stray.iter().find(|(set, _)| *set) {
            bail!("{opt} needs --server: only servers are members of the WAN pool");
        }
    }
    if o.server {
        let Some(bind) = wan_bind else {
            bail!("--server needs --wan-bind IP:PORT: the address of this server in the WAN pool");
        };
        if wan_advertise.is_none() && bind.ip().is_unspecified() {
            bail!("binding the WAN pool to {bind} needs --wan-advertise IP:PORT: other servers must be told a reachable address");
        }
    }
    Ok(WanSettings {
        server: o.server,
        wan_bind,
        wan_advertise,
        wan_join: o.wan_join,
        lan_label: o.lan_label,
        wan_label: o.wan_label,
    })
}

/// Add `role=server` to a server's LAN tags; a `role` tag that contradicts `--server`, or a
/// `wan_addr` tag set by the user, is an error. (A client may carry `role=server`: without a
/// `wan_addr` tag nobody flood-joins it.)
pub fn server_tags(tags: &mut BTreeMap<String, String>, server: bool) -> Result<()> {
    if tags.contains_key(WAN_ADDR_TAG) {
        bail!("the {WAN_ADDR_TAG} tag is set by the agent from --wan-advertise/--wan-bind; do not set it with --tag");
    }
    if server {
        if let Some(role) = tags.get(ROLE_TAG).filter(|r| *r != ROLE_SERVER) {
            bail!("tag {ROLE_TAG}={role} contradicts --server (servers carry {ROLE_TAG}={ROLE_SERVER})");
        }
        tags.insert(ROLE_TAG.into(), ROLE_SERVER.into());
    }
    Ok(())
}

/// Refuse a tag change (RPC `tags`) that would remove or alter what the server tags say.
pub fn check_tag_update(
    server: bool,
    set: &BTreeMap<String, String>,
    delete: &[String],
) -> Result<()> {
    let touches = |k: &str| set.contains_key(k) || delete.iter().any(|d| d == k);
    if touches(WAN_ADDR_TAG) {
        bail!("the {WAN_ADDR_TAG} tag is the agent's WAN address and cannot be changed");
    }
    let role_server = set.get(ROLE_TAG).map(String::as_str) == Some(ROLE_SERVER);
    if server && touches(ROLE_TAG) && !role_server {
        bail!("the {ROLE_TAG} tag of a server is '{ROLE_SERVER}' and cannot be changed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn server() -> WanOptions {
        WanOptions {
            server: true,
            wan_bind: Some("127.0.0.1:8302".into()),
            ..Default::default()
        }
    }

    fn err(o: WanOptions) -> String {
        settle(o).unwrap_err().to_string()
    }

    #[test]
    fn server_settings() {
        let s = settle(server()).unwrap();
        assert!(s.server);
        assert_eq!(s.wan_bind, Some("127.0.0.1:8302".parse().unwrap()));
        assert_eq!(s.wan_advertise, None);
        let s = settle(WanOptions::default()).unwrap();
        assert_eq!(s, WanSettings::default());
    }

    #[test]
    fn wan_options_need_server_and_server_needs_wan_bind() {
        let mut o = server();
        o.server = false;
        assert_eq!(
            err(o),
            "--wan-bind needs --server: only servers are members of the WAN pool"
        );
        let o = WanOptions {
            wan_join: vec!["x".into()],
            ..Default::default()
        };
        assert!(err(o).starts_with("--wan-join needs --server"));
        let mut o = server();
        o.wan_bind = None;
        assert!(err(o).starts_with("--server needs --wan-bind IP:PORT"));
        let mut o = server();
        o.wan_bind = Some("nowhere".into());
        assert!(err(o).contains("WAN bind address 'nowhere'"));
        let mut o = server();
        o.wan_advertise = Some("1.2.3.4".into());
        assert!(err(o).contains("WAN advertise address '1.2.3.4'"));
        let mut o = server();
        o.wan_bind = Some("0.0.0.0:8302".into());
        assert!(err(o).contains("--wan-advertise"));
    }

    #[test]
    fn labels_are_1_to_255_bytes() {
        let mut o = server();
        o.lan_label = Some(String::new());
        assert_eq!(
            err(o),
            "the LAN label must be 1 to 255 bytes long, not 0 bytes"
        );
        let mut o = server();
        o.wan_label = Some("x".repeat(256));
        assert!(err(o).contains("not 256 bytes"));
        let mut o = server();
        o.lan_label = Some("x".repeat(255));
        o.wan_label = Some("w".into());
        assert!(settle(o).is_ok());
        let o = WanOptions {
            wan_label: Some("w".into()),
            ..Default::default()
        };
        assert!(err(o).starts_with("--wan-label needs --server"));
    }

    #[test]
    fn server_tags_are_set_and_guarded() {
        let mut t = BTreeMap::new();
        server_tags(&mut t, true).unwrap();
        assert_eq!(t.get("role").map(String::as_str), Some("server"));
        let mut t = BTreeMap::from([("role".to_string(), "web".to_string())]);
        assert!(server_tags(&mut t, true)
            .unwrap_err()
            .to_string()
            .contains("contradicts --server"));
        let mut t = BTreeMap::from([("role".to_string(), "server".to_string())]);
        server_tags(&mut t, false).unwrap();
        assert!(!t.contains_key("wan_addr"));
        let mut t = BTreeMap::from([("wan_addr".to_string(), "1.2.3.4:5".to_string())]);
        assert!(server_tags(&mut t, true).is_err());
        let mut t = BTreeMap::from([("role".to_string(), "web".to_string())]);
        server_tags(&mut t, false).unwrap();
        assert_eq!(t.get("role").map(String::as_str), Some("web"));
    }

    #[test]
    fn tag_updates_keep_the_server_tags() {
        let set = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(check_tag_update(true, &set("x", "1"), &[]).is_ok());
        assert!(check_tag_update(true, &set("role", "server"), &[]).is_ok());
        assert!(check_tag_update(true, &set("role", "web"), &[]).is_err());
        assert!(check_tag_update(true, &BTreeMap::new(), &["role".into()]).is_err());
        assert!(check_tag_update(true, &BTreeMap::new(), &["wan_addr".into()]).is_err());
        assert!(check_tag_update(false, &set("role", "server"), &[]).is_ok());
        assert!(check_tag_update(false, &set("wan_addr", "1.2.3.4:5"), &[]).is_err());
        assert!(check_tag_update(false, &set("role", "web"), &[]).is_ok());
    }
}
