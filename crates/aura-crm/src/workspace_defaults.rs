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

    insert_default_stages(tx, process_id).await?;
    for (sku, name, category, price) in STARTER_PRODUCTS {
        sqlx::query!(
            "insert into products (tenant_id, sku, name, category, unit_price, created_by, updated_by)
             values ($1, $2, $3, $4, $5::text::numeric, $6, $6)",
            tenant,
            sku,
            name,
            category,
            price,
            actor,
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Gives a new process the stages of F11.3, one statement per stage: on Citus an
/// `insert ... select` from an array runs through `COPY`, which row-level security refuses.
pub async fn insert_default_stages(tx: &mut TenantTx, process: uuid::Uuid) -> Result<(), DbError> {
    let tenant = tx.context().tenant_id.as_uuid();
    let actor = tx.context().user_id.as_uuid();
    for (position, (name, outcome, probability)) in (0i32..).zip(DEFAULT_STAGES) {
        sqlx::query!(
            "insert into deal_stages (tenant_id, process_id, name, position, outcome,
                                      win_probability, created_by, updated_by)
             values ($1, $2, $3, $4, $5::text::aura.stage_outcome, $6, $7, $7)",
            tenant,
            process,
            name,
            position,
            outcome,
            rust_decimal::Decimal::from(probability),
            actor,
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}
