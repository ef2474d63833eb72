//! Request fields as the MLflow client sends them: a JSON body for POST, the query string for
//! GET; numbers possibly as strings; `run_id` or the legacy `run_uuid`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::entities::{Metric, parse_f64};
use crate::error::{Error, Result};

/// The fields of one request (or of one message inside it): the JSON object, and the path of
/// that message in the request (`metrics[0].`, empty at the top level) for error messages.
#[derive(Debug, Default)]
pub(crate) struct Fields(Map<String, Value>, String);

/// What MLflow appends to every request-validation message.
const SEE_THE_DOCS: &str = "See the API docs for more information about request parameters.";

/// MLflow's message for a field of the wrong type (`mlflow/server/handlers.py`,
/// `_validate_param_against_schema`): the value as compact JSON, its Python type name.
pub(crate) fn invalid_value(path: &str, value: &Value) -> Error {
    Error::invalid(format!(
        "Invalid value {} for parameter '{path}' supplied:  Hint: Value was of type '{}'. \
         {SEE_THE_DOCS}",
        python_json(value),
        python_type(value)
    ))
}

/// MLflow's message for a required field that is absent, null or empty.
pub(crate) fn missing_value(path: &str) -> Error {
    Error::invalid(format!(
        "Missing value for required parameter '{path}'. {SEE_THE_DOCS}"
    ))
}

/// The name of the Python type `json.loads` gives for `value`.
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `value` as Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))` writes it:
/// compact, keys sorted, non-ASCII characters escaped as `\uXXXX`.
fn python_json(value: &Value) -> String {
    // serde_json's map is ordered by key (no `preserve_order`), so this is already sorted.
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

impl Fields {
    /// A POST body: empty means `{}`; anything but a JSON object is refused.
    pub(crate) fn from_body(body: &[u8]) -> Result<Fields> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields::default());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Fields(map, String::new())),
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
            String::new(),
        )
    }

    /// The field's name as MLflow's messages give it (`metrics[0].timestamp`).
    pub(crate) fn path(&self, name: &str) -> String {
        format!("{}{name}", self.1)
    }

    /// A string field; `None` when absent or null. Any other JSON type is refused, as MLflow
    /// refuses it (`Invalid value 123 for parameter 'name' supplied`).
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid_value(&self.path(name), other)),
        }
    }

    /// A required, non-empty string field.
    pub(crate) fn required(&self, name: &str) -> Result<String> {
        self.string(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing_value(&self.path(name)))
    }

    /// The run id: `run_id`, else the legacy `run_uuid`; messages name `run_id`, as MLflow's do.
    pub(crate) fn run_id(&self) -> Result<String> {
        let given = match self.0.get("run_id") {
            None | Some(Value::Null) => self.0.get("run_uuid"),
            Some(Value::String(s)) if s.is_empty() => self.0.get("run_uuid"),
            value => value,
        };
        match given {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            None | Some(Value::Null | Value::String(_)) => Err(missing_value(&self.path("run_id"))),
            Some(other) => Err(invalid_value(&self.path("run_id"), other)),
        }
    }

    /// An int64 field: a JSON integer (or a float with no fraction), or a decimal string.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>> {
        let invalid = |v: &Value| invalid_value(&self.path(name), v);
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| invalid(v)),
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid(v)),
            Some(v) => Err(invalid(v)),
        }
    }

    /// A double field: a number, or a string (`"1.5"`, `"NaN"`, `"Infinity"`, `"-Infinity"`).
    pub(crate) fn double(&self, name: &str) -> Result<Option<f64>> {
        let invalid = |v: &Value| invalid_value(&self.path(name), v);
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| invalid(v)),
            Some(v @ Value::String(s)) => parse_f64(s).map(Some).ok_or_else(|| invalid(v)),
            Some(v) => Err(invalid(v)),
        }
    }

    /// A required double field.
    pub(crate) fn required_double(&self, name: &str) -> Result<f64> {
        self.double(name)?
            .ok_or_else(|| missing_value(&self.path(name)))
    }

    /// A required int64 field.
    pub(crate) fn required_integer(&self, name: &str) -> Result<i64> {
        self.integer(name)?
            .ok_or_else(|| missing_value(&self.path(name)))
    }

    /// A repeated message field (metrics, params, tags, datasets): each item as [`Fields`]
    /// whose messages name it `name[i].field`; absent or null means empty. Anything but a list,
    /// or an item that is not an object, is refused with MLflow's message.
    pub(crate) fn messages(&self, name: &str) -> Result<Vec<Fields>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = format!("{}[{i}]", self.path(name));
                    match item {
                        Value::Object(map) => Ok(Fields(map.clone(), format!("{path}."))),
                        other => Err(invalid_value(&path, other)),
                    }
                })
                .collect(),
            Some(other) => Err(invalid_value(&self.path(name), other)),
        }
    }

    /// A nested message field (`dataset` of a dataset input); `None` when absent or null.
    pub(crate) fn message(&self, name: &str) -> Result<Option<Fields>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => {
                Ok(Some(Fields(map.clone(), format!("{}.", self.path(name)))))
            }
            Some(other) => Err(invalid_value(&self.path(name), other)),
        }
    }

    /// Key/value messages (tags, params): `key` required, `value` a string (absent: empty).
    pub(crate) fn key_values(&self, name: &str) -> Result<Vec<(String, String)>> {
        let items = self.messages(name)?;
        // MLflow checks every item's key before any type (`_assert_*_fields_present`).
        for item in &items {
            if item.0.get("key").is_none_or(|k| k.is_null() || *k == "") {
                return Err(missing_value(&item.path("key")));
            }
        }
        items
            .iter()
            .map(|item| {
                Ok((
                    item.required("key")?,
                    item.string("value")?.unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Metric messages of `log-batch`: `key`, `value` and `timestamp` required, `step`
    /// defaulting to 0.
    pub(crate) fn metrics(&self, name: &str) -> Result<Vec<Metric>> {
        let items = self.messages(name)?;
        for item in &items {
            for field in ["key", "value", "timestamp"] {
                if item.0.get(field).is_none_or(|v| v.is_null() || *v == "") {
                    return Err(missing_value(&item.path(field)));
                }
            }
        }
        items
            .iter()
            .map(|item| {
                Ok(Metric {
                    key: item.required("key")?,
                    value: item.required_double("value")?,
                    timestamp: item.required_integer("timestamp")?,
                    step: item.integer("step")?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// A list of strings (also a single string, as a GET query gives it).
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(v @ Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(invalid_value(&self.path(name), v)),
                })
                .collect(),
            Some(other) => Err(invalid_value(&self.path(name), other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_are_written_as_pythons_json_dumps_writes_them() {
        let value: Value =
            serde_json::from_str(r#"{"b": [1, 2.5, true, null], "a": "é😀"}"#).expect("parses");
        assert_eq!(
            python_json(&value),
            r#"{"a":"\u00e9\ud83d\ude00","b":[1,2.5,true,null]}"#
        );
        assert_eq!(python_type(&value), "dict");
        assert_eq!(python_type(&serde_json::json!(9.0)), "float");
        assert_eq!(python_type(&serde_json::json!(9)), "int");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_rendering_is_ascii_and_reads_back_as_the_same_value(value in json_value()) {
            let text = python_json(&value);
            prop_assert!(text.is_ascii());
            let back: Value = serde_json::from_str(&text).expect("valid JSON");
            prop_assert_eq!(back, value);
        }
    }
}
