//! Crops of a window that may reach outside the image, padded with a constant or by
//! reflection (row copies for the in-range part).

use crate::decode::Image;

/// How pixels outside the source are filled.
#[derive(Debug, Clone, Copy)]
pub enum Pad {
    /// A constant byte.
    Constant(u8),
    /// Mirror without repeating the edge (torchvision's `reflect`).
    Reflect,
}

/// Mirror index without edge repeat; `n >= 1`.
fn reflect(i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Copies the `w`×`h` window at (`x0`, `y0`) of `src` (may reach outside it: filled per `pad`)
/// into `dst`. Rows are copied with one `copy_from_slice` for the in-range part.
pub fn crop_into(src: &Image, x0: i64, y0: i64, w: u32, h: u32, pad: Pad, dst: &mut Image) {
    let c = src.channels as usize;
    let (sw, sh) = (i64::from(src.width), i64::from(src.height));
    dst.width = w;
    dst.height = h;
    dst.channels = src.channels;
    let row_len = w as usize * c;
    dst.data.resize(row_len * h as usize, 0);
    let stride = src.stride();
    // The in-range column span of the window.
    let lo = x0.clamp(0, sw);
    let hi = (x0 + i64::from(w)).clamp(0, sw);
    for (y, row) in dst.data.chunks_exact_mut(row_len).enumerate() {
        let sy = y0 + y as i64;
        let sy = match pad {
            Pad::Constant(fill) if sy < 0 || sy >= sh || sw == 0 => {
                row.fill(fill);
                continue;
            }
            Pad::Constant(_) => sy as usize,
            Pad::Reflect => reflect(sy, sh),
        };
        let srow = &src.data[sy * stride..(sy + 1) * stride];
        if hi > lo {
            let d0 = ((lo - x0) as usize) * c;
            row[d0..d0 + (hi - lo) as usize * c]
                .copy_from_slice(&srow[lo as usize * c..hi as usize * c]);
        }
        // Columns left and right of the in-range span.
        let outside =
            (0..(lo - x0).max(0).min(i64::from(w))).chain(((hi - x0).max(0))..i64::from(w));
        for x in outside {
            let d = &mut row[x as usize * c..(x as usize + 1) * c];
            match pad {
                Pad::Constant(fill) => d.fill(fill),
                Pad::Reflect => {
                    let sx = reflect(x0 + x, sw);
                    d.copy_from_slice(&srow[sx * c..(sx + 1) * c]);
                }
            }
        }
    }
}
