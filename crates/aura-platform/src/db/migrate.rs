use sqlx::migrate::Migrator;

use super::{distribution, DbError, OwnerPool};

/// The role the server connects as. Cluster-wide, so it is created here rather than in a
/// migration, before the migrations that grant it privileges.
pub const APP_ROLE: &str = "aura_app";

/// The SQL migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Creates or updates the `aura_app` role, applies pending migrations, and on a Citus cluster
/// distributes the tables they created. Idempotent.
pub async fn migrate(owner: &OwnerPool, app_password: Option<&str>) -> Result<(), DbError> {
    ensure_app_role(owner, app_password).await?;
    MIGRATOR.run(owner.pool()).await?;
    distribution::distribute(owner).await?;
    // The months ahead get their audit partitions (0050) whenever the schema is migrated.
    crate::audit::retention::create_partitions_ahead(owner).await?;
    Ok(())
}

pub(crate) async fn ensure_app_role(
    owner: &OwnerPool,
    app_password: Option<&str>,
) -> Result<(), DbError> {
    // Concurrent `aura migrate` runs could both try to create the role; the advisory lock
    // (transaction-scoped) makes the second one wait and then find it.
    let mut tx = owner.pool().begin().await?;
    sqlx::raw_sql(
        "select pg_advisory_xact_lock(hashtext('aura_app role'));
         do $$ begin
             if not exists (select from pg_roles where rolname = 'aura_app') then
                 create role aura_app;
             end if;
         end $$;
         alter role aura_app with login nosuperuser nobypassrls nocreatedb nocreaterole
             noinherit noreplication;",
    )
    .execute(&mut *tx)
    .await?;
    if let Some(password) = app_password {
        // `format(%L)` quotes the literal on the server, so the password cannot break the statement.
        let statement: String = sqlx::query_scalar!(
            r#"select format('alter role aura_app password %L', $1::text) as "statement!""#,
            password
        )
        .fetch_one(&mut *tx)
        .await?;
        // Not a macro: `alter role` takes no parameters, so the quoted literal is spliced.
        sqlx::raw_sql(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
