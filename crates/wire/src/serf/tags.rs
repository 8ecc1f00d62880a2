//! Serf tags in memberlist node meta.
//!
//! From Serf protocol 3 on (every 0.9.4 agent), meta is the magic byte `0xFF` followed by a
//! msgpack map of strings to strings: no tags is `ff 80`. Protocol 2 carried only the `role`
//! tag, as the raw meta string. A reader therefore treats meta that does not start with
//! `0xFF` (including empty meta) as `{"role": <meta>}`.
//!
//! The encoded tags must fit memberlist's meta limit ([`META_MAX_SIZE`], 512 bytes, magic
//! byte included), because they ride in every alive message.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::error::{SerfDecodeError, TagsError};
use super::read::read_str_map;
use crate::limits::META_MAX_SIZE;
use crate::msgpack::{Reader, Writer};

/// First byte of meta holding msgpack tags (`tagMagicByte`).
pub const TAG_MAGIC: u8 = 0xFF;

/// The Serf protocol version from which tags are sent as a map (earlier: `role` only).
pub const TAGS_MAP_MIN_PROTOCOL: u8 = 3;

/// Encodes tags as a protocol ≥ 3 Serf node does: `0xFF` + msgpack map (keys sorted).
/// Fails if the result exceeds [`META_MAX_SIZE`].
pub fn encode_tags(tags: &BTreeMap<String, String>) -> Result<Bytes, TagsError> {
    let mut out = vec![TAG_MAGIC];
    let mut w = Writer::new(&mut out);
    w.write_map_len(tags.len());
    for (k, v) in tags {
        w.write_str(k);
        w.write_str(v);
    }
    check_len(out)
}

/// Encodes tags for a given Serf protocol version: below 3 only the `role` tag, as raw bytes;
/// from 3 on as [`encode_tags`].
pub fn encode_tags_for_protocol(
    tags: &BTreeMap<String, String>,
    protocol: u8,
) -> Result<Bytes, TagsError> {
    if protocol < TAGS_MAP_MIN_PROTOCOL {
        let role = tags.get("role").map(String::as_str).unwrap_or_default();
        return check_len(role.as_bytes().to_vec());
    }
    encode_tags(tags)
}

fn check_len(out: Vec<u8>) -> Result<Bytes, TagsError> {
    if out.len() > META_MAX_SIZE {
        return Err(TagsError::TooLarge {
            len: out.len(),
            max: META_MAX_SIZE,
        });
    }
    Ok(Bytes::from(out))
}

/// Decodes node meta into tags. Meta not starting with [`TAG_MAGIC`] (empty included) is the
/// legacy form `{"role": meta}` (invalid UTF-8 replaced). Bad msgpack after the magic byte is
/// an error; see [`decode_tags_lossy`] for Serf's forgiving behaviour.
pub fn decode_tags(meta: &[u8]) -> Result<BTreeMap<String, String>, SerfDecodeError> {
    match meta.split_first() {
        Some((&TAG_MAGIC, rest)) => read_str_map(&mut Reader::new(rest)),
        _ => {
            let mut tags = BTreeMap::new();
            tags.insert(
                "role".to_owned(),
                String::from_utf8_lossy(meta).into_owned(),
            );
            Ok(tags)
        }
    }
}

/// Decodes node meta into tags the way Serf does: on bad msgpack, the tags read before the
/// error are kept (Serf logs the error and goes on). Returns the tags and the error, if any.
pub fn decode_tags_lossy(meta: &[u8]) -> (BTreeMap<String, String>, Option<SerfDecodeError>) {
    let Some((&TAG_MAGIC, rest)) = meta.split_first() else {
        return (decode_tags(meta).unwrap_or_default(), None);
    };
    let mut tags = BTreeMap::new();
    let mut r = Reader::new(rest);
    let result = (|| -> Result<(), SerfDecodeError> {
        if r.try_read_nil()? {
            return Ok(());
        }
        let n = r.read_map_len()?;
        for _ in 0..n {
            let k = r.read_str()?.to_owned();
            let v = if r.try_read_nil()? {
                String::new()
            } else {
                r.read_str()?.to_owned()
            };
            tags.insert(k, v);
        }
        Ok(())
    })();
    (tags, result.err())
}
