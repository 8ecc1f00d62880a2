//! The label header (type 244, memberlist v0.3.0+): `0xF4`, length (1..=255), label bytes.
//!
//! Outermost on packets (after encryption) and at the very start of a dialed stream. A node
//! with a label only talks to nodes with the same label; the label is also bound into the
//! AES-GCM additional data (see [`crate::packet`] and [`crate::stream`]).

use crate::error::DecodeError;
use crate::limits::LABEL_MAX_SIZE;
use crate::message::MessageType;

/// Appends the label header. An empty label writes nothing (no label = no header). The label
/// must be at most [`LABEL_MAX_SIZE`] bytes (checked in debug builds; longer labels are cut
/// to 255 bytes, so validate configured labels with [`check_label`]).
pub fn add_label(label: &[u8], out: &mut Vec<u8>) {
    debug_assert!(label.len() <= LABEL_MAX_SIZE);
    if label.is_empty() {
        return;
    }
    let label = &label[..label.len().min(LABEL_MAX_SIZE)];
    out.push(MessageType::HasLabel as u8);
    out.push(label.len() as u8);
    out.extend_from_slice(label);
}

/// Length of the header [`add_label`] writes for `label`.
pub fn label_overhead(label: &[u8]) -> usize {
    if label.is_empty() {
        0
    } else {
        2 + label.len().min(LABEL_MAX_SIZE)
    }
}

/// Checks a label to be configured: at most [`LABEL_MAX_SIZE`] bytes.
pub fn check_label(label: &[u8]) -> Result<(), DecodeError> {
    if label.len() > LABEL_MAX_SIZE {
        return Err(DecodeError::TooLarge {
            what: "label",
            len: label.len(),
            max: LABEL_MAX_SIZE,
        });
    }
    Ok(())
}

/// Removes a label header if `buf` starts with one: returns the label (`None` without a
/// header) and the rest. A header with length 0 is [`DecodeError::BadLabel`]; a cut header is
/// [`DecodeError::Truncated`]. Does not compare labels: see [`check_inbound`].
pub fn strip_label(buf: &[u8]) -> Result<(Option<&[u8]>, &[u8]), DecodeError> {
    if buf.first() != Some(&(MessageType::HasLabel as u8)) {
        return Ok((None, buf));
    }
    let len = usize::from(*buf.get(1).ok_or(DecodeError::Truncated)?);
    if len == 0 {
        return Err(DecodeError::BadLabel);
    }
    let label = buf.get(2..2 + len).ok_or(DecodeError::Truncated)?;
    Ok((Some(label), &buf[2 + len..]))
}

/// Applies memberlist's acceptance rule to a received label and returns the label in force
/// (used as AAD). With `skip_check` false the received label (or none) must equal `ours`
/// (or none); with `skip_check` true any received header is [`DecodeError::DoubleLabel`] and
/// `ours` is assumed.
pub fn check_inbound<'a>(
    received: Option<&[u8]>,
    ours: Option<&'a [u8]>,
    skip_check: bool,
) -> Result<&'a [u8], DecodeError> {
    let ours = ours.unwrap_or_default();
    if skip_check {
        if received.is_some() {
            return Err(DecodeError::DoubleLabel);
        }
        return Ok(ours);
    }
    if received.unwrap_or_default() != ours {
        return Err(DecodeError::LabelMismatch);
    }
    Ok(ours)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header() {
        let mut out = Vec::new();
        add_label(b"prod", &mut out);
        out.push(0);
        assert_eq!(out, [0xf4, 4, b'p', b'r', b'o', b'd', 0]);
        assert_eq!(strip_label(&out).unwrap(), (Some(&b"prod"[..]), &[0u8][..]));
        assert_eq!(strip_label(&[0, 1]).unwrap(), (None, &[0u8, 1][..]));
        assert_eq!(strip_label(&[0xf4, 0]), Err(DecodeError::BadLabel));
        assert_eq!(strip_label(&[0xf4, 3, 1]), Err(DecodeError::Truncated));
        assert_eq!(strip_label(&[0xf4]), Err(DecodeError::Truncated));
        let mut e = Vec::new();
        add_label(b"", &mut e);
        assert!(e.is_empty());
    }

    #[test]
    fn acceptance() {
        assert_eq!(check_inbound(None, None, false).unwrap(), b"");
        assert_eq!(
            check_inbound(Some(b"a"), None, false),
            Err(DecodeError::LabelMismatch)
        );
        assert_eq!(
            check_inbound(None, Some(b"a"), false),
            Err(DecodeError::LabelMismatch)
        );
        assert_eq!(check_inbound(Some(b"a"), Some(b"a"), false).unwrap(), b"a");
        assert_eq!(check_inbound(None, Some(b"a"), true).unwrap(), b"a");
        assert_eq!(
            check_inbound(Some(b"a"), Some(b"a"), true),
            Err(DecodeError::DoubleLabel)
        );
    }
}
