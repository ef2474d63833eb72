//! Analyses and comparisons as text for people: what `analyze`, `compare`, `sweep` and `demo`
//! print, and the per-epoch table of an analysis (also `analyze --format csv`).

use std::io::Write;

use tracker::analysis::{self, Analysis, Comparison};
use tracker::client::table::{Cell, Format, Table};

/// Writes an analysis for people: verdict, best epoch, gaps, causes and the epoch table.
pub fn print_analysis(out: &mut impl Write, name: &str, a: &Analysis) -> anyhow::Result<()> {
    let basis = match a.gap_basis {
        analysis::GapBasis::TrainEval => "training set evaluated like validation",
        analysis::GapBasis::RunningTrain => "running training metrics",
    };
    writeln!(out, "run {name} ({}), {} epochs", a.run_id, a.epochs)?;
    writeln!(out, "  verdict: {}", a.verdict.label())?;
    writeln!(out, "  {}", a.summary)?;
    let acc = a
        .best
        .val_acc
        .map(|v| format!(", val acc {:.2}%", v * 100.0))
        .unwrap_or_default();
    let se = a
        .best
        .se
        .map(|se| format!(" ± {se:.4}"))
        .unwrap_or_default();
    writeln!(
        out,
        "  best epoch {} by {} = {:.4}{se} (val loss {:.4}{acc})",
        a.best.epoch, a.best.metric, a.best.value, a.best.val_loss
    )?;
    let noise = &a.noise;
    let loss_se = noise
        .val_loss_se
        .map_or("unknown".to_string(), |se| format!("{se:.4}"));
    let acc_se = noise
        .val_acc_se
        .map(|se| format!(", accuracy ±{:.1} pts", se * 100.0))
        .unwrap_or_default();
    writeln!(
        out,
        "  noise of one epoch: validation loss ±{loss_se}{acc_se} ({})",
        noise.describe()
    )?;
    let gap = |v: Option<f64>, pct: bool| match v {
        Some(v) if pct => format!("{:+.2} pts", v * 100.0),
        Some(v) => format!("{v:+.4}"),
        None => "-".to_string(),
    };
    writeln!(
        out,
        "  final gap: loss {}, accuracy {} (against the {basis})",
        gap(a.final_loss_gap, false),
        gap(a.final_acc_gap, true)
    )?;
    if a.causes.is_empty() {
        writeln!(out, "  likely causes: none to report")?;
    } else {
        writeln!(out, "  likely causes, most likely first:")?;
        for (i, c) in a.causes.iter().enumerate() {
            let current = c
                .current
                .as_deref()
                .map(|v| format!(" (now {v})"))
                .unwrap_or_default();
            writeln!(out, "   {}. {}", i + 1, c.evidence)?;
            writeln!(
                out,
                "      → set {}{current} to {}",
                c.config_key, c.suggested
            )?;
        }
    }
    writeln!(out)?;
    epoch_table(a).write(Format::Table, out)?;
    Ok(())
}

/// The per-epoch table of an analysis: losses, accuracies, gaps, and the best and onset epochs
/// marked.
pub fn epoch_table(a: &Analysis) -> Table {
    let columns = [
        "epoch",
        "train_loss",
        "train_eval_loss",
        "val_loss",
        "loss_gap",
        "train_acc",
        "val_acc",
        "acc_gap",
        "",
    ];
    let f = |v: Option<f64>| v.map_or(Cell::Null, Cell::Float);
    let rows = a
        .per_epoch
        .iter()
        .map(|r| {
            let mark = [
                (r.epoch == a.best.epoch).then_some("best"),
                (Some(r.epoch) == a.onset_epoch).then_some("onset"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            vec![
                Cell::Int(r.epoch),
                f(r.train_loss),
                f(r.train_eval_loss),
                Cell::Float(r.val_loss),
                f(r.loss_gap),
                f(r.train_eval_acc.or(r.train_acc)),
                f(r.val_acc),
                f(r.acc_gap),
                Cell::Text(mark),
            ]
        })
        .collect();
    Table {
        columns: columns.map(String::from).to_vec(),
        rows,
    }
}

/// Writes a comparison for people.
pub fn print_comparison(out: &mut impl Write, comparison: &Comparison) -> anyhow::Result<()> {
    if comparison.differing.is_empty() {
        writeln!(out, "params: the runs share every param")?;
    } else {
        writeln!(
            out,
            "params that differ: {}",
            comparison.differing.join(", ")
        )?;
    }
    writeln!(out, "best outcome first ({}):", comparison.ranking)?;
    comparison.table().write(Format::Table, out)?;
    Ok(())
}
