//! Vivaldi network coordinates as Serf carries them in memberlist ack payloads.
//!
//! When a Serf node answers a direct UDP ping it puts `[PING_VERSION]` followed by its
//! coordinate (msgpack, gossip dialect) in `ackResp.Payload`. The coordinate is a Go struct
//! written as a map with the keys sorted: `Adjustment`, `Error`, `Height` (each `cb` + 8
//! bytes) and `Vec` (an array of `cb` floats). With Serf's 8 dimensions the whole payload is
//! 130 bytes.
//!
//! Besides the codec this module holds Serf's distance between two coordinates
//! ([`Coordinate::distance_to`]), a pure function of the values; the Vivaldi update step that
//! moves a coordinate lives in `rumor-serf`.

use std::time::Duration;

use super::read::{read_struct, Result};
use super::SerfDecodeError;
use crate::msgpack::{Reader, Writer};

/// The version byte in front of a coordinate in an ack payload (Serf's `PingVersion`).
pub const PING_VERSION: u8 = 1;

/// A Vivaldi network coordinate (Serf's `coordinate.Coordinate`). Every value is in seconds
/// except `error`, which is dimensionless.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    /// The Euclidean part (Serf uses 8 dimensions).
    pub vec: Vec<f64>,
    /// Confidence in the coordinate (1.5 for a fresh one, lower is better).
    pub error: f64,
    /// Offset learned from recent observations, added to distances when that keeps them
    /// positive.
    pub adjustment: f64,
    /// The access-link part of the distance, never below the configured minimum.
    pub height: f64,
}

/// Go's `time.Duration(secs * 1e9)`: the float truncated towards zero to whole nanoseconds.
/// Out-of-range values saturate (Go leaves them undefined).
fn to_nanos(secs: f64) -> i64 {
    (secs * 1.0e9) as i64
}

/// Go's `Duration.Seconds()` of a nanosecond count, computed the way Go does (whole seconds
/// plus the fraction), so the result is bit for bit Go's.
fn nanos_to_secs(ns: i64) -> f64 {
    let s = ns / 1_000_000_000;
    let n = ns % 1_000_000_000;
    s as f64 + n as f64 / 1.0e9
}

impl Coordinate {
    /// Whether every component is finite (Serf's `IsValid`: no NaN, no infinity).
    pub fn is_valid(&self) -> bool {
        self.vec.iter().all(|v| v.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }

    /// The Vivaldi distance without adjustments, in seconds: `|v1 − v2| + h1 + h2`. Both
    /// coordinates must have the same dimension (extra components of the longer one are
    /// ignored).
    pub fn raw_distance_to(&self, other: &Coordinate) -> f64 {
        let sum: f64 = self
            .vec
            .iter()
            .zip(&other.vec)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        sum.sqrt() + self.height + other.height
    }

    /// Estimated round-trip time to `other`, in seconds, exactly as Serf's `DistanceTo`
    /// followed by `Seconds()`: the raw distance plus both adjustments when that sum is
    /// positive (else the raw distance), truncated to whole nanoseconds.
    pub fn distance_secs(&self, other: &Coordinate) -> f64 {
        let raw = self.raw_distance_to(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        let dist = if adjusted > 0.0 { adjusted } else { raw };
        nanos_to_secs(to_nanos(dist))
    }

    /// Estimated round-trip time to `other` (Serf's `DistanceTo`), truncated to whole
    /// nanoseconds. A negative or NaN distance (possible only with invalid remote values)
    /// is zero.
    pub fn distance_to(&self, other: &Coordinate) -> Duration {
        let raw = self.raw_distance_to(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        let dist = if adjusted > 0.0 { adjusted } else { raw };
        Duration::from_nanos(u64::try_from(to_nanos(dist)).unwrap_or(0))
    }

    /// Appends the coordinate as go-msgpack writes it (map, sorted keys, `cb` floats).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.write_map_len(4);
        w.write_str("Adjustment");
        w.write_f64(self.adjustment);
        w.write_str("Error");
        w.write_f64(self.error);
        w.write_str("Height");
        w.write_f64(self.height);
        w.write_str("Vec");
        w.write_array_len(self.vec.len());
        for v in &self.vec {
            w.write_f64(*v);
        }
    }

    /// Decodes a coordinate the way go-msgpack does: keys in any order, unknown keys skipped,
    /// missing or nil fields zero (a nil `Vec` is empty), integers accepted as floats.
    /// Bytes after the value are ignored. Values are not checked: see
    /// [`Coordinate::is_valid`].
    pub fn decode(buf: &[u8]) -> std::result::Result<Coordinate, SerfDecodeError> {
        Self::read(&mut Reader::new(buf))
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut c = Coordinate {
            vec: Vec::new(),
            error: 0.0,
            adjustment: 0.0,
            height: 0.0,
        };
        read_struct(r, &["Vec", "Error", "Adjustment", "Height"], |i, r| {
            match i {
                0 => {
                    let n = r.read_array_len()?;
                    // Every element takes at least one byte: a huge count is a truncation.
                    if n > r.remaining_len() {
                        return Err(SerfDecodeError::Truncated);
                    }
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        v.push(r.read_f64()?);
                    }
                    c.vec = v;
                }
                1 => c.error = r.read_f64()?,
                2 => c.adjustment = r.read_f64()?,
                _ => c.height = r.read_f64()?,
            }
            Ok(())
        })?;
        Ok(c)
    }

    /// The ack payload Serf sends: [`PING_VERSION`] then the coordinate.
    pub fn to_ack_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 20 + 15 + 16 + 5 + 9 * self.vec.len());
        out.push(PING_VERSION);
        self.encode(&mut out);
        out
    }
}

/// What an ack payload holds, as Serf reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum AckPayload {
    /// No payload (a non-Serf peer, a relayed or TCP-fallback ack): ignored.
    Empty,
    /// A version byte other than [`PING_VERSION`]: ignored (Serf logs it).
    UnknownVersion(u8),
    /// A coordinate, decoded but not yet checked for dimension or finiteness.
    Coordinate(Coordinate),
}

/// Reads an ack payload: empty, an unknown version, or `[1]` + a coordinate. Fails only when
/// the version is 1 and the coordinate does not decode (Serf rejects it).
pub fn decode_ack_payload(payload: &[u8]) -> std::result::Result<AckPayload, SerfDecodeError> {
    let Some((&version, body)) = payload.split_first() else {
        return Ok(AckPayload::Empty);
    };
    if version != PING_VERSION {
        return Ok(AckPayload::UnknownVersion(version));
    }
    Coordinate::decode(body).map(AckPayload::Coordinate)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn fresh() -> Coordinate {
        Coordinate {
            vec: vec![0.0; 8],
            error: 1.5,
            adjustment: 0.0,
            height: 1.0e-5,
        }
    }

    #[test]
    fn a_fresh_coordinate_is_130_bytes_with_sorted_keys_and_cb_floats() {
        let p = fresh().to_ack_payload();
        assert_eq!(p.len(), 130);
        assert_eq!(p[0], 1);
        assert_eq!(p[1], 0x84, "fixmap of 4");
        assert_eq!(&p[2..13], b"\xaaAdjustment");
        assert_eq!(p[13], 0xcb);
        assert_eq!(&p[14..22], &0.0f64.to_bits().to_be_bytes());
        assert_eq!(&p[22..28], b"\xa5Error");
        assert_eq!(&p[29..37], &1.5f64.to_bits().to_be_bytes());
        assert_eq!(&p[37..44], b"\xa6Height");
        assert_eq!(&p[45..53], &1.0e-5f64.to_bits().to_be_bytes());
        assert_eq!(&p[53..58], b"\xa3Vec\x98");
        assert!(p[58..].chunks(9).all(|c| c[0] == 0xcb && c[1..] == [0; 8]));
        assert_eq!(
            decode_ack_payload(&p).unwrap(),
            AckPayload::Coordinate(fresh())
        );
    }

    #[test]
    fn empty_and_other_versions_are_not_errors_and_bad_bodies_are() {
        assert_eq!(decode_ack_payload(b"").unwrap(), AckPayload::Empty);
        assert_eq!(
            decode_ack_payload(b"\x02\x80").unwrap(),
            AckPayload::UnknownVersion(2)
        );
        assert_eq!(
            decode_ack_payload(b"\x01").unwrap_err(),
            SerfDecodeError::Truncated
        );
        let p = fresh().to_ack_payload();
        assert_eq!(
            decode_ack_payload(&p[..100]).unwrap_err(),
            SerfDecodeError::Truncated
        );
        // A Vec announcing more elements than bytes left.
        assert_eq!(
            Coordinate::decode(b"\x81\xa3Vec\xdd\xff\xff\xff\xff").unwrap_err(),
            SerfDecodeError::Truncated
        );
        assert!(matches!(
            Coordinate::decode(b"\x81\xa5Error\xa1x").unwrap_err(),
            SerfDecodeError::Msgpack(_)
        ));
    }

    #[test]
    fn decoding_is_lenient_as_go_msgpack() {
        // Keys out of order, an unknown key, an int for a float, a nil Vec.
        let c = Coordinate::decode(b"\x85\xa6Height\x01\xa3Vec\xc0\xa1Z\x07\xa5Error\xcb\x3f\xf8\0\0\0\0\0\0\xaaAdjustment\xca\x3f\x80\0\0").unwrap();
        assert_eq!(
            c,
            Coordinate {
                vec: vec![],
                error: 1.5,
                adjustment: 1.0,
                height: 1.0
            }
        );
    }

    #[test]
    fn distance_is_the_euclidean_norm_plus_heights_plus_positive_adjustments() {
        let a = Coordinate {
            vec: vec![0.0, 0.0],
            error: 1.0,
            adjustment: 0.0,
            height: 0.0,
        };
        let b = Coordinate {
            vec: vec![0.003, 0.004],
            ..a.clone()
        };
        assert_eq!(a.distance_to(&b), Duration::from_millis(5));
        let a = Coordinate {
            height: 0.001,
            adjustment: 0.0005,
            ..a
        };
        let b = Coordinate {
            height: 0.002,
            adjustment: -0.0015,
            ..b
        };
        // 0.005 + 0.001 + 0.002 = 0.008, adjusted by 0.0005 − 0.0015: 0.007.
        assert_eq!(a.distance_to(&b), Duration::from_micros(7000));
        assert_eq!(a.raw_distance_to(&b), 0.008);
        // An adjustment that would make it non-positive is left out.
        let b = Coordinate {
            adjustment: -1.0,
            ..b
        };
        assert_eq!(a.distance_to(&b), Duration::from_micros(8000));
        assert_eq!(a.distance_secs(&b), 0.008);
    }

    #[test]
    fn validity_rejects_nan_and_infinity_anywhere() {
        assert!(fresh().is_valid());
        let mut c = fresh();
        c.vec[3] = f64::NAN;
        assert!(!c.is_valid());
        for f in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert!(!Coordinate {
                error: f,
                ..fresh()
            }
            .is_valid());
            assert!(!Coordinate {
                height: f,
                ..fresh()
            }
            .is_valid());
            assert!(!Coordinate {
                adjustment: f,
                ..fresh()
            }
            .is_valid());
        }
    }

    fn finite() -> impl Strategy<Value = f64> {
        prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL
    }

    proptest! {
        #[test]
        fn round_trips(vec in prop::collection::vec(finite(), 0..20), e in finite(),
                       a in finite(), h in finite()) {
            let c = Coordinate { vec, error: e, adjustment: a, height: h };
            let p = c.to_ack_payload();
            let header = if c.vec.len() < 16 { 1 } else { 3 };
            prop_assert_eq!(p.len(), 57 + header + 9 * c.vec.len());
            prop_assert_eq!(decode_ack_payload(&p).unwrap(), AckPayload::Coordinate(c));
        }

        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_ack_payload(&b);
        }
    }
}
