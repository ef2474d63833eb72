//! The search language's tokenizer and parser: text to [`Filter`] and [`OrderBy`], refusing
//! what MLflow refuses with a [`QueryError`] that names the position and the token.

use super::ast::{Attribute, Clause, Entity, Filter, Identifier, Op, OrderBy, Target, Value};
use super::limits::{
    MAX_FILTER_BYTES, MAX_FILTER_CLAUSES, MAX_LIKE_PATTERN_BYTES, MAX_ORDER_BY_KEYS, QueryError,
    clip,
};

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
