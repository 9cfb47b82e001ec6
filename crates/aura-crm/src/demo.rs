//! The demo workspaces' CRM records: what provisioning gives every workspace (the default
//! sales process and the starter catalog), two more processes, a few organizations (one with a
//! subsidiary), contacts shared among the reps and the manager, a history of activities, and
//! deals spread over the processes' stages (some won, some lost, each with its stage history),
//! so that a newcomer's first look shows a living pipeline and a rep's narrow view beside a
//! manager's whole one. Written through the same repository functions as the product, as each
//! member, so the rules apply to the demo too.

use aura_platform::db::{AppPool, TenantContext};
use aura_platform::demo::{DemoPlatform, DemoTenant};
use aura_platform::ids::MemberRole;
use chrono::{Duration, Utc};

use rust_decimal::Decimal;

use crate::activities::{self, ActivityInput};
use crate::contacts::{self, ContactInput};
use crate::deals::{self, ContactRole, DealContactInput, DealInput, StageMoveInput};
use crate::ids::{OrganizationId, ProcessId};
use crate::line_items::{self, AddLine};
use crate::organizations::{self, OrganizationInput};
use crate::processes::{self, ProcessInput};
use crate::products::{self, BlueprintInput, ProductFilter, ProductInput};
use crate::workspace_defaults;

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

/// Processes besides the default "Sales" that provisioning creates: name, description.
const PROCESSES: [(&str, &str); 2] = [
    (
        "Enterprise",
        "Large accounts: security review and procurement take months.",
    ),
    ("Partners", "Resellers and integration partners."),
];

/// A demo deal: its process (0 "Sales", then `PROCESSES`), the stages it went through after
/// the first (by name; the last is where it is now), organization and contact (indexes), owner.
struct DemoDeal {
    name: &'static str,
    process: usize,
    moves: &'static [&'static str],
    amount: i64,
    close_in_days: i64,
    organization: usize,
    contact: usize,
    owner: &'static str,
}

const DEALS: [DemoDeal; 12] = [
    DemoDeal {
        name: "Northwind volume order",
        process: 0,
        moves: &["Qualified", "Proposal"],
        amount: 48_000,
        close_in_days: 30,
        organization: 0,
        contact: 0,
        owner: "rep",
    },
    DemoDeal {
        name: "Northwind support renewal",
        process: 0,
        moves: &["Qualified", "Proposal", "Negotiation", "Won"],
        amount: 12_000,
        close_in_days: -5,
        organization: 0,
        contact: 1,
        owner: "manager",
    },
    DemoDeal {
        name: "Logistics fleet tracking",
        process: 0,
        moves: &["Qualified"],
        amount: 22_500,
        close_in_days: 60,
        organization: 1,
        contact: 2,
        owner: "rep",
    },
    DemoDeal {
        name: "Contoso records platform",
        process: 1,
        moves: &["Qualified", "Proposal", "Negotiation"],
        amount: 180_000,
        close_in_days: 45,
        organization: 2,
        contact: 3,
        owner: "rep2",
    },
    DemoDeal {
        name: "Contoso procurement pilot",
        process: 1,
        moves: &["Qualified", "Lost"],
        amount: 35_000,
        close_in_days: -20,
        organization: 2,
        contact: 4,
        owner: "rep",
    },
    DemoDeal {
        name: "Fabrikam studio pipeline",
        process: 0,
        moves: &["Qualified", "Proposal"],
        amount: 27_000,
        close_in_days: 21,
        organization: 3,
        contact: 5,
        owner: "rep2",
    },
    DemoDeal {
        name: "Fabrikam editing seats",
        process: 0,
        moves: &[],
        amount: 6_400,
        close_in_days: 90,
        organization: 3,
        contact: 6,
        owner: "rep2",
    },
    DemoDeal {
        name: "Tailspin crew scheduling",
        process: 1,
        moves: &["Qualified", "Proposal", "Won"],
        amount: 96_000,
        close_in_days: -12,
        organization: 4,
        contact: 7,
        owner: "rep",
    },
    DemoDeal {
        name: "Tailspin annual support",
        process: 0,
        moves: &["Qualified", "Proposal", "Negotiation"],
        amount: 14_400,
        close_in_days: 14,
        organization: 4,
        contact: 8,
        owner: "manager",
    },
    DemoDeal {
        name: "Northwind reseller program",
        process: 2,
        moves: &["Qualified"],
        amount: 30_000,
        close_in_days: 75,
        organization: 0,
        contact: 0,
        owner: "rep",
    },
    DemoDeal {
        name: "Logistics integration partner",
        process: 2,
        moves: &["Qualified", "Proposal", "Lost"],
        amount: 18_000,
        close_in_days: -30,
        organization: 1,
        contact: 9,
        owner: "rep2",
    },
    DemoDeal {
        name: "Fabrikam agency referral",
        process: 2,
        moves: &[],
        amount: 9_000,
        close_in_days: 120,
        organization: 3,
        contact: 6,
        owner: "rep2",
    },
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
            read_only: false,
        }
    };
    let manager = as_member("manager");
    debug_assert_eq!(manager.role, MemberRole::Manager);
    let admin = as_member("admin");

    // What provisioning seeds into every new workspace, then the demo's other processes.
    let mut tx = pool.begin(admin).await?;
    workspace_defaults::seed(&mut tx).await?;
    tx.commit().await?;
    let mut process_ids: Vec<ProcessId> = deals::processes(pool, admin)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    for (name, description) in PROCESSES {
        let input = ProcessInput {
            name: name.to_owned(),
            description: Some(description.to_owned()),
        };
        process_ids.push(processes::create(pool, admin, &input).await?);
    }

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

    for deal in &DEALS {
        let (contact, _) = contact_ids[deal.contact];
        let owner = as_member(deal.owner);
        let input = DealInput {
            name: deal.name.to_owned(),
            amount: Some(Decimal::from(deal.amount)),
            process_id: Some(process_ids[deal.process]),
            expected_close_date: Some(
                (Utc::now() + Duration::days(deal.close_in_days)).date_naive(),
            ),
            organization_id: Some(organization_ids[deal.organization]),
            contacts: Some(vec![DealContactInput {
                contact_id: contact,
                role: ContactRole::DecisionMaker,
            }]),
            ..DealInput::default()
        };
        // Created by the contact's owner's manager when the owner may not see the contact.
        let creator = if CONTACTS[deal.contact].4 == deal.owner {
            owner
        } else {
            manager
        };
        let id = deals::create(
            pool,
            creator,
            &DealInput {
                assigned_to: Some(owner.user_id),
                ..input
            },
        )
        .await?;
        let stages = deals::stages(pool, owner, process_ids[deal.process]).await?;
        let mut version = 1;
        for stage_name in deal.moves {
            let stage = stages
                .iter()
                .find(|s| s.name == *stage_name)
                .expect("the demo moves deals only to stages their process has");
            let lost = matches!(stage.outcome, deals::Outcome::Lost);
            let moved = deals::move_to_stage(
                pool,
                owner,
                id,
                &StageMoveInput {
                    stage_id: Some(stage.id),
                    version,
                    lost_reason: lost.then(|| "Chose a cheaper competitor".to_owned()),
                },
            )
            .await?;
            version = moved.version;
        }
    }

    // The catalog: eight more products with pricing blueprints, a dozen in four categories.
    let admin = as_member("admin");
    for (sku, name, category, list_price, unit_cost, discount, margin) in DEMO_PRODUCTS {
        products::create(
            pool,
            admin,
            &ProductInput {
                sku: sku.to_owned(),
                name: name.to_owned(),
                description: String::new(),
                category: category.to_owned(),
                active: true,
                custom_fields: None,
            },
            &BlueprintInput {
                list_price: list_price.to_owned(),
                unit_cost: unit_cost.to_owned(),
                max_discount_percent: discount.to_owned(),
                margin_target_percent: margin.to_owned(),
            },
        )
        .await?;
    }
    // Lines on most deals (all but every fourth), by their owners; every third line with a
    // negotiated price, within the product's discount policy.
    let catalog = products::list(
        pool,
        admin,
        &ProductFilter {
            active: Some(true),
            ..ProductFilter::default()
        },
        None,
        Some(100),
    )
    .await?
    .items;
    let deals = deals::list(
        pool,
        admin,
        &deals::DealFilter {
            limit: Some(100),
            ..deals::DealFilter::default()
        },
    )
    .await?
    .items;
    let mut n = 0;
    for (i, deal) in deals.iter().enumerate() {
        if i % 4 == 3 {
            continue;
        }
        let owner = TenantContext {
            tenant_id: tenant.id,
            user_id: deal.assigned_to,
            role: tenant
                .users
                .iter()
                .find(|u| u.id == deal.assigned_to)
                .map_or(MemberRole::Manager, |u| u.role),
            read_only: false,
        };
        for k in 0..(1 + i % 3) {
            n += 1;
            let product = &catalog[(i * 3 + k * 5) % catalog.len()];
            let negotiated = n % 3 == 0 && product.max_discount_percent > Decimal::ZERO;
            let unit_price = if negotiated {
                // Half the allowed discount, to the cent.
                (product.list_price
                    * (Decimal::ONE_HUNDRED - product.max_discount_percent / Decimal::TWO)
                    / Decimal::ONE_HUNDRED)
                    .round_dp(2)
                    .to_string()
            } else {
                String::new()
            };
            line_items::add(
                pool,
                owner,
                deal.id,
                &AddLine {
                    product_id: product.id.to_string(),
                    quantity: (1 + (i + k) % 5).to_string(),
                    unit_price,
                    override_reason: if negotiated {
                        "Multi-year commitment".to_owned()
                    } else {
                        String::new()
                    },
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// The demo catalog beyond the starter one: SKU, name, category, list price, unit cost, the
/// largest discount for reps and the margin target (percent).
const DEMO_PRODUCTS: [(&str, &str, &str, &str, &str, &str, &str); 8] = [
    (
        "LIC-TEAM",
        "Team licence (per seat, yearly)",
        "Licences",
        "480.00",
        "60.00",
        "15",
        "70",
    ),
    (
        "LIC-ENT",
        "Enterprise licence (per seat, yearly)",
        "Licences",
        "900.00",
        "90.00",
        "20",
        "75",
    ),
    (
        "LIC-API",
        "API add-on (yearly)",
        "Licences",
        "2400.00",
        "400.00",
        "10",
        "60",
    ),
    (
        "SVC-MIG",
        "Data migration",
        "Services",
        "3500.00",
        "2100.00",
        "10",
        "35",
    ),
    (
        "SVC-INT",
        "Integration workshop (per day)",
        "Services",
        "1400.00",
        "900.00",
        "5",
        "30",
    ),
    (
        "ONB-ADV",
        "Advanced admin training",
        "Onboarding",
        "1200.00",
        "700.00",
        "10",
        "35",
    ),
    (
        "SUP-PRI",
        "Priority support plan",
        "Support",
        "3000.00",
        "1200.00",
        "10",
        "50",
    ),
    (
        "SUP-TAM",
        "Technical account manager (monthly)",
        "Support",
        "2500.00",
        "1700.00",
        "5",
        "25",
    ),
];
