//! The search language's syntax tree and its canonical printer: what a parsed filter or
//! `order_by` clause is, printed back so that it parses to the same value.

use std::fmt;

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
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Entity::Metric => "metrics",
            Entity::Param => "params",
            Entity::Tag => "tags",
            Entity::Attribute => "attributes",
        }
    }

    pub(super) fn from_word(word: &str) -> Option<Entity> {
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

    pub(super) fn lookup(name: &str, target: Target) -> Option<Attribute> {
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
    pub(super) fn entity(&self) -> Entity {
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
