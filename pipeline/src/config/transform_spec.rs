//! The transforms of a chain ([`TransformSpec`], one TOML table with `op` each), their
//! parameters' ranges, and the command-line form of a chain ([`parse_transform_list`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default probability of the flips.
pub const DEFAULT_FLIP_P: f32 = 0.5;
/// Default scale range of `random_resized_crop` (torchvision's).
pub const DEFAULT_RRC_SCALE: [f32; 2] = [0.08, 1.0];
/// Default aspect-ratio range of `random_resized_crop` (torchvision's).
pub const DEFAULT_RRC_RATIO: [f32; 2] = [3.0 / 4.0, 4.0 / 3.0];

/// Resampling filter of resizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (torchvision's default).
    #[default]
    Bilinear,
    /// Bicubic (Catmull-Rom).
    Bicubic,
    /// Lanczos with 3 lobes.
    Lanczos3,
}

/// Sampling of `rotation` (torchvision's `interpolation` of `RandomRotation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// The nearest source pixel (torchvision's default for `RandomRotation`).
    Nearest,
    /// Bilinear: the four nearest source pixels, weighted by distance.
    #[default]
    Bilinear,
}

/// How `random_crop` pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingMode {
    /// Pad with `fill`.
    #[default]
    Constant,
    /// Mirror without repeating the edge pixel (torchvision's `reflect`).
    Reflect,
}

fn default_p() -> f32 {
    DEFAULT_FLIP_P
}
fn default_scale() -> [f32; 2] {
    DEFAULT_RRC_SCALE
}
fn default_ratio() -> [f32; 2] {
    DEFAULT_RRC_RATIO
}

/// One transform of an ordered chain; in TOML a table with `op` and the parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformSpec {
    /// Resize: `size` = shorter side (aspect kept), or exact `width` and `height`.
    Resize {
        /// Target shorter side, in pixels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u32>,
        /// Exact target width (with `height`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        /// Exact target height (with `width`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        /// Resampling filter.
        #[serde(default)]
        filter: Filter,
    },
    /// Crop the central `size`×`size` square (padding with 0 if the image is smaller).
    CenterCrop {
        /// Side, in pixels.
        size: u32,
    },
    /// torchvision's `RandomResizedCrop`: a box of random area fraction and aspect ratio (10 tries,
    /// then a center fallback), resized to `size`×`size`.
    RandomResizedCrop {
        /// Output side, in pixels.
        size: u32,
        /// Range of the box's area as a fraction of the image's.
        #[serde(default = "default_scale")]
        scale: [f32; 2],
        /// Range of the box's aspect ratio (width / height), sampled log-uniformly.
        #[serde(default = "default_ratio")]
        ratio: [f32; 2],
        /// Resampling filter.
        #[serde(default)]
        filter: Filter,
    },
    /// torchvision's `RandomCrop(size, padding)`: pad every side, then crop `size`×`size` at a
    /// random position.
    RandomCrop {
        /// Output side, in pixels.
        size: u32,
        /// Padding on every side, in pixels.
        #[serde(default)]
        padding: u32,
        /// How the padding is filled.
        #[serde(default)]
        padding_mode: PaddingMode,
        /// Fill value of constant padding (0..=255).
        #[serde(default)]
        fill: u8,
    },
    /// Mirror left-right with probability `p`.
    Hflip {
        /// Probability in [0, 1].
        #[serde(default = "default_p")]
        p: f32,
    },
    /// Mirror top-bottom with probability `p`.
    Vflip {
        /// Probability in [0, 1].
        #[serde(default = "default_p")]
        p: f32,
    },
    /// Rotate by an angle uniform in [-degrees, degrees] about the center, same size.
    Rotation {
        /// Largest absolute angle, in degrees (0..=180).
        degrees: f32,
        /// `bilinear` (the default) or `nearest` (torchvision's default).
        #[serde(default)]
        interpolation: Interpolation,
        /// Fill value of the uncovered corners (0..=255).
        #[serde(default)]
        fill: u8,
    },
    /// torchvision's `ColorJitter`: brightness, contrast, saturation factors uniform in
    /// [max(0, 1-x), 1+x], hue shift uniform in [-hue, hue] turns, applied in random order.
    ColorJitter {
        /// Brightness spread (≥ 0).
        #[serde(default)]
        brightness: f32,
        /// Contrast spread (≥ 0).
        #[serde(default)]
        contrast: f32,
        /// Saturation spread (≥ 0).
        #[serde(default)]
        saturation: f32,
        /// Hue spread, in turns (0..=0.5).
        #[serde(default)]
        hue: f32,
    },
}

impl TransformSpec {
    /// Whether the transform draws random numbers (evaluation chains must be deterministic).
    pub fn is_random(&self) -> bool {
        !matches!(
            self,
            TransformSpec::Resize { .. } | TransformSpec::CenterCrop { .. }
        )
    }

    /// Checks every parameter's range; `key` is where the transform sits (`transforms.train[1]`).
    pub fn validate(&self, key: &str) -> Result<()> {
        let bad =
            |field: &str, message: String| Err(Error::config(format!("{key}.{field}"), message));
        let positive = |field: &str, v: u32| {
            if v == 0 {
                bad(field, "must be > 0".to_string())
            } else {
                Ok(())
            }
        };
        let prob = |field: &str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                bad(field, format!("{p} is out of range 0..=1"))
            }
        };
        match *self {
            TransformSpec::Resize {
                size,
                width,
                height,
                ..
            } => match (size, width, height) {
                (Some(s), None, None) => positive("size", s),
                (None, Some(w), Some(h)) => positive("width", w).and(positive("height", h)),
                _ => bad(
                    "size",
                    "give either `size` (shorter side) or both `width` and `height`".into(),
                ),
            },
            TransformSpec::CenterCrop { size } => positive("size", size),
            TransformSpec::RandomResizedCrop {
                size, scale, ratio, ..
            } => {
                positive("size", size)?;
                if !(scale[0] > 0.0 && scale[0] <= scale[1] && scale[1] <= 1.0) {
                    return bad("scale", format!("{scale:?}: expected 0 < min <= max <= 1"));
                }
                if !(ratio[0] > 0.0 && ratio[0] <= ratio[1]) {
                    return bad("ratio", format!("{ratio:?}: expected 0 < min <= max"));
                }
                Ok(())
            }
            TransformSpec::RandomCrop { size, padding, .. } => {
                positive("size", size)?;
                if padding > 1024 {
                    return bad("padding", format!("{padding} is out of range 0..=1024"));
                }
                Ok(())
            }
            TransformSpec::Hflip { p } | TransformSpec::Vflip { p } => prob("p", p),
            TransformSpec::Rotation { degrees, .. } => {
                if (0.0..=180.0).contains(&degrees) {
                    Ok(())
                } else {
                    bad("degrees", format!("{degrees} is out of range 0..=180"))
                }
            }
            TransformSpec::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
            } => {
                for (field, v) in [
                    ("brightness", brightness),
                    ("contrast", contrast),
                    ("saturation", saturation),
                ] {
                    if !(v >= 0.0 && v.is_finite()) {
                        return bad(field, format!("{v} is out of range: expected >= 0"));
                    }
                }
                if !(0.0..=0.5).contains(&hue) {
                    return bad("hue", format!("{hue} is out of range 0..=0.5"));
                }
                Ok(())
            }
        }
    }
}

/// Parses a command-line transform list: `op(key=value,...)` items separated by `,` or `;`,
/// e.g. `random_resized_crop(size=224),hflip,rotation(degrees=15),color_jitter(brightness=0.2)`.
/// Values are TOML values; bare words are strings (`padding_mode=reflect`).
pub fn parse_transform_list(text: &str) -> Result<Vec<TransformSpec>> {
    let mut specs = Vec::new();
    for (index, item) in split_top_level(text, &[',', ';']).into_iter().enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let key = format!("transform #{} `{item}`", index + 1);
        let (op, args) = match item.find('(') {
            Some(open) => {
                let Some(body) = item[open + 1..].strip_suffix(')') else {
                    return Err(Error::config(key, "missing `)`"));
                };
                (item[..open].trim(), body)
            }
            None => (item, ""),
        };
        let mut table = toml::Table::new();
        table.insert("op".into(), toml::Value::String(op.to_string()));
        for arg in split_top_level(args, &[',']) {
            let arg = arg.trim();
            if arg.is_empty() {
                continue;
            }
            let Some((k, v)) = arg.split_once('=') else {
                return Err(Error::config(key, format!("`{arg}`: expected key=value")));
            };
            let v = v.trim();
            let value = toml::from_str::<toml::Table>(&format!("v = {v}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(v.to_string()));
            table.insert(k.trim().to_string(), value);
        }
        let spec: TransformSpec = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::config(key.clone(), e.message().to_string()))?;
        spec.validate(&key)?;
        specs.push(spec);
    }
    Ok(specs)
}

/// Splits at any of `seps` outside brackets and parentheses.
fn split_top_level<'a>(text: &'a str, seps: &[char]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if depth == 0 && seps.contains(&c) => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_transform_list_parses_in_order() {
        let list = parse_transform_list(
            "random_resized_crop(size=224,scale=[0.5,1.0]);hflip;rotation(degrees=15);\
             random_crop(size=28,padding=2,padding_mode=reflect),color_jitter(brightness=0.2)",
        )
        .unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(
            list[0],
            TransformSpec::RandomResizedCrop {
                size: 224,
                scale: [0.5, 1.0],
                ratio: DEFAULT_RRC_RATIO,
                filter: Filter::Bilinear
            }
        );
        assert_eq!(list[1], TransformSpec::Hflip { p: 0.5 });
        assert!(matches!(
            list[3],
            TransformSpec::RandomCrop {
                padding_mode: PaddingMode::Reflect,
                ..
            }
        ));
    }

    #[test]
    fn rotation_takes_torchvision_interpolations_and_names_a_wrong_one() {
        let list = parse_transform_list("rotation(degrees=15,interpolation=nearest)").unwrap();
        assert_eq!(
            list[0],
            TransformSpec::Rotation {
                degrees: 15.0,
                interpolation: Interpolation::Nearest,
                fill: 0
            }
        );
        let list = parse_transform_list("rotation(degrees=15)").unwrap();
        assert!(matches!(
            list[0],
            TransformSpec::Rotation {
                interpolation: Interpolation::Bilinear,
                ..
            }
        ));
        let e = parse_transform_list("rotation(degrees=15,interpolation=bicubic)").unwrap_err();
        assert!(e.to_string().contains("bicubic"), "{e}");
        assert!(e.to_string().contains("rotation"), "{e}");
    }
}
