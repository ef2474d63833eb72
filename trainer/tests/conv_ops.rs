//! The custom CPU ops (`conv`, `pool`, `activation`) against candle's own: same values, same
//! gradients, same training trajectory.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2dConfig, Optimizer, VarBuilder, VarMap};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::{activation, conv, pool};

const TOLERANCE: f32 = 1e-4;

/// A seeded tensor of uniform values in [-1, 1).
fn random(dims: &[usize], seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = dims.iter().product();
    let data: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(data, dims, &Device::Cpu).expect("shape matches the data")
}

/// The largest absolute difference between two tensors of the same shape, scaled by the
/// larger magnitude when above 1.
fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a = a
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("f32 data");
    let b = b
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("f32 data");
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1.0))
        .fold(0.0, f32::max)
}

/// `sum(f(x) · r)` for a fixed random `r`, so every output element gets its own gradient.
fn weighted_sum(y: &Tensor, seed: u64) -> Tensor {
    let r = random(y.dims(), seed);
    (y * r).and_then(|p| p.sum_all()).expect("same shapes")
}

/// Output, input gradient, weight gradient and bias gradient of a convolution.
fn conv_outputs(
    x: &Var,
    layer: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    weight: &Var,
    bias: &Var,
) -> [Tensor; 4] {
    let y = layer(x.as_tensor()).expect("conv runs");
    let grads = weighted_sum(&y, 7).backward().expect("backward runs");
    let grad = |v: &Var| grads.get(v.as_tensor()).cloned().expect("gradient present");
    [y, grad(x), grad(weight), grad(bias)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn conv_matches_candle_in_values_and_all_gradients(
        n in 1usize..4, c in 1usize..4, o in 1usize..5,
        k in 1usize..4, stride in 1usize..4, padding in 0usize..3, dilation in 1usize..3,
        extra_h in 0usize..6, extra_w in 0usize..6, seed in 0u64..1000,
    ) {
        let span = dilation * (k - 1) + 1;
        let (h, w) = (span + extra_h, span + extra_w);
        // candle's own input gradient has the wrong shape when the stride leaves a remainder.
        prop_assume!((extra_h + 2 * padding) % stride == 0 && (extra_w + 2 * padding) % stride == 0);
        let x = Var::from_tensor(&random(&[n, c, h, w], seed)).expect("var");
        let weight = Var::from_tensor(&random(&[o, c, k, k], seed + 1)).expect("var");
        let bias = Var::from_tensor(&random(&[o], seed + 2)).expect("var");
        let cfg = Conv2dConfig { padding, stride, dilation, ..Default::default() };
        let ours = conv::Conv2d::new(weight.as_tensor().clone(), Some(bias.as_tensor().clone()), cfg);
        let stock = candle_nn::Conv2d::new(weight.as_tensor().clone(), Some(bias.as_tensor().clone()), cfg);
        let got = conv_outputs(&x, &|t| ours.forward(t), &weight, &bias);
        let want = conv_outputs(&x, &|t| stock.forward(t), &weight, &bias);
        for (name, (g, w)) in ["output", "input grad", "weight grad", "bias grad"].iter().zip(got.iter().zip(&want)) {
            prop_assert!(max_diff(g, w) < TOLERANCE, "{name} differs: {}", max_diff(g, w));
        }
    }

    #[test]
    fn max_pool_matches_candle_in_values_and_gradient(
        n in 1usize..3, c in 1usize..4, kernel in 1usize..4,
        oh in 1usize..6, ow in 1usize..6, seed in 0u64..1000,
    ) {
        // candle's own gradient is wrong when the windows do not tile the image.
        let (h, w) = (oh * kernel, ow * kernel);
        let x = Var::from_tensor(&random(&[n, c, h, w], seed)).expect("var");
        let y = pool::max_pool2d(x.as_tensor(), kernel).expect("pool runs");
        let want_y = x.as_tensor().max_pool2d(kernel).expect("pool runs");
        prop_assert!(max_diff(&y, &want_y) < TOLERANCE);
        let grad = weighted_sum(&y, 3).backward().expect("backward");
        let want = weighted_sum(&want_y, 3).backward().expect("backward");
        let (grad, want) = (grad.get(x.as_tensor()).expect("grad"), want.get(x.as_tensor()).expect("grad"));
        prop_assert!(max_diff(grad, want) < TOLERANCE, "gradient differs: {}", max_diff(grad, want));
    }

    #[test]
    fn relu_matches_candle_in_values_and_gradient(len in 1usize..200_000, seed in 0u64..1000) {
        let x = Var::from_tensor(&random(&[len], seed)).expect("var");
        let y = activation::relu(x.as_tensor()).expect("relu runs");
        let want_y = x.as_tensor().relu().expect("relu runs");
        prop_assert_eq!(max_diff(&y, &want_y), 0.0);
        let grad = weighted_sum(&y, 5).backward().expect("backward");
        let want = weighted_sum(&want_y, 5).backward().expect("backward");
        let (grad, want) = (grad.get(x.as_tensor()).expect("grad"), want.get(x.as_tensor()).expect("grad"));
        prop_assert_eq!(max_diff(grad, want), 0.0);
    }
}

#[test]
fn conv_computes_no_input_gradient_for_a_plain_input() {
    let x = random(&[2, 1, 8, 8], 1);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let layer = conv::conv2d(1, 4, 3, Conv2dConfig::default(), vb).expect("layer");
    let grads = weighted_sum(&layer.forward(&x).expect("forward"), 2)
        .backward()
        .expect("backward");
    assert!(grads.get(&x).is_none(), "the plain input got a gradient");
    assert!(
        grads.get(layer.weight()).is_some() && grads.get(layer.bias().expect("bias")).is_some()
    );
}

#[test]
fn conv2d_names_and_shapes_its_variables_like_candle_nn() {
    let (ours, stock) = (VarMap::new(), VarMap::new());
    let cfg = Conv2dConfig::default();
    conv::conv2d(
        3,
        8,
        5,
        cfg,
        VarBuilder::from_varmap(&ours, DType::F32, &Device::Cpu).pp("c"),
    )
    .expect("layer");
    candle_nn::conv2d(
        3,
        8,
        5,
        cfg,
        VarBuilder::from_varmap(&stock, DType::F32, &Device::Cpu).pp("c"),
    )
    .expect("layer");
    let shapes = |map: &VarMap| {
        let data = map.data().lock().expect("varmap lock");
        let mut shapes: Vec<_> = data
            .iter()
            .map(|(k, v)| (k.clone(), v.dims().to_vec()))
            .collect();
        shapes.sort();
        shapes
    };
    assert_eq!(shapes(&ours), shapes(&stock));
}

/// Which implementation a test model uses.
#[derive(Clone, Copy)]
enum Layers {
    Ours,
    Stock,
}

/// A small reference-shaped CNN: conv → relu → pool → conv → relu → pool → dense.
struct Net {
    layers: Layers,
    conv1: Box<dyn Module>,
    conv2: Box<dyn Module>,
    dense: candle_nn::Linear,
}

impl Net {
    fn new(layers: Layers, vb: VarBuilder) -> candle_core::Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let conv = |i, o, vb: VarBuilder| -> candle_core::Result<Box<dyn Module>> {
            Ok(match layers {
                Layers::Ours => Box::new(conv::conv2d(i, o, 3, cfg, vb)?),
                Layers::Stock => Box::new(candle_nn::conv2d(i, o, 3, cfg, vb)?),
            })
        };
        Ok(Self {
            layers,
            conv1: conv(1, 4, vb.pp("conv1"))?,
            conv2: conv(4, 8, vb.pp("conv2"))?,
            dense: candle_nn::linear(8 * 3 * 3, 10, vb.pp("dense"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let block = |x: &Tensor, conv: &dyn Module| match self.layers {
            Layers::Ours => pool::max_pool2d(&activation::relu(&conv.forward(x)?)?, 2),
            Layers::Stock => conv.forward(x)?.relu()?.max_pool2d(2),
        };
        let x = block(&block(x, self.conv1.as_ref())?, self.conv2.as_ref())?;
        self.dense.forward(&x.flatten_from(1)?)
    }
}

/// Losses of `steps` SGD steps on a fixed batch, starting from the variables in `init`.
fn sgd_losses(layers: Layers, init: &VarMap, steps: usize) -> Vec<f32> {
    let varmap = VarMap::new();
    let net = Net::new(
        layers,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .expect("net");
    {
        let init = init.data().lock().expect("lock");
        for (name, var) in varmap.data().lock().expect("lock").iter() {
            var.set(init.get(name).expect("same variable names"))
                .expect("same shapes");
        }
    }
    let mut sgd = candle_nn::SGD::new(varmap.all_vars(), 0.05).expect("sgd");
    let x = random(&[16, 1, 12, 12], 11);
    let labels: Vec<u32> = (0..16).map(|i| i % 10).collect();
    let labels = Tensor::new(labels.as_slice(), &Device::Cpu).expect("labels");
    (0..steps)
        .map(|_| {
            let loss = candle_nn::loss::cross_entropy(&net.forward(&x).expect("forward"), &labels)
                .expect("loss");
            sgd.backward_step(&loss).expect("step");
            loss.to_scalar::<f32>().expect("scalar")
        })
        .collect()
}

#[test]
fn sgd_steps_with_our_layers_follow_candles_layers() {
    let init = VarMap::new();
    Net::new(
        Layers::Stock,
        VarBuilder::from_varmap(&init, DType::F32, &Device::Cpu),
    )
    .expect("net");
    let ours = sgd_losses(Layers::Ours, &init, 5);
    let stock = sgd_losses(Layers::Stock, &init, 5);
    for (a, b) in ours.iter().zip(&stock) {
        assert!(
            (a - b).abs() < TOLERANCE,
            "losses diverge: {ours:?} vs {stock:?}"
        );
    }
    assert!(
        ours[4] < ours[0],
        "training did not lower the loss: {ours:?}"
    );
}
