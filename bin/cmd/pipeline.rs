//! `track pipeline`: run only the data pipeline and report throughput, bottleneck, skips and a
//! digest of every batch byte (equal digests = identical batches). Its config is a run config
//! (`--config`, `--set`), the other flags shorthands applied after it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use pipeline::config::{Augment, Normalize, PipelineConfig, parse_transform_list};
use pipeline::{Dataset, Loader, Mode, PipelineReport, Split};
use serde::Serialize;
use tracker::client::table::{Cell, Format, Table};

use crate::common::data::DataArgs;
use crate::common::output::table;
use crate::common::progress;
use crate::common::{GlobalArgs, OutputArgs};

/// Flags of `track pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Split to run: train (augmented, shuffled), val or test (deterministic).
    #[arg(long, default_value = "train")]
    split: Split,
    /// Epochs to run (epochs after the first read decoded images from the cache).
    #[arg(long, default_value_t = 1)]
    epochs: u64,
    /// Samples per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Run seed (shuffling and augmentation).
    #[arg(long)]
    seed: Option<u64>,
    /// Training augmentation preset: none, standard or custom (with --transforms).
    #[arg(long, value_name = "none|standard|custom")]
    augment: Option<String>,
    /// Training transforms, in order, e.g.
    /// `random_resized_crop(size=224),hflip,rotation(degrees=15),color_jitter(brightness=0.2)`;
    /// sets the augmentation to custom.
    #[arg(long, value_name = "LIST")]
    transforms: Option<String>,
    /// Evaluation transforms, in order (deterministic only), e.g. `resize(size=256),center_crop(size=224)`.
    #[arg(long, value_name = "LIST")]
    eval_transforms: Option<String>,
    /// Normalization: none, imagenet or dataset.
    #[arg(long, value_name = "none|imagenet|dataset")]
    normalize: Option<String>,
    /// Output image side in pixels.
    #[arg(long)]
    size: Option<u32>,
    /// Decoded-image cache budget in MiB (0: no cache).
    #[arg(long)]
    cache_mb: Option<u64>,
    // `--format`/`--json`: `table` prints the report as text, `json` one JSON object (one
    // line), `csv` the stage table.
    #[command(flatten)]
    output: OutputArgs,
    /// Write a PNG grid of the first batch's (denormalized) images.
    #[arg(long, value_name = "FILE.png")]
    preview: Option<PathBuf>,
}

/// The `--json` report: the epochs' counters summed.
#[derive(Debug, Serialize)]
struct Summary {
    data: String,
    split: Split,
    epochs: u64,
    batch_size: usize,
    shape: [usize; 3],
    samples: u64,
    batches: u64,
    wall_secs: f64,
    images_per_sec: f64,
    stages: Vec<pipeline::StageReport>,
    bottleneck: String,
    skipped: BTreeMap<String, u64>,
    cache_hits: u64,
    digest: String,
    per_epoch: Vec<EpochLine>,
    /// Peak resident memory of the process at the end (Linux `VmHWM`; absent elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
struct EpochLine {
    epoch: u64,
    samples: u64,
    wall_secs: f64,
    images_per_sec: f64,
    bottleneck: String,
    cache_hits: u64,
}

/// Runs `track pipeline`.
pub fn run(args: PipelineArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let mut config = args.data.resolve()?;
    if let Some(b) = args.batch_size {
        config.loader.batch_size = b;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(mb) = args.cache_mb {
        config.loader.cache_mb = mb;
    }
    if let Some(size) = args.size {
        config.transforms.size = Some(size);
    }
    if let Some(a) = &args.augment {
        config.transforms.augment = match a.as_str() {
            "none" => Augment::None,
            "standard" => Augment::Standard,
            "custom" => Augment::Custom,
            other => anyhow::bail!("--augment `{other}`: expected none, standard or custom"),
        };
    }
    if let Some(list) = &args.transforms {
        config.transforms.train = parse_transform_list(list).context("--transforms")?;
        config.transforms.augment = Augment::Custom;
    }
    if let Some(list) = &args.eval_transforms {
        config.transforms.eval = parse_transform_list(list).context("--eval-transforms")?;
    }
    if let Some(n) = &args.normalize {
        config.transforms.normalize = match n.as_str() {
            "none" => Normalize::None,
            "imagenet" => Normalize::Imagenet,
            "dataset" => Normalize::Dataset,
            other => anyhow::bail!("--normalize `{other}`: expected none, imagenet or dataset"),
        };
    }
    config.validate()?;
    let dataset = Dataset::open(&config.data)?;
    let mode = if args.split == Split::Train {
        Mode::Train
    } else {
        Mode::Eval
    };
    let mut loader = Loader::new(&dataset, args.split, mode, &config)?;
    loader.keep_digest();
    if loader.is_empty() {
        anyhow::bail!(
            "split `{}` of {} is empty",
            args.split.name(),
            dataset.path().display()
        );
    }
    let bar = progress::bar(
        loader.batches_per_epoch() as u64 * args.epochs,
        global.quiet || args.output.format() != Format::Table,
    );
    bar.set_prefix("pipeline");
    let mut reports: Vec<PipelineReport> = Vec::new();
    let mut preview = args.preview.clone();
    for epoch in 0..args.epochs {
        let mut running = loader.epoch(epoch)?;
        while let Some(batch) = running.next() {
            let batch = batch?;
            if let Some(path) = preview.take() {
                let (mean, std) = loader.normalization();
                pipeline::preview::write_grid(&path, &batch, mean, std, 64)?;
            }
            running.recycle(batch);
            bar.inc(1);
        }
        let report = running.join()?;
        bar.set_message(format!(
            "epoch {epoch}: {:.0} images/s",
            report.images_per_sec
        ));
        reports.push(report);
    }
    bar.finish_and_clear();
    let summary = summarize(
        &dataset,
        &loader,
        &args,
        &config,
        reports,
        loader.digest().context("the loader kept no batch digest")?,
        start.elapsed().as_secs_f64(),
    );
    args.output.print(
        &summary,
        true,
        || stage_table(&summary),
        |_| {
            print_table(&summary);
            Ok(())
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn summarize(
    dataset: &Dataset,
    loader: &Loader,
    args: &PipelineArgs,
    config: &PipelineConfig,
    reports: Vec<PipelineReport>,
    digest: String,
    wall: f64,
) -> Summary {
    let merged = PipelineReport::merge(&reports);
    let skipped: BTreeMap<String, u64> = merged
        .iter()
        .flat_map(|m| &m.skipped)
        .map(|(reason, n)| (reason.name().to_string(), *n))
        .collect();
    let samples = merged.as_ref().map_or(0, |m| m.samples);
    Summary {
        data: dataset.path().display().to_string(),
        split: args.split,
        epochs: args.epochs,
        batch_size: config.loader.batch_size,
        shape: loader.shape(),
        samples,
        batches: merged.as_ref().map_or(0, |m| m.batches),
        wall_secs: wall,
        images_per_sec: samples as f64 / wall.max(1e-9),
        stages: merged
            .as_ref()
            .map(|m| m.stages.clone())
            .unwrap_or_default(),
        bottleneck: merged
            .as_ref()
            .map(|m| m.bottleneck.clone())
            .unwrap_or_default(),
        skipped,
        cache_hits: merged.as_ref().map_or(0, |m| m.cache_hits),
        digest,
        peak_rss_bytes: pipeline::report::peak_resident_bytes(),
        per_epoch: reports
            .iter()
            .map(|r| EpochLine {
                epoch: r.epoch,
                samples: r.samples,
                wall_secs: r.wall_secs,
                images_per_sec: r.images_per_sec,
                bottleneck: r.bottleneck.clone(),
                cache_hits: r.cache_hits,
            })
            .collect(),
    }
}

/// One row per stage: workers, items, throughput, busy and blocked time, utilization.
fn stage_table(s: &Summary) -> Table {
    let count = |n: u64| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
    table(
        [
            "stage",
            "workers",
            "items",
            "images_per_sec",
            "busy_secs",
            "blocked_in_secs",
            "blocked_out_secs",
            "utilization",
        ],
        s.stages.iter().map(|st| {
            [
                Cell::Text(st.name.clone()),
                count(st.workers as u64),
                count(st.items),
                Cell::Float(st.images_per_sec),
                Cell::Float(st.busy_secs),
                Cell::Float(st.blocked_in_secs),
                Cell::Float(st.blocked_out_secs),
                Cell::Float(st.utilization),
            ]
        }),
    )
}

fn print_table(s: &Summary) {
    println!(
        "{} [{}] {} epoch(s), {} samples in {} batches of up to {}, images {:?} (C, H, W)",
        s.data,
        s.split.name(),
        s.epochs,
        s.samples,
        s.batches,
        s.batch_size,
        s.shape
    );
    println!(
        "{:<8} {:>7} {:>9} {:>11} {:>9} {:>12} {:>13} {:>6}",
        "stage", "workers", "items", "images/s", "busy s", "blocked in s", "blocked out s", "util"
    );
    for st in &s.stages {
        println!(
            "{:<8} {:>7} {:>9} {:>11.1} {:>9.2} {:>12.2} {:>13.2} {:>5.0}%",
            st.name,
            st.workers,
            st.items,
            st.images_per_sec,
            st.busy_secs,
            st.blocked_in_secs,
            st.blocked_out_secs,
            st.utilization * 100.0
        );
    }
    println!("bottleneck: {}", s.bottleneck);
    for e in &s.per_epoch {
        println!(
            "epoch {}: {} samples, {:.2} s, {:.1} images/s, {} from the decode cache",
            e.epoch, e.samples, e.wall_secs, e.images_per_sec, e.cache_hits
        );
    }
    if s.skipped.is_empty() {
        println!("skipped: none");
    } else {
        let parts: Vec<String> = s.skipped.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("skipped: {}", parts.join(", "));
    }
    println!(
        "total: {:.1} images/s over {:.2} s",
        s.images_per_sec, s.wall_secs
    );
    println!("digest: {}", s.digest);
}
