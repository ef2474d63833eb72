//! One training step (forward, loss, backward, Adam update) and one evaluation forward pass of
//! the reference CNN (conv32 → pool → conv64 → pool → dense128 → dense10, 421,642 params) on a
//! seeded batch of 64 Fashion-MNIST-shaped images, on the CPU.
//!
//! `cargo bench --bench train_step`; the full-epoch figure comes from
//! `track train --json` (see the trainer's crate docs).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::candle::{DType, Device, ModuleT, Tensor};
use trainer::candle_nn::VarMap;
use trainer::config::{ModelConfig, OptimConfig};
use trainer::model::{Cnn, InputShape, trainable_vars};
use trainer::optim::{Optimizer, cross_entropy};

const BATCH: usize = 64;
const INPUT: InputShape = InputShape {
    channels: 1,
    height: 28,
    width: 28,
    classes: 10,
};

fn seeded_batch(device: &Device) -> trainer::candle::Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = BATCH * INPUT.channels * INPUT.height * INPUT.width;
    let pixels: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..2.0)).collect();
    let labels: Vec<u32> = (0..BATCH).map(|_| rng.random_range(0..10)).collect();
    let images = Tensor::from_vec(
        pixels,
        (BATCH, INPUT.channels, INPUT.height, INPUT.width),
        device,
    )?;
    Ok((images, Tensor::from_vec(labels, BATCH, device)?))
}

fn bench_train_step(c: &mut Criterion) {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let model = match Cnn::new(&ModelConfig::default(), INPUT, &varmap, &device, 0) {
        Ok(model) => model,
        Err(e) => panic!("building the reference CNN: {e}"),
    };
    let mut optimizer = Optimizer::new(trainable_vars(&varmap), &OptimConfig::default());
    let (images, labels) = match seeded_batch(&device) {
        Ok(batch) => batch,
        Err(e) => panic!("building the batch: {e}"),
    };
    let name = format!(
        "ref_cnn/{BATCH}x{}x{}x{}",
        INPUT.channels, INPUT.height, INPUT.width
    );
    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function(&name, |b| {
        b.iter(|| {
            let mut step = || -> trainer::Result<f32> {
                let logits = model.forward_t(&images, true)?;
                let loss = cross_entropy(&logits, &labels, 0.0)?;
                optimizer.backward_step(&loss)?;
                Ok(loss.to_scalar::<f32>()?)
            };
            match step() {
                Ok(loss) => black_box(loss),
                Err(e) => panic!("train step: {e}"),
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("eval_forward");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function(&name, |b| {
        b.iter(|| {
            match model
                .forward_t(&images, false)
                .and_then(|l| l.to_dtype(DType::F32))
            {
                Ok(logits) => black_box(logits),
                Err(e) => panic!("forward: {e}"),
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench_train_step
}
/// criterion's `main`, preceded by the settings `track train` makes before its first thread.
fn main() {
    // SAFETY: the first statement of `main`: no other thread runs yet.
    #[allow(unsafe_code)]
    unsafe {
        trainer::device::keep_candle_elementwise_on_caller()
    };
    trainer::device::make_caller_a_rayon_worker();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
