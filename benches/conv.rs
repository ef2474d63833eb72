//! The trainer's CPU ops next to candle's stock ones: convolution, the fused conv block
//! (conv → ReLU → max-pool), max-pool and ReLU forward + backward at the reference CNN's shapes
//! (batch 64), and one full training step of the reference CNN (forward, backward, Adam) built
//! from each.
//!
//! Run with the thread count training uses: `RAYON_NUM_THREADS=2 cargo bench --bench conv`.
//! Each benchmark's id ends in `ours` or `candle`; throughput is in images.

#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::candle as candle_core;
use trainer::candle::{DType, Device, Module, ModuleT, Tensor, Var};
use trainer::candle_nn::{
    self, AdamW, Conv2dConfig, Dropout, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap,
};
use trainer::{activation, conv, conv_block, pool};

// The `track` binary's allocator: large temporaries are reused instead of mmapped each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 64;

/// Which implementation a benchmark runs.
#[derive(Clone, Copy)]
enum Layers {
    Ours,
    Candle,
}

impl Layers {
    const BOTH: [Layers; 2] = [Layers::Ours, Layers::Candle];

    fn name(self) -> &'static str {
        match self {
            Layers::Ours => "ours",
            Layers::Candle => "candle",
        }
    }

    fn conv2d(self, i: usize, o: usize, vb: VarBuilder) -> candle_core::Result<ConvLayer> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(match self {
            Layers::Ours => ConvLayer::Ours(conv::conv2d(i, o, 3, cfg, vb)?),
            Layers::Candle => ConvLayer::Candle(candle_nn::conv2d(i, o, 3, cfg, vb)?),
        })
    }

    fn max_pool2d(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Layers::Ours => pool::max_pool2d(x, 2),
            Layers::Candle => x.max_pool2d(2),
        }
    }

    fn relu(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Layers::Ours => activation::relu(x),
            Layers::Candle => x.relu(),
        }
    }
}

/// A convolution of either implementation.
enum ConvLayer {
    Ours(conv::Conv2d),
    Candle(candle_nn::Conv2d),
}

impl ConvLayer {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            ConvLayer::Ours(c) => c.forward(x),
            ConvLayer::Candle(c) => c.forward(x),
        }
    }

    /// conv → ReLU → max-pool 2: ours as the one fused op the model uses, candle's from its ops.
    fn block(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            ConvLayer::Ours(c) => conv_block::conv_relu_pool(x, c, 2),
            ConvLayer::Candle(c) => c.forward(x)?.relu()?.max_pool2d(2),
        }
    }
}

/// A seeded tensor of uniform values in [-1, 1).
fn random(dims: &[usize], seed: u64) -> candle_core::Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..dims.iter().product())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    Tensor::from_vec(data, dims, &Device::Cpu)
}

/// Forward, then backward of the sum of the outputs.
fn fwd_bwd(f: impl Fn() -> candle_core::Result<Tensor>) -> candle_core::Result<()> {
    black_box(f()?.sum_all()?.backward()?);
    Ok(())
}

fn conv_ops(c: &mut Criterion) -> candle_core::Result<()> {
    let mut group = c.benchmark_group("conv");
    group.throughput(Throughput::Elements(BATCH as u64));
    // The first layer's input is data (no gradient); the second's is an activation (gradient).
    for (input, out, needs_grad) in [
        ([BATCH, 1, 28, 28], 32, false),
        ([BATCH, 32, 14, 14], 64, true),
    ] {
        let x = random(&input, 1)?;
        let x = if needs_grad {
            Var::from_tensor(&x)?.as_tensor().clone()
        } else {
            x
        };
        for layers in Layers::BOTH {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let layer = layers.conv2d(input[1], out, vb)?;
            let [n, c, h, w] = input;
            let id = format!("fwd_bwd/{n}x{c}x{h}x{w}->{out}/{}", layers.name());
            group.bench_function(id, |b| {
                b.iter(|| fwd_bwd(|| layer.forward(&x)).expect("conv runs"))
            });
        }
    }
    group.finish();

    // The whole block: ours fused, ours from separate ops (what the fused op replaced), candle.
    let mut group = c.benchmark_group("conv_block");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (input, out) in [([BATCH, 1, 28, 28], 32), ([BATCH, 32, 14, 14], 64)] {
        let x = Var::from_tensor(&random(&input, 1)?)?.as_tensor().clone();
        let [n, c, h, w] = input;
        for layers in Layers::BOTH {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let layer = layers.conv2d(c, out, vb)?;
            let id = format!("fwd_bwd/{n}x{c}x{h}x{w}->{out}/{}", layers.name());
            group.bench_function(id, |b| {
                b.iter(|| fwd_bwd(|| layer.block(&x)).expect("block runs"))
            });
            // The forward pass alone, as evaluation and the start of every step run it.
            let id = format!("fwd/{n}x{c}x{h}x{w}->{out}/{}", layers.name());
            group.bench_function(id, |b| {
                b.iter(|| black_box(layer.block(&x).expect("block runs")))
            });
            if let Layers::Ours = layers {
                let id = format!("fwd_bwd/{n}x{c}x{h}x{w}->{out}/ours_unfused");
                let unfused = || layers.max_pool2d(&layers.relu(&layer.forward(&x)?)?);
                group.bench_function(id, |b| b.iter(|| fwd_bwd(unfused).expect("block runs")));
            }
        }
    }
    group.finish();

    let mut group = c.benchmark_group("maxpool");
    group.throughput(Throughput::Elements(BATCH as u64));
    for input in [[BATCH, 32, 28, 28], [BATCH, 64, 14, 14]] {
        let x = Var::from_tensor(&random(&input, 2)?)?;
        for layers in Layers::BOTH {
            let [n, c, h, w] = input;
            let id = format!("fwd_bwd/{n}x{c}x{h}x{w}/{}", layers.name());
            group.bench_function(id, |b| {
                b.iter(|| fwd_bwd(|| layers.max_pool2d(x.as_tensor())).expect("max-pool runs"))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("relu");
    group.throughput(Throughput::Elements(BATCH as u64));
    let x = Var::from_tensor(&random(&[BATCH, 32, 28, 28], 3)?)?;
    for layers in Layers::BOTH {
        let id = format!("fwd_bwd/{BATCH}x32x28x28/{}", layers.name());
        group.bench_function(id, |b| {
            b.iter(|| fwd_bwd(|| layers.relu(x.as_tensor())).expect("relu runs"))
        });
    }
    group.finish();
    Ok(())
}

/// The reference CNN: conv 32 → pool → conv 64 → pool → dropout → dense 128 → dropout →
/// dense 10, ReLU after the convolutions and dense 128: the PyTorch peer's network (421,642
/// parameters on Fashion-MNIST).
struct ReferenceCnn {
    layers: Layers,
    conv1: ConvLayer,
    conv2: ConvLayer,
    dense1: Linear,
    dense2: Linear,
    dropout: Dropout,
}

impl ReferenceCnn {
    fn new(layers: Layers, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            layers,
            conv1: layers.conv2d(1, 32, vb.pp("conv1"))?,
            conv2: layers.conv2d(32, 64, vb.pp("conv2"))?,
            dense1: candle_nn::linear(64 * 7 * 7, 128, vb.pp("dense1"))?,
            dense2: candle_nn::linear(128, 10, vb.pp("dense2"))?,
            dropout: Dropout::new(0.5),
        })
    }

    fn forward_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let l = self.layers;
        let x = self.conv2.block(&self.conv1.block(x)?)?;
        let x = self.dropout.forward_t(&x.flatten_from(1)?, true)?;
        let x = self
            .dropout
            .forward_t(&l.relu(&self.dense1.forward(&x)?)?, true)?;
        self.dense2.forward(&x)
    }
}

/// One training step: forward, cross-entropy, backward, Adam update.
fn train_once(
    model: &ReferenceCnn,
    adam: &mut AdamW,
    x: &Tensor,
    labels: &Tensor,
) -> candle_core::Result<()> {
    let loss = candle_nn::loss::cross_entropy(&model.forward_train(x)?, labels)?;
    adam.backward_step(&loss)
}

fn train_step(c: &mut Criterion) -> candle_core::Result<()> {
    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(10));
    let x = random(&[BATCH, 1, 28, 28], 4)?;
    let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 10).collect();
    let labels = Tensor::new(labels.as_slice(), &Device::Cpu)?;
    for layers in Layers::BOTH {
        let varmap = VarMap::new();
        let model = ReferenceCnn::new(
            layers,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )?;
        let params = ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut adam = AdamW::new(varmap.all_vars(), params)?;
        let id = format!("reference_cnn/{BATCH}x1x28x28/{}", layers.name());
        group.bench_function(id, |b| {
            b.iter(|| train_once(&model, &mut adam, &x, &labels).expect("training step runs"))
        });
    }
    group.finish();
    Ok(())
}

fn benches(c: &mut Criterion) {
    if let Err(error) = conv_ops(c).and_then(|()| train_step(c)) {
        panic!("benchmark setup failed: {error}");
    }
}

criterion_group! {
    name = conv_benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(conv_benches);
