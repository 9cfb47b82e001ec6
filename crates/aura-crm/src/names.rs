//! The names of records by id, whatever their kind: the audit log says "Jane Doe" and links to
//! her, where the trail holds an id.

use std::collections::HashMap;

use aura_platform::db::{AppPool, DbError, TenantContext};
use uuid::Uuid;

/// The current name of each of `ids` that is a record the member may see (deleted ones too):
/// organizations, contacts, deals, custom fields, processes, stages and products. Ids of
/// anything else, or of records the member may not see, are absent.
///
/// Plan: one primary-key index probe per kind, `(tenant_id, id = any($2))`; a page of the trail
/// names at most a few dozen ids.
pub async fn of(
    pool: &AppPool,
    context: TenantContext,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = pool.begin(context).await?;
    let rows = sqlx::query!(
        r#"select id as "id!", name as "name!" from (
               select id, name from organizations where tenant_id = $1 and id = any($2)
               union all
               select id, btrim(first_name || ' ' || last_name) from contacts
               where tenant_id = $1 and id = any($2)
               union all
               select id, name from deals where tenant_id = $1 and id = any($2)
               union all
               select id, label from custom_field_definitions where tenant_id = $1 and id = any($2)
               union all
               select id, name from sales_processes where tenant_id = $1 and id = any($2)
               union all
               select id, name from deal_stages where tenant_id = $1 and id = any($2)
               union all
               select id, name from products where tenant_id = $1 and id = any($2)
           ) named"#,
        context.tenant_id.as_uuid(),
        ids,
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|row| (row.id, row.name)).collect())
}
