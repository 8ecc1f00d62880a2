//! Stream decoding in both roles, plain and with a keyring; a decoded message never claims
//! more bytes than it was given, and a longer buffer never turns a message into "need more".
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rumor_wire::{decode_stream, Key, Keyring, StreamOptions};

fn ring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| Keyring::new(Key::new(&[3; 24]).expect("valid key")))
}

fuzz_target!(|data: &[u8]| {
    let plain = StreamOptions {
        label: Some(b"l"),
        skip_inbound_label_check: data.first() == Some(&0),
        ..Default::default()
    };
    let keyed = StreamOptions {
        keyring: Some(ring()),
        verify_incoming: data.len() % 2 == 0,
        ..Default::default()
    };
    for opts in [StreamOptions::default(), plain, keyed] {
        for dialer in [false, true] {
            if let Ok(Some((m, n))) = decode_stream(data, &opts, dialer) {
                assert!(n <= data.len());
                let again = decode_stream(&data[..n], &opts, dialer);
                assert_eq!(again, Ok(Some((m, n))), "message depends on trailing bytes");
            }
        }
    }
});
