//! MLflow's search language: filters and `order_by` clauses, compiled to parameterized SQL.
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
//! [`compile_runs`] turns them into SQL fragments over the store's tables whose every user
//! value (keys included) is a bound parameter: no user text is ever part of the SQL.
//!
//! ```
//! use tracker::query::Filter;
//! let filter = Filter::parse("metrics.val_loss < 0.5 and params.lr = '0.001'").unwrap();
//! assert_eq!(filter.to_string(), "metrics.val_loss < 0.5 AND params.lr = '0.001'");
//! assert!(Filter::parse("metrics.a < 1 OR metrics.b > 2").is_err());
//! ```

use std::fmt;

use rusqlite::types::Value as SqlValue;

/// Longest filter accepted, in bytes (the filter is tokenized whole before it is parsed).
pub const MAX_FILTER_BYTES: usize = 256 * 1024;
/// Most clauses one filter may join with `AND`: SQLite refuses an expression tree deeper than
/// 1,000, and every clause adds a level.
pub const MAX_FILTER_CLAUSES: usize = 500;
/// Longest `LIKE`/`ILIKE` pattern, in bytes: SQLite refuses patterns over 50,000 bytes, and a
/// pattern grows up to threefold when translated for SQLite (`*` becomes `[*]`).
pub const MAX_LIKE_PATTERN_BYTES: usize = 16 * 1024;
/// Most `order_by` keys of one search: SQLite joins at most 64 tables, and each metric, param
/// or tag key is one join.
pub const MAX_ORDER_BY_KEYS: usize = 32;

/// A filter or order-by clause that does not parse or is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid search expression at position {position} near {token:?}: {message} (in {input:?})"
)]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// Character offset (0-based) of the offending token.
    pub position: usize,
    /// The offending token (empty at the end of the input).
    pub token: String,
    /// The whole expression.
    pub input: String,
}

/// What an identifier refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// The latest value of a metric.
    Metric,
    /// A param.
    Param,
    /// A tag.
    Tag,
    /// A column of the run (or experiment) itself.
    Attribute,
}

impl Entity {
    fn prefix(self) -> &'static str {
        match self {
            Entity::Metric => "metrics",
            Entity::Param => "params",
            Entity::Tag => "tags",
            Entity::Attribute => "attributes",
        }
    }

    fn from_word(word: &str) -> Option<Entity> {
        match word.to_ascii_lowercase().as_str() {
            "metric" | "metrics" => Some(Entity::Metric),
            "param" | "params" | "parameter" | "parameters" => Some(Entity::Param),
            "tag" | "tags" => Some(Entity::Tag),
            "attribute" | "attributes" | "attr" | "run" => Some(Entity::Attribute),
            _ => None,
        }
    }
}

/// A column a filter or order can name through `attributes.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// `run_id` (runs).
    RunId,
    /// `run_name` (runs).
    RunName,
    /// `status` (runs).
    Status,
    /// `user_id` (runs).
    UserId,
    /// `artifact_uri` (runs).
    ArtifactUri,
    /// `start_time`, alias `created` (runs).
    StartTime,
    /// `end_time` (runs).
    EndTime,
    /// `name` (experiments).
    Name,
    /// `creation_time` (experiments).
    CreationTime,
    /// `last_update_time` (experiments).
    LastUpdateTime,
}

/// What is being searched: the attributes allowed differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Target {
    /// Runs (`runs/search`).
    #[default]
    Runs,
    /// Experiments (`experiments/search`): attributes `name`, `creation_time`, `last_update_time`
    /// and `tags.<key>`.
    Experiments,
}

impl Attribute {
    /// Canonical name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            Attribute::RunId => "run_id",
            Attribute::RunName => "run_name",
            Attribute::Status => "status",
            Attribute::UserId => "user_id",
            Attribute::ArtifactUri => "artifact_uri",
            Attribute::StartTime => "start_time",
            Attribute::EndTime => "end_time",
            Attribute::Name => "name",
            Attribute::CreationTime => "creation_time",
            Attribute::LastUpdateTime => "last_update_time",
        }
    }

    /// Whether the attribute holds integers (times) rather than strings.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Attribute::StartTime
                | Attribute::EndTime
                | Attribute::CreationTime
                | Attribute::LastUpdateTime
        )
    }

    /// The SQL column (fixed text chosen here, never user text).
    fn column(self) -> &'static str {
        match self {
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

    fn lookup(name: &str, target: Target) -> Option<Attribute> {
        let lower = name.to_ascii_lowercase();
        match target {
            Target::Runs => match lower.as_str() {
                "run_id" => Some(Attribute::RunId),
                "run_name" | "run name" => Some(Attribute::RunName),
                "status" => Some(Attribute::Status),
                "user_id" => Some(Attribute::UserId),
                "artifact_uri" => Some(Attribute::ArtifactUri),
                "start_time" | "created" => Some(Attribute::StartTime),
                "end_time" => Some(Attribute::EndTime),
                _ => None,
            },
            Target::Experiments => match lower.as_str() {
                "name" => Some(Attribute::Name),
                "creation_time" => Some(Attribute::CreationTime),
                "last_update_time" => Some(Attribute::LastUpdateTime),
                _ => None,
            },
        }
    }
}

/// What a clause or order compares: a metric, param or tag key, or an attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// `metrics.<key>`.
    Metric(String),
    /// `params.<key>`.
    Param(String),
    /// `tags.<key>`.
    Tag(String),
    /// `attributes.<name>`.
    Attribute(Attribute),
}

impl Identifier {
    fn entity(&self) -> Entity {
        match self {
            Identifier::Metric(_) => Entity::Metric,
            Identifier::Param(_) => Entity::Param,
            Identifier::Tag(_) => Entity::Tag,
            Identifier::Attribute(_) => Entity::Attribute,
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self {
            Identifier::Metric(key) | Identifier::Param(key) | Identifier::Tag(key) => key.as_str(),
            Identifier::Attribute(attribute) => attribute.name(),
        };
        write!(f, "{}.", self.entity().prefix())?;
        if is_bare_key(key) {
            f.write_str(key)
        } else {
            write!(f, "`{key}`")
        }
    }
}

/// A key prints without quotes when it is a plain word.
fn is_bare_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(key)
}

fn is_keyword(word: &str) -> bool {
    [
        "and", "or", "not", "in", "is", "null", "like", "ilike", "asc", "desc",
    ]
    .contains(&word.to_ascii_lowercase().as_str())
}

/// A comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=` (also `<>`)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE` (`%` any run, `_` one character; case-sensitive)
    Like,
    /// `ILIKE` (as `LIKE`, ASCII case-insensitive)
    ILike,
    /// `IN (...)`
    In,
    /// `NOT IN (...)`
    NotIn,
    /// `IS NULL`
    IsNull,
    /// `IS NOT NULL`
    IsNotNull,
}

impl Op {
    /// As written in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            _ => unreachable!("only comparison operators have a SQL symbol"),
        }
    }

    /// Whether `a op b` holds, for the ordering comparators.
    pub fn compare<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            _ => false,
        }
    }
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (metrics).
    Number(f64),
    /// An integer (time attributes, ms).
    Integer(i64),
    /// A quoted string.
    String(String),
    /// A parenthesized list of quoted strings (`IN`).
    List(Vec<String>),
    /// None (`IS NULL`, `IS NOT NULL`).
    None,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::String(s) => write_quoted(f, s),
            Value::List(items) => {
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_quoted(f, item)?;
                }
                f.write_str(")")
            }
            Value::None => Ok(()),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// One `identifier comparator value` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Left-hand side.
    pub identifier: Identifier,
    /// Comparator.
    pub op: Op,
    /// Right-hand side ([`Value::None`] for `IS [NOT] NULL`).
    pub value: Value,
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.identifier, self.op.as_str())?;
        if self.value != Value::None {
            write!(f, " {}", self.value)?;
        }
        Ok(())
    }
}

/// A parsed filter: clauses joined by `AND` (empty: everything matches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// The clauses, in input order.
    pub clauses: Vec<Clause>,
}

impl Filter {
    /// Parses a run filter (empty or blank: no clause).
    ///
    /// # Errors
    /// [`QueryError`] naming the position and token of the first problem.
    pub fn parse(input: &str) -> Result<Filter, QueryError> {
        Filter::parse_for(input, Target::Runs)
    }

    /// Parses a filter over runs or experiments.
    ///
    /// # Errors
    /// [`QueryError`] naming the position and token of the first problem.
    pub fn parse_for(input: &str, target: Target) -> Result<Filter, QueryError> {
        if input.len() > MAX_FILTER_BYTES {
            return Err(QueryError {
                message: format!(
                    "the filter is {} bytes long; the limit is {MAX_FILTER_BYTES} bytes",
                    input.len()
                ),
                position: 0,
                token: String::new(),
                input: clip(input),
            });
        }
        let mut parser = Parser::new(input, target)?;
        let mut clauses = Vec::new();
        if parser.at_end() {
            return Ok(Filter { clauses });
        }
        loop {
            if clauses.len() == MAX_FILTER_CLAUSES {
                let token = parser.tokens[parser.next].clone();
                return Err(parser.error_at(
                    &token,
                    &format!("a filter may join at most {MAX_FILTER_CLAUSES} clauses with AND"),
                ));
            }
            clauses.push(parser.clause()?);
            if parser.at_end() {
                break;
            }
            parser.keyword("AND")?;
        }
        Ok(Filter { clauses })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            write!(f, "{clause}")?;
        }
        Ok(())
    }
}

/// One `order_by` clause: `identifier [ASC|DESC]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// What to order by.
    pub identifier: Identifier,
    /// `ASC` (the default) or `DESC`.
    pub ascending: bool,
}

impl OrderBy {
    /// Parses one run order-by clause, e.g. `metrics.val_loss ASC`.
    ///
    /// # Errors
    /// [`QueryError`] naming the position and token of the first problem.
    pub fn parse(input: &str) -> Result<OrderBy, QueryError> {
        OrderBy::parse_for(input, Target::Runs)
    }

    /// Parses one order-by clause over runs or experiments.
    ///
    /// # Errors
    /// [`QueryError`] naming the position and token of the first problem.
    pub fn parse_for(input: &str, target: Target) -> Result<OrderBy, QueryError> {
        let mut parser = Parser::new(input, target)?;
        let identifier = parser.identifier()?;
        let ascending = if parser.at_end() {
            true
        } else {
            let token = parser.next_token();
            match &token.kind {
                Tok::Word(w) if w.eq_ignore_ascii_case("asc") => true,
                Tok::Word(w) if w.eq_ignore_ascii_case("desc") => false,
                _ => return Err(parser.error_at(&token, "expected ASC or DESC")),
            }
        };
        if !parser.at_end() {
            let token = parser.next_token();
            return Err(parser.error_at(&token, "unexpected text after the order clause"));
        }
        Ok(OrderBy {
            identifier,
            ascending,
        })
    }
}

/// Parses the `order_by` list of a search: at most [`MAX_ORDER_BY_KEYS`] clauses.
///
/// # Errors
/// [`QueryError`] for too many clauses or the first clause that does not parse.
pub fn parse_order_by(clauses: &[String], target: Target) -> Result<Vec<OrderBy>, QueryError> {
    if clauses.len() > MAX_ORDER_BY_KEYS {
        return Err(QueryError {
            message: format!(
                "{} order_by keys given; a search may order by at most {MAX_ORDER_BY_KEYS}",
                clauses.len()
            ),
            position: 0,
            token: String::new(),
            input: clip(&clauses.join(", ")),
        });
    }
    clauses
        .iter()
        .map(|clause| OrderBy::parse_for(clause, target))
        .collect()
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.identifier,
            if self.ascending { "ASC" } else { "DESC" }
        )
    }
}

/// Text quoted in an error message: whole up to 256 characters, else its start and "...".
fn clip(text: &str) -> String {
    const QUOTED_CHARS: usize = 256;
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    QuotedKey(String),
    Str(String),
    Number(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    position: usize,
    text: String,
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    next: usize,
    target: Target,
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let error = |message: &str, position: usize, token: String| QueryError {
        message: message.to_string(),
        position,
        token: clip(&token),
        input: clip(input),
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = if c.is_alphabetic() || c == '_' {
            // A word: an entity-qualified identifier may continue past dots, a quoted key may
            // follow a trailing dot (`tags.`mlflow.runName``).
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | ':' | '/' | '-'))
            {
                i += 1;
            }
            Tok::Word(chars[start..i].iter().collect())
        } else if c == '`' || c == '"' || c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(error(
                            "unterminated quoted text",
                            start,
                            chars[start..].iter().collect(),
                        ));
                    }
                    Some(&q) if q == c => {
                        if c == '\'' && chars.get(i + 1) == Some(&'\'') {
                            value.push('\'');
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some('\\') if c == '\'' && chars.get(i + 1).is_some() => {
                        value.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            if c == '\'' {
                Tok::Str(value)
            } else {
                Tok::QuotedKey(value)
            }
        } else if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && i + 1 < chars.len())
        {
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            Tok::Number(chars[start..i].iter().collect())
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (op, len) = match two.as_str() {
                "!=" => (Tok::Op("!="), 2),
                "<>" => (Tok::Op("!="), 2),
                "<=" => (Tok::Op("<="), 2),
                ">=" => (Tok::Op(">="), 2),
                "==" => (Tok::Op("="), 2),
                _ => match c {
                    '=' => (Tok::Op("="), 1),
                    '<' => (Tok::Op("<"), 1),
                    '>' => (Tok::Op(">"), 1),
                    '(' => (Tok::LParen, 1),
                    ')' => (Tok::RParen, 1),
                    ',' => (Tok::Comma, 1),
                    _ => return Err(error("unexpected character", start, c.to_string())),
                },
            };
            i += len;
            op
        };
        tokens.push(Token {
            kind,
            position: start,
            text: chars[start..i].iter().collect(),
        });
    }
    tokens.push(Token {
        kind: Tok::End,
        position: chars.len(),
        text: String::new(),
    });
    Ok(tokens)
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, target: Target) -> Result<Self, QueryError> {
        Ok(Parser {
            input,
            tokens: tokenize(input)?,
            next: 0,
            target,
        })
    }

    fn at_end(&self) -> bool {
        matches!(self.tokens[self.next].kind, Tok::End)
    }

    fn next_token(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if !matches!(token.kind, Tok::End) {
            self.next += 1;
        }
        token
    }

    fn error_at(&self, token: &Token, message: &str) -> QueryError {
        QueryError {
            message: message.to_string(),
            position: token.position,
            token: clip(&token.text),
            input: clip(self.input),
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), QueryError> {
        let token = self.next_token();
        match &token.kind {
            Tok::Word(w) if w.eq_ignore_ascii_case(word) => Ok(()),
            Tok::Word(w) if w.eq_ignore_ascii_case("or") => Err(self.error_at(
                &token,
                "Invalid clause(s) in filter string: 'OR' (only AND is supported)",
            )),
            _ => Err(self.error_at(&token, &format!("expected {word}"))),
        }
    }

    fn identifier(&mut self) -> Result<Identifier, QueryError> {
        let token = self.next_token();
        let (entity, key) = match &token.kind {
            Tok::Word(word) => match word.split_once('.') {
                Some((prefix, rest)) => {
                    let Some(entity) = Entity::from_word(prefix) else {
                        return Err(self.error_at(
                            &token,
                            "unknown entity: expected metrics., params., tags. or attributes.",
                        ));
                    };
                    if rest.is_empty() {
                        match self.next_token() {
                            Token {
                                kind: Tok::QuotedKey(key),
                                ..
                            } => (entity, key),
                            other => return Err(self.error_at(&other, "expected a quoted key")),
                        }
                    } else {
                        (entity, rest.to_string())
                    }
                }
                None => (Entity::Attribute, word.clone()),
            },
            Tok::QuotedKey(key) => (Entity::Attribute, key.clone()),
            _ => return Err(self.error_at(&token, "expected an identifier such as metrics.loss")),
        };
        if key.is_empty() {
            return Err(self.error_at(&token, "empty key"));
        }
        if self.target == Target::Experiments && matches!(entity, Entity::Metric | Entity::Param) {
            return Err(self.error_at(
                &token,
                &format!(
                    "experiments are searched by attributes (name, creation_time, \
                     last_update_time) and tags only; {}. is a run field (use runs/search)",
                    entity.prefix()
                ),
            ));
        }
        Ok(match entity {
            Entity::Metric => Identifier::Metric(key),
            Entity::Param => Identifier::Param(key),
            Entity::Tag => Identifier::Tag(key),
            Entity::Attribute => match Attribute::lookup(&key, self.target) {
                Some(attribute) => Identifier::Attribute(attribute),
                None => {
                    let allowed = match self.target {
                        Target::Runs => {
                            "run_id, run_name, status, user_id, artifact_uri, start_time, end_time"
                        }
                        Target::Experiments => "name, creation_time, last_update_time",
                    };
                    return Err(self.error_at(
                        &token,
                        &format!("unknown attribute {key:?}: expected one of {allowed}"),
                    ));
                }
            },
        })
    }

    fn op(&mut self) -> Result<(Op, Token), QueryError> {
        let token = self.next_token();
        let op = match &token.kind {
            Tok::Op("=") => Op::Eq,
            Tok::Op("!=") => Op::Ne,
            Tok::Op("<") => Op::Lt,
            Tok::Op("<=") => Op::Le,
            Tok::Op(">") => Op::Gt,
            Tok::Op(">=") => Op::Ge,
            Tok::Word(w) if w.eq_ignore_ascii_case("like") => Op::Like,
            Tok::Word(w) if w.eq_ignore_ascii_case("ilike") => Op::ILike,
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => Op::In,
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.keyword("IN").map_err(|e| QueryError {
                    message: "expected NOT IN".into(),
                    ..e
                })?;
                Op::NotIn
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("is") => {
                let next = self.next_token();
                match &next.kind {
                    Tok::Word(n) if n.eq_ignore_ascii_case("null") => Op::IsNull,
                    Tok::Word(n) if n.eq_ignore_ascii_case("not") => {
                        self.keyword("NULL")?;
                        Op::IsNotNull
                    }
                    _ => return Err(self.error_at(&next, "expected NULL or NOT NULL after IS")),
                }
            }
            _ => {
                return Err(self.error_at(
                    &token,
                    "expected a comparator (= != < <= > >= LIKE ILIKE IN)",
                ));
            }
        };
        Ok((op, token))
    }

    fn clause(&mut self) -> Result<Clause, QueryError> {
        let identifier = self.identifier()?;
        let (op, op_token) = self.op()?;
        let allowed: &[Op] = match &identifier {
            Identifier::Metric(_) => &[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge],
            Identifier::Param(_) | Identifier::Tag(_) => &[
                Op::Eq,
                Op::Ne,
                Op::Like,
                Op::ILike,
                Op::IsNull,
                Op::IsNotNull,
            ],
            Identifier::Attribute(a) if a.is_numeric() => {
                &[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge]
            }
            Identifier::Attribute(Attribute::RunId) => {
                &[Op::Eq, Op::Ne, Op::Like, Op::ILike, Op::In, Op::NotIn]
            }
            Identifier::Attribute(_) => &[Op::Eq, Op::Ne, Op::Like, Op::ILike],
        };
        if !allowed.contains(&op) {
            return Err(self.error_at(
                &op_token,
                &format!("comparator {} is not allowed for {identifier}", op.as_str()),
            ));
        }
        let value = match op {
            Op::IsNull | Op::IsNotNull => Value::None,
            Op::In | Op::NotIn => self.list()?,
            _ => {
                let token = self.next_token();
                let numeric = matches!(identifier, Identifier::Metric(_))
                    || matches!(identifier, Identifier::Attribute(a) if a.is_numeric());
                match (&token.kind, numeric) {
                    (Tok::Number(text), true) => {
                        if matches!(identifier, Identifier::Attribute(_)) {
                            Value::Integer(text.parse::<i64>().map_err(|_| {
                                self.error_at(&token, "expected an integer (milliseconds)")
                            })?)
                        } else {
                            match text.parse::<f64>() {
                                Ok(n) if n.is_finite() => Value::Number(n),
                                _ => return Err(self.error_at(&token, "expected a finite number")),
                            }
                        }
                    }
                    (_, true) => {
                        return Err(self.error_at(
                            &token,
                            &format!("expected a number (unquoted) for {identifier}"),
                        ));
                    }
                    (Tok::Str(s), false)
                        if matches!(op, Op::Like | Op::ILike)
                            && s.len() > MAX_LIKE_PATTERN_BYTES =>
                    {
                        return Err(self.error_at(
                            &token,
                            &format!(
                                "the {} pattern is {} bytes long; the limit is \
                                 {MAX_LIKE_PATTERN_BYTES} bytes",
                                op.as_str(),
                                s.len()
                            ),
                        ));
                    }
                    (Tok::Str(s), false) => Value::String(s.clone()),
                    (_, false) => {
                        return Err(self.error_at(
                            &token,
                            &format!("expected a 'quoted string' for {identifier}"),
                        ));
                    }
                }
            }
        };
        Ok(Clause {
            identifier,
            op,
            value,
        })
    }

    fn list(&mut self) -> Result<Value, QueryError> {
        let open = self.next_token();
        if open.kind != Tok::LParen {
            return Err(self.error_at(&open, "expected ( after IN"));
        }
        let mut items = Vec::new();
        loop {
            let token = self.next_token();
            match token.kind {
                Tok::Str(s) => items.push(s),
                _ => return Err(self.error_at(&token, "expected a 'quoted string' in the list")),
            }
            let sep = self.next_token();
            match sep.kind {
                Tok::Comma => continue,
                Tok::RParen => break,
                _ => return Err(self.error_at(&sep, "expected , or )")),
            }
        }
        Ok(Value::List(items))
    }
}

/// SQL fragments for a run search: to be placed into
/// `SELECT ... FROM runs r {joins} WHERE {conditions} ORDER BY {order}` with `params` bound in
/// that textual order (join parameters first, then condition parameters).
#[derive(Debug, Clone, Default)]
pub struct CompiledSearch {
    /// `LEFT JOIN ...` clauses for the order keys.
    pub joins: String,
    /// Parameters of `joins`, in order.
    pub join_params: Vec<SqlValue>,
    /// Conditions joined by `AND` (`1` when none).
    pub conditions: String,
    /// Parameters of `conditions`, in order.
    pub condition_params: Vec<SqlValue>,
    /// The `ORDER BY` list, ending with the tiebreak `r.start_time DESC, r.run_id`.
    pub order: String,
}

/// Translates a LIKE pattern (`%`, `_`) into a case-sensitive SQLite GLOB pattern.
pub fn like_to_glob(pattern: &str) -> String {
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

/// Whether `text` matches the LIKE `pattern` (`%`, `_`), case-sensitively or ASCII
/// case-insensitively: the reference semantics of `LIKE`/`ILIKE` that the SQL reproduces.
pub fn like_matches(text: &str, pattern: &str, case_insensitive: bool) -> bool {
    let norm = |s: &str| -> Vec<char> {
        if case_insensitive {
            s.to_ascii_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (t, p) = (norm(text), norm(pattern));
    // Classic wildcard matching with backtracking on the last `%`.
    let (mut ti, mut pi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

/// Compiles a run filter and order into SQL over the store's tables (`runs r`, `params`,
/// `tags`, `latest_metrics`). Every key and value is a bound parameter.
///
/// Semantics (as MLflow's SQL store): a metric clause compares the latest value and never
/// matches a run without the metric; a NaN latest value matches only `!=`. A param/tag clause
/// never matches a run without the key, except `IS NULL`. Ordering puts numbers first, then NaN,
/// then runs without the key, whatever the direction.
pub fn compile_runs(filter: &Filter, order_by: &[OrderBy]) -> CompiledSearch {
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
                let column = attribute.column();
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
pub fn compile_experiments(filter: &Filter) -> (String, Vec<SqlValue>) {
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
            format!("{column} {} ?", op.sql())
        }
        (op, Value::Integer(i)) => {
            params.push(SqlValue::Integer(*i));
            format!("{column} {} ?", op.sql())
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
                clause.op.sql()
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
            string_condition(attribute.column(), clause.op, &clause.value, params)
        }
    }
}
