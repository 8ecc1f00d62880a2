//! Vivaldi coordinates in ack payloads: decoding never panics, and a decoded coordinate
//! re-encodes to a payload that decodes to the same values (NaN compared by bits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_wire::serf::{decode_ack_payload, AckPayload};

fuzz_target!(|data: &[u8]| {
    if let Ok(AckPayload::Coordinate(c)) = decode_ack_payload(data) {
        let again = c.to_ack_payload();
        let Ok(AckPayload::Coordinate(d)) = decode_ack_payload(&again) else {
            panic!("re-encoded coordinate does not decode");
        };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&c.vec), bits(&d.vec));
        assert_eq!(c.error.to_bits(), d.error.to_bits());
        assert_eq!(c.adjustment.to_bits(), d.adjustment.to_bits());
        assert_eq!(c.height.to_bits(), d.height.to_bits());
        assert_eq!(again, d.to_ack_payload());
    }
});
