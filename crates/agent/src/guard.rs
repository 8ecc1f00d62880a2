//! The datacenter guard: the policy that keeps two datacenters' LAN pools apart.
//!
//! The core calls it on every path by which a member can enter a table (join, every
//! push-pull merge, every alive message, direct or gossiped), so no member of a foreign
//! datacenter enters a LAN member list, even through a third node that has no guard.

use std::collections::BTreeMap;

/// The tag that names a member's datacenter.
pub const DC_TAG: &str = "dc";

/// Why the datacenter guard refused a member: the message names the node, its datacenter
/// and ours, and says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcRefusal {
    /// The member is of another datacenter.
    #[error(
        "node '{node}' is in datacenter '{theirs}', but this LAN pool is datacenter '{ours}': \
         LAN pools of two datacenters never merge; connect datacenters through the WAN pool \
         of their servers instead (rumor agent --server, rumor join --wan)"
    )]
    Foreign {
        /// The member.
        node: String,
        /// Its datacenter.
        theirs: String,
        /// Ours.
        ours: String,
    },
    /// The member carries no `dc` tag.
    #[error(
        "node '{node}' carries no '{DC_TAG}' tag, so it cannot be placed in datacenter '{ours}': \
         start it with the tag {DC_TAG}={ours} (serf: -tag {DC_TAG}={ours})"
    )]
    Untagged {
        /// The member.
        node: String,
        /// Our datacenter.
        ours: String,
    },
}

/// The guard of a LAN pool: every member must carry our datacenter in its `dc` tag.
#[derive(Debug, Clone)]
pub struct LanGuard {
    dc: String,
}

impl LanGuard {
    /// The guard for datacenter `dc`.
    pub fn new(dc: impl Into<String>) -> Self {
        LanGuard { dc: dc.into() }
    }

    /// Accept or refuse a member; the refusal names the node, its datacenter and ours, and
    /// says how to federate instead.
    pub fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<(), DcRefusal> {
        match tags.get(DC_TAG) {
            Some(dc) if *dc == self.dc => Ok(()),
            Some(dc) => Err(DcRefusal::Foreign {
                node: name.to_string(),
                theirs: dc.clone(),
                ours: self.dc.clone(),
            }),
            None => Err(DcRefusal::Untagged {
                node: name.to_string(),
                ours: self.dc.clone(),
            }),
        }
    }
}

impl rumor_serf::MemberGuard for LanGuard {
    fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> rumor_serf::Verdict {
        LanGuard::check(self, name, tags).map_err(|e| rumor_serf::Refusal::new(name.into(), e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn same_dc_passes_other_dc_and_no_dc_are_refused_with_reasons() {
        let g = LanGuard::new("east");
        let tags = |dc: Option<&str>| {
            let mut t = BTreeMap::new();
            if let Some(d) = dc {
                t.insert("dc".to_string(), d.to_string());
            }
            t
        };
        assert!(g.check("a", &tags(Some("east"))).is_ok());
        let e = g.check("b", &tags(Some("west"))).unwrap_err();
        assert_eq!(
            e,
            DcRefusal::Foreign {
                node: "b".into(),
                theirs: "west".into(),
                ours: "east".into()
            }
        );
        let m = e.to_string();
        assert!(
            m.contains("'b'") && m.contains("'west'") && m.contains("'east'") && m.contains("WAN")
        );
        let e = g.check("c", &tags(None)).unwrap_err();
        assert!(e.to_string().contains("no 'dc' tag"));
    }
}
