//! The dashboard's page, assets and runs table over HTTP (a real daemon on 127.0.0.1:0 over a
//! real SQLite file, runs logged to it): the files with their headers and ETags, the runs table
//! with verdicts read as `tracker::analysis` reads them, paging, and filter errors with their
//! position and token. Series, comparisons and downloads: `dashboard_data.rs`.

mod common;

use common::dashboard::{GOOD_TRAIN, GOOD_VAL, OVERFIT_TRAIN, OVERFIT_VAL, dash, row};
use serde_json::{Value, json};
use tracker::analysis::{AnalysisConfig, analyze_stored_run};
use tracker::dashboard::{ASSETS, CONTENT_SECURITY_POLICY, assets_total_bytes};
use tracker::entities::Metric;

#[test]
fn the_runs_table_shows_each_runs_verdict_as_the_analysis_reads_it() {
    let dash = dash();
    let exp = dash
        .store
        .get_or_create_experiment("verdicts")
        .expect("exp");
    let overfit = dash.run(
        &exp,
        "overfit",
        &[("optim.lr", "0.1")],
        &[("train_loss", &OVERFIT_TRAIN), ("val_loss", &OVERFIT_VAL)],
    );
    let good = dash.run(
        &exp,
        "good",
        &[("optim.lr", "0.01"), ("model.dropout", "0.5")],
        &[("train_loss", &GOOD_TRAIN), ("val_loss", &GOOD_VAL)],
    );
    let blind = dash.run(&exp, "no validation", &[], &[("train_loss", &GOOD_TRAIN)]);
    let page = dash.rows(&[("experiment_id", &exp)]);
    assert_eq!(
        page["experiment"],
        json!({"experiment_id": exp, "name": "verdicts"})
    );
    assert_eq!(page["total"], 3);
    assert_eq!(page["offset"], 0);
    assert_eq!(page["param_keys"], json!(["model.dropout", "optim.lr"]));
    assert_eq!(page["metric_keys"], json!(["train_loss", "val_loss"]));
    let config = AnalysisConfig::default();
    let mut labels = Vec::new();
    for id in [&overfit, &good] {
        let analysis = analyze_stored_run(&dash.store, id, &config).expect("analysable");
        let shown = row(&page, id);
        assert_eq!(
            shown["verdict"]["label"],
            analysis.verdict.label(),
            "{shown:#}"
        );
        assert_eq!(shown["verdict"]["summary"], analysis.summary.as_str());
        assert_eq!(shown["onset_epoch"], json!(analysis.onset_epoch));
        assert_eq!(shown["best"]["epoch"], analysis.best.epoch);
        assert_eq!(shown["best"]["metric"], analysis.best.metric.as_str());
        assert_eq!(shown["analysis_error"], Value::Null);
        assert_eq!(shown["status"], "FINISHED");
        assert_eq!(shown["end_time"], 2_000);
        labels.push(analysis.verdict.label());
    }
    assert_ne!(labels[0], labels[1], "the two runs should not read alike");
    let shown = row(&page, &good);
    assert_eq!(shown["run_name"], "good");
    assert_eq!(
        shown["params"],
        json!({"optim.lr": "0.01", "model.dropout": "0.5"})
    );
    assert_eq!(shown["metrics"]["val_loss"], json!(GOOD_VAL[9]));
    let unanalysable = row(&page, &blind);
    assert_eq!(unanalysable["verdict"], Value::Null);
    assert!(
        unanalysable["analysis_error"].is_string(),
        "{unanalysable:#}"
    );
}

#[test]
fn a_running_runs_verdict_follows_the_epochs_it_logs() {
    let dash = dash();
    let (exp, id) = dash.running_run("live");
    let log = |from: usize, to: usize| {
        let metrics: Vec<Metric> = (from..to)
            .flat_map(|step| {
                [
                    ("train_loss", OVERFIT_TRAIN[step]),
                    ("val_loss", OVERFIT_VAL[step]),
                ]
                .map(|(key, value)| Metric {
                    key: key.into(),
                    value,
                    timestamp: step as i64,
                    step: step as i64,
                })
            })
            .collect();
        dash.store
            .log_batch(&id, &metrics, &[], &[])
            .expect("logged");
    };
    log(0, 4);
    let before = dash.rows(&[("experiment_id", &exp)]);
    log(4, 10);
    let after = dash.rows(&[("experiment_id", &exp)]);
    let analysis = analyze_stored_run(&dash.store, &id, &AnalysisConfig::default()).expect("a");
    assert_eq!(
        row(&after, &id)["verdict"]["label"],
        analysis.verdict.label()
    );
    assert_eq!(row(&after, &id)["status"], "RUNNING");
    assert_ne!(row(&before, &id)["verdict"], row(&after, &id)["verdict"]);
}

#[test]
fn a_filter_narrows_the_runs_and_total_counts_every_match_across_pages() {
    let dash = dash();
    let exp = dash.store.get_or_create_experiment("paging").expect("exp");
    let mut fast = Vec::new();
    for i in 0..25 {
        let lr = if i % 2 == 0 { "0.1" } else { "0.01" };
        let val: Vec<f64> = OVERFIT_VAL.iter().map(|v| v + i as f64 / 100.0).collect();
        let id = dash.run(
            &exp,
            &format!("run-{i:02}"),
            &[("optim.lr", lr)],
            &[("train_loss", &OVERFIT_TRAIN), ("val_loss", &val)],
        );
        if lr == "0.1" {
            fast.push(id);
        }
    }
    let ids = |page: &Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| r["run_id"].as_str().expect("id").to_string())
            .collect()
    };
    let filter = "params.optim.lr = '0.1'";
    let order = "metrics.val_loss DESC";
    let page = |offset: &str| {
        dash.rows(&[
            ("experiment_id", &exp),
            ("filter", filter),
            ("order_by", order),
            ("offset", offset),
            ("limit", "5"),
        ])
    };
    let (first, third) = (page("0"), page("10"));
    assert_eq!(first["total"], 13);
    assert_eq!(first["offset"], 0);
    assert_eq!(third["offset"], 10);
    assert_eq!(ids(&first).len(), 5);
    assert_eq!(ids(&third).len(), 3);
    let mut seen: Vec<String> = ["0", "5", "10"]
        .iter()
        .flat_map(|o| ids(&page(o)))
        .collect();
    let values: Vec<f64> = ["0", "5", "10"]
        .iter()
        .flat_map(|o| {
            page(o)["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .map(|r| r["metrics"]["val_loss"].as_f64().expect("val_loss"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    seen.sort();
    fast.sort();
    assert_eq!(seen, fast, "the pages together are every match, once");
    let all = dash.rows(&[("experiment_id", &exp)]);
    assert_eq!(all["total"], 25);
    assert_eq!(ids(&all).len(), 25);
}

#[test]
fn a_bad_filter_answers_400_with_its_position_and_token() {
    let dash = dash();
    let exp = dash.store.get_or_create_experiment("errors").expect("exp");
    let filter = "metrics.val_loss < 0.5 AND params.lr ~ '1'";
    let (status, error) = dash.get(
        "/api/2.0/gapwatch/experiments/runs",
        &[("experiment_id", &exp), ("filter", filter)],
    );
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error_code"], "INVALID_PARAMETER_VALUE");
    let position = error["position"].as_u64().expect("position") as usize;
    let token = error["token"].as_str().expect("token");
    assert!(!token.is_empty(), "{error}");
    assert_eq!(
        filter.get(position..position + token.len()),
        Some(token),
        "{error}"
    );
    assert!(error["message"].as_str().expect("message").contains(token));

    let (status, error) = dash.get(
        "/api/2.0/gapwatch/experiments/runs",
        &[
            ("experiment_id", &exp),
            ("order_by", "metrics.val_loss SIDEWAYS"),
        ],
    );
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["token"], "SIDEWAYS");
    assert_eq!(error["position"], 17);
}

#[test]
fn an_unknown_experiment_answers_404_and_a_bad_limit_400() {
    let dash = dash();
    let (status, error) = dash.get(
        "/api/2.0/gapwatch/experiments/runs",
        &[("experiment_id", "987")],
    );
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["error_code"], "RESOURCE_DOES_NOT_EXIST");
    for limit in ["0", "1001", "many"] {
        let (status, error) = dash.get(
            "/api/2.0/gapwatch/experiments/runs",
            &[("experiment_id", "0"), ("limit", limit)],
        );
        assert_eq!(status, 400, "limit {limit}: {error}");
    }
}

#[test]
fn the_page_and_assets_are_served_with_their_headers_and_etags() {
    let dash = dash();
    for asset in ASSETS {
        for path in asset.routes {
            let response = dash.agent.get(dash.url(path)).call().expect("sent");
            assert_eq!(response.status(), 200, "{path}");
            let headers = response.headers().clone();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(header("content-type"), asset.content_type, "{path}");
            assert_eq!(header("x-content-type-options"), "nosniff");
            assert_eq!(header("referrer-policy"), "no-referrer");
            assert_eq!(header("x-frame-options"), "DENY");
            assert_eq!(header("content-security-policy"), CONTENT_SECURITY_POLICY);
            assert_eq!(header("cache-control"), "no-cache");
            let etag = header("etag");
            assert!(etag.starts_with('"') && etag.len() > 2, "{path}: {etag}");
            let body = response.into_body().read_to_vec().expect("body");
            if asset.file == "index.html" {
                // Without a token there is nothing to log out of: the page offers no "log out".
                let page = String::from_utf8(body).expect("utf-8");
                assert!(!page.contains("action=\"/logout\""), "{path}: {page}");
                assert!(page.contains("/assets/app.js"), "{path}: {page}");
            } else {
                assert_eq!(body, asset.bytes, "{path}");
            }
            let again = dash
                .agent
                .get(dash.url(path))
                .header("If-None-Match", &etag)
                .call()
                .expect("sent");
            assert_eq!(again.status(), 304, "{path}");
            let stale = dash
                .agent
                .get(dash.url(path))
                .header("If-None-Match", "\"something-else\"")
                .call()
                .expect("sent");
            assert_eq!(stale.status(), 200, "{path}");
        }
    }
    let paths: Vec<&str> = ASSETS
        .iter()
        .flat_map(|a| a.routes.iter().copied())
        .collect();
    for path in [
        "/",
        "/index.html",
        "/assets/util.js",
        "/assets/charts.js",
        "/assets/page-experiments.js",
        "/assets/page-run.js",
        "/assets/page-compare.js",
        "/assets/app.js",
        "/assets/app.css",
        "/assets/uPlot.iife.min.js",
        "/assets/uPlot.min.css",
        "/assets/favicon.svg",
    ] {
        assert!(paths.contains(&path), "{path} is not served");
    }
}

#[test]
fn every_dashboard_asset_together_is_under_300_kb() {
    let total = assets_total_bytes();
    assert_eq!(total, ASSETS.iter().map(|a| a.bytes.len()).sum::<usize>());
    assert!(total < 300 * 1024, "{total} bytes of assets");
}
