//! Choosing the device: `cpu` (default) or `cuda[:N]` with the `cuda` cargo feature.

use candle_core::Device;

use crate::error::{Error, Result};

/// The environment variable that sizes candle's barrier pool: the threads of its large CPU
/// element-wise ops, a pool of its own beside rayon's (which runs the matrix products and this
/// crate's kernels).
pub const CANDLE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";

/// Runs candle's element-wise ops on the calling thread, unless `CANDLE_NUM_THREADS` is set.
///
/// candle runs each large element-wise op (the gradient sums of the backward pass, most of the
/// optimizer's arithmetic) on its barrier pool, one thread per core less one beside rayon's
/// pool, and those threads spin between ops on the cores rayon's threads need for the next
/// matrix product. On the 2-core dev machine, one reference-CNN epoch trained at 1,467
/// images/s with the pool and at 1,836 without it.
///
/// # Safety
/// It may set an environment variable: call it before any other thread starts (first thing
/// in `main`), as [`std::env::set_var`] requires.
#[allow(unsafe_code)]
pub unsafe fn keep_candle_elementwise_on_caller() {
    if std::env::var_os(CANDLE_THREADS_VAR).is_none() {
        // SAFETY: the caller guarantees that no other thread runs yet.
        unsafe { std::env::set_var(CANDLE_THREADS_VAR, "1") };
    }
}

/// Makes the calling thread one of the threads of rayon's global pool (the pool of the matrix
/// products and this crate's kernels), so that the thread that trains runs its share of each
/// parallel op itself.
///
/// Otherwise a thread outside the pool hands every parallel op of a step (hundreds of them:
/// each product, fold, pooling and optimizer pass) to the pool's threads, wakes them and sleeps
/// until they are done, paying two thread switches per op. On the 2-core dev machine, one
/// reference-CNN epoch trained at 2,227–2,663 images/s without it and 2,736–2,900 with it.
///
/// The pool keeps its size (`RAYON_NUM_THREADS`, else one thread per core), this thread
/// counted. Call it from the thread that trains before anything uses rayon (first thing in
/// `main`). Returns false, leaving the pool as it is, when the global pool already exists.
pub fn make_caller_a_rayon_worker() -> bool {
    rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
        .is_ok()
}

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
        reason: "this build has no CUDA support: rebuild with `cargo build --release --features \
                 cudnn` (or `--features cuda`, without cuDNN; see docs/cuda.md)"
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
        assert!(err.to_string().contains("--features cudnn"), "{err}");
        assert!(err.to_string().contains("docs/cuda.md"), "{err}");
    }
}
