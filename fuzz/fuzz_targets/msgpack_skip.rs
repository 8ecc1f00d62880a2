//! Skipping arbitrary msgpack values: bounded recursion, never reads past the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_wire::msgpack::Reader;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let before = r.position();
        match r.read_raw_value() {
            Ok(v) => {
                assert!(!v.is_empty());
                assert_eq!(r.position(), before + v.len());
            }
            Err(_) => break,
        }
    }
    assert!(r.position() <= data.len());
});
