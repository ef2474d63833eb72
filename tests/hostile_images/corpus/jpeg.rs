//! JPEG files written by hand, for the kinds the `image` encoder cannot write (CMYK,
//! progressive) and for frame headers that lie about the size: flat 8×8 blocks (DC only) with a
//! four-bit DC Huffman table.

/// The Adobe APP14 colour transform of a hand-written JPEG.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Adobe {
    /// No APP14 segment (1 component: gray, 3: YCbCr).
    None,
    /// APP14 with transform 0: four components are CMYK.
    Cmyk,
}

struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }

    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let byte = self.acc as u8;
                self.out.push(byte);
                if byte == 0xFF {
                    self.out.push(0);
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

/// A DC difference: its category (4-bit Huffman code: the category itself) and extra bits.
fn put_dc(bits: &mut Bits, diff: i32) {
    let category = 32 - diff.unsigned_abs().leading_zeros();
    bits.put(category, 4);
    if category > 0 {
        let extra = if diff < 0 {
            diff + (1 << category) - 1
        } else {
            diff
        };
        bits.put(extra as u32, category);
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// A `w × h` JPEG of one flat value per component (every 8×8 block has only its DC
/// coefficient), baseline or progressive (a DC scan of every component, then one AC scan per
/// component coding end-of-band runs).
pub(super) fn flat_jpeg(w: u16, h: u16, values: &[u8], adobe: Adobe, progressive: bool) -> Vec<u8> {
    let nc = values.len();
    let blocks = usize::from(w.div_ceil(8)) * usize::from(h.div_ceil(8));
    let mut out = vec![0xFF, 0xD8];
    if adobe == Adobe::Cmyk {
        segment(
            &mut out,
            0xEE,
            &[b'A', b'd', b'o', b'b', b'e', 0, 100, 0, 0, 0, 0, 0],
        );
    }
    let mut dqt = vec![0u8];
    dqt.extend([1u8; 64]);
    segment(&mut out, 0xDB, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&h.to_be_bytes());
    sof.extend_from_slice(&w.to_be_bytes());
    sof.push(nc as u8);
    for c in 0..nc {
        sof.extend_from_slice(&[c as u8 + 1, 0x11, 0]);
    }
    segment(&mut out, if progressive { 0xC2 } else { 0xC0 }, &sof);
    // DC table 0: categories 0..=11, all 4-bit codes (code = category).
    let mut dht = vec![0x00];
    let mut counts = [0u8; 16];
    counts[3] = 12;
    dht.extend_from_slice(&counts);
    dht.extend(0..12u8);
    // AC table 0: one 2-bit code, "00", for symbol 0x00 (end of block / a run of one block).
    dht.push(0x10);
    let mut counts = [0u8; 16];
    counts[1] = 1;
    dht.extend_from_slice(&counts);
    dht.push(0x00);
    segment(&mut out, 0xC4, &dht);
    let dc = |v: u8| (i32::from(v) - 128) * 8;
    let sos = |out: &mut Vec<u8>, comps: &[usize], ss: u8, se: u8| {
        let mut s = vec![comps.len() as u8];
        for &c in comps {
            s.extend_from_slice(&[c as u8 + 1, 0x00]);
        }
        s.extend_from_slice(&[ss, se, 0]);
        segment(out, 0xDA, &s);
    };
    let all: Vec<usize> = (0..nc).collect();
    if progressive {
        sos(&mut out, &all, 0, 0);
        let mut bits = Bits::new();
        for block in 0..blocks {
            for &v in values {
                put_dc(&mut bits, if block == 0 { dc(v) } else { 0 });
            }
        }
        out.extend(bits.finish());
        for c in 0..nc {
            sos(&mut out, &[c], 1, 63);
            let mut bits = Bits::new();
            for _ in 0..blocks {
                bits.put(0, 2);
            }
            out.extend(bits.finish());
        }
    } else {
        sos(&mut out, &all, 0, 63);
        let mut bits = Bits::new();
        for block in 0..blocks {
            for &v in values {
                put_dc(&mut bits, if block == 0 { dc(v) } else { 0 });
                bits.put(0, 2);
            }
        }
        out.extend(bits.finish());
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// Where a JPEG's first scan's data begins.
pub(super) fn jpeg_scan_start(jpeg: &[u8]) -> usize {
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if jpeg[i + 1] == 0xDA {
            return i + 2 + len;
        }
        i += 2 + len;
    }
    jpeg.len()
}

/// `jpeg` with its frame header saying `w × h`.
pub(super) fn with_jpeg_size(jpeg: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let mut i = 2;
    while i + 9 <= out.len() {
        let marker = out[i + 1];
        let len = usize::from(u16::from_be_bytes([out[i + 2], out[i + 3]]));
        if matches!(marker, 0xC0..=0xC2) {
            out[i + 5..i + 7].copy_from_slice(&h.to_be_bytes());
            out[i + 7..i + 9].copy_from_slice(&w.to_be_bytes());
            return out;
        }
        i += 2 + len;
    }
    panic!("no frame header")
}
