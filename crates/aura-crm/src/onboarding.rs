//! The first steps of a new workspace, as its admin's dashboard lists them (issue 18): each
//! step is done when the data says so (someone invited, a contact, a deal, a process made the
//! team's own), never by ticking a box; the admin may put the list away for good.

use aura_platform::db::{AppPool, DbError, TenantContext};
use aura_platform::ids::UserId;

/// Which first steps are done, and whether the member put the list away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checklist {
    pub invited: bool,
    pub contact: bool,
    pub deal: bool,
    pub process: bool,
    pub dismissed: bool,
}

impl Checklist {
    /// Shown while a step is left and the member has not put it away.
    pub fn shown(&self) -> bool {
        let all_done = self.invited && self.contact && self.deal && self.process;
        !self.dismissed && !all_done
    }
}

/// The checklist for the member in `context`. Each part is an `exists` probe of an index led by
/// `tenant_id` (stopping at the first row), so it costs the same in a workspace of any size.
/// A process counts as customised once it was edited (its version moved), another was added,
/// or one of its stages was edited or added after the workspace was set up.
pub async fn checklist(pool: &AppPool, context: TenantContext) -> Result<Checklist, DbError> {
    let mut tx = pool.begin(context).await?;
    let row = sqlx::query!(
        r#"select
             exists (select 1 from onboarding_dismissals
                     where tenant_id = $1 and user_id = $2) as "dismissed!",
             (exists (select 1 from invitations where tenant_id = $1)
              or exists (select 1 from tenant_members where tenant_id = $1 and user_id <> $2))
                as "invited!",
             exists (select 1 from contacts where tenant_id = $1) as "contact!",
             exists (select 1 from deals where tenant_id = $1) as "deal!",
             (exists (select 1 from sales_processes
                      where tenant_id = $1 and (version > 1 or not is_default))
              or exists (select 1 from deal_stages s
                         where s.tenant_id = $1
                           and (s.version > 1
                                or s.created_at > (select min(p.created_at) from sales_processes p
                                                   where p.tenant_id = $1) + interval '1 minute')))
                as "process!""#,
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(Checklist {
        invited: row.invited,
        contact: row.contact,
        deal: row.deal,
        process: row.process,
        dismissed: row.dismissed,
    })
}

/// Puts the checklist away for the member in `context`.
pub async fn dismiss(pool: &AppPool, context: TenantContext) -> Result<(), DbError> {
    let mut tx = pool.begin(context).await?;
    sqlx::query!(
        "insert into onboarding_dismissals (tenant_id, user_id) values ($1, $2)
         on conflict do nothing",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await
}
