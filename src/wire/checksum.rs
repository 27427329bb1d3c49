//! The Internet checksum (RFC 1071): the 16-bit ones-complement of the
//! ones-complement sum of the data taken as big-endian 16-bit words, plus the
//! incremental update of RFC 1624 for patching one field of an already
//! checksummed header.
//!
//! Every function here is a pure computation over borrowed bytes: nothing
//! allocates, nothing panics. Sums are kept *folded and uncomplemented* (a `u16`
//! in big-endian word order) so that partial sums over separate pieces (a
//! pseudo-header, a prepared header, a payload) combine with [`add`]; only the
//! final step complements. When sums of separate byte ranges are combined, every
//! range except the last must have an even length, because the word pairing of
//! the later range would otherwise shift by one byte.
//!
//! ```
//! use ticklab::wire::checksum;
//! // RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
//! let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::sum(&bytes), 0xddf2);
//! assert_eq!(checksum::checksum(&bytes), 0x220d);
//! // RFC 1624 section 4: old checksum 0xdd2f, a field changes 0x5555 -> 0x3285.
//! assert_eq!(checksum::update(0xdd2f, 0x5555, 0x3285), 0x0000);
//! ```

use std::net::Ipv4Addr;

/// Ones-complement sum of `data` as big-endian 16-bit words, folded to 16 bits and
/// not complemented. An odd final byte is summed as the high byte of a word whose
/// low byte is zero (RFC 1071 section 1).
///
/// This is the hot loop of every checksum in the crate. It reads the data as
/// native-endian 32-bit words and adds them into a 64-bit accumulator, which
/// defers every carry to one fold at the end and leaves a loop with no carry
/// chain for the compiler to vectorise. RFC 1071 section 2(B) shows the
/// ones-complement sum is independent of byte order up to one final byte swap,
/// which `u16::from_be` does on little-endian hosts.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    u16::from_be(sum_native(data, SUM_BLOCK))
}

/// Bytes summed into one accumulator before folding: 2^28 words, far below the
/// 2^32 additions of a `u32` a `u64` can absorb, and even, so the word pairing
/// of the next block is unchanged.
const SUM_BLOCK: usize = 1 << 30;

/// The folded sum in native byte order, one accumulator per `block` bytes.
#[inline]
fn sum_native(data: &[u8], block: usize) -> u16 {
    let mut folded = 0u16;
    for piece in data.chunks(block) {
        let mut acc: u64 = 0;
        let mut words = piece.chunks_exact(4);
        for word in &mut words {
            // chunks_exact(4) yields exactly 4 bytes: the fallback is never taken.
            acc += u64::from(u32::from_ne_bytes(word.try_into().unwrap_or([0; 4])));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            // Zero-filling after the tail is exactly the odd-byte rule: the tail
            // starts on a 4-byte boundary, so its word pairing is unchanged.
            let mut last = [0u8; 4];
            last[..tail.len()].copy_from_slice(tail);
            acc += u64::from(u32::from_ne_bytes(last));
        }
        folded = add(folded, fold64(acc));
    }
    folded
}

/// Folds a 64-bit ones-complement accumulator down to 16 bits.
#[inline]
fn fold64(acc: u64) -> u16 {
    let mut acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    let mut acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Ones-complement addition of two folded sums.
#[inline]
pub fn add(a: u16, b: u16) -> u16 {
    let total = u32::from(a) + u32::from(b);
    ((total & 0xffff) + (total >> 16)) as u16
}

/// The Internet checksum of `data`: the complement of [`sum`]. Written into a
/// header whose checksum field was zero while summing, it makes the header sum to
/// `0xffff`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sum of the IPv4 pseudo-header that UDP (RFC 768) and TCP (RFC 793 section 3.1)
/// prepend to their checksum: source and destination address, zero, protocol, and
/// the transport length (header plus data).
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let total = u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + u32::from(protocol)
        + u32::from(length);
    fold64(u64::from(total))
}

/// Ones-complement sum of the IPv4 pseudo-header and the whole transport `segment`
/// (header and data), the sum UDP and TCP checksums are taken over: `0xffff` when
/// the stored checksum is correct. The pseudo-header length is the segment's length
/// cut to 16 bits (a segment over 65535 bytes cannot be an IPv4 payload).
#[inline]
pub(crate) fn transport_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(src, dst, protocol, segment.len() as u16);
    add(pseudo, sum(segment))
}

/// RFC 1624 equation 3: the new checksum after one 16-bit word covered by
/// `old_checksum` changed from `old_word` to `new_word`:
/// `HC' = ~(~HC + ~m + m')`.
///
/// This agrees with recomputing the checksum from scratch except in one case that
/// RFC 1624 section 3 discusses: if every word covered by the checksum becomes
/// zero, a full recomputation yields `0xffff` and this yields `0x0000`. No real
/// IPv4, UDP or TCP header is all zeros (the IPv4 version nibble alone rules it
/// out), and both values are the same number in ones-complement arithmetic.
#[inline]
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    !add(add(!old_checksum, !old_word), new_word)
}

/// [`update`] for a 32-bit field (a sequence number, an address): both of its
/// 16-bit halves change at once.
#[inline]
pub fn update_u32(old_checksum: u16, old_value: u32, new_value: u32) -> u16 {
    let hi = update(
        old_checksum,
        (old_value >> 16) as u16,
        (new_value >> 16) as u16,
    );
    update(hi, old_value as u16, new_value as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook definition, written as differently from [`sum`] as possible:
    /// big-endian byte pairs into a wide accumulator, folded once at the end.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u64::from(data[i]) << 8;
            let lo = data.get(i + 1).map_or(0, |&b| u64::from(b));
            acc += hi | lo;
            i += 2;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_section3_example() {
        // RFC 1071 section 3, "Numerical Examples": 00 01 f2 03 f4 f5 f6 f7.
        // 0x0001 + 0xf203 + 0xf4f5 + 0xf6f7 = 0x2ddf0; fold: 0xddf0 + 0x2 = 0xddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&bytes), 0xddf2);
        assert_eq!(checksum(&bytes), 0x220d);
        // The same bytes with a trailing odd byte 0x01: + 0x0100 = 0xdef2.
        let mut odd = bytes.to_vec();
        odd.push(0x01);
        assert_eq!(sum(&odd), 0xdef2);
    }

    #[test]
    fn empty_and_all_ones() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(checksum(&[]), 0xffff);
        // 0xffff is negative zero; a sum of words that are all 0xffff stays 0xffff.
        assert_eq!(sum(&[0xff; 64]), 0xffff);
        // Odd length: 0xffff + 0xff00 = 0x1feff, folded 0xfeff + 0x1 = 0xff00.
        assert_eq!(sum(&[0xff; 3]), 0xff00);
    }

    #[test]
    fn rfc1624_section4_example() {
        // RFC 1624 section 4: HC = 0xdd2f, m = 0x5555, m' = 0x3285.
        // Eqn. 3 gives ~(0x22d0 + 0xaaaa + 0x3285) = ~(0xffff) = 0x0000.
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn pseudo_header_by_hand() {
        // 192.168.0.1 -> 192.168.0.199, UDP, length 0x5f:
        // 0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 0x0011 + 0x005f = 0x18288 -> 0x8289.
        let s = pseudo_header_sum(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
            17,
            0x5f,
        );
        assert_eq!(s, 0x8289);
    }

    proptest! {
        #[test]
        fn fast_sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(sum(&data), reference_sum(&data));
        }

        #[test]
        fn blocks_combine_like_one_pass(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            block in 1usize..40,
        ) {
            prop_assert_eq!(u16::from_be(sum_native(&data, block * 2)), reference_sum(&data));
        }

        #[test]
        fn sums_of_even_pieces_combine(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..150,
        ) {
            let cut = (cut * 2).min(data.len() & !1);
            let (a, b) = data.split_at(cut);
            prop_assert_eq!(add(sum(a), sum(b)), reference_sum(&data));
        }

        #[test]
        fn incremental_update_matches_recomputation(
            words in proptest::collection::vec(any::<u16>(), 2..40),
            index in any::<proptest::sample::Index>(),
            new_word in any::<u16>(),
        ) {
            let mut words = words;
            let at = index.index(words.len());
            let bytes = |w: &[u16]| w.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
            let old = checksum(&bytes(&words));
            let old_word = words[at];
            words[at] = new_word;
            // The one documented divergence (all words zero) is not a header.
            prop_assume!(words.iter().any(|&w| w != 0));
            prop_assert_eq!(update(old, old_word, new_word), checksum(&bytes(&words)));
        }

        #[test]
        fn incremental_u32_update_matches_recomputation(
            words in proptest::collection::vec(any::<u16>(), 2..40),
            index in any::<proptest::sample::Index>(),
            new_value in any::<u32>(),
        ) {
            let mut words = words;
            let at = index.index(words.len() - 1);
            let bytes = |w: &[u16]| w.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
            let old = checksum(&bytes(&words));
            let old_value = (u32::from(words[at]) << 16) | u32::from(words[at + 1]);
            words[at] = (new_value >> 16) as u16;
            words[at + 1] = new_value as u16;
            prop_assume!(words.iter().any(|&w| w != 0));
            prop_assert_eq!(update_u32(old, old_value, new_value), checksum(&bytes(&words)));
        }
    }
}
