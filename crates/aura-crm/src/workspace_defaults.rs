//! What a new workspace starts with (journey 1, steps 8-9): the default sales process with the
//! stages of F11.3, and a small catalog to edit or replace. Written inside the provisioning
//! transaction, so a workspace never exists half-seeded.

use aura_platform::db::{DbError, TenantTx};

/// The default process's stages: name, outcome, default win probability (percent).
pub const DEFAULT_STAGES: [(&str, &str, u8); 6] = [
    ("Prospect", "open", 10),
    ("Qualified", "open", 25),
    ("Proposal", "open", 50),
    ("Negotiation", "open", 75),
    ("Won", "won", 100),
    ("Lost", "lost", 0),
];

/// The starter catalog: SKU, name, category, unit price (in the workspace's currency).
pub const STARTER_PRODUCTS: [(&str, &str, &str, &str); 4] = [
    ("SVC-STD", "Standard service package", "Services", "1000.00"),
    ("SVC-PRE", "Premium service package", "Services", "2500.00"),
    ("ONB-001", "Onboarding and training", "Onboarding", "750.00"),
    ("SUP-ANN", "Annual support plan", "Support", "1200.00"),
];

/// Seeds the default process "Sales" (the default for new deals), its stages, and the starter
/// catalog into the transaction's tenant.
pub async fn seed(tx: &mut TenantTx) -> Result<(), DbError> {
    let tenant = tx.context().tenant_id.as_uuid();
    let actor = tx.context().user_id.as_uuid();
    let process_id = sqlx::query_scalar!(
        "insert into sales_processes (tenant_id, name, description, is_default, created_by, updated_by)
         values ($1, 'Sales', 'The default sales process. Rename it, change its stages, or add more processes.',
                 true, $2, $2)
         returning id",
        tenant,
        actor,
    )
    .fetch_one(tx.conn())
    .await?;

    let names: Vec<String> = DEFAULT_STAGES.iter().map(|s| s.0.to_owned()).collect();
    let outcomes: Vec<String> = DEFAULT_STAGES.iter().map(|s| s.1.to_owned()).collect();
    let probabilities: Vec<i32> = DEFAULT_STAGES.iter().map(|s| i32::from(s.2)).collect();
    sqlx::query!(
        "insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability,
                                  created_by, updated_by)
         select $1, $2, stage.name, stage.position - 1, stage.outcome::aura.stage_outcome,
                stage.probability, $3, $3
         from unnest($4::text[], $5::text[], $6::int[]) with ordinality
              as stage(name, outcome, probability, position)",
        tenant,
        process_id,
        actor,
        &names,
        &outcomes,
        &probabilities,
    )
    .execute(tx.conn())
    .await?;

    let skus: Vec<String> = STARTER_PRODUCTS.iter().map(|p| p.0.to_owned()).collect();
    let product_names: Vec<String> = STARTER_PRODUCTS.iter().map(|p| p.1.to_owned()).collect();
    let categories: Vec<String> = STARTER_PRODUCTS.iter().map(|p| p.2.to_owned()).collect();
    let prices: Vec<String> = STARTER_PRODUCTS.iter().map(|p| p.3.to_owned()).collect();
    sqlx::query!(
        "insert into products (tenant_id, sku, name, category, unit_price, created_by, updated_by)
         select $1, p.sku, p.name, p.category, p.price::numeric, $2, $2
         from unnest($3::text[], $4::text[], $5::text[], $6::text[]) as p(sku, name, category, price)",
        tenant,
        actor,
        &skus,
        &product_names,
        &categories,
        &prices,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
