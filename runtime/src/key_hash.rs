//! A cheap, stable hash of a short key (a stream id, a saga instance's id): how the relay
//! tells streams apart in its window, and how a saga runner picks an instance's worker.

/// FNV-1a of `key`: keys are short, and this runs once per message or event.
pub(crate) fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
