//! The store's searches and bulk reads: runs and experiments by filter and order (the query
//! language compiled to SQL by `compile`), one page at a time, and whole-experiment reads for
//! exports and analysis. Every read runs in a snapshot on a pooled read connection.

use super::{RunMetric, SearchExperiments, SearchRuns, Store, compile, read, validate};
use crate::entities::{Experiment, Metric, Run, ViewType};
use crate::error::Result;

impl Store {
    /// One page of experiments matching `search`, and the token of the next page if any.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for a bad filter, order, `max_results` or page token.
    pub fn search_experiments(
        &self,
        search: &SearchExperiments,
    ) -> Result<(Vec<Experiment>, Option<String>)> {
        validate::validate_max_results(search.max_results)?;
        let filter =
            crate::query::Filter::parse_for(&search.filter, crate::query::Target::Experiments)?;
        let order =
            crate::query::parse_order_by(&search.order_by, crate::query::Target::Experiments)?;
        let offset = read::decode_page_token(search.page_token.as_deref())?;
        self.read(|conn, path| {
            read::search_experiments(conn, path, &filter, &order, search, offset)
        })
    }

    /// One page of the runs of `search.experiment_ids` that match the filter, in order, and the
    /// token of the next page if any. Each run carries its latest metrics, params and tags.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for a bad filter (naming position and token), order,
    /// `max_results`, experiment id or page token.
    pub fn search_runs(&self, search: &SearchRuns) -> Result<(Vec<Run>, Option<String>)> {
        validate::validate_max_results(search.max_results)?;
        let filter = crate::query::Filter::parse(&search.filter)?;
        let order = crate::query::parse_order_by(&search.order_by, crate::query::Target::Runs)?;
        let offset = read::decode_page_token(search.page_token.as_deref())?;
        let experiment_ids = read::parse_experiment_ids(&search.experiment_ids)?;
        let compiled = compile::compile_runs(&filter, &order);
        self.read(|conn, path| {
            let (infos, more) = read::search_run_infos(
                conn,
                path,
                &experiment_ids,
                search.view_type,
                &compiled,
                Some((search.max_results, offset)),
            )?;
            let runs = read::runs_with_data(conn, path, infos)?;
            let next = more.then(|| read::encode_page_token(offset + search.max_results));
            Ok((runs, next))
        })
    }

    /// Every run of an experiment (with latest metrics, params and tags), newest first.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment.
    pub fn experiment_runs(&self, experiment_id: &str, view_type: ViewType) -> Result<Vec<Run>> {
        let experiment = self.get_experiment(experiment_id)?;
        let ids = read::parse_experiment_ids(&[experiment.experiment_id])?;
        let compiled = compile::compile_runs(&crate::query::Filter::default(), &[]);
        self.read(|conn, path| {
            let (infos, _) = read::search_run_infos(conn, path, &ids, view_type, &compiled, None)?;
            read::runs_with_data(conn, path, infos)
        })
    }

    /// Every metric point of every run of an experiment (in the view), ordered by run id, key,
    /// step, timestamp: one query, for exports.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment.
    pub fn experiment_metrics(
        &self,
        experiment_id: &str,
        view_type: ViewType,
    ) -> Result<Vec<RunMetric>> {
        let experiment = self.get_experiment(experiment_id)?;
        self.read(|conn, path| {
            read::experiment_metrics(conn, path, &experiment.experiment_id, view_type)
        })
    }

    /// Every point of one metric of a run, ordered by step, timestamp, value (empty for a key
    /// never logged).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        self.read(|conn, path| read::metric_points(conn, path, run_id, Some(key)))
    }

    /// Every metric point of a run, ordered by key, step, timestamp, value.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn run_metrics(&self, run_id: &str) -> Result<Vec<Metric>> {
        self.read(|conn, path| read::metric_points(conn, path, run_id, None))
    }
}
