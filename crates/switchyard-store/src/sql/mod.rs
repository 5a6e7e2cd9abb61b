//! SQL both databases agree on, with the statement type that carries it.
//!
//! A [`Stmt`] is SQL text plus its arguments, with `$1, $2, …` placeholders: the
//! PostgreSQL form, which SQLite also accepts (it reads `$NNN` as parameter NNN). So
//! one builder serves both stores, and each backend only runs the statement on its
//! own pool or transaction. Queries are built at run time because sqlx's `query!`
//! macros cannot check one build against two databases.
//!
//! Statements whose shape depends on the database's concurrency — the task lease,
//! the delivery claim, finishing deliveries, parking — are not here: each backend
//! writes its own (`sqlite/`, `postgres/`).

pub(crate) mod activity;
pub(crate) mod agents;
pub(crate) mod audit;
pub(crate) mod checkpoints;
pub(crate) mod deliveries;
pub(crate) mod destinations;
pub(crate) mod effects;
pub(crate) mod events;
pub(crate) mod executions;
pub(crate) mod keys;
pub(crate) mod questions;
pub(crate) mod retention;
pub(crate) mod runs;
pub(crate) mod settings;
pub(crate) mod tasks;
pub(crate) mod webhooks;

use sqlx::query::{Query, QueryAs};
use sqlx::{Database, Encode, FromRow, Type};

use crate::clock::{Moment, DB_NOW};

/// Chunk sizes for multi-row inserts. Few distinct sizes keep the prepared-statement
/// cache small while a batch of any size needs few round trips.
pub(crate) const CHUNKS: [usize; 4] = [128, 32, 8, 1];

/// Splits `n` rows into chunk lengths drawn from [`CHUNKS`], largest first.
pub(crate) fn chunk_lengths(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for c in CHUNKS {
        while n >= c {
            out.push(c);
            n -= c;
        }
    }
    out
}

/// Splits `items` into consecutive chunks of the [`chunk_lengths`].
pub(crate) fn chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut rest = items;
    chunk_lengths(items.len())
        .into_iter()
        .map(|len| {
            let (chunk, tail) = rest.split_at(len);
            rest = tail;
            chunk
        })
        .collect()
}

/// One value in a statement. The store binds only these four column types; a
/// time by the database's clock is written as SQL instead ([`Moment::Db`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
    Real(Option<f64>),
    /// The database's "now" plus this many microseconds (PostgreSQL only).
    DbTime(i64),
}

impl From<Moment> for Arg<'_> {
    fn from(m: Moment) -> Self {
        match m {
            Moment::Local(t) => Arg::Int(Some(t)),
            Moment::Db(plus) => Arg::DbTime(plus),
        }
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<Option<f64>> for Arg<'_> {
    fn from(v: Option<f64>) -> Self {
        Arg::Real(v)
    }
}

/// SQL text with `$N` placeholders and the values they stand for. The same text
/// with plain `?` placeholders is kept beside it for SQLite: sqlx binds SQLite's
/// `$N` parameters by looking up each one's name (`sqlite3_bind_parameter_name`
/// showed in ingest profiles, BENCHMARKS.md "The engine/HTTP restructure"), while
/// `?` is bound by position.
#[derive(Debug, Clone)]
pub(crate) struct Stmt<'a> {
    sql: String,
    positional: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Stmt<'a> {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        let sql = sql.into();
        Self {
            positional: sql.clone(),
            sql,
            args: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self.positional.push_str(sql);
        self
    }

    /// The text for `DB`: `?` placeholders on SQLite, `$N` elsewhere.
    fn text_for<DB: Database>(&self) -> &str {
        if DB::NAME == "SQLite" {
            &self.positional
        } else {
            &self.sql
        }
    }

    /// Appends a placeholder for `v` (a database time: the expression for it, its
    /// offset bound).
    pub(crate) fn push_bind(&mut self, v: impl Into<Arg<'a>>) -> &mut Self {
        let v = v.into();
        if let Arg::DbTime(plus) = v {
            if plus == 0 {
                return self.push(DB_NOW);
            }
            self.push("(").push(DB_NOW).push(" + ");
            return self.push_bind(plus).push(")");
        }
        self.args.push(v);
        // Placeholders are written once per bound value of every statement: itoa,
        // not the formatting machinery.
        self.sql.push('$');
        self.sql
            .push_str(itoa::Buffer::new().format(self.args.len()));
        self.positional.push('?');
        self
    }

    /// Appends `v1, v2, …` placeholders, for `IN (…)`.
    pub(crate) fn push_list<T: Into<Arg<'a>>>(
        &mut self,
        vs: impl IntoIterator<Item = T>,
    ) -> &mut Self {
        let vs = vs.into_iter();
        // Room for the values known ahead (`$NN, ` and `?, ` each), so a row of an
        // insert grows each text at most once.
        let (n, _) = vs.size_hint();
        self.args.reserve(n);
        self.sql.reserve(n * 5);
        self.positional.reserve(n * 3);
        for (i, v) in vs.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(v);
        }
        self
    }

    /// Appends `VALUES (…), (…)`, one parenthesised row per item.
    pub(crate) fn push_values<T, R: IntoIterator<Item = Arg<'a>>>(
        &mut self,
        rows: impl IntoIterator<Item = T>,
        mut row: impl FnMut(T) -> R,
    ) -> &mut Self {
        self.push("VALUES ");
        for (i, item) in rows.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            self.push_list(row(item));
            self.push(")");
        }
        self
    }

    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The statement for a query without rows.
    pub(crate) fn query<DB>(&'a self) -> Query<'a, DB, DB::Arguments<'a>>
    where
        DB: Database,
        Option<&'a str>: Encode<'a, DB> + Type<DB>,
        Option<i64>: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
        Option<f64>: Encode<'a, DB> + Type<DB>,
    {
        let mut q = sqlx::query::<DB>(self.text_for::<DB>());
        for a in &self.args {
            q = match *a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Real(v) => q.bind(v),
                // Written into the text by `push_bind`, never bound.
                Arg::DbTime(_) => q,
            };
        }
        q
    }

    /// The statement for a query returning rows of `O`.
    pub(crate) fn query_as<DB, O>(&'a self) -> QueryAs<'a, DB, O, DB::Arguments<'a>>
    where
        DB: Database,
        O: for<'r> FromRow<'r, DB::Row>,
        Option<&'a str>: Encode<'a, DB> + Type<DB>,
        Option<i64>: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
        Option<f64>: Encode<'a, DB> + Type<DB>,
    {
        let mut q = sqlx::query_as::<DB, O>(self.text_for::<DB>());
        for a in &self.args {
            q = match *a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Real(v) => q.bind(v),
                // Written into the text by `push_bind`, never bound.
                Arg::DbTime(_) => q,
            };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_exactly() {
        for n in 0..600 {
            let c = chunk_lengths(n);
            assert_eq!(c.iter().sum::<usize>(), n);
            assert!(c.iter().all(|l| CHUNKS.contains(l)));
        }
        let items: Vec<usize> = (0..170).collect();
        let parts = chunks(&items);
        assert_eq!(
            parts.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [128, 32, 8, 1, 1]
        );
        assert_eq!(parts.concat(), items);
    }

    #[test]
    fn placeholders_are_numbered() {
        let mut s = Stmt::new("INSERT INTO t (a, b) ");
        s.push_values([(1_i64, "x"), (2, "y")], |(a, b)| vec![a.into(), b.into()]);
        s.push(" WHERE c IN (").push_list(["p", "q"]).push(")");
        assert_eq!(
            s.sql(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) WHERE c IN ($5, $6)"
        );
        assert_eq!(
            s.text_for::<sqlx::Sqlite>(),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) WHERE c IN (?, ?)"
        );
        assert_eq!(s.text_for::<sqlx::Postgres>(), s.sql());
    }

    #[test]
    fn database_times_are_written_as_sql() {
        let mut s = Stmt::new("SELECT ");
        s.push_bind(Moment::Db(0))
            .push(", ")
            .push_bind(Moment::Db(5))
            .push(", ")
            .push_bind(Moment::Local(7));
        assert_eq!(s.sql(), format!("SELECT {DB_NOW}, ({DB_NOW} + $1), $2"));
        assert_eq!(s.args.len(), 2);
    }
}
