//! Audit retention (F14.4): the workspace audit log is partitioned by month (migration 0050), so
//! old entries go by dropping whole months, never by deleting rows the server could not delete
//! either. Owner only: the server's role can neither create nor drop partitions.

use std::fmt;
use std::str::FromStr;

use crate::db::{DbError, OwnerPool};

/// The shortest retention F14.4 allows.
pub const MINIMUM_MONTHS: u32 = 12;

/// How many months ahead partitions exist after `aura migrate` or a prune.
pub const MONTHS_AHEAD: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("refusing to prune: audit entries are kept at least {MINIMUM_MONTHS} months (asked: {0} months)")]
    TooShort(u32),
    #[error("expected a number of months such as `24months`")]
    NotMonths,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// How old, in months, entries must be before their month is dropped; at least a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPeriod(u32);

impl RetentionPeriod {
    pub fn months(months: u32) -> Result<Self, RetentionError> {
        if months < MINIMUM_MONTHS {
            return Err(RetentionError::TooShort(months));
        }
        Ok(Self(months))
    }
}

impl fmt::Display for RetentionPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} months", self.0)
    }
}

/// `24months`, `24 months`, `24month`, `24mo`, `24m`.
impl FromStr for RetentionPeriod {
    type Err = RetentionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim().to_ascii_lowercase();
        let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ' ');
        let unit = value[digits.len()..].trim();
        if !matches!(unit, "months" | "month" | "mo" | "m") {
            return Err(RetentionError::NotMonths);
        }
        let months = digits.parse().map_err(|_| RetentionError::NotMonths)?;
        Self::months(months)
    }
}

/// One dropped month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedMonth {
    pub partition: String,
    pub entries: i64,
}

/// What a prune did.
#[derive(Debug)]
pub struct Pruned {
    pub dropped: Vec<DroppedMonth>,
    /// Partitions made for the months ahead.
    pub created: i32,
}

/// Drops every month whose entries are all older than `period`, and records what it dropped in
/// the platform audit log in the same transaction; then makes the partitions of the months ahead.
pub async fn prune(owner: &OwnerPool, period: RetentionPeriod) -> Result<Pruned, RetentionError> {
    let mut tx = owner.pool().begin().await.map_err(DbError::from)?;
    let dropped: Vec<DroppedMonth> = sqlx::query_as!(
        DroppedMonth,
        r#"select partition_name as "partition!", entries as "entries!"
           from aura.prune_audit_log($1) order by partition_name"#,
        period.0 as i32,
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let record = serde_json::json!({
        "older_than_months": period.0,
        "partitions": dropped.iter().map(|d| &d.partition).collect::<Vec<_>>(),
        "entries": dropped.iter().map(|d| d.entries).sum::<i64>(),
    });
    // The operator at the command line has no user id; the entry says what, not who.
    sqlx::query!(
        "insert into platform_audit_log (actor_user_id, action, entity_type, after)
         values (null, 'audit.pruned', 'audit_log', $1)",
        record,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    let created = create_partitions_ahead(owner).await?;
    Ok(Pruned { dropped, created })
}

/// Makes the partitions of this month and the next [`MONTHS_AHEAD`]; the number made.
pub async fn create_partitions_ahead(owner: &OwnerPool) -> Result<i32, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select aura.create_audit_log_partitions($1) as "created!""#,
        MONTHS_AHEAD
    )
    .fetch_one(owner.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_months_of_at_least_a_year() {
        for ok in ["24months", "24 months", "12month", "36mo", "24M"] {
            assert!(ok.parse::<RetentionPeriod>().is_ok(), "{ok}");
        }
        assert!(matches!(
            "11months".parse::<RetentionPeriod>(),
            Err(RetentionError::TooShort(11))
        ));
        for bad in ["24", "24days", "two years", "months", "-24months"] {
            assert!(
                matches!(
                    bad.parse::<RetentionPeriod>(),
                    Err(RetentionError::NotMonths)
                ),
                "{bad}"
            );
        }
    }
}
