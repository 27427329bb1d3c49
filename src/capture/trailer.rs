//! Vendor hardware-timestamp trailers that capture gear appends to Ethernet frames:
//! the Arista 7130 / Metamako trailer and the Exablaze (ExaLINK / ExaNIC) trailer.
//! Parsers are zero-copy views over the end of a frame; builders write the trailer
//! bytes so tests and replay tools can produce frames as the gear would.
//!
//! Layouts (all big-endian), as Wireshark's `metamako` and `exablaze` dissectors read
//! them (epan/dissectors/packet-metamako.c and packet-exablaze.c):
//!
//! - Metamako: original FCS (4) | extensions (4·n, only when flag 0x02 is set) |
//!   seconds (4) | nanoseconds (4) | flags (1) | device id (2) | port id (1), then the
//!   new FCS if the capture kept it. Extensions are 32-bit words read backwards from
//!   the seconds field: each tag word holds 24 bits of value and, in its last byte,
//!   `len(2 bits) | last(1) | tag(5)`; `len` further words of data precede it. Tag
//!   0x1F is a secondary tag: tag `0x1F + bits 16..31`, `bits 6..15 + 1` data words.
//! - Exablaze: original FCS (4) | device id (1) | port id (1) | seconds (4) |
//!   fraction of a second as a 40-bit binary fraction (5) | reserved (1), then the new
//!   FCS if the capture kept it.
//!
//! A trailer carries no magic number, so whether a frame has one is the caller's
//! knowledge (which port it was captured on); the parsers only refuse what cannot be
//! a trailer (too short, nanoseconds ≥ 10^9, extensions running off the frame). They
//! never panic and never allocate.
//!
//! ```
//! use ticklab::capture::trailer::{parse_exablaze, parse_metamako, ExablazeTrailer, MetamakoTrailer};
//!
//! let mut frame = vec![0u8; 60];
//! let trailer = MetamakoTrailer { original_fcs: 0xdeadbeef, extensions: &[], seconds: 1_700_000_000,
//!     nanoseconds: 123_456_789, flags: 0x01, device_id: 7, port_id: 3 };
//! trailer.append_to(&mut frame);
//! let parsed = parse_metamako(&frame).unwrap();
//! assert_eq!((parsed.seconds, parsed.nanoseconds, parsed.device_id, parsed.port_id), (1_700_000_000, 123_456_789, 7, 3));
//! assert_eq!(parsed.payload_len(frame.len()), 60);
//!
//! let mut frame = vec![0u8; 60];
//! let exa = ExablazeTrailer { original_fcs: 1, device_id: 2, port_id: 5, seconds: 1_700_000_000,
//!     fraction: ExablazeTrailer::fraction_for_nanos(250_000_000), reserved: 0 };
//! frame.extend_from_slice(&exa.to_bytes());
//! assert_eq!(parse_exablaze(&frame).unwrap().nanoseconds(), 250_000_000);
//! ```

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Bits of the Metamako flags byte.
pub mod metamako_flags {
    /// The original FCS was valid.
    pub const ORIGINAL_FCS_VALID: u8 = 0x01;
    /// Extension words sit between the original FCS and the seconds.
    pub const HAS_EXTENSIONS: u8 = 0x02;
    /// The packet is a duplicate.
    pub const DUPLICATE: u8 = 0x04;
    /// The timestamp source was degraded (not locked).
    pub const TIMESTAMP_DEGRADED: u8 = 0x10;
    /// Clause 49 block type field: set 0x78, clear 0x33 or 0x66.
    pub const PCS49_BTF: u8 = 0x20;
}

/// Metamako extension tag numbers.
pub mod metamako_tags {
    pub const SEQUENCE_NUMBER: u32 = 0;
    pub const SUB_NANOSECONDS: u32 = 1;
    pub const CRC64_HASH: u32 = 2;
    pub const EGRESS_SEQUENCE_NUMBER: u32 = 3;
    /// Secondary tag header: the real tag is 0x1F plus the upper 16 bits.
    pub const SECONDARY: u32 = 0x1F;
}

/// The fixed part after the extensions: seconds, nanoseconds, flags, device, port.
const METAMAKO_TAIL_LEN: usize = 12;
const FCS_LEN: usize = 4;

/// An Arista 7130 / Metamako trailer, viewed in (or to be written to) a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetamakoTrailer<'a> {
    /// The FCS of the frame as it arrived, before the trailer was appended.
    pub original_fcs: u32,
    /// Raw extension words, in frame order (the last word here is the first tag).
    /// Empty when the [`metamako_flags::HAS_EXTENSIONS`] flag is clear.
    pub extensions: &'a [u8],
    pub seconds: u32,
    pub nanoseconds: u32,
    /// See [`metamako_flags`].
    pub flags: u8,
    pub device_id: u16,
    pub port_id: u8,
}

/// One Metamako extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetamakoExtension<'a> {
    pub tag: u32,
    /// The 24 value bits of a primary tag word (meaningless for secondary tags).
    pub value: [u8; 3],
    /// The further data words of the extension.
    pub data: &'a [u8],
}

/// Walks Metamako extension words backwards from the end of an extensions area.
#[derive(Debug, Clone)]
pub struct MetamakoExtensions<'a> {
    remaining: &'a [u8],
    done: bool,
}

impl<'a> Iterator for MetamakoExtensions<'a> {
    type Item = MetamakoExtension<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let split = self.remaining.len().checked_sub(4)?;
        let (before, word) = self.remaining.split_at(split);
        let word = u32::from_be_bytes(word.try_into().ok()?);
        let (tag, data_words) = if word & 0x1F == metamako_tags::SECONDARY {
            (
                metamako_tags::SECONDARY + (word >> 16),
                ((word >> 6) & 0x3FF) + 1,
            )
        } else {
            (word & 0x1F, (word >> 6) & 0x3)
        };
        let data_start = before.len().checked_sub(data_words as usize * 4);
        let Some(data_start) = data_start else {
            self.done = true;
            return None;
        };
        let (rest, data) = before.split_at(data_start);
        self.remaining = rest;
        self.done = (word >> 5) & 1 == 1;
        let [v0, v1, v2, _] = word.to_be_bytes();
        Some(MetamakoExtension {
            tag,
            value: [v0, v1, v2],
            data,
        })
    }
}

/// Finds where the extension chain ending at `area.len()` starts; `None` if it runs
/// off the front of `area`.
fn metamako_extensions_start(area: &[u8]) -> Option<usize> {
    let mut pos = area.len();
    loop {
        let word_start = pos.checked_sub(4)?;
        let word = u32::from_be_bytes(area.get(word_start..pos)?.try_into().ok()?);
        let data_words = if word & 0x1F == metamako_tags::SECONDARY {
            ((word >> 6) & 0x3FF) + 1
        } else {
            (word >> 6) & 0x3
        };
        pos = word_start.checked_sub(data_words as usize * 4)?;
        if (word >> 5) & 1 == 1 {
            return Some(pos);
        }
    }
}

/// Parses a Metamako trailer at the very end of `frame` (the capture did not keep
/// the FCS the gear appended after it). `None` if the bytes cannot be one.
pub fn parse_metamako(frame: &[u8]) -> Option<MetamakoTrailer<'_>> {
    let tail_start = frame.len().checked_sub(METAMAKO_TAIL_LEN)?;
    let tail: &[u8; METAMAKO_TAIL_LEN] = frame.get(tail_start..)?.try_into().ok()?;
    let seconds = u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let nanoseconds = u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]);
    let flags = tail[8];
    let device_id = u16::from_be_bytes([tail[9], tail[10]]);
    let port_id = tail[11];
    if u64::from(nanoseconds) >= NANOS_PER_SECOND {
        return None;
    }
    let before = frame.get(..tail_start)?;
    let extensions_start = if flags & metamako_flags::HAS_EXTENSIONS != 0 {
        metamako_extensions_start(before)?
    } else {
        before.len()
    };
    let fcs_start = extensions_start.checked_sub(FCS_LEN)?;
    let original_fcs =
        u32::from_be_bytes(before.get(fcs_start..extensions_start)?.try_into().ok()?);
    Some(MetamakoTrailer {
        original_fcs,
        extensions: before.get(extensions_start..)?,
        seconds,
        nanoseconds,
        flags,
        device_id,
        port_id,
    })
}

/// As [`parse_metamako`] for a frame that still ends with the 4-byte FCS computed
/// over the frame and its trailer.
pub fn parse_metamako_with_fcs(frame: &[u8]) -> Option<MetamakoTrailer<'_>> {
    parse_metamako(frame.get(..frame.len().checked_sub(FCS_LEN)?)?)
}

impl<'a> MetamakoTrailer<'a> {
    /// Bytes the trailer occupies (without any new FCS after it).
    pub fn encoded_len(&self) -> usize {
        FCS_LEN + self.extensions.len() + METAMAKO_TAIL_LEN
    }

    /// Length of the original frame (without its original FCS) in a frame of
    /// `frame_len` bytes that ends with this trailer.
    pub fn payload_len(&self, frame_len: usize) -> usize {
        frame_len.saturating_sub(self.encoded_len())
    }

    /// Nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> i64 {
        i64::from(self.seconds) * NANOS_PER_SECOND as i64 + i64::from(self.nanoseconds)
    }

    /// The extensions, first tag (nearest the timestamp) first.
    pub fn extension_iter(&self) -> MetamakoExtensions<'a> {
        MetamakoExtensions {
            remaining: self.extensions,
            done: self.extensions.is_empty(),
        }
    }

    /// The 16-bit sequence number extension (tag 0), if present.
    pub fn sequence_number(&self) -> Option<u16> {
        self.extension_iter()
            .find(|e| e.tag == metamako_tags::SEQUENCE_NUMBER)
            .map(|e| u16::from_be_bytes([e.value[1], e.value[2]]))
    }

    /// The sub-nanosecond extension (tag 1): a 24-bit fraction of a nanosecond, in
    /// units of 2^-24 ns.
    pub fn sub_nanoseconds(&self) -> Option<u32> {
        self.extension_iter()
            .find(|e| e.tag == metamako_tags::SUB_NANOSECONDS)
            .map(|e| u32::from_be_bytes([0, e.value[0], e.value[1], e.value[2]]))
    }

    /// Writes the trailer into `out`, returning the bytes written, or `None` if
    /// `out` is too short. The [`metamako_flags::HAS_EXTENSIONS`] flag is written
    /// set exactly when `extensions` is not empty.
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.encoded_len();
        let out = out.get_mut(..len)?;
        let (fcs, rest) = out.split_at_mut(FCS_LEN);
        fcs.copy_from_slice(&self.original_fcs.to_be_bytes());
        let (extensions, tail) = rest.split_at_mut(self.extensions.len());
        extensions.copy_from_slice(self.extensions);
        let flags = if self.extensions.is_empty() {
            self.flags & !metamako_flags::HAS_EXTENSIONS
        } else {
            self.flags | metamako_flags::HAS_EXTENSIONS
        };
        tail[0..4].copy_from_slice(&self.seconds.to_be_bytes());
        tail[4..8].copy_from_slice(&self.nanoseconds.to_be_bytes());
        tail[8] = flags;
        tail[9..11].copy_from_slice(&self.device_id.to_be_bytes());
        tail[11] = self.port_id;
        Some(len)
    }

    /// Appends the trailer to `frame` (convenience for tests and tools).
    pub fn append_to(&self, frame: &mut Vec<u8>) {
        let start = frame.len();
        frame.resize(start + self.encoded_len(), 0);
        // Cannot fail: the space was just made.
        let _ = self.write(&mut frame[start..]);
    }
}

/// One primary extension word: 24 bits of `value`, `extra_words` (0..=3) data words
/// to be placed before it, and `last` set on the final extension of the chain.
pub fn metamako_extension_word(tag: u8, value: u32, extra_words: u8, last: bool) -> [u8; 4] {
    let control = ((extra_words & 0x3) << 6) | (u8::from(last) << 5) | (tag & 0x1F);
    let [_, v0, v1, v2] = value.to_be_bytes();
    [v0, v1, v2, control]
}

/// An Exablaze trailer, viewed in (or to be written to) a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExablazeTrailer {
    pub original_fcs: u32,
    pub device_id: u8,
    pub port_id: u8,
    pub seconds: u32,
    /// Fraction of a second in units of 2^-40 s (40 bits).
    pub fraction: u64,
    /// The last byte, which the trailer leaves unused.
    pub reserved: u8,
}

/// Length of an Exablaze trailer.
pub const EXABLAZE_TRAILER_LEN: usize = 16;
const FRACTION_BITS: u32 = 40;
const FRACTION_MASK: u64 = (1 << FRACTION_BITS) - 1;

/// Parses an Exablaze trailer from the last 16 bytes of `frame` (the capture did not
/// keep the FCS appended after it). Any 16 bytes form a syntactically valid trailer;
/// `None` only when the frame is shorter.
pub fn parse_exablaze(frame: &[u8]) -> Option<ExablazeTrailer> {
    let start = frame.len().checked_sub(EXABLAZE_TRAILER_LEN)?;
    let t: &[u8; EXABLAZE_TRAILER_LEN] = frame.get(start..)?.try_into().ok()?;
    Some(ExablazeTrailer {
        original_fcs: u32::from_be_bytes([t[0], t[1], t[2], t[3]]),
        device_id: t[4],
        port_id: t[5],
        seconds: u32::from_be_bytes([t[6], t[7], t[8], t[9]]),
        fraction: u64::from_be_bytes([0, 0, 0, t[10], t[11], t[12], t[13], t[14]]),
        reserved: t[15],
    })
}

/// As [`parse_exablaze`] for a frame that still ends with its 4-byte FCS.
pub fn parse_exablaze_with_fcs(frame: &[u8]) -> Option<ExablazeTrailer> {
    parse_exablaze(frame.get(..frame.len().checked_sub(FCS_LEN)?)?)
}

impl ExablazeTrailer {
    /// Whole nanoseconds within the second (the fraction rounded down).
    pub fn nanoseconds(&self) -> u32 {
        ((u128::from(self.fraction & FRACTION_MASK) * u128::from(NANOS_PER_SECOND))
            >> FRACTION_BITS) as u32
    }

    /// The part of a nanosecond below [`ExablazeTrailer::nanoseconds`], in [0, 1).
    pub fn fractional_ns(&self) -> f64 {
        let scaled = u128::from(self.fraction & FRACTION_MASK) * u128::from(NANOS_PER_SECOND);
        (scaled & u128::from(FRACTION_MASK)) as f64 / (1u64 << FRACTION_BITS) as f64
    }

    /// Picoseconds within the second (rounded down).
    pub fn picoseconds(&self) -> u64 {
        ((u128::from(self.fraction & FRACTION_MASK) * 1_000_000_000_000) >> FRACTION_BITS) as u64
    }

    /// Nanoseconds since the Unix epoch (sub-nanoseconds dropped).
    pub fn timestamp_ns(&self) -> i64 {
        i64::from(self.seconds) * NANOS_PER_SECOND as i64 + i64::from(self.nanoseconds())
    }

    /// The smallest fraction whose [`ExablazeTrailer::nanoseconds`] is `nanos`
    /// (`nanos` below 10^9).
    pub fn fraction_for_nanos(nanos: u32) -> u64 {
        let numerator = u128::from(nanos) << FRACTION_BITS;
        numerator.div_ceil(u128::from(NANOS_PER_SECOND)) as u64 & FRACTION_MASK
    }

    /// The 16 trailer bytes.
    pub fn to_bytes(&self) -> [u8; EXABLAZE_TRAILER_LEN] {
        let mut out = [0u8; EXABLAZE_TRAILER_LEN];
        out[0..4].copy_from_slice(&self.original_fcs.to_be_bytes());
        out[4] = self.device_id;
        out[5] = self.port_id;
        out[6..10].copy_from_slice(&self.seconds.to_be_bytes());
        out[10..15].copy_from_slice(&(self.fraction & FRACTION_MASK).to_be_bytes()[3..8]);
        out[15] = self.reserved;
        out
    }
}

#[cfg(test)]
mod tests {
    //! Byte layouts written out by hand from the field tables in Wireshark's
    //! packet-metamako.c and packet-exablaze.c (the vendors' published dissectors).
    use super::*;
    use proptest::prelude::*;

    const PAYLOAD: [u8; 4] = [0xAA; 4];

    #[test]
    fn metamako_by_hand() {
        let mut frame = PAYLOAD.to_vec();
        frame.extend([0x11, 0x22, 0x33, 0x44]); // original FCS
        frame.extend([0x65, 0x53, 0xF1, 0x00]); // seconds 1_700_000_000
        frame.extend([0x07, 0x5B, 0xCD, 0x15]); // nanoseconds 123_456_789
        frame.extend([0x11, 0x01, 0x02, 0x03]); // flags, device 0x0102, port 3
        let t = parse_metamako(&frame).unwrap();
        assert_eq!(
            t,
            MetamakoTrailer {
                original_fcs: 0x1122_3344,
                extensions: &[],
                seconds: 1_700_000_000,
                nanoseconds: 123_456_789,
                flags: 0x11,
                device_id: 0x0102,
                port_id: 3
            }
        );
        assert_eq!(t.timestamp_ns(), 1_700_000_000_123_456_789);
        assert_eq!(t.payload_len(frame.len()), 4);
        assert_eq!((t.sequence_number(), t.sub_nanoseconds()), (None, None));
        let mut rebuilt = PAYLOAD.to_vec();
        t.append_to(&mut rebuilt);
        assert_eq!(rebuilt, frame);

        let mut with_fcs = frame.clone();
        with_fcs.extend([9, 9, 9, 9]);
        assert_eq!(parse_metamako_with_fcs(&with_fcs), Some(t));
        assert_eq!(parse_metamako_with_fcs(&frame[..3]), None);
    }

    #[test]
    fn metamako_extensions_by_hand() {
        let mut frame = PAYLOAD.to_vec();
        frame.extend([0x11, 0x22, 0x33, 0x44]); // original FCS
                                                // Secondary tag 0x1F + 5 with one data word, marked last (bit 5).
        frame.extend([0xDE, 0xAD, 0xBE, 0xEF]);
        frame.extend([0x00, 0x05, 0x00, 0x3F]);
        frame.extend([0x80, 0x00, 0x00, 0x01]); // tag 1, sub-nanoseconds 0x800000 (half a ns)
        frame.extend([0x00, 0x12, 0x34, 0x00]); // tag 0, sequence number 0x1234, nearest the timestamp
        frame.extend([0x65, 0x53, 0xF1, 0x00]);
        frame.extend([0x00, 0x00, 0x00, 0x01]);
        frame.extend([0x03, 0x00, 0x07, 0x02]); // flags: FCS valid + has extensions
        let t = parse_metamako(&frame).unwrap();
        assert_eq!(t.original_fcs, 0x1122_3344);
        assert_eq!(t.extensions.len(), 16);
        assert_eq!((t.device_id, t.port_id, t.nanoseconds), (7, 2, 1));
        assert_eq!(t.sequence_number(), Some(0x1234));
        assert_eq!(t.sub_nanoseconds(), Some(0x80_0000));
        let tags: Vec<_> = t.extension_iter().map(|e| (e.tag, e.data.len())).collect();
        assert_eq!(tags, vec![(0, 0), (1, 0), (0x1F + 5, 4)]);
        assert_eq!(t.payload_len(frame.len()), 4);
        let mut rebuilt = PAYLOAD.to_vec();
        t.append_to(&mut rebuilt);
        assert_eq!(rebuilt, frame);

        let ext = [
            metamako_extension_word(1, 0x80_0000, 0, false),
            metamako_extension_word(0, 0x1234, 0, false),
        ];
        assert_eq!(ext, [[0x80, 0, 0, 0x01], [0x00, 0x12, 0x34, 0x00]]);
    }

    #[test]
    fn metamako_rejects_what_cannot_be_a_trailer() {
        assert_eq!(parse_metamako(&[0; 15]), None);
        let mut frame = vec![0; 4];
        frame.extend([0, 0, 0, 1, 0x3B, 0x9A, 0xCA, 0x00, 0, 0, 0, 0]); // ns = 10^9
        assert_eq!(parse_metamako(&frame), None);
        // Extensions flagged but the chain has no last tag before the frame starts.
        let mut frame = vec![0; 4];
        frame.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x02, 0, 0, 0]);
        assert_eq!(parse_metamako(&frame), None);
        // A tag claiming three data words that are not there.
        let mut frame = vec![0; 4];
        frame.extend([0, 0, 0, 0xE0, 0, 0, 0, 1, 0, 0, 0, 0, 0x02, 0, 0, 0]);
        assert_eq!(parse_metamako(&frame), None);
    }

    #[test]
    fn exablaze_by_hand() {
        let mut frame = PAYLOAD.to_vec();
        frame.extend([0xCA, 0xFE, 0xBA, 0xBE, 7, 9]); // original FCS, device, port
        frame.extend([0x65, 0x53, 0xF1, 0x00]); // seconds 1_700_000_000
        frame.extend([0x80, 0, 0, 0, 1, 0]); // fraction 2^39 + 1 (just over half a second), reserved
        let t = parse_exablaze(&frame).unwrap();
        assert_eq!(
            t,
            ExablazeTrailer {
                original_fcs: 0xCAFE_BABE,
                device_id: 7,
                port_id: 9,
                seconds: 1_700_000_000,
                fraction: (1 << 39) + 1,
                reserved: 0
            }
        );
        assert_eq!(t.nanoseconds(), 500_000_000);
        assert_eq!(t.picoseconds(), 500_000_000_000);
        assert!((t.fractional_ns() - 1e9 / 2f64.powi(40)).abs() < 1e-9);
        assert_eq!(t.timestamp_ns(), 1_700_000_000_500_000_000);
        assert_eq!(t.to_bytes()[..], frame[4..]);
        let mut with_fcs = frame.clone();
        with_fcs.extend([1, 2, 3, 4]);
        assert_eq!(parse_exablaze_with_fcs(&with_fcs), Some(t));
        assert_eq!(parse_exablaze(&frame[..15]), None);
    }

    proptest! {
        #[test]
        fn exablaze_fraction_for_nanos_is_exact(nanos in 0u32..1_000_000_000) {
            let t = ExablazeTrailer { original_fcs: 0, device_id: 0, port_id: 0, seconds: 0, fraction: ExablazeTrailer::fraction_for_nanos(nanos), reserved: 0 };
            prop_assert_eq!(t.nanoseconds(), nanos);
            prop_assert_eq!(parse_exablaze(&t.to_bytes()), Some(t));
        }

        #[test]
        fn parsers_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some(t) = parse_metamako(&frame) {
                prop_assert!(t.encoded_len() <= frame.len());
                let _ = (t.sequence_number(), t.sub_nanoseconds(), t.extension_iter().count());
            }
            let _ = parse_metamako_with_fcs(&frame);
            let _ = parse_exablaze(&frame).map(|t| (t.nanoseconds(), t.fractional_ns()));
            let _ = parse_exablaze_with_fcs(&frame);
        }

        #[test]
        fn metamako_round_trip(seconds in any::<u32>(), nanoseconds in 0u32..1_000_000_000, flags in any::<u8>(), device_id in any::<u16>(), port_id in any::<u8>(), fcs in any::<u32>(), seq in proptest::option::of(any::<u16>())) {
            let words: Vec<u8> = seq.map(|s| metamako_extension_word(0, u32::from(s), 0, true).to_vec()).unwrap_or_default();
            let t = MetamakoTrailer { original_fcs: fcs, extensions: &words, seconds, nanoseconds, flags, device_id, port_id };
            let mut frame = vec![0u8; 14];
            t.append_to(&mut frame);
            let back = parse_metamako(&frame).unwrap();
            prop_assert_eq!(back.sequence_number(), seq);
            prop_assert_eq!((back.seconds, back.nanoseconds, back.device_id, back.port_id, back.original_fcs), (seconds, nanoseconds, device_id, port_id, fcs));
            prop_assert_eq!(back.flags & metamako_flags::HAS_EXTENSIONS != 0, seq.is_some());
            prop_assert_eq!(back.payload_len(frame.len()), 14);
        }
    }
}
