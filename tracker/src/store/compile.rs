//! The search language compiled to SQL over the store's tables: every key and value of a
//! [`Filter`] or [`OrderBy`] becomes a bound parameter, never part of the SQL text.

use rusqlite::types::Value as SqlValue;

use crate::query::{Attribute, Clause, Filter, Identifier, Op, OrderBy, Target, Value};

/// SQL fragments for a run search: to be placed into
/// `SELECT ... FROM runs r {joins} WHERE {conditions} ORDER BY {order}` with `params` bound in
/// that textual order (join parameters first, then condition parameters).
#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledSearch {
    /// `LEFT JOIN ...` clauses for the order keys.
    pub(crate) joins: String,
    /// Parameters of `joins`, in order.
    pub(crate) join_params: Vec<SqlValue>,
    /// Conditions joined by `AND` (`1` when none).
    pub(crate) conditions: String,
    /// Parameters of `conditions`, in order.
    pub(crate) condition_params: Vec<SqlValue>,
    /// The `ORDER BY` list, ending with the tiebreak `r.start_time DESC, r.run_id`.
    pub(crate) order: String,
}

/// Translates a LIKE pattern (`%`, `_`) into a case-sensitive SQLite GLOB pattern.
pub(crate) fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '%' => glob.push('*'),
            '_' => glob.push('?'),
            '*' => glob.push_str("[*]"),
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            other => glob.push(other),
        }
    }
    glob
}

/// Compiles a run filter and order into SQL over the store's tables (`runs r`, `params`,
/// `tags`, `latest_metrics`). Every key and value is a bound parameter.
///
/// Semantics (as MLflow's SQL store): a metric clause compares the latest value and never
/// matches a run without the metric; a NaN latest value matches only `!=`. A param/tag clause
/// never matches a run without the key, except `IS NULL`. Ordering puts numbers first, then NaN,
/// then runs without the key, whatever the direction.
pub(crate) fn compile_runs(filter: &Filter, order_by: &[OrderBy]) -> CompiledSearch {
    let mut out = CompiledSearch::default();
    let mut conditions = Vec::new();
    for clause in &filter.clauses {
        conditions.push(compile_clause(
            clause,
            Target::Runs,
            &mut out.condition_params,
        ));
    }
    out.conditions = if conditions.is_empty() {
        "1".to_string()
    } else {
        conditions.join(" AND ")
    };
    let mut order = Vec::new();
    for (i, clause) in order_by.iter().enumerate() {
        let dir = if clause.ascending { "ASC" } else { "DESC" };
        let alias = format!("o{i}");
        match &clause.identifier {
            Identifier::Metric(key) => {
                out.joins.push_str(&format!(
                    " LEFT JOIN latest_metrics {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?"
                ));
                out.join_params.push(SqlValue::Text(key.clone()));
                order.push(format!(
                    "CASE WHEN {alias}.run_id IS NULL THEN 2 WHEN {alias}.is_nan THEN 1 ELSE 0 END, {alias}.value {dir}"
                ));
            }
            Identifier::Param(key) | Identifier::Tag(key) => {
                let table = if matches!(clause.identifier, Identifier::Param(_)) {
                    "params"
                } else {
                    "tags"
                };
                out.joins.push_str(&format!(
                    " LEFT JOIN {table} {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?"
                ));
                out.join_params.push(SqlValue::Text(key.clone()));
                order.push(format!("{alias}.value IS NULL, {alias}.value {dir}"));
            }
            Identifier::Attribute(attribute) => {
                let column = column(*attribute);
                order.push(format!("{column} IS NULL, {column} {dir}"));
            }
        }
    }
    order.push("r.start_time DESC, r.run_id ASC".to_string());
    out.order = order.join(", ");
    out
}

/// Compiles an experiment filter into conditions over `experiments e` (attributes `name`,
/// `creation_time`, `last_update_time`; `tags.<key>` from `experiment_tags`).
pub(crate) fn compile_experiments(filter: &Filter) -> (String, Vec<SqlValue>) {
    let mut params = Vec::new();
    let conditions: Vec<String> = filter
        .clauses
        .iter()
        .map(|clause| compile_clause(clause, Target::Experiments, &mut params))
        .collect();
    let sql = if conditions.is_empty() {
        "1".to_string()
    } else {
        conditions.join(" AND ")
    };
    (sql, params)
}

fn string_condition(column: &str, op: Op, value: &Value, params: &mut Vec<SqlValue>) -> String {
    match (op, value) {
        (Op::Like, Value::String(s)) => {
            params.push(SqlValue::Text(like_to_glob(s)));
            format!("{column} GLOB ?")
        }
        (Op::ILike, Value::String(s)) => {
            params.push(SqlValue::Text(like_to_glob(&s.to_ascii_lowercase())));
            format!("lower({column}) GLOB ?")
        }
        (Op::In | Op::NotIn, Value::List(items)) => {
            let json = serde_json::Value::from(items.clone()).to_string();
            params.push(SqlValue::Text(json));
            let not = if op == Op::NotIn { "NOT " } else { "" };
            format!("{column} {not}IN (SELECT value FROM json_each(?))")
        }
        (op, Value::String(s)) => {
            params.push(SqlValue::Text(s.clone()));
            format!("{column} {} ?", sql_op(op))
        }
        (op, Value::Integer(i)) => {
            params.push(SqlValue::Integer(*i));
            format!("{column} {} ?", sql_op(op))
        }
        // The parser pairs every comparator with its value kind; nothing else reaches here.
        _ => "0".to_string(),
    }
}

fn compile_clause(clause: &Clause, target: Target, params: &mut Vec<SqlValue>) -> String {
    match &clause.identifier {
        Identifier::Metric(key) => {
            let Value::Number(n) = clause.value else {
                return "0".to_string();
            };
            params.push(SqlValue::Text(key.clone()));
            params.push(SqlValue::Real(n));
            let nan = if clause.op == Op::Ne {
                "m.is_nan = 1 OR "
            } else {
                "m.is_nan = 0 AND "
            };
            format!(
                "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_id = r.run_id AND m.key = ? AND ({nan}m.value {} ?))",
                sql_op(clause.op)
            )
        }
        Identifier::Param(key) | Identifier::Tag(key) => {
            let (table, owner) = match (&clause.identifier, target) {
                (Identifier::Param(_), _) => ("params", "run_id = r.run_id"),
                (_, Target::Runs) => ("tags", "run_id = r.run_id"),
                (_, Target::Experiments) => ("experiment_tags", "experiment_id = e.experiment_id"),
            };
            params.push(SqlValue::Text(key.clone()));
            match clause.op {
                Op::IsNull => {
                    format!("NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{owner} AND t.key = ?)")
                }
                Op::IsNotNull => {
                    format!("EXISTS (SELECT 1 FROM {table} t WHERE t.{owner} AND t.key = ?)")
                }
                op => {
                    let condition = string_condition("t.value", op, &clause.value, params);
                    format!(
                        "EXISTS (SELECT 1 FROM {table} t WHERE t.{owner} AND t.key = ? AND {condition})"
                    )
                }
            }
        }
        Identifier::Attribute(attribute) => {
            string_condition(column(*attribute), clause.op, &clause.value, params)
        }
    }
}

/// The SQL column of an attribute (fixed text chosen here, never user text).
fn column(attribute: Attribute) -> &'static str {
    match attribute {
        Attribute::RunId => "r.run_id",
        Attribute::RunName => "r.run_name",
        Attribute::Status => "r.status",
        Attribute::UserId => "r.user_id",
        Attribute::ArtifactUri => "r.artifact_uri",
        Attribute::StartTime => "r.start_time",
        Attribute::EndTime => "r.end_time",
        Attribute::Name => "e.name",
        Attribute::CreationTime => "e.creation_time",
        Attribute::LastUpdateTime => "e.last_update_time",
    }
}

/// The SQL symbol of a comparison operator.
fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        _ => unreachable!("only comparison operators have a SQL symbol"),
    }
}
