//! Per-channel statistics: [`ChannelStats`] and the exact [`Accumulator`] of decoded pixels they
//! are computed with (the pass over a data set is in `normalize`).

use serde::{Deserialize, Serialize};

use crate::decode::Image;

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Population standard deviation per channel.
    pub std: Vec<f64>,
    /// Images the statistics cover.
    pub images: u64,
    /// Pixels per channel the statistics cover.
    pub pixels: u64,
    /// Images skipped as unreadable or undecodable.
    pub skipped: u64,
}

/// Exact running sums of a set of images.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    sum: [u64; 3],
    sum_sq: [u64; 3],
    pixels: u64,
    images: u64,
    channels: usize,
}

impl Accumulator {
    /// Adds one image.
    pub fn add(&mut self, img: &Image) {
        let c = img.channels as usize;
        self.channels = c;
        for px in img.data.chunks_exact(c) {
            for (i, &v) in px.iter().enumerate() {
                self.sum[i] += u64::from(v);
                self.sum_sq[i] += u64::from(v) * u64::from(v);
            }
        }
        self.pixels += (img.width as u64) * (img.height as u64);
        self.images += 1;
    }

    /// Merges another accumulator.
    pub fn merge(&mut self, other: &Accumulator) {
        for i in 0..3 {
            self.sum[i] += other.sum[i];
            self.sum_sq[i] += other.sum_sq[i];
        }
        self.pixels += other.pixels;
        self.images += other.images;
        self.channels = self.channels.max(other.channels);
    }

    /// Images added so far.
    pub fn images(&self) -> u64 {
        self.images
    }

    /// Mean and std in [0, 1] units.
    pub fn finish(&self, skipped: u64) -> ChannelStats {
        let n = self.pixels.max(1) as f64;
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for i in 0..self.channels {
            let m = self.sum[i] as f64 / n;
            let var = (self.sum_sq[i] as f64 / n - m * m).max(0.0);
            mean.push(m / 255.0);
            std.push(var.sqrt() / 255.0);
        }
        ChannelStats {
            mean,
            std,
            images: self.images,
            pixels: self.pixels,
            skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulator_is_exact_on_a_known_image() {
        let img = Image {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![0, 255, 51, 255, 255, 51],
        };
        let mut acc = Accumulator::default();
        acc.add(&img);
        let s = acc.finish(0);
        assert_eq!(s.mean, vec![0.5, 1.0, 0.2]);
        assert!((s.std[0] - 0.5).abs() < 1e-12 && s.std[1] == 0.0 && s.std[2] == 0.0);
    }
}
