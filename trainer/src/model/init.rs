//! The model's variables: weights drawn from a seeded RNG (PyTorch's default, uniform in
//! ±1/√fan_in) and which variables the optimizer trains.

use candle_core::{Device, Var};
use candle_nn::{Linear, VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Whether a variable is trained by the optimizer (batch-norm running statistics are not).
pub fn is_trainable(name: &str) -> bool {
    !(name.ends_with("running_mean") || name.ends_with("running_var"))
}

/// The trainable variables of `varmap`, sorted by name (a stable order for optimizer state and
/// gradient norms).
pub fn trainable_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let mut vars: Vec<(String, Var)> = match varmap.data().lock() {
        Ok(data) => data
            .iter()
            .filter(|(name, _)| is_trainable(name))
            .map(|(name, var)| (name.clone(), var.clone()))
            .collect(),
        Err(_) => Vec::new(),
    };
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Inserts `name` with values uniform in ±1/√fan_in drawn from `rng`, unless it already exists.
pub(super) fn seeded_uniform(
    varmap: &VarMap,
    name: &str,
    shape: &[usize],
    fan_in: usize,
    device: &Device,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let count: usize = shape.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    let mut data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Tensor(candle_core::Error::Msg("variable map lock poisoned".into())))?;
    if !data.contains_key(name) {
        let var = Var::from_vec(values, shape, device)?;
        data.insert(name.to_string(), var);
    }
    Ok(())
}

pub(super) fn seeded_linear(
    varmap: &VarMap,
    vb: &VarBuilder,
    name: &str,
    in_dim: usize,
    out_dim: usize,
    device: &Device,
    rng: &mut ChaCha8Rng,
) -> Result<Linear> {
    seeded_uniform(
        varmap,
        &format!("{name}.weight"),
        &[out_dim, in_dim],
        in_dim,
        device,
        rng,
    )?;
    seeded_uniform(
        varmap,
        &format!("{name}.bias"),
        &[out_dim],
        in_dim,
        device,
        rng,
    )?;
    Ok(candle_nn::linear(in_dim, out_dim, vb.pp(name))?)
}
