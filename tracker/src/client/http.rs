//! The HTTP backend: the MLflow tracking REST API of a `track daemon` (or any MLflow server).

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::entities::{Experiment, Metric, Param, Run, RunStatus, RunTag, ViewType};
use crate::error::{Error, ErrorCode, Result};

use crate::store::SearchRuns as RunSearch;

use super::{ArtifactFile, RunPage};

/// Environment variable holding a bearer token sent with every request (as MLflow's client does).
pub const TOKEN_ENV: &str = "MLFLOW_TRACKING_TOKEN";
/// How long one request may take, connection and body included.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
/// How long connecting may take.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;
/// The most points one get-history page asks for (MLflow's `GET_METRIC_HISTORY_MAX_RESULTS`).
pub const HISTORY_PAGE: usize = 25_000;

/// The largest JSON answer read (a search page of 50,000 runs with their data fits).
pub const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// What a URL path segment keeps unescaped: RFC 3986 unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A keep-alive HTTP connection pool to one tracking server.
#[derive(Clone)]
pub(crate) struct HttpBackend {
    agent: ureq::Agent,
    /// `http://host:port` without a trailing slash.
    base: String,
    /// `Bearer <token>`, when [`TOKEN_ENV`] is set.
    authorization: Option<String>,
}

impl std::fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackend")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ExperimentResponse {
    experiment: Experiment,
}

#[derive(Deserialize)]
struct CreateExperimentResponse {
    experiment_id: String,
}

#[derive(Deserialize)]
struct ExperimentsPage {
    #[serde(default)]
    experiments: Vec<Experiment>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct RunResponse {
    run: Run,
}

#[derive(Deserialize)]
struct HistoryPage {
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ArtifactList {
    #[serde(default)]
    files: Vec<ArtifactFile>,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Serialize)]
struct CreateRun<'a> {
    experiment_id: &'a str,
    user_id: &'a str,
    run_name: &'a str,
    start_time: i64,
    tags: &'a [RunTag],
}

#[derive(Serialize)]
struct UpdateRun<'a> {
    run_id: &'a str,
    run_uuid: &'a str,
    status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
}

#[derive(Serialize)]
struct LogBatch<'a> {
    run_id: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    metrics: &'a [Metric],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    params: &'a [Param],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [RunTag],
}

#[derive(Serialize)]
struct SearchRuns<'a> {
    experiment_ids: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    filter: &'a str,
    run_view_type: ViewType,
    max_results: i64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    order_by: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    page_token: Option<&'a str>,
}

#[derive(Serialize)]
struct SearchExperiments<'a> {
    max_results: usize,
    view_type: ViewType,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_token: Option<&'a str>,
}

impl HttpBackend {
    /// A client of the server at `base` (`http://host:port`, any path after it is kept as a prefix).
    pub(crate) fn new(base: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .no_delay(true)
            .timeout_connect(Some(Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS)))
            .timeout_global(Some(Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS)))
            .user_agent(concat!("gapwatch-tracker/", env!("CARGO_PKG_VERSION")))
            .build();
        let authorization = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|token| !token.is_empty())
            .map(|token| format!("Bearer {token}"));
        HttpBackend {
            agent: config.into(),
            base: base.trim_end_matches('/').to_string(),
            authorization,
        }
    }

    fn api_url(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow/{path}", self.base)
    }

    fn artifact_url(&self, location: &str, path: &str) -> String {
        let mut url = format!("{}/api/2.0/mlflow-artifacts/artifacts", self.base);
        for segment in location
            .split('/')
            .chain(path.split('/'))
            .filter(|s| !s.is_empty())
        {
            url.push('/');
            url.extend(utf8_percent_encode(segment, PATH_SEGMENT));
        }
        url
    }

    fn get<R: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<R> {
        let url = self.api_url(path);
        let mut request = self.agent.get(&url).query_pairs(query.iter().copied());
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        read_json(&url, request.call())
    }

    fn post<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R> {
        let url = self.api_url(path);
        let mut request = self.agent.post(&url);
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        read_json(&url, request.send_json(body))
    }

    /// The experiment named `name`, or `None` (the server answered RESOURCE_DOES_NOT_EXIST).
    pub(crate) fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self
            .get::<ExperimentResponse>("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(response) => Ok(Some(response.experiment)),
            Err(error @ Error::Api { .. })
                if error.error_code() == ErrorCode::ResourceDoesNotExist =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// The experiment with id `experiment_id`.
    pub(crate) fn experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let response: ExperimentResponse =
            self.get("experiments/get", &[("experiment_id", experiment_id)])?;
        Ok(response.experiment)
    }

    /// Creates an experiment and returns its id.
    pub(crate) fn create_experiment(&self, name: &str) -> Result<String> {
        let response: CreateExperimentResponse =
            self.post("experiments/create", &serde_json::json!({ "name": name }))?;
        Ok(response.experiment_id)
    }

    /// Every experiment in `view`, following pagination.
    pub(crate) fn experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: ExperimentsPage = self.post(
                "experiments/search",
                &SearchExperiments {
                    max_results: 1000,
                    view_type: view,
                    page_token: token.as_deref(),
                },
            )?;
            all.extend(page.experiments);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Creates a run.
    pub(crate) fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        user_id: &str,
        start_time: i64,
        tags: &[RunTag],
    ) -> Result<Run> {
        let response: RunResponse = self.post(
            "runs/create",
            &CreateRun {
                experiment_id,
                user_id,
                run_name,
                start_time,
                tags,
            },
        )?;
        Ok(response.run)
    }

    /// One run with its latest metrics, params and tags.
    pub(crate) fn run(&self, run_id: &str) -> Result<Run> {
        let response: RunResponse =
            self.get("runs/get", &[("run_id", run_id), ("run_uuid", run_id)])?;
        Ok(response.run)
    }

    /// Sets a run's status and end time.
    pub(crate) fn update_run(
        &self,
        run_id: &str,
        status: RunStatus,
        end_time: Option<i64>,
    ) -> Result<()> {
        let _: Empty = self.post(
            "runs/update",
            &UpdateRun {
                run_id,
                run_uuid: run_id,
                status,
                end_time,
            },
        )?;
        Ok(())
    }

    /// One log-batch request (the caller keeps within MLflow's per-batch limits).
    pub(crate) fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        let _: Empty = self.post(
            "runs/log-batch",
            &LogBatch {
                run_id,
                metrics,
                params,
                tags,
            },
        )?;
        Ok(())
    }

    /// One page of runs.
    pub(crate) fn search_runs(&self, search: &RunSearch) -> Result<RunPage> {
        self.post(
            "runs/search",
            &SearchRuns {
                experiment_ids: &search.experiment_ids,
                filter: &search.filter,
                run_view_type: search.view_type,
                max_results: search.max_results,
                order_by: &search.order_by,
                page_token: search.page_token.as_deref(),
            },
        )
    }

    /// Every point of metric `key` of a run, following pagination.
    pub(crate) fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let page_size = HISTORY_PAGE.to_string();
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("run_id", run_id),
                ("run_uuid", run_id),
                ("metric_key", key),
                ("max_results", page_size.as_str()),
            ];
            if let Some(token) = &token {
                query.push(("page_token", token));
            }
            let page: HistoryPage = self.get("metrics/get-history", &query)?;
            all.extend(page.metrics);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Uploads `local` to `path` under the artifact `location` (`<exp>/<run>/artifacts`).
    pub(crate) fn upload_artifact(&self, location: &str, path: &str, local: &Path) -> Result<()> {
        let url = self.artifact_url(location, path);
        let file = File::open(local).map_err(|source| Error::Io {
            path: local.to_path_buf(),
            source,
        })?;
        let mut request = self
            .agent
            .put(&url)
            .header("Content-Type", "application/octet-stream");
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let mut response = request.send(file).map_err(|e| transport(&url, e))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Err(api_error(&url, status, &body))
    }

    /// The files directly under `path` of the artifact `location`, as paths relative to `location`.
    pub(crate) fn list_artifacts(&self, location: &str, path: &str) -> Result<Vec<ArtifactFile>> {
        // The server lists basenames; make them paths relative to the artifact root, as MLflow does.
        let url = format!("{}/api/2.0/mlflow-artifacts/artifacts", self.base);
        let full = if path.is_empty() {
            location.to_string()
        } else {
            format!("{location}/{path}")
        };
        let mut request = self.agent.get(&url).query("path", &full);
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let list: ArtifactList = read_json(&url, request.call())?;
        Ok(list
            .files
            .into_iter()
            .map(|file| ArtifactFile {
                path: super::artifacts::join_artifact_path(path, &file.path),
                ..file
            })
            .collect())
    }

    /// Downloads artifact `path` of the artifact `location` to the file `dst`.
    pub(crate) fn download_artifact(&self, location: &str, path: &str, dst: &Path) -> Result<()> {
        let url = self.artifact_url(location, path);
        let mut request = self.agent.get(&url);
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let mut response = request.call().map_err(|e| transport(&url, e))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            return Err(api_error(&url, status, &body));
        }
        let io_error = |source| Error::Io {
            path: dst.to_path_buf(),
            source,
        };
        let mut file = File::create(dst).map_err(io_error)?;
        io::copy(&mut response.into_body().into_reader(), &mut file).map_err(io_error)?;
        Ok(())
    }
}

/// Whether a failed request may succeed when sent again later: the server could not be reached
/// or answered with a status MLflow's own client retries (408, 429, 5xx).
pub(crate) fn is_retryable(error: &Error) -> bool {
    match error {
        Error::Http { .. } => true,
        Error::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
        _ => false,
    }
}

fn transport(url: &str, error: ureq::Error) -> Error {
    Error::Http {
        url: url.to_string(),
        message: error.to_string(),
    }
}

fn api_error(url: &str, status: u16, body: &str) -> Error {
    let (error_code, message) = match serde_json::from_str::<ErrorBody>(body) {
        Ok(parsed) if !parsed.error_code.is_empty() => (parsed.error_code, parsed.message),
        _ => (String::new(), body.chars().take(500).collect()),
    };
    Error::Api {
        url: url.to_string(),
        status,
        error_code,
        message,
    }
}

fn read_json<R: DeserializeOwned>(
    url: &str,
    response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<R> {
    let mut response = response.map_err(|e| transport(url, e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
        .map_err(|e| transport(url, e))?;
    if !(200..300).contains(&status) {
        return Err(api_error(url, status, &body));
    }
    let body = if body.trim().is_empty() {
        "{}"
    } else {
        body.as_str()
    };
    serde_json::from_str(body).map_err(|source| Error::Json {
        context: format!("answer of {url}"),
        source,
    })
}
