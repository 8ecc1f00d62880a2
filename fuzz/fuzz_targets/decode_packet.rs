//! The whole packet pipeline, plain and with a keyring (with and without a label).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rumor_wire::{decode_packet, decode_packet_lossy, Key, Keyring, PacketOptions};

fn ring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let k1 = Key::new(&[1; 16]).expect("valid key");
        let k2 = Key::new(&[2; 32]).expect("valid key");
        Keyring::from_keys(vec![k1, k2])
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_packet(data, &PacketOptions::default());
    let _ = decode_packet_lossy(
        data,
        &PacketOptions {
            keyring: Some(ring()),
            ..Default::default()
        },
    );
    // lax receiver: undecryptable input goes through the plaintext path too
    let _ = decode_packet(
        data,
        &PacketOptions {
            keyring: Some(ring()),
            verify_incoming: false,
            label: Some(b"prod"),
            ..Default::default()
        },
    );
});
