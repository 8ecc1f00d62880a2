//! Join and leave intents (types 1 and 0): a member's claim about its own (or, for a forced
//! leave, another member's) presence, ordered by the member Lamport clock.

use super::read::{read_name, read_struct, Result};
use super::LamportTime;
use crate::msgpack::{Reader, Writer};
use crate::Name;

/// `messageLeave`: `node` is leaving (or, with `prune`, is to be erased). Keys `LTime`,
/// `Node`, `Prune`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveIntent {
    /// Member clock time of the intent.
    pub ltime: LamportTime,
    /// The member leaving.
    pub node: Name,
    /// Erase the member at once instead of keeping it as left (force-leave `-prune`).
    pub prune: bool,
}

/// `messageJoin`: `node` is (again) a member as of `ltime`. Keys `LTime`, `Node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinIntent {
    /// Member clock time of the intent.
    pub ltime: LamportTime,
    /// The member joining.
    pub node: Name,
}

impl LeaveIntent {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(3);
        w.write_str("LTime");
        w.write_uint(self.ltime);
        w.write_str("Node");
        w.write_str(&self.node);
        w.write_str("Prune");
        w.write_bool(self.prune);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = LeaveIntent {
            ltime: 0,
            node: Name::from(""),
            prune: false,
        };
        read_struct(r, &["LTime", "Node", "Prune"], |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                1 => m.node = read_name(r)?,
                _ => m.prune = r.read_bool()?,
            }
            Ok(())
        })?;
        Ok(m)
    }
}

impl JoinIntent {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(2);
        w.write_str("LTime");
        w.write_uint(self.ltime);
        w.write_str("Node");
        w.write_str(&self.node);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = JoinIntent {
            ltime: 0,
            node: Name::from(""),
        };
        read_struct(r, &["LTime", "Node"], |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                _ => m.node = read_name(r)?,
            }
            Ok(())
        })?;
        Ok(m)
    }
}
