//! Training curves as an image: loss and accuracy per epoch side by side, the generalization gap
//! shaded, the best epoch and the onset of overfitting marked, several runs overlaid.
//!
//! Drawn with plotters from [`Analysis`] values (no store access); PNG or SVG by the output
//! file's extension. Text uses the bundled DejaVu Sans (`tracker/insight/assets/`), so plots look
//! the same on machines without system fonts. The file is written atomically (temp file, rename).
//! Runs that share a best epoch get their "best N" labels stacked, one line apart.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::analysis::{Analysis, EpochRow};
use crate::error::{Error, Result};

/// Default image width in pixels.
pub const DEFAULT_WIDTH_PX: u32 = 1400;
/// Default image height in pixels.
pub const DEFAULT_HEIGHT_PX: u32 = 560;

/// DejaVu Sans (Bitstream Vera licence, `tracker/insight/assets/DejaVuSans-LICENSE`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name plot text asks for.
const FAMILY: &str = "sans-serif";

/// Run colours, in overlay order (colour-blind friendly: Okabe–Ito).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// One run to draw: its analysis and the name shown in the legend.
#[derive(Debug, Clone, Copy)]
pub struct PlotRun<'a> {
    /// Legend name (the run name, or its id).
    pub label: &'a str,
    /// The run's analysis (its per-epoch table, best epoch and onset).
    pub analysis: &'a Analysis,
}

/// Image size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSize {
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
}

impl Default for PlotSize {
    fn default() -> Self {
        Self {
            width_px: DEFAULT_WIDTH_PX,
            height_px: DEFAULT_HEIGHT_PX,
        }
    }
}

/// The image format of `path`, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

/// Draws `runs` into `out` (`.png` or `.svg`), replacing it atomically.
///
/// Errors when the extension is neither `png` nor `svg`, when `runs` is empty, or when the file
/// cannot be written.
pub fn plot_runs(runs: &[PlotRun<'_>], out: &Path, size: PlotSize) -> Result<()> {
    let format = match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Format::Png,
        Some("svg") => Format::Svg,
        _ => {
            return Err(Error::invalid(format!(
                "plot output {}: the extension must be .png or .svg",
                out.display()
            )));
        }
    };
    if runs.is_empty() {
        return Err(Error::invalid("plot: no runs to draw"));
    }
    if size.width_px < 200 || size.height_px < 150 {
        return Err(Error::invalid(format!(
            "plot size {}x{}: at least 200x150 pixels",
            size.width_px, size.height_px
        )));
    }
    register_font();
    let draw_error = |e: String| Error::Io {
        path: out.to_path_buf(),
        source: std::io::Error::other(format!("drawing the plot: {e}")),
    };
    let dims = (size.width_px, size.height_px);
    let bytes = match format {
        Format::Png => {
            let mut rgb = vec![0u8; size.width_px as usize * size.height_px as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, dims).into_drawing_area();
                draw(&root, runs).map_err(draw_error)?;
            }
            encode_png(rgb, size).map_err(|e| draw_error(e.to_string()))?
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, dims).into_drawing_area();
                draw(&root, runs).map_err(draw_error)?;
            }
            svg.into_bytes()
        }
    };
    write_atomically(out, &bytes)
}

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            tracing::warn!("the bundled plot font did not load; plot text may be missing");
        }
    });
}

fn encode_png(rgb: Vec<u8>, size: PlotSize) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png).write_image(
        &rgb,
        size.width_px,
        size.height_px,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(png)
}

use image::ImageEncoder as _;

fn write_atomically(out: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: out.to_path_buf(),
        source,
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.persist(out).map_err(|e| io(e.error))?;
    Ok(())
}

/// What one panel shows.
#[derive(Clone, Copy)]
enum Panel {
    Loss,
    Accuracy,
}

impl Panel {
    fn title(self) -> &'static str {
        match self {
            Panel::Loss => "loss (lower is better)",
            Panel::Accuracy => "accuracy (higher is better)",
        }
    }

    /// (training, validation) values of a row in this panel.
    fn values(self, row: &EpochRow) -> (Option<f64>, Option<f64>) {
        match self {
            Panel::Loss => (row.train_eval_loss.or(row.train_loss), Some(row.val_loss)),
            Panel::Accuracy => (row.train_eval_acc.or(row.train_acc), row.val_acc),
        }
    }
}

/// Height of one line of marker text, in pixels: the step between stacked labels.
const LABEL_LINE_PX: i32 = 18;

/// Where each run's "best N" label goes, in pixels from its best-epoch marker: below and left of
/// the marker, one line lower for each earlier run with the same best epoch, so runs sharing a
/// best epoch do not print their labels over each other.
fn best_label_offsets(runs: &[PlotRun<'_>]) -> Vec<(i32, i32)> {
    runs.iter()
        .enumerate()
        .map(|(i, run)| {
            let earlier = runs[..i]
                .iter()
                .filter(|other| other.analysis.best.epoch == run.analysis.best.epoch)
                .count();
            (-20, 10 + LABEL_LINE_PX * earlier as i32)
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    runs: &[PlotRun<'_>],
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    draw_panel(&left, runs, Panel::Loss)?;
    draw_panel(&right, runs, Panel::Accuracy)?;
    root.present().map_err(|e| e.to_string())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[PlotRun<'_>],
    panel: Panel,
) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let points: Vec<(i64, f64)> = runs
        .iter()
        .flat_map(|run| run.analysis.per_epoch.iter())
        .flat_map(|row| {
            let (t, v) = panel.values(row);
            [t, v].into_iter().flatten().map(move |y| (row.epoch, y))
        })
        .filter(|(_, y)| y.is_finite())
        .collect();
    if points.is_empty() {
        area.draw(&Text::new(
            format!(
                "no {} logged",
                panel.title().split(' ').next().unwrap_or_default()
            ),
            (40, 40),
            (FAMILY, 20).into_font(),
        ))
        .map_err(err)?;
        return Ok(());
    }
    let x_min = points.iter().map(|p| p.0).min().unwrap_or(0);
    let x_max = points.iter().map(|p| p.0).max().unwrap_or(1).max(x_min + 1);
    let y_lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((y_hi - y_lo) * 0.05).max(1e-3);
    let (y_min, y_max) = match panel {
        Panel::Loss => ((y_lo - pad).max(0.0), y_hi + pad),
        Panel::Accuracy => ((y_lo - pad).max(0.0), (y_hi + pad).min(1.0 + pad)),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title(), (FAMILY, 22))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min as f64..x_max as f64, y_min..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .max_light_lines(2)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;

    let best_labels = best_label_offsets(runs);
    for (i, run) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let rows = &run.analysis.per_epoch;
        let train: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| panel.values(r).0.map(|y| (r.epoch as f64, y)))
            .filter(|p| p.1.is_finite())
            .collect();
        let val: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| panel.values(r).1.map(|y| (r.epoch as f64, y)))
            .filter(|p| p.1.is_finite())
            .collect();
        // The gap: the band between the training and the validation curve.
        let band: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| match panel.values(r) {
                (Some(t), Some(v)) if t.is_finite() && v.is_finite() => {
                    Some((r.epoch as f64, t, v))
                }
                _ => None,
            })
            .map(|(x, t, _)| (x, t))
            .chain(rows.iter().rev().filter_map(|r| match panel.values(r) {
                (Some(t), Some(v)) if t.is_finite() && v.is_finite() => Some((r.epoch as f64, v)),
                _ => None,
            }))
            .collect();
        if band.len() >= 4 {
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    color.mix(0.12).filled(),
                )))
                .map_err(err)?;
        }
        let train_name = if rows.last().is_some_and(|r| r.train_eval_loss.is_some()) {
            "train (eval)"
        } else {
            "train"
        };
        chart
            .draw_series(DashedLineSeries::new(
                train.iter().copied(),
                8,
                5,
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("{} {train_name}", run.label))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (7, 0)], color.stroke_width(2))
                    + PathElement::new(vec![(12, 0), (19, 0)], color.stroke_width(2))
            });
        chart
            .draw_series(LineSeries::new(val.iter().copied(), color.stroke_width(3)))
            .map_err(err)?
            .label(format!("{} validation", run.label))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });

        // Best epoch: a filled circle on the validation curve; onset: a dotted vertical line.
        let best = run.analysis.best.epoch as f64;
        if let Some(&(x, y)) = val.iter().find(|p| p.0 == best) {
            let marker = EmptyElement::at((x, y))
                + Circle::new((0, 0), 7, color.filled())
                + Text::new(
                    format!("best {}", run.analysis.best.epoch),
                    best_labels[i],
                    (FAMILY, 14).into_font().color(&color),
                );
            chart.draw_series(std::iter::once(marker)).map_err(err)?;
        }
        if let Some(onset) = run.analysis.onset_epoch {
            let x = onset as f64;
            chart
                .draw_series(DashedLineSeries::new(
                    [(x, y_min), (x, y_max)],
                    3,
                    5,
                    color.stroke_width(2),
                ))
                .map_err(err)?;
            let label = EmptyElement::at((x, y_max))
                + Text::new(
                    format!("onset {onset}"),
                    (5, 4 + LABEL_LINE_PX * i as i32),
                    (FAMILY, 14).into_font().color(&color),
                );
            chart.draw_series(std::iter::once(label)).map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(match panel {
            Panel::Loss => SeriesLabelPosition::UpperRight,
            Panel::Accuracy => SeriesLabelPosition::LowerRight,
        })
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, RunRecord, analyze};

    /// The analysis of a run whose validation loss is lowest at epoch `best`.
    fn analysis_best_at(name: &str, best: usize) -> Analysis {
        let mut run = RunRecord::new(name);
        let train: Vec<f64> = (0..8).map(|e| 1.0 / (1.0 + e as f64)).collect();
        let val: Vec<f64> = (0..8)
            .map(|e| 0.5 + 0.1 * (e as f64 - best as f64).abs())
            .collect();
        run.push_series("loss", 0, &train);
        run.push_series("val_loss", 0, &val);
        analyze(&run, &AnalysisConfig::default()).expect("analysable")
    }

    #[test]
    fn runs_sharing_a_best_epoch_get_best_labels_that_do_not_overprint() {
        let (a, b, c) = (
            analysis_best_at("a", 3),
            analysis_best_at("b", 3),
            analysis_best_at("c", 5),
        );
        assert_eq!((a.best.epoch, b.best.epoch, c.best.epoch), (3, 3, 5));
        let runs = [
            PlotRun {
                label: "a",
                analysis: &a,
            },
            PlotRun {
                label: "b",
                analysis: &b,
            },
            PlotRun {
                label: "c",
                analysis: &c,
            },
        ];
        let offsets = best_label_offsets(&runs);
        // Same epoch: the second label sits a full text line below the first.
        assert_eq!(offsets[0].0, offsets[1].0);
        assert!(
            (offsets[1].1 - offsets[0].1).abs() >= LABEL_LINE_PX,
            "{offsets:?}"
        );
        // A run alone at its best epoch keeps the usual place.
        assert_eq!(offsets[2], offsets[0]);
    }
}
