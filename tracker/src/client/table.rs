//! Tables of runs for people and scripts: the rows `track query`, `track runs` and `track show`
//! print, rendered as an aligned text table, CSV or JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{Map, Value};

use crate::entities::{Metric, Run};

/// The columns every run table starts with, unless `--columns` says otherwise.
pub const DEFAULT_RUN_COLUMNS: [&str; 5] = [
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "start_time",
];

/// How a [`Table`] is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal; numbers to 6 significant digits, times in UTC.
    #[default]
    Table,
    /// RFC 4180 CSV with a header row; full-precision numbers, times in UTC.
    Csv,
    /// A JSON array of objects; full-precision numbers (non-finite ones as `"NaN"`,
    /// `"Infinity"`, `"-Infinity"`), times as ms since the Unix epoch.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "unknown format {s:?} (expected table, csv or json)"
            )),
        }
    }
}

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing (a param or metric the run lacks).
    Null,
    /// Text.
    Text(String),
    /// An integer (a step).
    Int(i64),
    /// A double (a metric value).
    Float(f64),
    /// A time, ms since the Unix epoch.
    Time(i64),
}

impl Cell {
    fn text(&self, format: Format) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) if format == Format::Table => short_float(*f),
            Cell::Float(f) => f.to_string(),
            Cell::Time(ms) => format_time(*ms),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Int(i) | Cell::Time(i) => Value::from(*i),
            Cell::Float(f) => serde_json::Number::from_f64(*f).map_or_else(
                || {
                    Value::String(
                        if f.is_nan() {
                            "NaN"
                        } else if *f > 0.0 {
                            "Infinity"
                        } else {
                            "-Infinity"
                        }
                        .into(),
                    )
                },
                Value::Number,
            ),
        }
    }
}

/// A time given in ms since the Unix epoch as `YYYY-MM-DD HH:MM:SS` (UTC, whole seconds).
pub fn format_time(ms: i64) -> String {
    arrow::temporal_conversions::timestamp_s_to_datetime(ms.div_euclid(1000))
        .map_or_else(|| ms.to_string(), |t| t.to_string())
}

/// `f` to 6 significant digits, without trailing zeros.
fn short_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return f.to_string();
    }
    let magnitude = f.abs().log10().floor() as i32;
    if (-4..6).contains(&magnitude) {
        let decimals = usize::try_from(5 - magnitude).unwrap_or(0);
        let s = format!("{f:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{f:.5e}")
    }
}

/// Rows under named columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Writes the table in `format`.
    pub fn write(&self, format: Format, out: &mut impl Write) -> io::Result<()> {
        match format {
            Format::Table => self.write_aligned(out),
            Format::Csv => self.write_csv(out),
            Format::Json => {
                let rows: Vec<Value> = self
                    .rows
                    .iter()
                    .map(|row| {
                        let object: Map<String, Value> = self
                            .columns
                            .iter()
                            .cloned()
                            .zip(row.iter().map(Cell::json))
                            .collect();
                        Value::Object(object)
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &rows)?;
                writeln!(out)
            }
        }
    }

    fn write_aligned(&self, out: &mut impl Write) -> io::Result<()> {
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| c.text(Format::Table)).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                texts
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
            let padded: Vec<String> = cells
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        writeln!(
            out,
            "{}",
            line(&mut self.columns.iter().map(String::as_str))
        )?;
        for row in &texts {
            writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
        }
        Ok(())
    }

    fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(&self.columns)?;
        for row in &self.rows {
            writer.write_record(row.iter().map(|c| c.text(Format::Csv)))?;
        }
        writer.flush()
    }
}

/// One value of a run by column name: `run_id`, `run_name`, `experiment_id`, `status`,
/// `user_id`, `start_time`, `end_time`, `artifact_uri`, `params.<key>`, `metrics.<key>`
/// (latest value), `tags.<key>`.
pub fn run_cell(run: &Run, column: &str) -> Cell {
    let text = |s: &str| {
        if s.is_empty() {
            Cell::Null
        } else {
            Cell::Text(s.to_string())
        }
    };
    let info = &run.info;
    match column {
        "run_id" => text(&info.run_id),
        "run_name" => text(&info.run_name),
        "experiment_id" => text(&info.experiment_id),
        "status" => Cell::Text(info.status.to_string()),
        "user_id" => text(&info.user_id),
        "start_time" => info.start_time.map_or(Cell::Null, Cell::Time),
        "end_time" => info.end_time.map_or(Cell::Null, Cell::Time),
        "artifact_uri" => text(&info.artifact_uri),
        _ => {
            if let Some(key) = column.strip_prefix("params.") {
                run.data.param(key).map_or(Cell::Null, text)
            } else if let Some(key) = column.strip_prefix("metrics.") {
                run.data.metric(key).map_or(Cell::Null, Cell::Float)
            } else if let Some(key) = column.strip_prefix("tags.") {
                run.data.tag(key).map_or(Cell::Null, text)
            } else {
                Cell::Null
            }
        }
    }
}

/// The default columns of a run table: [`DEFAULT_RUN_COLUMNS`], then every param and every
/// metric any of `runs` has, each sorted by key.
pub fn default_run_columns(runs: &[Run]) -> Vec<String> {
    let params: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.params.iter().map(|p| p.key.as_str()))
        .collect();
    let metrics: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str()))
        .collect();
    DEFAULT_RUN_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(params.into_iter().map(|k| format!("params.{k}")))
        .chain(metrics.into_iter().map(|k| format!("metrics.{k}")))
        .collect()
}

/// A table of `runs` with `columns` (see [`run_cell`]).
pub fn runs_table(runs: &[Run], columns: &[String]) -> Table {
    Table {
        columns: columns.to_vec(),
        rows: runs
            .iter()
            .map(|run| columns.iter().map(|c| run_cell(run, c)).collect())
            .collect(),
    }
}

/// A run's metrics one row per step, one column per key (sorted): the per-epoch table. When a
/// key has several points at one step, the latest (by timestamp, then value) is shown.
pub fn epochs_table(metrics: &[Metric]) -> Table {
    let keys: BTreeSet<&str> = metrics.iter().map(|m| m.key.as_str()).collect();
    let mut steps: BTreeMap<i64, BTreeMap<&str, &Metric>> = BTreeMap::new();
    for metric in metrics {
        let slot = steps
            .entry(metric.step)
            .or_default()
            .entry(metric.key.as_str())
            .or_insert(metric);
        if metric
            .timestamp
            .cmp(&slot.timestamp)
            .then(metric.value.total_cmp(&slot.value))
            .is_gt()
        {
            *slot = metric;
        }
    }
    Table {
        columns: std::iter::once("step".to_string())
            .chain(keys.iter().map(|k| k.to_string()))
            .collect(),
        rows: steps
            .into_iter()
            .map(|(step, row)| {
                std::iter::once(Cell::Int(step))
                    .chain(
                        keys.iter()
                            .map(|k| row.get(k).map_or(Cell::Null, |m| Cell::Float(m.value))),
                    )
                    .collect()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(key: &str, step: i64, timestamp: i64, value: f64) -> Metric {
        Metric {
            key: key.into(),
            value,
            timestamp,
            step,
        }
    }

    #[test]
    fn epochs_table_has_one_row_per_step_and_the_latest_point_per_key() {
        let table = epochs_table(&[
            point("val_loss", 1, 10, 0.5),
            point("train_loss", 0, 5, 0.9),
            point("val_loss", 0, 5, 0.8),
            point("val_loss", 1, 20, 0.4),
        ]);
        assert_eq!(table.columns, ["step", "train_loss", "val_loss"]);
        assert_eq!(
            table.rows,
            vec![
                vec![Cell::Int(0), Cell::Float(0.9), Cell::Float(0.8)],
                vec![Cell::Int(1), Cell::Null, Cell::Float(0.4)],
            ]
        );
    }

    #[test]
    fn formats_write_the_same_cells() {
        let table = Table {
            columns: vec!["name".into(), "loss".into(), "at".into()],
            rows: vec![vec![
                Cell::Text("a,b".into()),
                Cell::Float(f64::NAN),
                Cell::Time(1_795_761_062_033),
            ]],
        };
        let render = |format| {
            let mut out = Vec::new();
            table.write(format, &mut out).expect("writes");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(
            render(Format::Csv),
            "name,loss,at\n\"a,b\",NaN,2026-11-27 06:31:02\n"
        );
        let json: Value = serde_json::from_str(&render(Format::Json)).expect("json");
        assert_eq!(
            json,
            serde_json::json!([{"name": "a,b", "loss": "NaN", "at": 1_795_761_062_033_i64}])
        );
        assert!(render(Format::Table).starts_with("name  loss  at"));
    }

    #[test]
    fn short_floats_keep_six_significant_digits() {
        assert_eq!(short_float(0.123456789), "0.123457");
        assert_eq!(short_float(2.5), "2.5");
        assert_eq!(short_float(1234.5678), "1234.57");
        assert_eq!(short_float(0.00001234), "1.23400e-5");
    }
}
