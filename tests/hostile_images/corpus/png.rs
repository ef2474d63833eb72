//! PNG files written by hand, for the kinds the `image` encoder cannot write (palette,
//! interlaced, 1-bit) and for headers that lie about the size: stored (uncompressed) zlib, rows
//! unfiltered, chunks with their CRCs.

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// Packs samples of `depth` bits (≤ 8) MSB first, a row at a time.
fn pack_row(samples: &[u8], depth: u8) -> Vec<u8> {
    if depth == 8 {
        return samples.to_vec();
    }
    let mut out = vec![0u8; (samples.len() * depth as usize).div_ceil(8)];
    for (i, &s) in samples.iter().enumerate() {
        let bit = i * depth as usize;
        out[bit / 8] |= (s & ((1 << depth) - 1)) << (8 - depth as usize - bit % 8);
    }
    out
}

/// A PNG of `depth`-bit samples of colour type `color` (0 gray, 2 RGB, 3 palette; for RGB the
/// sample function gives the value of every channel), Adam7-interlaced or not, rows unfiltered.
fn png_from_samples(
    w: u32,
    h: u32,
    depth: u8,
    color: u8,
    interlaced: bool,
    extra: &[(&[u8; 4], Vec<u8>)],
    sample: impl Fn(u32, u32) -> u8,
) -> Vec<u8> {
    let per_pixel = if color == 2 { 3 } else { 1 };
    let mut raw = Vec::new();
    let row = |xs: &mut dyn Iterator<Item = u32>, y: u32, raw: &mut Vec<u8>| {
        let samples: Vec<u8> = xs
            .flat_map(|x| std::iter::repeat_n(sample(x, y), per_pixel))
            .collect();
        raw.push(0);
        raw.extend(pack_row(&samples, depth));
    };
    if interlaced {
        for (x0, dx, y0, dy) in [
            (0, 8, 0, 8),
            (4, 8, 0, 8),
            (0, 4, 4, 8),
            (2, 4, 0, 4),
            (0, 2, 2, 4),
            (1, 2, 0, 2),
            (0, 1, 1, 2),
        ] {
            if x0 >= w || y0 >= h {
                continue;
            }
            for y in (y0..h).step_by(dy) {
                row(&mut (x0..w).step_by(dx as usize), y, &mut raw);
            }
        }
    } else {
        for y in 0..h {
            row(&mut (0..w), y, &mut raw);
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, u8::from(interlaced)]);
    chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in extra {
        chunk(&mut out, kind, data);
    }
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

pub(super) fn raw_png(
    w: u32,
    h: u32,
    depth: u8,
    color: u8,
    interlaced: bool,
    sample: impl Fn(u32, u32) -> u8,
) -> Vec<u8> {
    png_from_samples(w, h, depth, color, interlaced, &[], sample)
}

/// An indexed-colour PNG of `depth` bits with a 16-entry palette (and transparency).
pub(super) fn palette_png(w: u32, h: u32, depth: u8, trns: bool) -> Vec<u8> {
    let palette: Vec<u8> = (0..16u8)
        .flat_map(|i| [i * 16, 255 - i * 16, i * 7])
        .collect();
    let mut extra: Vec<(&[u8; 4], Vec<u8>)> = vec![(b"PLTE", palette)];
    if trns {
        extra.push((b"tRNS", (0..16u8).map(|i| i * 17).collect()));
    }
    png_from_samples(w, h, depth, 3, false, &extra, |x, y| {
        ((x + 3 * y) % 16) as u8
    })
}

/// `png` with its IHDR saying `w × h` (CRC fixed).
pub(super) fn with_png_size(png: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = png.to_vec();
    out[16..20].copy_from_slice(&w.to_be_bytes());
    out[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&[&out[12..29]]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}
