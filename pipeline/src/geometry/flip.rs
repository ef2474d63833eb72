//! Flips in place, left-right and top-bottom.

use crate::decode::Image;

/// Mirrors left-right in place.
pub fn hflip(img: &mut Image) {
    let stride = img.stride();
    if stride == 0 {
        return;
    }
    match img.channels {
        1 => img
            .data
            .chunks_exact_mut(stride)
            .for_each(|row| row.reverse()),
        _ => img.data.chunks_exact_mut(stride).for_each(|row| {
            let px = row.as_chunks_mut::<3>().0;
            px.reverse();
        }),
    }
}

/// Mirrors top-bottom in place.
pub fn vflip(img: &mut Image) {
    let stride = img.stride();
    let h = img.height as usize;
    for y in 0..h / 2 {
        let (top, bottom) = img.data.split_at_mut((h - 1 - y) * stride);
        top[y * stride..(y + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
}
