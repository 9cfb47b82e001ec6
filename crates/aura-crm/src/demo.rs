//! The demo workspaces' CRM records: a few organizations (one with a subsidiary), contacts
//! shared among the reps and the manager, and a history of activities, so that a newcomer's
//! first look shows a rep's narrow view beside a manager's whole one. Written through the same
//! repository functions as the product, as each member, so the rules apply to the demo too.

use aura_platform::db::{AppPool, TenantContext};
use aura_platform::demo::{DemoPlatform, DemoTenant};
use aura_platform::ids::MemberRole;
use chrono::{Duration, Utc};

use crate::activities::{self, ActivityInput};
use crate::contacts::{self, ContactInput};
use crate::ids::OrganizationId;
use crate::organizations::{self, OrganizationInput};

/// A demo organization; `parent` is the index of an earlier one.
struct DemoOrganization {
    name: &'static str,
    industry: &'static str,
    size_band: &'static str,
    location: &'static str,
    website: &'static str,
    parent: Option<usize>,
}

const ORGANIZATIONS: [DemoOrganization; 5] = [
    DemoOrganization {
        name: "Northwind Traders",
        industry: "Wholesale",
        size_band: "201-500",
        location: "Seattle, US",
        website: "northwind.example",
        parent: None,
    },
    DemoOrganization {
        name: "Northwind Logistics",
        industry: "Logistics",
        size_band: "51-200",
        location: "Tacoma, US",
        website: "logistics.northwind.example",
        parent: Some(0),
    },
    DemoOrganization {
        name: "Contoso Health",
        industry: "Healthcare",
        size_band: "1001-5000",
        location: "Boston, US",
        website: "contoso-health.example",
        parent: None,
    },
    DemoOrganization {
        name: "Fabrikam Studios",
        industry: "Media",
        size_band: "11-50",
        location: "Berlin, DE",
        website: "fabrikam.example",
        parent: None,
    },
    DemoOrganization {
        name: "Tailspin Air",
        industry: "Aviation",
        size_band: "501-1000",
        location: "Dublin, IE",
        website: "tailspin.example",
        parent: None,
    },
];

/// Contacts: first, last, title, organization (index), owner (the member's email local part).
const CONTACTS: [(&str, &str, &str, usize, &str); 10] = [
    ("Nancy", "Davolio", "Head of Purchasing", 0, "rep"),
    ("Andrew", "Fuller", "VP Sales", 0, "manager"),
    ("Janet", "Leverling", "Operations Lead", 1, "rep"),
    ("Margaret", "Peacock", "CIO", 2, "rep2"),
    ("Steven", "Buchanan", "Procurement", 2, "rep"),
    ("Michael", "Suyama", "Creative Director", 3, "rep2"),
    ("Robert", "King", "Producer", 3, "rep2"),
    ("Laura", "Callahan", "Fleet Manager", 4, "rep"),
    ("Anne", "Dodsworth", "CFO", 4, "manager"),
    ("Ines", "Moreau", "Office Manager", 1, "rep2"),
];

/// Activities on the contact of the same index: kind, days ago, description.
const ACTIVITIES: [(usize, &str, i64, &str); 8] = [
    (
        0,
        "call",
        12,
        "Intro call: they buy twice a year, next budget in March.",
    ),
    (
        0,
        "email",
        10,
        "Sent the product sheet and the standard price list.",
    ),
    (
        0,
        "meeting",
        3,
        "On-site demo with Nancy and two buyers. Asked for a volume quote.",
    ),
    (2, "note", 6, "Janet prefers calls before 10am."),
    (
        3,
        "call",
        8,
        "Margaret is evaluating three vendors; decision by end of quarter.",
    ),
    (
        5,
        "meeting",
        4,
        "Workshop on the studio's pipeline; follow up with a proposal.",
    ),
    (
        7,
        "email",
        2,
        "Laura asked for references from other airlines.",
    ),
    (
        8,
        "call",
        1,
        "Anne wants the annual support plan priced separately.",
    ),
];

/// Why seeding failed: the database, or (a bug) the repository refusing the fixed data.
pub type SeedError = Box<dyn std::error::Error + Send + Sync>;

/// Seeds every demo tenant's records, as its members.
pub async fn seed(pool: &AppPool, platform: &DemoPlatform) -> Result<(), SeedError> {
    for tenant in &platform.tenants {
        seed_tenant(pool, tenant).await?;
    }
    Ok(())
}

async fn seed_tenant(pool: &AppPool, tenant: &DemoTenant) -> Result<(), SeedError> {
    let as_member = |local: &str| {
        let user = tenant
            .users
            .iter()
            .find(|u| u.email.starts_with(&format!("{local}@")))
            .expect("every demo tenant has an admin, a manager and two reps");
        TenantContext {
            tenant_id: tenant.id,
            user_id: user.id,
            role: user.role,
        }
    };
    let manager = as_member("manager");
    debug_assert_eq!(manager.role, MemberRole::Manager);

    let mut organization_ids: Vec<OrganizationId> = Vec::new();
    for organization in &ORGANIZATIONS {
        let input = OrganizationInput {
            name: organization.name.to_owned(),
            industry: Some(organization.industry.to_owned()),
            size_band: Some(organization.size_band.to_owned()),
            location: Some(organization.location.to_owned()),
            website: Some(organization.website.to_owned()),
            parent_id: organization.parent.map(|i| organization_ids[i]),
            custom_fields: None,
        };
        organization_ids.push(organizations::create(pool, manager, &input).await?);
    }

    let mut contact_ids = Vec::new();
    for (first, last, title, organization, owner) in CONTACTS {
        let domain = ORGANIZATIONS[organization].website;
        let input = ContactInput {
            first_name: first.to_owned(),
            last_name: Some(last.to_owned()),
            email: Some(format!("{}@{domain}", first.to_lowercase())),
            phone: Some(format!("+1 555 01{:02}", contact_ids.len() + 10)),
            title: Some(title.to_owned()),
            organization_id: Some(organization_ids[organization]),
            assigned_to: None,
            custom_fields: None,
        };
        // Created by their owner, so each contact's history starts with the right person.
        let id = contacts::create(pool, as_member(owner), &input).await?;
        contact_ids.push((id, owner));
    }

    for (contact, kind, days_ago, description) in ACTIVITIES {
        let (id, owner) = contact_ids[contact];
        let input = ActivityInput {
            kind: kind.to_owned(),
            description: description.to_owned(),
            occurred_at: Some(Utc::now() - Duration::days(days_ago)),
            participant_id: None,
        };
        activities::log(pool, as_member(owner), id, &input).await?;
    }
    Ok(())
}
