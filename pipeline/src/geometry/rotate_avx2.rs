//! The RGB bilinear runs of a rotation in AVX2 (eight pixels a pass) and SSSE3 (one pixel a
//! pass), the same integers as [`super::rotate`]'s scalar rule, and the 32-bit lane helpers the
//! AVX-512 VBMI runs (`rotate_vbmi`) share with them.

use std::arch::x86_64::*;

use super::rotate::{ROT_FRAC, lerp_pixel, weight};

/// The coordinates of eight samples from `(sx, sy)` by `step` in 32-bit lanes, sample `k` in
/// lane `k` (the caller has checked that they fit).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn sample_lanes(
    (sx, sy): (i64, i64),
    (step_x, step_y): (i64, i64),
) -> (__m256i, __m256i) {
    let steps = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let lanes = |v: i64, step: i64| {
        _mm256_add_epi32(
            _mm256_set1_epi32(v as i32),
            _mm256_mullo_epi32(steps, _mm256_set1_epi32(step as i32)),
        )
    };
    (lanes(sx, step_x), lanes(sy, step_y))
}

/// The bilinear weight `a` (0..=255, of 256) of the right or lower neighbour at each of the
/// 16.16 coordinates `v` ([`weight`] lane by lane).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn fractions(v: __m256i) -> __m256i {
    _mm256_and_si256(
        _mm256_srli_epi32::<{ (ROT_FRAC - 8) as i32 }>(v),
        _mm256_set1_epi32(0xFF),
    )
}

/// Eight RGB samples, one in the low three bytes of each 32-bit lane, from their channels'
/// values in bits 16..24 of each lane.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn rgb_lanes(r: __m256i, g: __m256i, b: __m256i) -> __m256i {
    _mm256_or_si256(
        _mm256_or_si256(
            _mm256_srli_epi32::<16>(r),
            _mm256_and_si256(_mm256_srli_epi32::<8>(g), _mm256_set1_epi32(0xFF00)),
        ),
        _mm256_and_si256(b, _mm256_set1_epi32(0xFF_0000)),
    )
}

/// The weight pairs `(256 − a, a)` of the coordinates `v` as the 16-bit halves of each lane,
/// for `pmaddwd` against `(left, right)` or `(top, bottom)` pairs.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn weight_pairs(v: __m256i) -> __m256i {
    let a = fractions(v);
    _mm256_or_si256(
        _mm256_sub_epi32(_mm256_set1_epi32(256), a),
        _mm256_slli_epi32::<16>(a),
    )
}

/// [`lerp_run`](super::rotate::lerp_run) for 3 channels with SSSE3, the same integers as
/// [`lerp`](super::rotate::lerp): each row's eight bytes at the pixel (its two neighbours and
/// two more) loaded side by side and shuffled into 16-bit channel pairs, each row weighted by
/// one `pmaddwd`; the row sums, less 32768 to fit 16-bit lanes, paired and weighted by another,
/// the 32768·256 added back before rounding. A pixel whose bottom row has fewer than eight
/// bytes left takes [`lerp`](super::rotate::lerp).
#[target_feature(enable = "ssse3")]
pub(super) fn lerp_rgb_run_ssse3(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    (mut sx, mut sy): (i64, i64),
    (step_x, step_y): (i64, i64),
) {
    // [l0 l1 l2 r0 r1 r2 · ·] of the top row (low half) and the bottom row (high half) into
    // 16-bit pairs (l_c, r_c) of one row.
    let top_pairs = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    let bot_pairs = _mm_setr_epi8(8, -1, 11, -1, 9, -1, 12, -1, 10, -1, 13, -1, -1, -1, -1, -1);
    // Row sums [t0 t1 t2 · b0 b1 b2 ·] (16-bit) into pairs (t_c, b_c).
    let rows = _mm_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, -1, -1, -1, -1);
    // The low byte of the first three 32-bit lanes.
    let low_bytes = _mm_setr_epi8(0, 4, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    let offset = _mm_set1_epi32(1 << 15);
    let round = _mm_set1_epi32((1 << 23) + (1 << 15));
    for px in run.as_chunks_mut::<3>().0 {
        let i = (sy >> ROT_FRAC) as usize * stride + (sx >> ROT_FRAC) as usize * 3;
        let (ax, ay) = (weight(sx), weight(sy));
        sx += step_x;
        sy += step_y;
        let (Some(top), Some(bot)) = (
            data[i..].first_chunk::<8>(),
            data[i + stride..].first_chunk::<8>(),
        ) else {
            lerp_pixel(data, stride, i, (ax, ay), px);
            continue;
        };
        let both = _mm_set_epi64x(i64::from_le_bytes(*bot), i64::from_le_bytes(*top));
        let wx = _mm_set1_epi32((ax << 16 | (256 - ax)) as i32);
        let t = _mm_madd_epi16(_mm_shuffle_epi8(both, top_pairs), wx);
        let b = _mm_madd_epi16(_mm_shuffle_epi8(both, bot_pairs), wx);
        let sums = _mm_packs_epi32(_mm_sub_epi32(t, offset), _mm_sub_epi32(b, offset));
        let wy = _mm_set1_epi32((ay << 16 | (256 - ay)) as i32);
        let v = _mm_madd_epi16(_mm_shuffle_epi8(sums, rows), wy);
        let v = _mm_srli_epi32::<16>(_mm_add_epi32(v, round));
        let v = _mm_cvtsi128_si32(_mm_shuffle_epi8(v, low_bytes));
        px.copy_from_slice(&v.to_le_bytes()[..3]);
    }
}

/// [`lerp_rgb_run_ssse3`] eight pixels at a time: the eight source coordinates stepped in
/// 32-bit lanes, each pixel's eight bytes of its top and bottom rows fetched by a 64-bit
/// load each (these sixteen scalar loads ran 15–20% faster than four `vpgatherdq` on AMD
/// Zen 3, whose gathers are slow), then per channel the `(left, right)` bytes paired into
/// 16-bit lanes and weighted by `pmaddwd` as in the one-pixel pass (the same integers as
/// [`lerp`](super::rotate::lerp)). The run's loads are bounds-checked once, from its two ends;
/// a run too close to the end of the data (the bottom row's last pair has fewer than eight
/// bytes after it), one whose offsets or coordinates would not fit 32 bits, and the last pixels
/// of a run short of eight take [`lerp_rgb_run_ssse3`].
#[target_feature(enable = "avx2")]
pub(super) fn lerp_rgb_run_avx2(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    (sx, sy): (i64, i64),
    (step_x, step_y): (i64, i64),
) {
    let n = run.len() / 3;
    let fits_i32 = |v: i64| i32::try_from(v).is_ok();
    let last = n as i64 - 1;
    // Coordinates are monotone along the run: its ends (and one step of eight beyond, where
    // the lanes are stepped to before the loop ends) bound every value the lanes hold.
    let lanes_fit = [sx, sy, sx + (last + 8) * step_x, sy + (last + 8) * step_y]
        .into_iter()
        .all(fits_i32)
        && fits_i32(step_x * 8)
        && fits_i32(step_y * 8);
    if n < 8
        || !lanes_fit
        || data.len() > i32::MAX as usize
        || !loads_fit(data.len(), stride, (sx, sy), (step_x, step_y), n)
    {
        lerp_rgb_run_ssse3(data, stride, run, (sx, sy), (step_x, step_y));
        return;
    }
    // Byte `c` and byte `c + 3` (a channel of the left and right neighbours) of each 64-bit
    // element, as 16-bit pairs: into the low eight bytes of each 128-bit half from the
    // vector of pixels (0, 1 | 4, 5), into the high eight from that of (2, 3 | 6, 7), so the
    // 32-bit lanes hold pixels 0..8 in order.
    let pairs = |c: u8| i64::from_le_bytes([c, 0x80, c + 3, 0x80, c + 8, 0x80, c + 11, 0x80]);
    let none = -1i64; // shuffle indices with the high bit set: zero bytes
    let low = [0, 1, 2].map(|c| _mm256_broadcastsi128_si256(_mm_set_epi64x(none, pairs(c))));
    let high = [0, 1, 2].map(|c| _mm256_broadcastsi128_si256(_mm_set_epi64x(pairs(c), none)));
    let offset = _mm256_set1_epi32(1 << 15);
    let round = _mm256_set1_epi32((1 << 23) + (1 << 15));
    let low16 = _mm256_set1_epi32(0xFFFF);
    let stride32 = _mm256_set1_epi32(stride as i32);
    let three = _mm256_set1_epi32(3);
    // The four bytes of each lane's RGB (and a zero) packed into twelve bytes a half, then the
    // halves' twelve side by side.
    let pack = _mm256_broadcastsi128_si256(_mm_setr_epi8(
        0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
    ));
    let join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    let (mut vx, mut vy) = sample_lanes((sx, sy), (step_x, step_y));
    let (step8_x, step8_y) = (
        _mm256_set1_epi32((step_x * 8) as i32),
        _mm256_set1_epi32((step_y * 8) as i32),
    );
    let top = data.as_ptr();
    let bottom = top.wrapping_add(stride);
    let (octets, rest) = run.as_chunks_mut::<24>();
    for out in octets.iter_mut() {
        let offsets = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_srai_epi32::<{ ROT_FRAC as i32 }>(vy), stride32),
            _mm256_mullo_epi32(_mm256_srai_epi32::<{ ROT_FRAC as i32 }>(vx), three),
        );
        let mut o = [0i32; 8];
        #[allow(unsafe_code)]
        // SAFETY: a 32-byte unaligned store into a 32-byte array.
        unsafe {
            _mm256_storeu_si256(o.as_mut_ptr().cast(), offsets)
        };
        #[allow(unsafe_code)]
        // SAFETY: every offset is the top-left byte of a pixel of the run, so `loads_fit`
        // (checked above) puts its eight bytes and the eight a row below within `data`.
        let rows = unsafe {
            let at =
                |base: *const u8, k: usize| base.add(o[k] as usize).cast::<i64>().read_unaligned();
            [
                _mm256_set_epi64x(at(top, 5), at(top, 4), at(top, 1), at(top, 0)),
                _mm256_set_epi64x(at(top, 7), at(top, 6), at(top, 3), at(top, 2)),
                _mm256_set_epi64x(at(bottom, 5), at(bottom, 4), at(bottom, 1), at(bottom, 0)),
                _mm256_set_epi64x(at(bottom, 7), at(bottom, 6), at(bottom, 3), at(bottom, 2)),
            ]
        };
        let (wx, wy) = (weight_pairs(vx), weight_pairs(vy));
        vx = _mm256_add_epi32(vx, step8_x);
        vy = _mm256_add_epi32(vy, step8_y);
        let channel = |c: usize| {
            let row = |a: __m256i, b: __m256i| {
                let lr = _mm256_or_si256(
                    _mm256_shuffle_epi8(a, low[c]),
                    _mm256_shuffle_epi8(b, high[c]),
                );
                _mm256_sub_epi32(_mm256_madd_epi16(lr, wx), offset)
            };
            let (t, b) = (row(rows[0], rows[1]), row(rows[2], rows[3]));
            let tb = _mm256_or_si256(_mm256_and_si256(t, low16), _mm256_slli_epi32::<16>(b));
            // The value in bits 16..24.
            _mm256_add_epi32(_mm256_madd_epi16(tb, wy), round)
        };
        let rgb = rgb_lanes(channel(0), channel(1), channel(2));
        let packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(rgb, pack), join);
        let mut bytes = [0u8; 32];
        #[allow(unsafe_code)]
        // SAFETY: a 32-byte unaligned store into a 32-byte array.
        unsafe {
            _mm256_storeu_si256(bytes.as_mut_ptr().cast(), packed)
        };
        out.copy_from_slice(&bytes[..24]);
    }
    let done = (octets.len() * 8) as i64;
    let at = (sx + done * step_x, sy + done * step_y);
    lerp_rgb_run_ssse3(data, stride, rest, at, (step_x, step_y));
}

/// Whether every pixel of a run of `n` RGB samples from `(sx, sy)` by `step` has its eight
/// bytes at the top-left neighbour and eight at the one below within `len` bytes (rows of
/// `stride`). A sample's source row and column are monotone along the run, so the two ends
/// bound them all.
fn loads_fit(len: usize, stride: usize, (sx, sy): (i64, i64), step: (i64, i64), n: usize) -> bool {
    let last = n.saturating_sub(1) as i64;
    let (ex, ey) = (sx + last * step.0, sy + last * step.1);
    let (c0, c1) = (sx >> ROT_FRAC, ex >> ROT_FRAC);
    let (r0, r1) = (sy >> ROT_FRAC, ey >> ROT_FRAC);
    if c0.min(c1) < 0 || r0.min(r1) < 0 {
        return false;
    }
    let far = r0.max(r1) as usize * stride + c0.max(c1) as usize * 3;
    far.checked_add(stride + 8).is_some_and(|end| end <= len)
}
