//! The RGB runs of a rotation by up to about 16° (the standard chain's 15° included) with
//! AVX-512 VBMI (AMD Zen 4, Intel Ice Lake and later), bilinear and nearest: eight samples a
//! pass, their source pixels picked out of four rows loaded whole instead of fetched pixel by
//! pixel. The same bytes as [`super::rotate`]'s scalar rules.
//!
//! Eight consecutive samples of such a rotation lie within three source rows and nine columns,
//! so the pixels they read (with the right and lower neighbours, for bilinear) lie within a
//! block of four rows of 30 bytes. A pass loads that block (four masked loads, which touch no
//! byte outside it) as two 64-byte tables; byte permutes over both tables (`vpermi2b`) then
//! pick what each sample reads. Bilinear: per channel one permute puts each sample's left and
//! right neighbours, top and bottom, into 16-bit lanes for one `pmaddwd` with the horizontal
//! weights; the vertical weights follow in 32-bit lanes, and one more permute packs the eight
//! RGB samples' 24 bytes. Nearest: one permute picks the 24 bytes. On the AVX2
//! path each bilinear sample's two rows take a scalar 64-bit load each and the lanes are
//! assembled by inserts, sixteen loads and as many inserts a pass that this one does without;
//! the nearest rule elsewhere copies pixel by pixel.

use std::arch::x86_64::*;

use super::rotate::{ROT_FRAC, nearest_run};
use super::rotate_avx2::{fractions, lerp_rgb_run_avx2, rgb_lanes, sample_lanes, weight_pairs};

/// Whether the CPU has the AVX-512 features these runs need (VBMI, with the
/// foundation, byte-and-word and 256-bit-length ones it builds on).
pub(super) fn has_vbmi() -> bool {
    std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx2")
}

/// The neighbours below and to the right that a sample reads besides its top-left pixel:
/// 1 for bilinear, 0 for nearest (whose coordinates come rounded, as top-left ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Reach {
    Bilinear = 1,
    Nearest = 0,
}

/// Whether the VBMI passes take a run of `n` samples from `(sx, sy)` by `step` over `len`
/// bytes of rows of `stride` (else it takes the other path): at least eight samples; a step
/// small enough that eight samples span at most three rows and nine columns (`|sin| ≤ 2/7`,
/// `|cos| ≤ 8/7` of a pixel); coordinates that fit the 32-bit lanes; and every pixel a sample
/// reads within the data.
pub(super) fn vbmi_applies(
    len: usize,
    stride: usize,
    (sx, sy): (i64, i64),
    (step_x, step_y): (i64, i64),
    n: usize,
    reach: Reach,
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
    // One past the last byte any pass loads: the blue of the lowest, rightmost pixel read.
    let reach = reach as usize;
    let far = (r0.max(r1) as usize + reach)
        .checked_mul(stride)
        .and_then(|row| row.checked_add((c0.max(c1) as usize + reach) * 3 + 3));
    far.is_some_and(|end| end <= len)
}

/// The block of source pixels one pass reads, as two 64-byte tables of two 32-byte rows each
/// (`lo`: rows 0 and 1, `hi`: rows 2 and 3; rows past the block's last repeat it), and each
/// sample's top-left byte within the tables (`at`, eight bytes).
struct Block {
    lo: __m512i,
    hi: __m512i,
    at: __m128i,
}

/// The block a pass of eight samples from `(x, y)` (lanes `(vx, vy)`, the last sample at
/// `(x, y) + span`) reads: rows `top..=bottom + reach`, columns `left..=right + reach` of the
/// samples' top-left pixels.
///
/// # Safety
/// The run the pass belongs to is one [`vbmi_applies`] to with this `reach`.
#[inline]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn block(
    data: &[u8],
    stride: usize,
    (x, y): (i64, i64),
    (span_x, span_y): (i64, i64),
    (vx, vy): (__m256i, __m256i),
    reach: Reach,
) -> Block {
    let reach = reach as i64;
    let (x0, x7) = (x >> ROT_FRAC, (x + span_x) >> ROT_FRAC);
    let (y0, y7) = (y >> ROT_FRAC, (y + span_y) >> ROT_FRAC);
    let (left, top) = (x0.min(x7), y0.min(y7));
    let rows = (y0.max(y7) - top + 1 + reach) as usize;
    let mask: __mmask32 = (1u32 << ((x0.max(x7) - left + 1 + reach) * 3)) - 1;
    let start = top as usize * stride + left as usize * 3;
    let row = |i: usize| {
        let at = start + i.min(rows - 1) * stride;
        // SAFETY: the run is one `vbmi_applies` to (the contract), so every pixel its samples
        // read lies within `data`; the block holds only such pixels, and the mask loads no
        // other byte of the 32.
        unsafe { _mm256_maskz_loadu_epi8(mask, data.as_ptr().add(at).cast()) }
    };
    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
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
    Block {
        lo: _mm512_inserti64x4::<1>(_mm512_castsi256_si512(r0), r1),
        hi: _mm512_inserti64x4::<1>(_mm512_castsi256_si512(r2), r3),
        at: _mm256_cvtepi32_epi8(at),
    }
}

/// Runs `pass` over a run of samples from `at` by `step` (in `data`, rows of `stride`) where
/// [`vbmi_applies`] with `reach`, and stores what it gives (the eight samples' 24 bytes, low in
/// the vector); false, and nothing written, where not. `pass` gets each eight samples' block
/// and their coordinates in 32-bit lanes: each eight in turn, then, when the run's length is
/// not a multiple of eight, its last eight (rewriting some with the same bytes).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
fn passes(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    (sx, sy): (i64, i64),
    (step_x, step_y): (i64, i64),
    reach: Reach,
    mut pass: impl FnMut(Block, (__m256i, __m256i)) -> __m256i,
) -> bool {
    let n = run.len() / 3;
    if !vbmi_applies(data.len(), stride, (sx, sy), (step_x, step_y), n, reach) {
        return false;
    }
    let span = (7 * step_x, 7 * step_y);
    let mut one = |out: &mut [u8; 24], at: (i64, i64), lanes: (__m256i, __m256i)| {
        #[allow(unsafe_code)]
        // SAFETY: the run is one `vbmi_applies` to with this reach (checked above).
        let block = unsafe { block(data, stride, at, span, lanes, reach) };
        let v = pass(block, lanes);
        #[allow(unsafe_code)]
        // SAFETY: the mask stores the low 24 bytes, into the 24-byte `out`.
        unsafe {
            _mm256_mask_storeu_epi8(out.as_mut_ptr().cast(), 0x00FF_FFFF, v)
        };
    };
    let (mut x, mut y) = (sx, sy);
    let (mut vx, mut vy) = sample_lanes((sx, sy), (step_x, step_y));
    let step8 = (
        _mm256_set1_epi32((step_x * 8) as i32),
        _mm256_set1_epi32((step_y * 8) as i32),
    );
    let (octets, rest) = run.as_chunks_mut::<24>();
    for out in octets.iter_mut() {
        one(out, (x, y), (vx, vy));
        (x, y) = (x + 8 * step_x, y + 8 * step_y);
        (vx, vy) = (_mm256_add_epi32(vx, step8.0), _mm256_add_epi32(vy, step8.1));
    }
    if !rest.is_empty() {
        let last = (sx + (n as i64 - 8) * step_x, sy + (n as i64 - 8) * step_y);
        let out = (&mut run[(n - 8) * 3..n * 3]).try_into().expect("24 bytes");
        one(out, last, sample_lanes(last, (step_x, step_y)));
    }
    true
}

/// 64 bytes, byte `j` the value of `$e` (of `$j`), built at compile time.
macro_rules! bytes64 {
    (|$j:ident| $e:expr) => {{
        let mut t = [0u8; 64];
        let mut $j = 0;
        while $j < 64 {
            t[$j] = $e;
            $j += 1;
        }
        t
    }};
}

/// Byte `j` of a bilinear pass's permute index before `+ at` (the sample's top-left byte):
/// sample `k = (j mod 32) / 4`'s top row in the low 32 bytes and its bottom row (32 bytes
/// further in the block) in the high 32, its left neighbour in even 16-bit lanes and its right
/// one (3 bytes on) in odd ones, channel `c`. Only even bytes are kept (the zero-masked odd
/// ones are the lanes' high bytes). `BILINEAR_SAMPLE[j]` is `k`.
const BILINEAR_SAMPLE: [u8; 64] = bytes64!(|j| ((j % 32) / 4) as u8);
const BILINEAR_CHANNEL: [[u8; 64]; 3] = [
    bytes64!(|j| ((j / 32) * 32 + ((j / 2) % 2) * 3) as u8),
    bytes64!(|j| ((j / 32) * 32 + ((j / 2) % 2) * 3 + 1) as u8),
    bytes64!(|j| ((j / 32) * 32 + ((j / 2) % 2) * 3 + 2) as u8),
];
/// Bytes 0, 1, 2 of each 32-bit lane (red, green, blue), side by side (the first 24 bytes).
const PACK_RGB: [u8; 64] = bytes64!(|i| if i < 24 { (i / 3 * 4 + i % 3) as u8 } else { 0 });
/// Byte `i < 24` of a nearest pass's output: channel `i mod 3` of sample `i / 3`.
const NEAREST_SAMPLE: [u8; 64] = bytes64!(|i| (if i < 24 { i / 3 } else { 0 }) as u8);
const NEAREST_CHANNEL: [u8; 64] = bytes64!(|i| (i % 3) as u8);

/// A 64-byte constant.
#[inline]
#[target_feature(enable = "avx512f")]
fn load64(bytes: &[u8; 64]) -> __m512i {
    #[allow(unsafe_code)]
    // SAFETY: a 64-byte unaligned load from a 64-byte array.
    unsafe {
        _mm512_loadu_si512(bytes.as_ptr().cast())
    }
}

/// [`super::rotate::lerp_rgb_run`] with AVX-512 VBMI where [`vbmi_applies`], else the AVX2 path.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
pub(super) fn lerp_rgb_run_vbmi(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    at: (i64, i64),
    step: (i64, i64),
) {
    const LOW_BYTES: __mmask64 = 0x5555_5555_5555_5555;
    let spread = load64(&BILINEAR_SAMPLE);
    let channels = BILINEAR_CHANNEL.map(|c| load64(&c));
    let pack = _mm512_castsi512_si256(load64(&PACK_RGB));
    let (w256, half) = (_mm256_set1_epi32(256), _mm256_set1_epi32(1 << 15));
    let done = passes(
        data,
        stride,
        run,
        at,
        step,
        Reach::Bilinear,
        |block, (vx, vy)| {
            let at = _mm512_permutexvar_epi8(spread, _mm512_castsi128_si512(block.at));
            let wx = _mm512_broadcast_i64x4(weight_pairs(vx));
            let ay = fractions(vy);
            let wy_top = _mm256_sub_epi32(w256, ay);
            // Per channel: `(left, right)` pairs of the top rows, then of the bottom rows,
            // weighted horizontally into `[t | b]`, then `t·(256 − ay) + b·ay + ½`: the value
            // in bits 16..24.
            let channel = |c: usize| {
                let index = _mm512_add_epi8(at, channels[c]);
                let pairs = _mm512_maskz_permutex2var_epi8(LOW_BYTES, block.lo, index, block.hi);
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
            _mm256_permutexvar_epi8(pack, rgb_lanes(channel(0), channel(1), channel(2)))
        },
    );
    if !done {
        lerp_rgb_run_avx2(data, stride, run, at, step);
    }
}

/// The nearest rule's RGB run (`at` the first sample's coordinates plus one half, so that each
/// sample reads the pixel at their floor) with AVX-512 VBMI where [`vbmi_applies`], else pixel
/// by pixel.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
pub(super) fn nearest_rgb_run_vbmi(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    at: (i64, i64),
    step: (i64, i64),
) {
    let (spread, channel) = (load64(&NEAREST_SAMPLE), load64(&NEAREST_CHANNEL));
    let done = passes(data, stride, run, at, step, Reach::Nearest, |block, _| {
        let at = _mm512_permutexvar_epi8(spread, _mm512_castsi128_si512(block.at));
        let index = _mm512_add_epi8(at, channel);
        _mm512_castsi512_si256(_mm512_permutex2var_epi8(block.lo, index, block.hi))
    });
    if !done {
        nearest_run::<3>(data, stride, run.as_chunks_mut::<3>().0, at, step);
    }
}
