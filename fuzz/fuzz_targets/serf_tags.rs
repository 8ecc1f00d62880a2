//! Serf tags in node meta: decoding never panics, the lossy form agrees with the strict one,
//! and decoded tags that fit re-encode to meta that decodes to the same tags.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_wire::serf::{decode_tags, decode_tags_lossy, encode_tags};

fuzz_target!(|data: &[u8]| {
    let (lossy, err) = decode_tags_lossy(data);
    match decode_tags(data) {
        Ok(tags) => {
            assert!(err.is_none());
            assert_eq!(tags, lossy);
            if data.first() == Some(&0xff) {
                if let Ok(meta) = encode_tags(&tags) {
                    assert_eq!(decode_tags(&meta).as_ref(), Ok(&tags));
                }
            }
        }
        Err(_) => assert!(err.is_some()),
    }
});
