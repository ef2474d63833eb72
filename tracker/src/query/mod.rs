//! MLflow's search language: filters and `order_by` clauses (the store compiles them to SQL).
//!
//! A filter is `clause [AND clause]*` (no `OR`, no parentheses), where a clause is
//! `identifier comparator value` or `identifier IS [NOT] NULL`, and an identifier is
//! `[entity.]key` with the entity one of `metrics`, `params`, `tags`, `attributes` (and MLflow's
//! aliases `metric`, `param`, `parameter(s)`, `tag`, `attribute`, `attr`, `run`). Keys with dots
//! or spaces are quoted with backticks or double quotes: ``tags.`mlflow.runName` = 'r'``.
//!
//! | entity | comparators | value |
//! | --- | --- | --- |
//! | metrics (latest value) | `= != < <= > >=` | number |
//! | params, tags | `= != LIKE ILIKE`, `IS [NOT] NULL` | `'string'` |
//! | attributes `run_id` | `= != LIKE ILIKE IN NOT IN` | `'string'`, `('a', 'b')` |
//! | attributes `run_name`, `status`, `user_id`, `artifact_uri` | `= != LIKE ILIKE` | `'string'` |
//! | attributes `start_time`, `end_time` (`created`) | `= != < <= > >=` | integer ms |
//!
//! Experiments are searched by their attributes and `tags.<key>` only: a `metrics.` or
//! `params.` identifier is refused when parsing for [`Target::Experiments`]. Limits, checked
//! before any SQL is built so that SQLite's own limits are never what refuses a search:
//! [`MAX_FILTER_BYTES`], [`MAX_FILTER_CLAUSES`], [`MAX_LIKE_PATTERN_BYTES`],
//! [`MAX_ORDER_BY_KEYS`].
//!
//! [`Filter`] and [`OrderBy`] print back in a canonical form that parses to the same value.
//! The store's SQL compiler (`store::compile`) turns them into SQL fragments over its tables
//! whose every user value (keys included) is a bound parameter: no user text is ever part of
//! the SQL. This module is the language only; it knows nothing of SQL or SQLite.
//!
//! # Layout
//! - `ast`: the syntax tree ([`Filter`], [`Clause`], [`Identifier`], [`Op`], [`Value`],
//!   [`OrderBy`]), its canonical printer and the reference `LIKE` semantics ([`like_matches`]);
//! - `limits`: what the language refuses ([`MAX_FILTER_BYTES`] ...) and [`QueryError`];
//! - `parse`: the tokenizer and parser ([`Filter::parse`], [`OrderBy::parse`],
//!   [`parse_order_by`]).
//!
//! ```
//! use tracker::query::Filter;
//! let filter = Filter::parse("metrics.val_loss < 0.5 and params.lr = '0.001'").unwrap();
//! assert_eq!(filter.to_string(), "metrics.val_loss < 0.5 AND params.lr = '0.001'");
//! assert!(Filter::parse("metrics.a < 1 OR metrics.b > 2").is_err());
//! ```

mod ast;
mod limits;
mod parse;

pub use ast::{
    Attribute, Clause, Entity, Filter, Identifier, Op, OrderBy, Target, Value, like_matches,
};
pub use limits::{
    MAX_FILTER_BYTES, MAX_FILTER_CLAUSES, MAX_LIKE_PATTERN_BYTES, MAX_ORDER_BY_KEYS, QueryError,
};
pub use parse::parse_order_by;
