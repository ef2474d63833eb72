//! Choosing the device: `cpu` (default) or `cuda[:N]` with the `cuda` cargo feature.

use candle_core::Device;

use crate::error::{Error, Result};

/// The device named by `spec`: `cpu`, `cuda` (GPU 0) or `cuda:N`.
///
/// `cuda` needs a build with the `cuda` feature and a GPU; there is no silent CPU fallback.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("cpu") {
        return Ok(Device::Cpu);
    }
    let ordinal = match spec.split_once(':') {
        None if spec.eq_ignore_ascii_case("cuda") => 0,
        Some((kind, n)) if kind.eq_ignore_ascii_case("cuda") => {
            n.parse::<usize>().map_err(|_| Error::Device {
                device: spec.to_string(),
                reason: format!("`{n}` is not a GPU number"),
            })?
        }
        _ => {
            return Err(Error::Device {
                device: spec.to_string(),
                reason: "expected `cpu`, `cuda` or `cuda:N`".into(),
            });
        }
    };
    cuda(spec, ordinal)
}

#[cfg(feature = "cuda")]
fn cuda(spec: &str, ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|source| Error::DeviceOpen {
        device: spec.to_string(),
        source,
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda(spec: &str, _ordinal: usize) -> Result<Device> {
    Err(Error::Device {
        device: spec.to_string(),
        reason:
            "this build has no CUDA support: rebuild with `cargo build --release --features cuda`"
                .into(),
    })
}

/// A short name of `device` for the run record: `cpu` or `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_parses_and_bad_names_are_rejected() -> Result<()> {
        assert!(parse_device("cpu")?.is_cpu());
        assert_eq!(device_name(&parse_device("CPU")?), "cpu");
        let err = parse_device("tpu").unwrap_err();
        assert!(err.to_string().contains("tpu"), "{err}");
        let err = parse_device("cuda:x").unwrap_err();
        assert!(err.to_string().contains("cuda:x"), "{err}");
        Ok(())
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_get_it() {
        let err = parse_device("cuda:0").unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
