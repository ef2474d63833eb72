//! `track query`'s default table: ids, name, status, the key metrics and only the params that
//! differ between the runs listed; `--columns` for the rest.

use crate::format_cli::{Grid, csv_rows};
use crate::util::TestResult;

/// The header line of a `table`-format output, split into column names.
fn header(output: &std::process::Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn the_default_query_table_shows_the_key_metrics_and_only_the_params_that_differ() -> TestResult {
    let grid = Grid::new();
    // Piped (not a terminal): the same columns, none cut.
    let default = header(&grid.track(&["query"]));
    assert_eq!(
        default,
        [
            "run_id",
            "run_name",
            "status",
            "metrics.val_loss",
            "metrics.val_acc",
            "metrics.best_epoch",
            "params.lr"
        ]
    );
    // `batch_size` is the same in every run; asked for, it is added to the defaults.
    let added = header(&grid.track(&["query", "--columns", "+params.batch_size"]));
    assert_eq!(added[..default.len()], default[..]);
    assert_eq!(added[default.len()..], ["params.batch_size"]);
    // Listing only runs that share `lr`, no param differs.
    let one = header(&grid.track(&["query", "params.lr = '0.1'"]));
    assert!(!one.iter().any(|c| c.starts_with("params.")), "{one:?}");
    // `--columns all`: every param and metric, as csv and json print by default.
    let all = header(&grid.track(&["query", "--columns", "all"]));
    let csv = csv_rows(&grid.track(&["query", "--format", "csv"]));
    assert_eq!(all, csv[0]);
    for column in ["start_time", "params.batch_size", "metrics.epoch_secs"] {
        assert!(all.iter().any(|c| c == column), "{column}: {all:?}");
        assert!(
            !default.iter().any(|c| c == column),
            "{column}: {default:?}"
        );
    }
    Ok(())
}
