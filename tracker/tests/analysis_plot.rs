//! The plot is a real image: PNG decoded back (size, not blank), SVG with its text.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use std::collections::HashSet;

use tracker::analysis::{Analysis, AnalysisConfig, RunRecord, analyze};
use tracker::plot::{PlotRun, PlotSize, plot_runs};

/// A run that overfits from epoch 6 and one that does not, with accuracies and train_eval_*.
fn analyses() -> (Analysis, Analysis) {
    let n = 16;
    let mut overfit = RunRecord::new("baseline");
    let mut regular = RunRecord::new("regularized");
    for t in 1..=n {
        let x = t as f64;
        let train = 0.05 + 1.5 * (-x / 3.0).exp();
        let val = if t <= 6 {
            0.4 + 1.2 * (-(x - 1.0) / 1.5).exp() * ((6.0 - x) / 5.0)
        } else {
            0.4 + 0.04 * (x - 6.0)
        };
        overfit.push_metric("train_loss", t, train * 1.1);
        overfit.push_metric("train_eval_loss", t, train);
        overfit.push_metric("val_loss", t, val);
        overfit.push_metric("train_eval_acc", t, 1.0 - train / 2.0);
        overfit.push_metric("val_acc", t, 0.9 - val / 5.0);
        let r_train = 0.3 + 1.2 * (-x / 3.0).exp();
        regular.push_metric("train_loss", t, r_train * 1.2);
        regular.push_metric("train_eval_loss", t, r_train);
        regular.push_metric("val_loss", t, r_train + 0.05);
        regular.push_metric("train_eval_acc", t, 1.0 - r_train / 2.0);
        regular.push_metric("val_acc", t, 0.98 - r_train / 2.0);
    }
    let config = AnalysisConfig::default();
    (
        analyze(&overfit, &config).unwrap(),
        analyze(&regular, &config).unwrap(),
    )
}

#[test]
fn png_plot_decodes_with_its_size_and_is_not_blank() {
    let (overfit, regular) = analyses();
    assert_eq!(overfit.onset_epoch, Some(6), "{}", overfit.summary);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curves.png");
    let runs = [
        PlotRun {
            label: "baseline",
            analysis: &overfit,
        },
        PlotRun {
            label: "regularized",
            analysis: &regular,
        },
    ];
    let size = PlotSize {
        width_px: 1000,
        height_px: 420,
    };
    plot_runs(&runs, &out, size).unwrap();

    let image = image::open(&out).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (1000, 420));
    let colours: HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 50,
        "only {} distinct colours",
        colours.len()
    );
    let inked = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let share = inked as f64 / (1000.0 * 420.0);
    assert!(
        share > 0.03 && share < 0.6,
        "{:.1}% of pixels drawn",
        share * 100.0
    );
    // Both runs' colours (the first two of the palette) appear.
    for colour in [[0, 114, 178], [213, 94, 0]] {
        assert!(
            image.pixels().any(|p| p.0 == colour),
            "colour {colour:?} missing"
        );
    }
}

#[test]
fn svg_plot_has_both_panels_legend_and_onset() {
    let (overfit, regular) = analyses();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curves.svg");
    let runs = [
        PlotRun {
            label: "baseline",
            analysis: &overfit,
        },
        PlotRun {
            label: "regularized",
            analysis: &regular,
        },
    ];
    plot_runs(&runs, &out, PlotSize::default()).unwrap();
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<svg"));
    for text in [
        "loss (lower is better)",
        "accuracy (higher is better)",
        "baseline validation",
        "regularized train (eval)",
        "onset 6",
        "epoch",
    ] {
        assert!(svg.contains(text), "{text:?} missing from the SVG");
    }
}

#[test]
fn an_unknown_extension_is_refused_and_nothing_is_written() {
    let (overfit, _) = analyses();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curves.jpg");
    let runs = [PlotRun {
        label: "baseline",
        analysis: &overfit,
    }];
    let error = plot_runs(&runs, &out, PlotSize::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("curves.jpg") && error.contains(".png or .svg"),
        "{error}"
    );
    assert!(!out.exists());
}
