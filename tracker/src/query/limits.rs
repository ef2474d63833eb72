//! What the search language refuses and how it says so: the limits on a filter and an order
//! (checked before any SQL is built, so that SQLite's own limits never refuse a search) and
//! [`QueryError`], which names the position and the token of the problem.

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

/// Text quoted in an error message: whole up to 256 characters, else its start and "...".
pub(super) fn clip(text: &str) -> String {
    const QUOTED_CHARS: usize = 256;
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
