//! Request fields as the MLflow client sends them: a JSON body for POST, the query string for
//! GET; numbers possibly as strings; `run_id` or the legacy `run_uuid`.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::entities::parse_f64;
use crate::error::{Error, Result};

/// The fields of one request.
#[derive(Debug, Default)]
pub(crate) struct Fields(Map<String, Value>);

impl Fields {
    /// A POST body: empty means `{}`; anything but a JSON object is refused.
    pub(crate) fn from_body(body: &[u8]) -> Result<Fields> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields::default());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Fields(map)),
            Ok(_) => Err(Error::invalid("The request body must be a JSON object")),
            Err(error) => Err(Error::invalid(format!(
                "Malformed JSON request body: {error}"
            ))),
        }
    }

    /// A GET query string (every value a string).
    pub(crate) fn from_query(query: HashMap<String, String>) -> Fields {
        Fields(
            query
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }

    /// A string field (a number is taken as its decimal text); `None` when absent or null.
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(Error::invalid(format!(
                "Invalid value {other} for parameter '{name}' supplied: expected a string"
            ))),
        }
    }

    /// A required, non-empty string field.
    pub(crate) fn required(&self, name: &str) -> Result<String> {
        self.string(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::invalid(format!("Missing value for required parameter '{name}'")))
    }

    /// The run id: `run_id`, else the legacy `run_uuid`.
    pub(crate) fn run_id(&self) -> Result<String> {
        match self.string("run_id")?.filter(|s| !s.is_empty()) {
            Some(id) => Ok(id),
            None => self
                .required("run_uuid")
                .map_err(|_| Error::invalid("Missing value for required parameter 'run_id'")),
        }
    }

    /// An int64 field, as a number or a decimal string.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>> {
        let invalid = |v: &Value| {
            Error::invalid(format!(
                "Invalid value {v} for parameter '{name}' supplied: expected an integer"
            ))
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(v)),
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid(v)),
            Some(v) => Err(invalid(v)),
        }
    }

    /// A double field: a number, or a string (`"1.5"`, `"NaN"`, `"Infinity"`, `"-Infinity"`).
    pub(crate) fn double(&self, name: &str) -> Result<Option<f64>> {
        let invalid = |v: &Value| {
            Error::invalid(format!(
                "Invalid value {v} for parameter '{name}' supplied: expected a number"
            ))
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| invalid(v)),
            Some(v @ Value::String(s)) => parse_f64(s).map(Some).ok_or_else(|| invalid(v)),
            Some(v) => Err(invalid(v)),
        }
    }

    /// A list of messages (metrics, params, tags); absent means empty.
    pub(crate) fn list<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(value) => Vec::<T>::deserialize(value).map_err(|error| {
                Error::invalid(format!(
                    "Invalid value for parameter '{name}' supplied: {error}"
                ))
            }),
        }
    }

    /// A list of strings (also a single string, as a GET query gives it).
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(Error::invalid(format!(
                        "Invalid value {other} in parameter '{name}': expected a string"
                    ))),
                })
                .collect(),
            Some(other) => Err(Error::invalid(format!(
                "Invalid value {other} for parameter '{name}' supplied: expected a list"
            ))),
        }
    }
}
