use sqlx::{PgConnection, Postgres, Transaction};

use super::DbError;
use crate::ids::{MemberRole, TenantId, UserId};

/// Who is acting, and in which tenant: what the row-level security policies check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantContext {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: MemberRole,
}

/// A transaction of `aura_app` that began by setting the tenant context, so every statement in
/// it is confined to one tenant by the policies. It is the only handle request code gets to the
/// database: it cannot be built without a context, and it cannot outlive its transaction.
/// Dropping it without [`TenantTx::commit`] rolls back.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    context: TenantContext,
}

impl TenantTx {
    pub(super) async fn begin(
        mut tx: Transaction<'static, Postgres>,
        context: TenantContext,
    ) -> Result<Self, DbError> {
        // `SET LOCAL` as statements of their own (Citus forwards only those to its workers),
        // with literals formatted from already-parsed values: a Uuid's and an enum's text
        // cannot carry a quote. `raw_sql` uses the simple protocol, so these one-off strings
        // do not fill the prepared-statement cache. `current_role` is an SQL keyword, hence quoted.
        let set_context = format!(
            "SET LOCAL app.current_tenant_id = '{}'; \
             SET LOCAL app.current_user_id = '{}'; \
             SET LOCAL app.\"current_role\" = '{}'",
            context.tenant_id.as_uuid(),
            context.user_id.as_uuid(),
            context.role.as_str(),
        );
        sqlx::raw_sql(&set_context).execute(&mut *tx).await?;
        Ok(Self { tx, context })
    }

    pub fn context(&self) -> &TenantContext {
        &self.context
    }

    /// The connection, for repository functions to run their queries on.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await.map_err(DbError::from)
    }
}
