//! A fresh database holding the demo platform, and its members' tenant contexts.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::{OwnerPool, TenantContext};
use aura_platform::demo::{self, DemoPlatform};

/// A fresh database seeded with the demo platform (acme and globex, a member of every role).
pub struct Demo {
    pub db: TestDatabase,
    platform: DemoPlatform,
}

impl Demo {
    pub async fn new() -> Self {
        let db = TestDatabase::new().await;
        let owner = OwnerPool::connect(&db.owner_url).await.unwrap();
        let platform = demo::seed(&owner).await.unwrap();
        owner.close().await;
        Self { db, platform }
    }

    /// The tenant context of `who@slug.example` (`admin`, `manager`, `rep`, `rep2`).
    pub fn member(&self, slug: &str, who: &str) -> TenantContext {
        let email = format!("{who}@{slug}.example");
        let tenant = self
            .platform
            .tenants
            .iter()
            .find(|t| t.slug == slug)
            .unwrap_or_else(|| panic!("no demo tenant {slug}"));
        let user = tenant
            .users
            .iter()
            .find(|u| u.email == email)
            .unwrap_or_else(|| panic!("no demo member {email}"));
        TenantContext {
            tenant_id: tenant.id,
            user_id: user.id,
            role: user.role,
            read_only: false,
        }
    }
}

/// The fields a refusal names, sorted.
pub fn fields(problems: &[aura_crm::FieldError]) -> Vec<&str> {
    let mut fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    fields.sort_unstable();
    fields
}
