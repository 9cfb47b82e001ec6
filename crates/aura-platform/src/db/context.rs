use sqlx::{Executor, PgConnection, Postgres, Transaction};

use super::DbError;
use crate::ids::{MemberRole, TenantId, UserId};

/// Who is acting, and in which tenant: what the row-level security policies check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantContext {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: MemberRole,
    /// The database refuses every write of this context's transactions (`READ ONLY`): a
    /// read-only API key's, whatever its role lets the policies allow.
    pub read_only: bool,
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
        set_context(
            &mut tx,
            Some(context.tenant_id),
            Some(context.user_id),
            Some(context.role),
        )
        .await?;
        if context.read_only {
            // Before any query of the transaction: after one, it cannot be made writable again.
            tx.execute("SET TRANSACTION READ ONLY").await?;
        }
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

/// Sets the given parts of the tenant context for the rest of the transaction on `conn`.
///
/// `SET LOCAL` statements of their own (Citus forwards only those to its workers), with literals
/// formatted from already-parsed values: a Uuid's or an enum's text cannot carry a quote.
/// `current_role` is an SQL keyword, hence quoted. A query without arguments goes over the
/// simple protocol: one round trip for all of them, and nothing added to the prepared-statement
/// cache. (Not `raw_sql(..).execute`: awaiting it makes every caller's future fail the `Send`
/// proof, a rustc higher-ranked lifetime limitation; sqlx issues 3150 and 3581.)
pub(crate) async fn set_context(
    conn: &mut PgConnection,
    tenant: Option<TenantId>,
    user: Option<UserId>,
    role: Option<MemberRole>,
) -> Result<(), DbError> {
    let mut statements = String::new();
    if let Some(tenant) = tenant {
        statements.push_str(&format!(
            "SET LOCAL app.current_tenant_id = '{}';",
            tenant.as_uuid()
        ));
    }
    if let Some(user) = user {
        statements.push_str(&format!(
            "SET LOCAL app.current_user_id = '{}';",
            user.as_uuid()
        ));
    }
    if let Some(role) = role {
        statements.push_str(&format!(
            "SET LOCAL app.\"current_role\" = '{}';",
            role.as_str()
        ));
    }
    conn.execute(statements.as_str()).await?;
    Ok(())
}
