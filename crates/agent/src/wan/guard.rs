//! The WAN guard: the policy that keeps the WAN pool to servers.
//!
//! Every member of the WAN pool is a server's second Serf core: it carries `pool=wan` and is
//! named `NODE.DC`, where `DC` is its `dc` tag. A LAN agent (no `pool=wan`) or a member whose
//! name does not end in its datacenter is refused on every path the core asks the guard
//! (join, push-pull merge, alive message).

use std::collections::BTreeMap;

use crate::guard::DC_TAG;

/// The tag that names the pool a member belongs to (`wan` in the WAN pool).
pub const POOL_TAG: &str = "pool";

/// The value of [`POOL_TAG`] on WAN members.
pub const POOL_WAN: &str = "wan";

/// Why the WAN guard refused a member: the message names the node and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WanRefusal {
    /// The member is not a WAN member (a LAN agent, or a plain serf agent).
    #[error(
        "node '{node}' is not a member of a WAN pool (it carries no tag {POOL_TAG}={POOL_WAN}): \
         only servers join the WAN pool, through their WAN address (rumor agent --server \
         --wan-bind IP:PORT); join LAN agents through the LAN address instead"
    )]
    NotWan {
        /// The member.
        node: String,
    },
    /// The member carries no `dc` tag.
    #[error("node '{node}' carries no '{DC_TAG}' tag, so its datacenter is unknown")]
    NoDatacenter {
        /// The member.
        node: String,
    },
    /// The member's name does not end in `.` + its datacenter.
    #[error(
        "node '{node}' is in datacenter '{dc}' but its name does not end in '.{dc}': WAN \
         members are named NODE.DC"
    )]
    BadName {
        /// The member.
        node: String,
        /// Its datacenter.
        dc: String,
    },
}

/// The guard of a WAN pool (stateless: the rule is the same for every datacenter).
#[derive(Debug, Clone, Copy, Default)]
pub struct WanGuard;

impl WanGuard {
    /// Admit `name` only if it is tagged `pool=wan` and named `NODE.DC` after its `dc` tag.
    pub fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<(), WanRefusal> {
        if tags.get(POOL_TAG).map(String::as_str) != Some(POOL_WAN) {
            return Err(WanRefusal::NotWan { node: name.into() });
        }
        let Some(dc) = tags.get(DC_TAG) else {
            return Err(WanRefusal::NoDatacenter { node: name.into() });
        };
        match name.strip_suffix(dc.as_str()) {
            Some(node) if node.len() > 1 && node.ends_with('.') => Ok(()),
            _ => Err(WanRefusal::BadName {
                node: name.into(),
                dc: dc.clone(),
            }),
        }
    }
}

impl rumor_serf::MemberGuard for WanGuard {
    fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> rumor_serf::Verdict {
        WanGuard::check(self, name, tags).map_err(|e| rumor_serf::Refusal::new(name.into(), e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn admits_wan_members_named_after_their_dc() {
        let g = WanGuard;
        let t = tags(&[("dc", "east"), ("pool", "wan"), ("role", "server")]);
        assert_eq!(g.check("s1.east", &t), Ok(()));
        assert_eq!(g.check("a.b.east", &t), Ok(()));
    }

    #[test]
    fn refuses_lan_members_with_a_reason() {
        let g = WanGuard;
        let e = g.check("c1", &tags(&[("dc", "east")])).unwrap_err();
        assert_eq!(e, WanRefusal::NotWan { node: "c1".into() });
        let m = e.to_string();
        assert!(m.contains("'c1'") && m.contains("pool=wan") && m.contains("--server"));
        let e = g
            .check("c1.east", &tags(&[("dc", "east"), ("pool", "lan")]))
            .unwrap_err();
        assert_eq!(
            e,
            WanRefusal::NotWan {
                node: "c1.east".into()
            }
        );
    }

    #[test]
    fn refuses_names_without_their_dc_suffix() {
        let g = WanGuard;
        let t = tags(&[("dc", "east"), ("pool", "wan")]);
        for name in ["s1", "s1.west", "s1east", ".east", "east", "s1.east.x"] {
            let e = g.check(name, &t).unwrap_err();
            assert_eq!(
                e,
                WanRefusal::BadName {
                    node: name.into(),
                    dc: "east".into()
                },
                "{name}"
            );
            assert!(e.to_string().contains(&format!("'{name}'")));
            assert!(e.to_string().contains("'.east'"));
        }
        let e = g.check("s1.east", &tags(&[("pool", "wan")])).unwrap_err();
        assert_eq!(
            e,
            WanRefusal::NoDatacenter {
                node: "s1.east".into()
            }
        );
    }
}
