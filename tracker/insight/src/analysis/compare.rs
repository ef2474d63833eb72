//! Comparing runs: the params that differ between them, side by side with their outcomes, ranked
//! only by differences beyond the noise.
//!
//! Two outcomes whose difference is under [`super::DEFAULT_SIGNIFICANCE_SE`] standard errors of
//! that difference share a rank (`=2`: tied for second). A run's standard error is its best
//! epoch's (logged or estimated, see [`super::Noise`]). Runs that differ only in their seed are
//! repeats of one configuration: they are ranked together, by the mean of their best values, with
//! the standard error from their spread across seeds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::table::{Cell, Table};

use super::{Analysis, DEFAULT_SIGNIFICANCE_SE};

/// Param keys that only pick a seed: runs that differ in nothing else are repeats.
pub const SEED_KEYS: &[&str] = &["train.seed", "seed", "random_seed"];

/// One run to compare: its name, params and analysis.
#[derive(Debug, Clone, Copy)]
pub struct CompareInput<'a> {
    /// Display name (the run name, or its id).
    pub name: &'a str,
    /// The run's params.
    pub params: &'a BTreeMap<String, String>,
    /// The run's analysis.
    pub analysis: &'a Analysis,
}

/// One run of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedRun {
    /// The run's id.
    pub run_id: String,
    /// Display name.
    pub name: String,
    /// Its value of each differing param (`None`: not recorded), in [`Comparison::differing`]
    /// order.
    pub params: Vec<Option<String>>,
    /// The metric the best epoch is chosen by.
    pub best_metric: String,
    /// Its best value.
    pub best_value: f64,
    /// One standard error of `best_value`, when known.
    pub best_se: Option<f64>,
    /// Rank by outcome, 1 = best; runs tied within the noise share a rank.
    pub rank: usize,
    /// `rank` is shared with another run or configuration (a tie within the noise).
    pub tied: bool,
    /// Repeats of this run's configuration in the comparison (1: no repeats).
    pub repeats: usize,
    /// With repeats: the mean best value of the configuration across seeds.
    pub repeat_mean: Option<f64>,
    /// With repeats: the standard deviation of the best values across seeds.
    pub repeat_spread: Option<f64>,
    /// The best epoch.
    pub best_epoch: i64,
    /// Validation accuracy at the best epoch, if logged.
    pub best_val_acc: Option<f64>,
    /// Loss gap at the last epoch.
    pub final_loss_gap: Option<f64>,
    /// Accuracy gap at the last epoch.
    pub final_acc_gap: Option<f64>,
    /// Onset of overfitting.
    pub onset_epoch: Option<i64>,
    /// The verdict's label.
    pub verdict: String,
    /// Epochs analysed.
    pub epochs: usize,
}

/// What changed between runs and how each turned out, best outcome first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The param keys whose values are not the same in every run (a key some runs lack counts).
    pub differing: Vec<String>,
    /// The runs, sorted by rank (best first), then by best value.
    pub runs: Vec<ComparedRun>,
    /// How the ranks were decided, in one sentence.
    pub ranking: String,
}

/// One configuration: the runs that differ only in their seed, and its outcome.
struct Group {
    members: Vec<usize>,
    /// Mean sort key (lower is better).
    key: f64,
    /// Standard error of `key`.
    se: Option<f64>,
    spread: Option<f64>,
}

/// Compares `runs`: the params that differ and the outcomes, ranked within the noise.
pub fn compare(runs: &[CompareInput<'_>]) -> Comparison {
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|key| {
            let values: BTreeSet<Option<&String>> =
                runs.iter().map(|r| r.params.get(*key)).collect();
            values.len() > 1
        })
        .cloned()
        .collect();
    let groups = rank_groups(runs, &differing);
    let mut rows: Vec<(usize, bool, &Group, usize)> = Vec::new();
    for (rank, tied, group) in &groups {
        for &member in &group.members {
            rows.push((*rank, *tied, group, member));
        }
    }
    rows.sort_by(|a, b| {
        a.0.cmp(&b.0).then(
            runs[a.3]
                .analysis
                .sort_key()
                .total_cmp(&runs[b.3].analysis.sort_key()),
        )
    });
    let repeated = groups.iter().any(|(_, _, g)| g.members.len() > 1);
    let ranking = format!(
        "ranked by the best {}; outcomes less than {DEFAULT_SIGNIFICANCE_SE} standard errors of \
         their difference apart share a rank (=){}",
        runs.first()
            .map_or("value".to_string(), |r| r.analysis.best.metric.clone()),
        if repeated {
            "; runs that differ only in their seed are ranked together by their mean, with the \
             spread across seeds as the noise"
        } else {
            ""
        }
    );
    let runs = rows
        .into_iter()
        .map(|(rank, tied, group, index)| {
            let r = &runs[index];
            let a = r.analysis;
            let sign = if a.sort_key() == a.best.value {
                1.0
            } else {
                -1.0
            };
            ComparedRun {
                run_id: a.run_id.clone(),
                name: r.name.to_string(),
                params: differing.iter().map(|k| r.params.get(k).cloned()).collect(),
                best_metric: a.best.metric.clone(),
                best_value: a.best.value,
                best_se: a.best.se,
                rank,
                tied,
                repeats: group.members.len(),
                repeat_mean: (group.members.len() > 1).then_some(sign * group.key),
                repeat_spread: group.spread,
                best_epoch: a.best.epoch,
                best_val_acc: a.best.val_acc,
                final_loss_gap: a.final_loss_gap,
                final_acc_gap: a.final_acc_gap,
                onset_epoch: a.onset_epoch,
                verdict: a.verdict.label().to_string(),
                epochs: a.epochs,
            }
        })
        .collect();
    Comparison {
        differing,
        runs,
        ranking,
    }
}

/// Groups repeats (runs whose differing params are equal but for the seed), then ranks the
/// groups: a group's rank is one more than the number of groups better than it by more than
/// the noise, so groups within the noise of each other share a rank.
fn rank_groups(runs: &[CompareInput<'_>], differing: &[String]) -> Vec<(usize, bool, Group)> {
    let mut by_config: Vec<(Vec<Option<&String>>, Vec<usize>)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let config: Vec<Option<&String>> = differing
            .iter()
            .filter(|k| !SEED_KEYS.contains(&k.as_str()))
            .map(|k| r.params.get(k))
            .collect();
        match by_config.iter_mut().find(|(c, _)| *c == config) {
            Some((_, members)) => members.push(i),
            None => by_config.push((config, vec![i])),
        }
    }
    let mut groups: Vec<Group> = by_config
        .into_iter()
        .map(|(_, members)| {
            let keys: Vec<f64> = members
                .iter()
                .map(|&i| runs[i].analysis.sort_key())
                .collect();
            let k = keys.len() as f64;
            let mean = keys.iter().sum::<f64>() / k;
            let own_se = |i: usize| runs[i].analysis.best.se;
            if members.len() == 1 {
                return Group {
                    se: own_se(members[0]),
                    members,
                    key: mean,
                    spread: None,
                };
            }
            let spread = (keys.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
            // The seeds' spread is the noise of a repeated configuration; a spread of zero (the
            // same run twice) falls back on the runs' own standard errors.
            let within: Vec<f64> = members.iter().filter_map(|&i| own_se(i)).collect();
            let within =
                (!within.is_empty()).then(|| within.iter().sum::<f64>() / within.len() as f64);
            let se = if spread > 0.0 {
                Some(spread / k.sqrt())
            } else {
                within.map(|w| w / k.sqrt())
            };
            Group {
                members,
                key: mean,
                se,
                spread: Some(spread),
            }
        })
        .collect();
    groups.sort_by(|a, b| a.key.total_cmp(&b.key));
    let beyond_noise = |better: &Group, worse: &Group| match (better.se, worse.se) {
        (Some(a), Some(b)) => {
            worse.key - better.key >= DEFAULT_SIGNIFICANCE_SE * (a * a + b * b).sqrt()
        }
        // Without noise figures, only an exact tie is a tie.
        _ => worse.key > better.key,
    };
    // A group's rank is one more than the number of groups better than it beyond the noise.
    let ranks: Vec<usize> = groups
        .iter()
        .map(|g| 1 + groups.iter().filter(|other| beyond_noise(other, g)).count())
        .collect();
    let mut ranked: Vec<(usize, bool, Group)> = Vec::with_capacity(groups.len());
    for (group, &rank) in groups.into_iter().zip(&ranks) {
        let tied = ranks.iter().filter(|&&r| r == rank).count() > 1;
        ranked.push((rank, tied, group));
    }
    ranked
}

impl Comparison {
    /// One row per run: name, the differing params, then the outcomes.
    pub fn table(&self) -> Table {
        let mut columns = vec!["rank".to_string(), "run".to_string()];
        columns.extend(self.differing.iter().cloned());
        columns.extend(
            [
                "best",
                "±",
                "best_epoch",
                "best_val_acc",
                "final_loss_gap",
                "final_acc_gap",
                "onset",
                "verdict",
            ]
            .map(String::from),
        );
        let opt_f = |v: Option<f64>| v.map_or(Cell::Null, Cell::Float);
        let rows = self
            .runs
            .iter()
            .map(|r| {
                let rank = if r.tied {
                    format!("={}", r.rank)
                } else {
                    r.rank.to_string()
                };
                let mut row = vec![Cell::Text(rank), Cell::Text(r.name.clone())];
                row.extend(
                    r.params
                        .iter()
                        .map(|p| p.as_ref().map_or(Cell::Null, |v| Cell::Text(v.clone()))),
                );
                row.extend([
                    Cell::Text(format!("{} {:.4}", r.best_metric, r.best_value)),
                    match (r.repeat_mean, r.repeat_spread) {
                        (Some(mean), Some(spread)) => Cell::Text(format!(
                            "mean {mean:.4} sd {spread:.4} over {} seeds",
                            r.repeats
                        )),
                        _ => r
                            .best_se
                            .map_or(Cell::Null, |se| Cell::Text(format!("{se:.4}"))),
                    },
                    Cell::Int(r.best_epoch),
                    opt_f(r.best_val_acc),
                    opt_f(r.final_loss_gap),
                    opt_f(r.final_acc_gap),
                    r.onset_epoch.map_or(Cell::Null, Cell::Int),
                    Cell::Text(r.verdict.clone()),
                ]);
                row
            })
            .collect();
        Table { columns, rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, RunRecord, analyze};

    /// A run whose validation loss bottoms at `best` (epoch 6 of 8) with a logged standard error
    /// `se`, and params `params`.
    fn run(
        name: &str,
        best: f64,
        se: f64,
        params: &[(&str, &str)],
    ) -> (Analysis, BTreeMap<String, String>) {
        let mut record = RunRecord::new(name);
        let val = [
            1.0,
            0.8,
            0.6,
            0.5,
            best + 0.02,
            best,
            best + 0.01,
            best + 0.01,
        ];
        record.push_series(
            "train_loss",
            1,
            &[1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.28, 0.26],
        );
        record.push_series("val_loss", 1, &val);
        record.push_series("val_loss_se", 1, &[se; 8]);
        let params: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        record.params = params.clone();
        (
            analyze(&record, &AnalysisConfig::default()).unwrap_or_else(|e| panic!("{e}")),
            params,
        )
    }

    fn compared(runs: &[(Analysis, BTreeMap<String, String>)]) -> Comparison {
        let inputs: Vec<CompareInput<'_>> = runs
            .iter()
            .map(|(a, p)| CompareInput {
                name: &a.run_id,
                params: p,
                analysis: a,
            })
            .collect();
        compare(&inputs)
    }

    fn rank_of(c: &Comparison, name: &str) -> (usize, bool) {
        let r = c
            .runs
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        (r.rank, r.tied)
    }

    #[test]
    fn outcomes_within_the_noise_share_a_rank_and_the_table_says_so() {
        // 0.2427 and 0.2468 with standard errors of 0.02: 0.004 apart is no winner.
        let runs = [
            run("a", 0.2468, 0.02, &[("lr", "0.001")]),
            run("b", 0.2427, 0.02, &[("lr", "0.003")]),
            run("c", 0.40, 0.02, &[("lr", "0.01")]),
        ];
        let c = compared(&runs);
        assert_eq!(rank_of(&c, "a"), (1, true));
        assert_eq!(rank_of(&c, "b"), (1, true));
        assert_eq!(rank_of(&c, "c"), (3, false));
        let table = c.table();
        assert_eq!(table.columns[0], "rank");
        assert!(c.ranking.contains("share a rank"), "{}", c.ranking);
        // Without noise, the same numbers would rank 1, 2, 3.
        let tight = [
            run("a", 0.2468, 0.0001, &[("lr", "0.001")]),
            run("b", 0.2427, 0.0001, &[("lr", "0.003")]),
        ];
        let c = compared(&tight);
        assert_eq!(
            (rank_of(&c, "b"), rank_of(&c, "a")),
            ((1, false), (2, false))
        );
    }

    #[test]
    fn repeats_across_seeds_are_ranked_by_their_mean_with_their_spread_as_noise() {
        // Config x: seeds spread 0.30, 0.31, 0.29; config y: 0.36, 0.37, 0.35. Each run's own
        // standard error (0.05) would tie them; the seeds' spread (0.01) separates them.
        let mut runs = Vec::new();
        for (seed, (x, y)) in [(0.30, 0.36), (0.31, 0.37), (0.29, 0.35)]
            .into_iter()
            .enumerate()
        {
            let seed = seed.to_string();
            runs.push(run(
                &format!("x{seed}"),
                x,
                0.05,
                &[("dropout", "0.5"), ("train.seed", &seed)],
            ));
            runs.push(run(
                &format!("y{seed}"),
                y,
                0.05,
                &[("dropout", "0"), ("train.seed", &seed)],
            ));
        }
        let c = compared(&runs);
        for r in &c.runs {
            assert_eq!(r.repeats, 3, "{}", r.name);
            let want = if r.name.starts_with('x') { 1 } else { 2 };
            assert_eq!((r.rank, r.tied), (want, false), "{}", r.name);
        }
        let x = c
            .runs
            .iter()
            .find(|r| r.name == "x0")
            .unwrap_or_else(|| panic!("x0"));
        assert!((x.repeat_mean.unwrap_or_default() - 0.30).abs() < 1e-9);
        assert!((x.repeat_spread.unwrap_or_default() - 0.01).abs() < 1e-9);
    }
}
