//! The demo platform: two tenants with a member of every role each, and a platform admin, so a
//! newcomer can log in and see isolation at work (two reps per tenant: each sees only their own).

use std::sync::LazyLock;

use crate::api_keys::ApiKeyId;
use crate::auth::Secret;
use crate::db::{DbError, OwnerPool};
use crate::ids::{MemberRole, TenantId, UserId};
use crate::password;

/// The password of every demo account. Demo data only: `seed-demo` is for evaluation databases.
pub const DEMO_PASSWORD: &str = "aura-demo-password";

/// The demo workspace acme's API key (acting as a manager), published like the password.
pub const DEMO_API_KEY: &str = "aura_live_YWNtZSBkZW1vIGludGVncmF0aW9uIGtleTogZGVtbyE";
/// The workspace that holds [`DEMO_API_KEY`].
pub const DEMO_API_KEY_SLUG: &str = "acme";

/// `DEMO_PASSWORD` hashed once per process, for every demo account of every seed: the password
/// is published, so a salt per account protects nothing, and the test suite seeds a database
/// per test (nine argon2 hashes each).
static DEMO_PASSWORD_HASH: LazyLock<String> = LazyLock::new(|| password::hash(DEMO_PASSWORD));

pub struct DemoUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: MemberRole,
}

pub struct DemoTenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub currency: &'static str,
    pub users: Vec<DemoUser>,
}

pub struct DemoPlatform {
    pub platform_admin_email: String,
    pub tenants: Vec<DemoTenant>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "the database already holds tenants; the demo platform is seeded only into an empty one"
    )]
    NotEmpty,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What `seed` creates.
pub fn platform() -> DemoPlatform {
    let tenant =
        |slug: &str, name: &str, currency, people: [(&str, &str, MemberRole); 4]| DemoTenant {
            id: TenantId::new(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            currency,
            users: people
                .into_iter()
                .map(|(local, person, role)| DemoUser {
                    id: UserId::new(),
                    email: format!("{local}@{slug}.example"),
                    name: person.to_owned(),
                    role,
                })
                .collect(),
        };
    DemoPlatform {
        platform_admin_email: "ops@aura.example".to_owned(),
        tenants: vec![
            tenant(
                "acme",
                "Acme Corporation",
                "USD",
                [
                    ("admin", "Ada Admin", MemberRole::Admin),
                    ("manager", "Max Manager", MemberRole::Manager),
                    ("rep", "Rita Rep", MemberRole::SalesRep),
                    ("rep2", "Rob Rep", MemberRole::SalesRep),
                ],
            ),
            tenant(
                "globex",
                "Globex Ltd",
                "EUR",
                [
                    ("admin", "Gina Admin", MemberRole::Admin),
                    ("manager", "Gus Manager", MemberRole::Manager),
                    ("rep", "Greta Rep", MemberRole::SalesRep),
                    ("rep2", "Gil Rep", MemberRole::SalesRep),
                ],
            ),
        ],
    }
}

/// Seeds the demo platform into an empty database, in one transaction, as the schema owner
/// (an operator command: the owner must be a superuser or hold BYPASSRLS, as for migrations).
pub async fn seed(owner: &OwnerPool) -> Result<DemoPlatform, SeedError> {
    let demo = platform();
    let mut tx = owner.pool().begin().await.map_err(DbError::from)?;
    // Serialise concurrent seeders so the emptiness check below stays true until commit.
    sqlx::query!("lock table tenants in exclusive mode")
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    let holds_tenants =
        sqlx::query_scalar!(r#"select exists (select 1 from tenants) as "exists!""#)
            .fetch_one(&mut *tx)
            .await
            .map_err(DbError::from)?;
    if holds_tenants {
        return Err(SeedError::NotEmpty);
    }

    let platform_admin = UserId::new();
    sqlx::query!(
        "insert into users (id, email, display_name, password_hash, is_platform_admin)
         values ($1, $2, 'Platform Operator', $3, true)",
        platform_admin as UserId,
        demo.platform_admin_email,
        &*DEMO_PASSWORD_HASH,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;

    for tenant in &demo.tenants {
        let tenant_id = tenant.id;
        sqlx::query!(
            "insert into tenants (id, slug, name, currency, created_by, updated_by)
             values ($1, $2, $3, $4, $5, $5)",
            tenant_id as TenantId,
            tenant.slug,
            tenant.name,
            tenant.currency,
            platform_admin as UserId,
        )
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
        for user in &tenant.users {
            let user_id = user.id;
            sqlx::query!(
                "insert into users (id, email, display_name, password_hash) values ($1, $2, $3, $4)",
                user_id as UserId,
                user.email,
                user.name,
                &*DEMO_PASSWORD_HASH,
            )
            .execute(&mut *tx)
            .await
            .map_err(DbError::from)?;
            sqlx::query!(
                "insert into tenant_members (tenant_id, user_id, role, created_by, updated_by)
                 values ($1, $2, $3, $4, $4)",
                tenant_id as TenantId,
                user_id as UserId,
                user.role as MemberRole,
                platform_admin as UserId,
            )
            .execute(&mut *tx)
            .await
            .map_err(DbError::from)?;
            // One role writes throughout (the owner), so this may share the transaction on
            // Citus too; the server syncs after its own commit (`members::sync_member_of`).
            sqlx::query!(
                "select aura.sync_member_of($1, $2)",
                tenant_id as TenantId,
                user_id as UserId
            )
            .execute(&mut *tx)
            .await
            .map_err(DbError::from)?;
        }
        sqlx::query!(
            "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
             values ($1, $2, 'tenant.provisioned', 'tenant', $1, $3)",
            tenant_id as TenantId,
            platform_admin as UserId,
            serde_json::json!({ "slug": tenant.slug, "name": tenant.name, "source": "seed-demo" }),
        )
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    }
    seed_api_key(&mut tx, &demo).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(demo)
}

/// [`DEMO_API_KEY`], created by acme's admin.
async fn seed_api_key(tx: &mut sqlx::PgConnection, demo: &DemoPlatform) -> Result<(), DbError> {
    let tenant = demo
        .tenants
        .iter()
        .find(|t| t.slug == DEMO_API_KEY_SLUG)
        .expect("the demo platform has the key's workspace");
    let admin = tenant
        .users
        .iter()
        .find(|u| u.role == MemberRole::Admin)
        .expect("the demo workspace has an admin");
    let secret = DEMO_API_KEY
        .strip_prefix(crate::api_keys::PREFIX)
        .and_then(Secret::parse)
        .expect("the demo key has a key's shape");
    // As the owner, so the key's identity is made here, as `aura.create_api_key` makes it.
    sqlx::query!(
        "insert into api_keys (tenant_id, id, user_id, name, role, secret_hash, hint, created_by)
         values ($1, $5, aura.new_api_key_identity($1, $5, 'Demo integration'),
                 'Demo integration', 'manager', $2, right($3, 4), $4)",
        tenant.id as TenantId,
        secret.sha256(),
        secret.as_str(),
        admin.id as UserId,
        ApiKeyId::new() as ApiKeyId,
    )
    .execute(tx)
    .await?;
    Ok(())
}
