//! Keyring query payloads: the request (type 7) carried by `_serf_install-key`,
//! `_serf_use-key`, `_serf_remove-key` and `_serf_list-keys`, and each node's answer (type 8).

use bytes::Bytes;

use super::read::{read_blob, read_string, read_struct, Result};
use crate::msgpack::{Reader, Writer};

/// `keyRequest`: key `Key`, the raw AES key (16, 24 or 32 bytes; empty for list-keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRequest {
    /// The raw key bytes (written `a0` when empty).
    pub key: Bytes,
}

/// `nodeKeyResponse`: keys `Keys`, `Message`, `PrimaryKey`, `Result`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyResponse {
    /// Whether the operation succeeded on this node.
    pub result: bool,
    /// Error or warning text ("" when none).
    pub message: String,
    /// Installed keys, base64 (list-keys only); `None` is nil (`c0`).
    pub keys: Option<Vec<String>>,
    /// The primary key, base64 (list-keys only, else "").
    pub primary_key: String,
}

impl KeyRequest {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(1);
        w.write_str("Key");
        w.write_bytes(&self.key);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = KeyRequest::default();
        read_struct(r, &["Key"], |_, r| {
            m.key = read_blob(r)?;
            Ok(())
        })?;
        Ok(m)
    }
}

impl KeyResponse {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(4);
        w.write_str("Keys");
        match &self.keys {
            None => w.write_nil(),
            Some(keys) => {
                w.write_array_len(keys.len());
                for k in keys {
                    w.write_str(k);
                }
            }
        }
        w.write_str("Message");
        w.write_str(&self.message);
        w.write_str("PrimaryKey");
        w.write_str(&self.primary_key);
        w.write_str("Result");
        w.write_bool(self.result);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = KeyResponse::default();
        read_struct(r, &["Result", "Message", "Keys", "PrimaryKey"], |i, r| {
            match i {
                0 => m.result = r.read_bool()?,
                1 => m.message = read_string(r)?,
                2 => m.keys = Some(super::read::read_str_list(r)?),
                _ => m.primary_key = read_string(r)?,
            }
            Ok(())
        })?;
        Ok(m)
    }
}
