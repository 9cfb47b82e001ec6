use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use url::Url;

use super::{DbError, TenantContext, TenantTx, APP_ROLE};
use crate::ids::TenantId;

/// How the server's pool behaves when the database misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered with 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// The pool of `aura_app`, the role the server runs as. It hands out nothing but tenant
/// transactions and a liveness probe.
#[derive(Clone)]
pub struct AppPool(PgPool);

impl AppPool {
    /// A lazily connecting pool: the server starts, and answers 503, while the database is away.
    pub fn connect_lazy(url: &str, settings: PoolSettings) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A connection that died with a database restart is found out before use.
            .test_before_acquire(true)
            .connect_lazy(url)?;
        Ok(Self(pool))
    }

    /// Begins a transaction confined to `context`'s tenant.
    pub async fn begin(&self, context: TenantContext) -> Result<TenantTx, DbError> {
        let tx = self.0.begin().await?;
        TenantTx::begin(tx, context).await
    }

    /// A transaction with only the tenant in context: no user, no role. Crate-private: it serves
    /// the steps that establish who the user is (sign-in, session lookup), and row policies that
    /// depend on a role or user show it nothing.
    pub(crate) async fn begin_tenant_scope(
        &self,
        tenant_id: TenantId,
    ) -> Result<Transaction<'static, Postgres>, DbError> {
        let mut tx = self.0.begin().await?;
        super::set_context(&mut tx, Some(tenant_id), None, None).await?;
        Ok(tx)
    }

    /// A transaction with no context at all: row policies show it nothing. Crate-private: it
    /// serves the platform's own steps before anyone is known (apex sign-in, signup), which
    /// set the user in context themselves or call a narrow `security definer` function.
    pub(crate) async fn begin_unscoped(&self) -> Result<Transaction<'static, Postgres>, DbError> {
        Ok(self.0.begin().await?)
    }

    /// A transaction with no context, for a background worker to call its claim function: a
    /// narrow `security definer` function that finds work across workspaces and answers in
    /// which workspace, and for whom, to do it. Row policies show this transaction nothing;
    /// the work itself then runs in a [`TenantTx`] of the claimed workspace.
    pub async fn begin_claim(&self) -> Result<ClaimTx, DbError> {
        Ok(ClaimTx(self.0.begin().await?))
    }

    /// Answers whether the database is reachable. Reads no table.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::raw_sql("select 1").execute(&self.0).await?;
        Ok(())
    }

    /// Fails closed if the configured role could see past row-level security: the server must
    /// never run as a superuser, a role with BYPASSRLS, or the owner of any table.
    pub async fn verify_role(&self) -> Result<(), RoleCheckError> {
        let role = sqlx::query!(
            r#"select r.rolname as "name!", r.rolsuper as "superuser!",
                      r.rolbypassrls as "bypass_rls!",
                      exists (select 1 from pg_class c where c.relowner = r.oid) as "owns_tables!"
               from pg_roles r where r.rolname = current_user"#
        )
        .fetch_one(&self.0)
        .await
        .map_err(DbError::from)?;
        if role.superuser || role.bypass_rls || role.owns_tables {
            return Err(RoleCheckError::Privileged { role: role.name });
        }
        Ok(())
    }

    /// How many connections the pool holds, and how many of them wait idle.
    pub fn stats(&self) -> PoolStats {
        let size = self.0.size();
        let idle = u32::try_from(self.0.num_idle())
            .unwrap_or(u32::MAX)
            .min(size);
        PoolStats {
            size,
            idle,
            max: self.0.options().get_max_connections(),
        }
    }

    pub async fn close(&self) {
        self.0.close().await;
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.0
    }
}

/// The pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.size - self.idle
    }
}

/// See [`AppPool::begin_claim`]. Dropping it without [`ClaimTx::commit`] rolls back.
pub struct ClaimTx(Transaction<'static, Postgres>);

impl ClaimTx {
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.0
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.0.commit().await.map_err(DbError::from)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoleCheckError {
    #[error(
        "refusing to serve as database role `{role}`: it is a superuser, has BYPASSRLS, or owns \
         tables, so row-level security would not confine it. Connect as `{APP_ROLE}` \
         (created by `aura migrate`)"
    )]
    Privileged { role: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The schema owner's pool: migrations and operator commands (`aura migrate`, `aura seed-demo`).
/// Never used on a request path.
#[derive(Clone)]
pub struct OwnerPool(PgPool);

impl OwnerPool {
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self(pool))
    }

    pub fn pool(&self) -> &PgPool {
        &self.0
    }

    pub async fn close(&self) {
        self.0.close().await;
    }
}

/// The `aura_app` URL for a database given by its owner's URL: same host and database, the
/// app role's name, and its password if one is configured.
pub fn app_url_from_owner_url(
    owner_url: &str,
    app_password: Option<&str>,
) -> Result<String, InvalidDatabaseUrl> {
    let mut url = Url::parse(owner_url).map_err(|_| InvalidDatabaseUrl)?;
    url.set_username(APP_ROLE)
        .map_err(|()| InvalidDatabaseUrl)?;
    url.set_password(app_password)
        .map_err(|()| InvalidDatabaseUrl)?;
    Ok(url.into())
}

#[derive(Debug, thiserror::Error)]
#[error("the database URL is not a URL that can name a user (postgres://user@host/database)")]
pub struct InvalidDatabaseUrl;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_url_swaps_the_credentials_and_keeps_the_rest() {
        let url = app_url_from_owner_url(
            "postgres://owner:s3cret@db.internal:5433/aura",
            Some("p@ss/word"),
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://aura_app:p%40ss%2Fword@db.internal:5433/aura"
        );
        let socket = app_url_from_owner_url(
            "postgres://aura_owner@localhost/aura?host=/var/lib/aura/run",
            None,
        )
        .unwrap();
        assert_eq!(
            socket,
            "postgres://aura_app@localhost/aura?host=/var/lib/aura/run"
        );
        assert!(app_url_from_owner_url("not a url", None).is_err());
    }
}
