//! Rows under named columns for people and scripts, written as an aligned text table, CSV or
//! JSON: the table of a comparison, and the run tables `track query`, `track runs` and
//! `track show` print (built by the tracker from its runs).

use std::io::{self, Write};

use serde_json::{Map, Value};

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
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .map_or_else(|| ms.to_string(), |t| t.naive_utc().to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

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
