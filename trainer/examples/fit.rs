//! Trains a run config with no tracker at all and prints each epoch's metrics as one JSON line:
//! the smallest way to check the trainer on a new machine, a GPU one included (the `cuda`
//! feature needs only this crate's dependencies, not the daemon's).
//!
//! ```text
//! cargo run --release -p trainer --example fit -- [--device cpu|cuda[:N]] [--config run.toml] [--set key=value]...
//! ```

use std::path::PathBuf;

use trainer::config::RunConfig;
use trainer::device::{device_name, parse_device};
use trainer::fit::{FitOptions, NoProgress, fit};
use trainer::report::MemoryReporter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: the first statement of `main`: no other thread runs yet.
    #[allow(unsafe_code)]
    unsafe {
        trainer::device::keep_candle_elementwise_on_caller()
    };
    trainer::device::make_caller_a_rayon_worker();
    let mut device = "cpu".to_string();
    let mut config: Option<PathBuf> = None;
    let mut sets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--device" => device = value()?,
            "--config" => config = Some(value()?.into()),
            "--set" => sets.push(value()?),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let config = RunConfig::load(config.as_deref(), &sets)?;
    let artifacts = std::env::temp_dir().join(format!("gapwatch-fit-{}", std::process::id()));
    let mut options = FitOptions::new(&artifacts);
    options.device = parse_device(&device)?;
    let mut reporter = MemoryReporter::default();
    let summary = fit(&config, &mut reporter, &mut NoProgress, &options)?;
    for epoch in &summary.history {
        let fields: Vec<String> = epoch
            .pairs()
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        println!("{{\"epoch\":{},{}}}", epoch.epoch, fields.join(","));
    }
    let test = summary.test.map(|t| format!("{:.4}", t.acc));
    println!(
        "{{\"device\":\"{}\",\"params\":{},\"train_size\":{},\"test_acc\":{}}}",
        device_name(&options.device),
        summary.num_params,
        summary.train_size,
        test.as_deref().unwrap_or("null")
    );
    std::fs::remove_dir_all(&artifacts).ok();
    Ok(())
}
