//! User events (type 3): named payloads gossiped to every member, ordered by the event clock.

use bytes::Bytes;

use super::read::{read_blob, read_string, read_struct, Result};
use super::LamportTime;
use crate::msgpack::{Reader, Writer};

/// `messageUserEvent`. Keys `CC`, `LTime`, `Name`, `Payload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    /// Event clock time.
    pub ltime: LamportTime,
    /// Event name.
    pub name: String,
    /// Opaque payload (a nil payload reads as empty; empty is written as `a0`).
    pub payload: Bytes,
    /// "Can coalesce": handlers may see only the newest event of this name.
    pub cc: bool,
}

impl UserEvent {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(4);
        w.write_str("CC");
        w.write_bool(self.cc);
        w.write_str("LTime");
        w.write_uint(self.ltime);
        w.write_str("Name");
        w.write_str(&self.name);
        w.write_str("Payload");
        w.write_bytes(&self.payload);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = UserEvent {
            ltime: 0,
            name: String::new(),
            payload: Bytes::new(),
            cc: false,
        };
        read_struct(r, &["LTime", "Name", "Payload", "CC"], |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                1 => m.name = read_string(r)?,
                2 => m.payload = read_blob(r)?,
                _ => m.cc = r.read_bool()?,
            }
            Ok(())
        })?;
        Ok(m)
    }
}
