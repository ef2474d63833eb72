//! The custom CPU ops (`conv`, `pool`, `activation`) against candle's own: same values, same
//! gradients, same training trajectory.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2dConfig, Optimizer, VarBuilder, VarMap};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::{activation, conv, conv_block, pool};

const TOLERANCE: f32 = 1e-4;

/// A seeded tensor of uniform values in [-1, 1).
fn random(dims: &[usize], seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = dims.iter().product();
    // No exact zeros: ReLU's gradient there is a convention (PyTorch's 0, candle's 1).
    let data: Vec<f32> = (0..len)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .map(|v| if v == 0.0 { 0.5 } else { v })
        .collect();
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

/// Our convolution layer of `weight` and `bias`, padding 1, stride 1.
fn padded_conv(weight: &Var, bias: &Var) -> conv::Conv2d {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    conv::Conv2d::new(
        weight.as_tensor().clone(),
        Some(bias.as_tensor().clone()),
        cfg,
    )
}

/// The fused block and the composed conv → ReLU → max-pool of `window` on `x`, each with the
/// gradients of its [`weighted_sum`] by `seed`.
fn fused_and_composed(
    x: &Tensor,
    layer: &conv::Conv2d,
    window: usize,
    seed: u64,
) -> [(Tensor, GradStore); 2] {
    let fused = conv_block::conv_relu_pool(x, layer, window).expect("fused block runs");
    let relu = activation::relu(&layer.forward(x).expect("conv")).expect("relu");
    let composed = pool::max_pool2d(&relu, window).expect("pool");
    [fused, composed].map(|y| {
        let grads = weighted_sum(&y, seed).backward().expect("backward");
        (y, grads)
    })
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
    fn fused_conv_block_matches_conv_relu_pool_in_values_and_all_gradients(
        n in 1usize..4, c in 1usize..4, o in 1usize..5, k in 1usize..4, stride in 1usize..3,
        padding in 0usize..3, pool in 1usize..4, extra_h in 0usize..7, extra_w in 0usize..7,
        input_tracked: bool, seed in 0u64..1000,
    ) {
        let (h, w) = (k + extra_h, k + extra_w);
        let cfg = Conv2dConfig { padding, stride, ..Default::default() };
        let g = conv::Geometry::new((n, c, h, w), (k, k), &cfg).expect("geometry");
        prop_assume!(pool <= g.out_size().0 && pool <= g.out_size().1);
        let x = Var::from_tensor(&random(&[n, c, h, w], seed)).expect("var");
        let weight = Var::from_tensor(&random(&[o, c, k, k], seed + 1)).expect("var");
        let bias = Var::from_tensor(&random(&[o], seed + 2)).expect("var");
        let layer = conv::Conv2d::new(weight.as_tensor().clone(), Some(bias.as_tensor().clone()), cfg);
        // A plain input (the first block's images) gets no gradient; the weights still do.
        let input = match input_tracked {
            true => x.as_tensor().clone(),
            false => x.as_tensor().detach(),
        };
        let [(fused, got), (composed, want)] = fused_and_composed(&input, &layer, pool, 9);
        prop_assert!(max_diff(&fused, &composed) < TOLERANCE, "output differs");
        for (name, var) in [("weight", &weight), ("bias", &bias)] {
            let (g, w) = (got.get(var.as_tensor()).expect("grad"), want.get(var.as_tensor()).expect("grad"));
            prop_assert!(max_diff(g, w) < TOLERANCE, "{name} grad differs: {}", max_diff(g, w));
        }
        match input_tracked {
            true => {
                let (g, w) = (got.get(x.as_tensor()).expect("grad"), want.get(x.as_tensor()).expect("grad"));
                prop_assert!(max_diff(g, w) < TOLERANCE, "input grad differs: {}", max_diff(g, w));
            }
            false => prop_assert!(got.get(&input).is_none(), "the plain input got a gradient"),
        }
    }

    #[test]
    fn max_pool_matches_candle_values_and_routes_each_gradient_to_the_window_maximum(
        n in 1usize..3, c in 1usize..4, kernel in 1usize..4, stride in 1usize..4,
        h in 3usize..12, w in 3usize..12, seed in 0u64..1000,
    ) {
        prop_assume!(kernel <= h && kernel <= w);
        let x = Var::from_tensor(&random(&[n, c, h, w], seed)).expect("var");
        let y = pool::max_pool2d_with_stride(x.as_tensor(), kernel, stride).expect("pool runs");
        let want_y = x.as_tensor().max_pool2d_with_stride(kernel, stride).expect("pool runs");
        prop_assert!(max_diff(&y, &want_y) < TOLERANCE);
        let r = random(y.dims(), 3);
        let grad = (&y * &r).and_then(|p| p.sum_all()).and_then(|l| l.backward()).expect("backward");
        let grad = grad.get(x.as_tensor()).expect("grad");
        // candle's own max-pool gradient is scaled by 1/kernel² (and wrong for overlapping or
        // partial windows), so the reference is the definition: r added at each window's argmax.
        let xs = x.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("data");
        let rs = r.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("data");
        let (oh, ow) = (y.dims()[2], y.dims()[3]);
        let mut want = vec![0f32; xs.len()];
        for plane in 0..n * c {
            for (oy, ox) in (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))) {
                let at = (0..kernel * kernel)
                    .map(|t| plane * h * w + (oy * stride + t / kernel) * w + ox * stride + t % kernel)
                    .fold(None, |best: Option<usize>, i| match best {
                        Some(b) if xs[b] >= xs[i] => Some(b),
                        _ => Some(i),
                    })
                    .expect("window not empty");
                want[at] += rs[(plane * oh + oy) * ow + ox];
            }
        }
        let want = Tensor::from_vec(want, x.dims(), &Device::Cpu).expect("shape");
        prop_assert!(max_diff(grad, &want) < TOLERANCE, "gradient differs: {}", max_diff(grad, &want));
    }

    #[test]
    fn fold_is_the_adjoint_of_unfold(
        n in 1usize..3, c in 1usize..4, k in 1usize..4, stride in 1usize..4,
        padding in 0usize..3, dilation in 1usize..3, extra_h in 0usize..6, extra_w in 0usize..6,
        seed in 0u64..1000,
    ) {
        // <unfold(x), cols> = <x, fold(cols)> for every geometry, remainders included.
        let span = dilation * (k - 1) + 1;
        let dims = (n, c, span + extra_h, span + extra_w);
        let cfg = Conv2dConfig { padding, stride, dilation, ..Default::default() };
        let g = conv::Geometry::new(dims, (k, k), &cfg).expect("geometry");
        let x = random(&[dims.0, dims.1, dims.2, dims.3], seed);
        let unfolded = x.apply_op1(conv::Unfold(g)).expect("unfold");
        let cols = random(unfolded.dims(), seed + 1);
        let folded = cols.apply_op1(conv::Fold(g)).expect("fold");
        let dot = |a: &Tensor, b: &Tensor| (a * b).and_then(|p| p.sum_all()).and_then(|s| s.to_scalar::<f32>()).expect("dot");
        let (lhs, rhs) = (dot(&unfolded, &cols), dot(&x, &folded));
        prop_assert!((lhs - rhs).abs() < TOLERANCE * lhs.abs().max(1.0), "{lhs} vs {rhs}");
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
fn relu_passes_no_gradient_at_zero() {
    let x = Var::new(&[-1f32, 0., 2.], &Device::Cpu).expect("var");
    let grads = activation::relu(x.as_tensor())
        .and_then(|y| y.sum_all())
        .and_then(|l| l.backward());
    let grad = grads
        .expect("backward")
        .get(x.as_tensor())
        .cloned()
        .expect("grad");
    assert_eq!(grad.to_vec1::<f32>().expect("data"), [0., 0., 1.]);
}

/// A zero weight and a positive bias make every product value equal, so every 2×2 window is a
/// four-way tie: the fused block must send each window's gradient to its first (top-left)
/// position, as the composed max pool does. The weight gradient shows where it went: the
/// random input under each of a window's positions differs.
#[test]
fn fused_block_breaks_ties_like_the_composed_pool() {
    let x = random(&[2, 2, 6, 6], 3);
    let weight =
        Var::from_tensor(&Tensor::zeros((3, 2, 3, 3), DType::F32, &Device::Cpu).expect("zeros"))
            .expect("var");
    let bias = Var::new(&[0.5f32, 0.25, 1.0], &Device::Cpu).expect("var");
    let layer = padded_conv(&weight, &bias);
    let [(fused, got), (composed, want)] = fused_and_composed(&x, &layer, 2, 4);
    assert!(max_diff(&fused, &composed) == 0.0, "outputs differ");
    let (g, w) = (
        got.get(weight.as_tensor()).expect("grad"),
        want.get(weight.as_tensor()).expect("grad"),
    );
    assert!(
        max_diff(g, w) < TOLERANCE,
        "weight grad differs: {}",
        max_diff(g, w)
    );
}

/// Images large enough that the fused forward pass multiplies a few at a time (each image's
/// product, 16 channels × 32×32, is 64 KB): five images make groups of two and a short last one,
/// and every output and gradient still matches the composed block's.
#[test]
fn fused_block_matches_the_composed_one_on_images_taken_a_few_at_a_time() {
    let x = Var::from_tensor(&random(&[5, 2, 32, 32], 41)).expect("var");
    let weight = Var::from_tensor(&random(&[16, 2, 3, 3], 42)).expect("var");
    let bias = Var::from_tensor(&random(&[16], 43)).expect("var");
    let layer = padded_conv(&weight, &bias);
    let [(fused, got), (composed, want)] = fused_and_composed(x.as_tensor(), &layer, 2, 44);
    assert!(
        max_diff(&fused, &composed) < TOLERANCE,
        "outputs differ: {}",
        max_diff(&fused, &composed)
    );
    for (name, var) in [("input", &x), ("weight", &weight), ("bias", &bias)] {
        let (g, w) = (
            got.get(var.as_tensor()).expect("grad"),
            want.get(var.as_tensor()).expect("grad"),
        );
        assert!(
            max_diff(g, w) < TOLERANCE,
            "{name} grad differs: {}",
            max_diff(g, w)
        );
    }
}

/// A training run gives the same numbers on any number of cores: the gradients of the fused
/// block and of the convolution alone (whose weight gradient is a sum over the batch's images,
/// split between threads) are the same bits with 1 thread as with 3.
#[test]
fn conv_gradients_do_not_depend_on_the_thread_count() {
    let x = Var::from_tensor(&random(&[13, 5, 9, 9], 21)).expect("var");
    let weight = Var::from_tensor(&random(&[7, 5, 3, 3], 22)).expect("var");
    let bias = Var::from_tensor(&random(&[7], 23)).expect("var");
    let layer = padded_conv(&weight, &bias);
    let grads = |threads: usize, fused: bool| -> Vec<Vec<f32>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            let y = match fused {
                true => conv_block::conv_relu_pool(x.as_tensor(), &layer, 2).expect("block"),
                false => layer.forward(x.as_tensor()).expect("conv"),
            };
            let grads = weighted_sum(&y, 24).backward().expect("backward");
            [&x, &weight, &bias]
                .map(|v| {
                    let g = grads.get(v.as_tensor()).expect("gradient present");
                    g.flatten_all().and_then(|g| g.to_vec1()).expect("f32")
                })
                .to_vec()
        })
    };
    for (op, fused) in [("conv block", true), ("conv", false)] {
        let (one, three) = (grads(1, fused), grads(3, fused));
        for (name, (a, b)) in ["input", "weight", "bias"]
            .iter()
            .zip(one.iter().zip(&three))
        {
            let same = a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{op}: {name} gradient differs between 1 and 3 threads"
            );
        }
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

/// A small CNN: conv → relu → conv → relu → dense (no max-pool: candle's max-pool gradient is
/// scaled by 1/kernel², so the two could not agree).
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
            dense: candle_nn::linear(8 * 8 * 8, 10, vb.pp("dense"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let block = |x: &Tensor, conv: &dyn Module| match self.layers {
            Layers::Ours => activation::relu(&conv.forward(x)?),
            Layers::Stock => conv.forward(x)?.relu(),
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
    let x = random(&[16, 1, 8, 8], 11);
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

/// The test net's variables, seeded: uniform in ±3/√fan-in for weights (large enough that five
/// steps take the loss from 2.7 to 1.3) and ±0.1 for biases.
/// (candle's own initialization cannot be seeded on the CPU; a fresh draw each run could put a
/// pre-activation within rounding of zero, where the two ReLUs may then take different sides.)
fn seeded_init() -> VarMap {
    let init = VarMap::new();
    Net::new(
        Layers::Stock,
        VarBuilder::from_varmap(&init, DType::F32, &Device::Cpu),
    )
    .expect("net");
    {
        let data = init.data().lock().expect("lock");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for (seed, name) in names.into_iter().enumerate() {
            let var = &data[name];
            let dims = var.dims().to_vec();
            let fan_in: usize = dims[1..].iter().product();
            let bound = if dims.len() == 1 {
                0.1
            } else {
                3.0 / (fan_in as f64).sqrt()
            };
            let values = (random(&dims, 100 + seed as u64) * bound).expect("scale");
            var.set(&values).expect("same shape");
        }
    }
    init
}

#[test]
fn sgd_steps_with_our_layers_follow_candles_layers() {
    let init = seeded_init();
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
