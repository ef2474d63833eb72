//! The one output flag (`--format table|csv|json`, `--json` its alias) and how results are
//! printed in each format: tables through the tracker's [`Table`], documents as JSON.
//!
//! What `csv` holds is always a table with a header row: a listing's rows (`query`, `runs`,
//! `experiments`), or a command's main table (`show`: the per-epoch metrics, `analyze`: the
//! per-epoch analysis, `compare` and `sweep`: the ranking, `train`: the per-epoch history,
//! `pipeline`: the stages, `stats`: the channels, `export`: one row per experiment).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use tracker::client::table::{Format, Table};

/// The output flags of a command that prints results.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputArgs {
    /// Output format: `table` (for people), `csv` (the command's main table, with a header row)
    /// or `json`.
    #[arg(long, value_name = "table|csv|json", conflicts_with = "json")]
    format: Option<Format>,
    /// Short for `--format json`.
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    /// The chosen format: `--format`, `json` with `--json`, else `table`.
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format.unwrap_or_default()
        }
    }

    /// Prints a result whose `table` format is text for people: `json` as one JSON document
    /// (pretty-printed, or on one line when `one_line`), `csv` as `csv()`'s table, `table` by
    /// `text`.
    pub fn print<T: Serialize + ?Sized>(
        &self,
        json: &T,
        one_line: bool,
        csv: impl FnOnce() -> Table,
        text: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.format() {
            Format::Json if one_line => {
                serde_json::to_writer(&mut out, json)?;
                writeln!(out)?;
            }
            Format::Json => write_json(&mut out, json)?,
            Format::Csv => csv().write(Format::Csv, &mut out)?,
            Format::Table => text(&mut out)?,
        }
        out.flush().context("writing to stdout")
    }
}

/// Writes `value` as pretty-printed JSON and a newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints `table` in `format` to stdout; exit 1 when it has no rows.
pub fn print_table(table: &Table, format: Format) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    table.write(format, &mut out).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(if table.rows.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A table of `(key, value)` rows under the columns `key` and `value`.
pub fn key_values<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Table {
    use tracker::client::table::Cell;
    Table {
        columns: vec!["key".into(), "value".into()],
        rows: pairs
            .map(|(k, v)| vec![Cell::Text(k.into()), Cell::Text(v.into())])
            .collect(),
    }
}

/// A table from column names and rows of cells.
pub fn table<const N: usize>(
    columns: [&str; N],
    rows: impl IntoIterator<Item = [tracker::client::table::Cell; N]>,
) -> Table {
    Table {
        columns: columns.map(String::from).to_vec(),
        rows: rows.into_iter().map(|row| row.to_vec()).collect(),
    }
}

/// Terminal width when `COLUMNS` does not say: the common wide terminal.
const FALLBACK_WIDTH: usize = 120;

/// The terminal's width in characters: `COLUMNS` when set, else 120.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&w: &usize| w > 0)
        .unwrap_or(FALLBACK_WIDTH)
}

/// `table` cut to its first columns that fit `width` characters as an aligned text table
/// (at least `keep` of them, however wide).
pub fn fit_to_width(table: &Table, width: usize, keep: usize) -> Table {
    let widest_line = |t: &Table| {
        let mut text = Vec::new();
        // Writing to memory cannot fail.
        let _ = t.write(Format::Table, &mut text);
        String::from_utf8_lossy(&text)
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
    };
    let mut fitted = table.clone();
    while fitted.columns.len() > keep && widest_line(&fitted) > width {
        fitted.columns.pop();
        for row in &mut fitted.rows {
            row.pop();
        }
    }
    fitted
}

#[cfg(test)]
mod tests {
    use tracker::client::table::Cell;

    use super::*;

    #[test]
    fn a_wide_table_is_cut_to_the_columns_that_fit() {
        let wide = table(
            ["id", "name", "a_long_column_name", "another_long_one"],
            [[
                Cell::Text("1".into()),
                Cell::Text("run".into()),
                Cell::Float(0.5),
                Cell::Float(0.25),
            ]],
        );
        let fitted = fit_to_width(&wide, 30, 2);
        assert_eq!(fitted.columns, ["id", "name", "a_long_column_name"]);
        assert_eq!(fitted.rows[0].len(), 3);
        assert_eq!(fit_to_width(&wide, 5, 2).columns, ["id", "name"]);
        assert_eq!(fit_to_width(&wide, 200, 2), wide);
    }
}
