use std::borrow::Cow;

/// What went wrong talking to PostgreSQL, classified the way callers must react to it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached right now (down, restarting, pool exhausted). Callers
    /// answer 503; the pool reconnects by itself when the database returns.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A named constraint refused the write.
    #[error("constraint `{constraint}` refused the write ({kind:?})")]
    Constraint {
        kind: ConstraintKind,
        constraint: String,
    },
    /// Row-level security, a missing grant, or a read-only context refused the statement.
    #[error("the database refused the statement: insufficient privilege")]
    Forbidden(#[source] sqlx::Error),
    #[error("record not found")]
    NotFound,
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    Check,
    NotNull,
    Exclusion,
}

impl DbError {
    /// The constraint a unique violation names: the one place a caller's own constraint becomes
    /// its domain's refusal (`Some("contacts_email_key")` is a duplicate email).
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            DbError::Constraint {
                kind: ConstraintKind::Unique,
                constraint,
            } => Some(constraint),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(err),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or(Cow::Borrowed(""));
                let constraint = || schema_name(db.constraint().unwrap_or("unnamed")).to_owned();
                let kind = match code.as_ref() {
                    "23505" => Some(ConstraintKind::Unique),
                    "23503" => Some(ConstraintKind::ForeignKey),
                    "23514" => Some(ConstraintKind::Check),
                    "23502" => Some(ConstraintKind::NotNull),
                    "23P01" => Some(ConstraintKind::Exclusion),
                    _ => None,
                };
                if let Some(kind) = kind {
                    return DbError::Constraint {
                        kind,
                        constraint: constraint(),
                    };
                }
                // Class 08: connection exception; 57P01-03: the server is shutting down or
                // starting up. All mean "try again shortly", not "your request is wrong".
                if code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03") {
                    DbError::Unavailable(err)
                } else if code == "42501" || code == "25006" {
                    // 25006: a write in a read-only context's transaction.
                    DbError::Forbidden(err)
                } else {
                    DbError::Other(err)
                }
            }
            _ => DbError::Other(err),
        }
    }
}

/// On Citus a violation raised on a shard names the shard's copy of the constraint, the
/// schema's name plus `_` and the shard's number (`contacts_email_key_102041`); callers match
/// on the schema's name. No constraint of the schema ends in `_` and digits (the distribution
/// check in the test suite keeps it so).
fn schema_name(constraint: &str) -> &str {
    match constraint.rsplit_once('_') {
        Some((name, shard)) if !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => constraint,
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => DbError::Other(sqlx::Error::Migrate(Box::new(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::schema_name;

    #[test]
    fn a_shard_s_constraint_reads_as_the_schema_s() {
        assert_eq!(
            schema_name("contacts_email_key_102041"),
            "contacts_email_key"
        );
        assert_eq!(schema_name("contacts_email_key"), "contacts_email_key");
        assert_eq!(schema_name("deals_pkey"), "deals_pkey");
        assert_eq!(schema_name("unnamed"), "unnamed");
    }
}
