//! The entry points: [`fit`] prepares and trains, [`fit_prepared`] trains what [`prepare`]
//! returned; either ends the run's record exactly once (FINISHED, KILLED or FAILED).

use super::learner::Learner;
use super::metrics::FitSummary;
use super::options::{FitOptions, Progress};
use super::plan::{Prepared, prepare};
use super::record::record_failure;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::report::Reporter;

/// Trains `config` on `options.device`, recording the run through `reporter`.
///
/// The reporter's [`finish`](Reporter::finish) is called exactly once: FINISHED, KILLED (the
/// interrupt flag was set), or FAILED with the error's message, after which the error is
/// returned.
pub fn fit(
    config: &RunConfig,
    reporter: &mut dyn Reporter,
    progress: &mut dyn Progress,
    options: &FitOptions,
) -> Result<FitSummary> {
    match prepare(config, &options.device) {
        Ok(prepared) => fit_prepared(prepared, reporter, progress, options),
        Err(error) => {
            record_failure(reporter, &error);
            Err(error)
        }
    }
}

/// Trains a [`prepare`]d run on the device it was prepared for, recording it through `reporter`
/// (see [`fit`]); `options.device` must be that device.
pub fn fit_prepared(
    prepared: Prepared,
    reporter: &mut dyn Reporter,
    progress: &mut dyn Progress,
    options: &FitOptions,
) -> Result<FitSummary> {
    let fitted = Learner::new(prepared, options)
        .and_then(|learner| learner.fit(reporter, progress, options));
    match fitted {
        Ok(summary) => {
            reporter.finish(&summary.status).map_err(Error::Report)?;
            Ok(summary)
        }
        Err(error) => {
            record_failure(reporter, &error);
            Err(error)
        }
    }
}
