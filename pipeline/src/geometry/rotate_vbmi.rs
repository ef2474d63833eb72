//! The RGB bilinear run of a rotation by up to about 16° (the standard chain's 15° included) with
//! AVX-512 VBMI (AMD Zen 4, Intel Ice Lake and later): eight pixels a pass, their source
//! neighbours picked out of four rows loaded whole instead of fetched pixel by pixel. The same
//! integers as [`super::rotate`]'s scalar rule.
//!
//! Eight consecutive samples of such a rotation lie within three source rows and nine columns,
//! so their four neighbours lie within a block of four rows of 30 bytes. The pass loads that
//! block (four masked loads, which touch no byte outside it), then per channel one two-table
//! byte permute (`vpermi2b`) puts each sample's left and right neighbours, top and bottom, into
//! 16-bit lanes for one `pmaddwd` with the horizontal weights; the vertical weights follow in
//! 32-bit lanes, and one more permute packs the eight RGB samples for a masked 24-byte store.
//! On the AVX2 path each sample's two rows take a scalar 64-bit load each and the lanes are
//! assembled by inserts: sixteen loads and as many inserts a pass that this one does without.

use std::arch::x86_64::*;

use super::rotate::{ROT_FRAC, lerp_rgb_run_avx2};

/// Whether [`lerp_rgb_run_vbmi`] takes a run of `n` samples from `(sx, sy)` by `step` over
/// `len` bytes of rows of `stride` with its own passes (else it hands the run to the AVX2 path):
/// at least eight samples; a step small enough that eight samples span at most three rows and
/// nine columns (`|sin| ≤ 2/7`, `|cos| ≤ 8/7` of a pixel); coordinates that fit the 32-bit
/// lanes; and every sample's four neighbours within the data.
pub(super) fn vbmi_applies(
    len: usize,
    stride: usize,
    (sx, sy): (i64, i64),
    (step_x, step_y): (i64, i64),
    n: usize,
) -> bool {
    let one = 1i64 << ROT_FRAC;
    if n < 8 || 7 * step_y.abs() > 2 * one || 7 * step_x.abs() > 8 * one {
        return false;
    }
    let fits_i32 = |v: i64| i32::try_from(v).is_ok();
    let last = n as i64 - 1;
    // The lanes are stepped eight samples past the last whole pass before the loop ends.
    let (ex, ey) = (sx + last * step_x, sy + last * step_y);
    let lanes_fit = [sx, sy, ex + 8 * step_x, ey + 8 * step_y]
        .into_iter()
        .all(fits_i32);
    // Coordinates are monotone along the run: its ends bound every sample's column and row.
    let (c0, c1) = (sx >> ROT_FRAC, ex >> ROT_FRAC);
    let (r0, r1) = (sy >> ROT_FRAC, ey >> ROT_FRAC);
    if !lanes_fit || c0.min(c1) < 0 || r0.min(r1) < 0 {
        return false;
    }
    // The last byte any pass loads: the right neighbour's blue of the lowest, rightmost sample.
    let far = (r0.max(r1) as usize + 1)
        .checked_mul(stride)
        .and_then(|row| row.checked_add(c0.max(c1) as usize * 3 + 6));
    far.is_some_and(|end| end <= len)
}

/// [`super::rotate::lerp_rgb_run`] with AVX-512 VBMI where [`vbmi_applies`], else the AVX2 path.
/// A run whose length is not a multiple of eight ends with a pass over its last eight samples.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
pub(super) fn lerp_rgb_run_vbmi(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    (sx, sy): (i64, i64),
    (step_x, step_y): (i64, i64),
) {
    let n = run.len() / 3;
    if !vbmi_applies(data.len(), stride, (sx, sy), (step_x, step_y), n) {
        lerp_rgb_run_avx2(data, stride, run, (sx, sy), (step_x, step_y));
        return;
    }
    // Byte `j` of a channel's permute index: sample `k = (j mod 32) / 4`, its top row in the
    // low 32 bytes and its bottom row (32 bytes further in the block) in the high 32, its left
    // neighbour in even 16-bit lanes and its right one (3 bytes on) in odd ones; `+ c` picks
    // the channel. Only even bytes are kept (the zero-masked odd ones are the lanes' high bytes).
    let spread: [u8; 64] = std::array::from_fn(|j| ((j % 32) / 4) as u8);
    let lane = |c: usize| -> [u8; 64] {
        std::array::from_fn(|j| ((j / 32) * 32 + ((j / 2) % 2) * 3 + c) as u8)
    };
    let load64 = |b: &[u8; 64]| {
        #[allow(unsafe_code)]
        // SAFETY: a 64-byte unaligned load from a 64-byte array.
        let v = unsafe { _mm512_loadu_si512(b.as_ptr().cast()) };
        v
    };
    let spread = load64(&spread);
    let channels = [0, 1, 2].map(|c| load64(&lane(c)));
    const LOW_BYTES: __mmask64 = 0x5555_5555_5555_5555;
    // Bytes 0, 1, 2 of each 32-bit lane (red, green, blue), side by side.
    let pack: [u8; 32] =
        std::array::from_fn(|i| if i < 24 { (i / 3 * 4 + i % 3) as u8 } else { 0 });
    #[allow(unsafe_code)]
    // SAFETY: a 32-byte unaligned load from a 32-byte array.
    let pack = unsafe { _mm256_loadu_si256(pack.as_ptr().cast()) };
    let byte = _mm256_set1_epi32(0xFF);
    let w256 = _mm256_set1_epi32(256);
    let half = _mm256_set1_epi32(1 << 15);
    // Lane `k` of a pass from `(x, y)`: `(x + k·step_x, y + k·step_y)`.
    let steps = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let (lanes_x, lanes_y) = (
        _mm256_mullo_epi32(steps, _mm256_set1_epi32(step_x as i32)),
        _mm256_mullo_epi32(steps, _mm256_set1_epi32(step_y as i32)),
    );
    let fraction =
        |v: __m256i| _mm256_and_si256(_mm256_srli_epi32::<{ (ROT_FRAC - 8) as i32 }>(v), byte);
    let (span_x, span_y) = (7 * step_x, 7 * step_y);
    let lanes = |x: i64, y: i64| {
        (
            _mm256_add_epi32(_mm256_set1_epi32(x as i32), lanes_x),
            _mm256_add_epi32(_mm256_set1_epi32(y as i32), lanes_y),
        )
    };
    // One pass: the eight samples from `(x, y)` into `out`, their coordinates `(vx, vy)`.
    let pass = |out: &mut [u8; 24], (x, y): (i64, i64), (vx, vy): (__m256i, __m256i)| {
        // The block: rows `top..top + rows`, columns `left..` (the ends of the pass bound them).
        let (x0, x7) = (x >> ROT_FRAC, (x + span_x) >> ROT_FRAC);
        let (y0, y7) = (y >> ROT_FRAC, (y + span_y) >> ROT_FRAC);
        let (left, top) = (x0.min(x7), y0.min(y7));
        let rows = (y0.max(y7) - top + 2) as usize;
        let mask: __mmask32 = (1u32 << ((x0.max(x7) - left + 2) * 3)) - 1;
        let start = top as usize * stride + left as usize * 3;
        // Rows past the block's last repeat it: every load stays within the block.
        let row = |i: usize| {
            let at = start + i.min(rows - 1) * stride;
            #[allow(unsafe_code)]
            // SAFETY: `vbmi_applies` put every sample's neighbours within `data`; the block
            // holds only bytes of those (rows `top..=bottom + 1`, columns `left..=right + 1`),
            // and the mask loads no other byte of the 32.
            let v = unsafe { _mm256_maskz_loadu_epi8(mask, data.as_ptr().add(at).cast()) };
            v
        };
        let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
        let table_lo = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(r0), r1);
        let table_hi = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(r2), r3);
        // Each sample's top-left byte within the block, spread to its 8 index bytes.
        let dx = _mm256_sub_epi32(
            _mm256_srai_epi32::<{ ROT_FRAC as i32 }>(vx),
            _mm256_set1_epi32(left as i32),
        );
        let dy = _mm256_sub_epi32(
            _mm256_srai_epi32::<{ ROT_FRAC as i32 }>(vy),
            _mm256_set1_epi32(top as i32),
        );
        let at = _mm256_add_epi32(
            _mm256_slli_epi32::<5>(dy),
            _mm256_add_epi32(dx, _mm256_slli_epi32::<1>(dx)),
        );
        let at = _mm512_permutexvar_epi8(spread, _mm512_castsi128_si512(_mm256_cvtepi32_epi8(at)));
        let (ax, ay) = (fraction(vx), fraction(vy));
        let wx = _mm512_broadcast_i64x4(_mm256_or_si256(
            _mm256_sub_epi32(w256, ax),
            _mm256_slli_epi32::<16>(ax),
        ));
        let wy_top = _mm256_sub_epi32(w256, ay);
        // Per channel: `(left, right)` pairs of the top rows, then of the bottom rows, weighted
        // horizontally into `[t | b]`, then `t·(256 − ay) + b·ay + ½`: the value in bits 16..24.
        let channel = |c: usize| {
            let index = _mm512_add_epi8(at, channels[c]);
            let pairs = _mm512_maskz_permutex2var_epi8(LOW_BYTES, table_lo, index, table_hi);
            let sums = _mm512_madd_epi16(pairs, wx);
            let (t, b) = (
                _mm512_castsi512_si256(sums),
                _mm512_extracti64x4_epi64::<1>(sums),
            );
            _mm256_add_epi32(
                _mm256_add_epi32(_mm256_mullo_epi32(t, wy_top), _mm256_mullo_epi32(b, ay)),
                half,
            )
        };
        let (r, g, b) = (channel(0), channel(1), channel(2));
        let rgb = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_srli_epi32::<16>(r),
                _mm256_and_si256(_mm256_srli_epi32::<8>(g), _mm256_set1_epi32(0xFF00)),
            ),
            _mm256_and_si256(b, _mm256_set1_epi32(0xFF_0000)),
        );
        let packed = _mm256_permutexvar_epi8(pack, rgb);
        #[allow(unsafe_code)]
        // SAFETY: the mask stores the low 24 bytes, into the 24-byte `out`.
        unsafe {
            _mm256_mask_storeu_epi8(out.as_mut_ptr().cast(), 0x00FF_FFFF, packed)
        };
    };
    let (mut x, mut y) = (sx, sy);
    let (mut vx, mut vy) = lanes(sx, sy);
    let step8 = (
        _mm256_set1_epi32((step_x * 8) as i32),
        _mm256_set1_epi32((step_y * 8) as i32),
    );
    let (octets, rest) = run.as_chunks_mut::<24>();
    for out in octets.iter_mut() {
        pass(out, (x, y), (vx, vy));
        (x, y) = (x + 8 * step_x, y + 8 * step_y);
        (vx, vy) = (_mm256_add_epi32(vx, step8.0), _mm256_add_epi32(vy, step8.1));
    }
    if !rest.is_empty() {
        // The last eight samples again (`n ≥ 8`): the pass rewrites some with the same bytes.
        let last = (sx + (n as i64 - 8) * step_x, sy + (n as i64 - 8) * step_y);
        let out = (&mut run[(n - 8) * 3..n * 3]).try_into();
        pass(out.expect("24 bytes"), last, lanes(last.0, last.1));
    }
}
