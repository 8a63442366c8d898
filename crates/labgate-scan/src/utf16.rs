//! UTF-16 text: recognised by its byte-order mark or, without one, by the NUL byte pattern that
//! mostly-ASCII text leaves in every other byte; transcoded to UTF-8 for scanning.

/// Byte order of a UTF-16 text, and whether it starts with a byte-order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf16 {
    pub little_endian: bool,
    pub bom: bool,
}

impl Utf16 {
    #[must_use]
    pub fn name(self) -> &'static str {
        if self.little_endian {
            "utf-16le"
        } else {
            "utf-16be"
        }
    }

    fn unit(self, pair: &[u8]) -> u16 {
        if self.little_endian {
            u16::from_le_bytes([pair[0], pair[1]])
        } else {
            u16::from_be_bytes([pair[0], pair[1]])
        }
    }

    fn body(self, data: &[u8]) -> &[u8] {
        if self.bom { &data[2..] } else { data }
    }
}

/// Code units sampled when there is no byte-order mark.
const SNIFF_UNITS: usize = 4000;
/// Fewer units than this are too little evidence for the BOM-less heuristic.
const MIN_UNITS: usize = 8;

/// Decides whether `data` is UTF-16 text. With a byte-order mark the mark decides. Without one,
/// at least 90 % of the sampled code units must be printable ASCII or whitespace with a zero
/// high byte: that is what English-language UTF-16 looks like, and what binary formats with
/// NUL bytes (images, archives, arrays of 16-bit numbers) almost never look like.
#[must_use]
pub fn detect(data: &[u8]) -> Option<Utf16> {
    match data {
        [0xFF, 0xFE, ..] => {
            return Some(Utf16 {
                little_endian: true,
                bom: true,
            });
        }
        [0xFE, 0xFF, ..] => {
            return Some(Utf16 {
                little_endian: false,
                bom: true,
            });
        }
        _ => {}
    }
    let sample = &data[..data.len().min(SNIFF_UNITS * 2)];
    let units = sample.len() / 2;
    if units < MIN_UNITS {
        return None;
    }
    [true, false].into_iter().find_map(|little_endian| {
        let enc = Utf16 {
            little_endian,
            bom: false,
        };
        let texty = sample
            .chunks_exact(2)
            .map(|pair| enc.unit(pair))
            .filter(|&u| u == 0x09 || u == 0x0A || u == 0x0D || (0x20..0x7F).contains(&u))
            .count();
        (texty * 10 >= units * 9).then_some(enc)
    })
}

/// The text as UTF-8; unpaired surrogates and a trailing odd byte become U+FFFD.
#[must_use]
pub fn transcode(data: &[u8], enc: Utf16) -> String {
    let body = enc.body(data);
    let units = body.chunks_exact(2).map(|pair| enc.unit(pair));
    let mut text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if body.len() % 2 == 1 {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    text
}

/// Byte offset in the UTF-16 original of byte offset `utf8_offset` in its transcoding.
#[must_use]
pub fn original_offset(text: &str, utf8_offset: usize, enc: Utf16) -> usize {
    let head = text.get(..utf8_offset).unwrap_or(text);
    let bom = if enc.bom { 2 } else { 0 };
    bom + head.chars().map(|c| c.len_utf16() * 2).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, little_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let units = (if bom { vec![0xFEFF] } else { vec![] })
            .into_iter()
            .chain(text.encode_utf16());
        for u in units {
            out.extend(if little_endian {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            });
        }
        out
    }

    #[test]
    fn detects_all_four_forms_and_round_trips() {
        let text = "# settings written by a Windows tool\r\nkey = value\r\nsecond line ünï 𝄞\r\n";
        for little_endian in [true, false] {
            for bom in [true, false] {
                let data = encode(text, little_endian, bom);
                let enc = detect(&data).expect("detected");
                assert_eq!((enc.little_endian, enc.bom), (little_endian, bom));
                assert_eq!(transcode(&data, enc), text);
                let at = text.find("second").unwrap();
                let original = original_offset(text, at, enc);
                let expected = if bom { 2 } else { 0 } + text[..at].encode_utf16().count() * 2;
                assert_eq!(original, expected);
            }
        }
    }

    #[test]
    fn binary_with_nul_bytes_is_not_text() {
        let png_like: Vec<u8> = (0u8..=255).cycle().take(4000).collect();
        assert_eq!(detect(&png_like), None);
        let numbers: Vec<u8> = (0u16..2000)
            .flat_map(|n| n.wrapping_mul(37).to_le_bytes())
            .collect();
        assert_eq!(detect(&numbers), None);
        assert_eq!(detect(b"a\0b\0"), None);
    }
}
