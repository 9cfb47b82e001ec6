//! Distribution of the schema over a Citus cluster (ARCHITECTURE.md: scale-out distributed by
//! `tenant_id`). On plain PostgreSQL nothing here runs; the catalog test
//! (`tests/it/distribution.rs`) keeps the schema distributable all the same.
//!
//! The layout: every table with a `tenant_id` is distributed by it, all co-located, so that a
//! workspace's rows live on one node and every tenant query goes to that node alone; the global
//! tables that tenant tables point at are reference tables, copied to every node; the other
//! global tables (sign-up, apex sessions, mail, the operators' audit) stay on the coordinator.

use sqlx::{Connection, Executor};

use super::{DbError, OwnerPool};

/// Global tables copied to every node, because tenant tables hold foreign keys to them.
pub const REFERENCE_TABLES: [&str; 2] = ["tenants", "users"];

/// When the `citus` extension is installed, distributes every table not distributed yet: the
/// reference tables, then the tenant tables by `tenant_id`. Citus refuses to distribute a table
/// that a local table still references, so the foreign keys touching those tables are taken off
/// first and put back once every table is in place. Does nothing on plain PostgreSQL.
pub(super) async fn distribute(owner: &OwnerPool) -> Result<(), DbError> {
    let mut connection = owner.pool().acquire().await?;
    let citus: bool =
        sqlx::query_scalar("select exists (select from pg_extension where extname = 'citus')")
            .fetch_one(&mut *connection)
            .await?;
    if !citus {
        return Ok(());
    }
    let pending: Vec<(String, bool)> = sqlx::query_as(
        "select c.oid::regclass::text,
                exists (select from pg_attribute a
                        where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
           and c.oid not in (select logicalrelid from pg_dist_partition)
         order by 1",
    )
    .fetch_all(&mut *connection)
    .await?;
    let reference: Vec<&str> = pending
        .iter()
        .filter(|(table, _)| REFERENCE_TABLES.contains(&table.as_str()))
        .map(|(table, _)| table.as_str())
        .collect();
    let tenant: Vec<&str> = pending
        .iter()
        .filter(|(_, has_tenant)| *has_tenant)
        .map(|(table, _)| table.as_str())
        .collect();
    if reference.is_empty() && tenant.is_empty() {
        return Ok(());
    }
    let moving: Vec<String> = reference
        .iter()
        .chain(&tenant)
        .map(|t| t.to_string())
        .collect();

    let mut tx = connection.begin().await?;
    // Aura's history and audit triggers run on the shards; each writes its own workspace's rows.
    tx.execute("set local citus.enable_unsafe_triggers = on")
        .await?;
    tx.execute("set local citus.multi_shard_modify_mode = 'sequential'")
        .await?;
    // A partition's copy of its table's key (`conparentid`) comes and goes with the table's.
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "select c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid)
         from pg_constraint c
         where c.contype = 'f' and c.conparentid = 0
           and (c.conrelid::regclass::text = any ($1) or c.confrelid::regclass::text = any ($1))
         order by 1, 2",
    )
    .bind(&moving)
    .fetch_all(&mut *tx)
    .await?;
    for (table, name, _) in &keys {
        let drop: String = sqlx::query_scalar(
            "select format('alter table %s drop constraint %I', $1::regclass, $2)",
        )
        .bind(table)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        tx.execute(drop.as_str()).await?;
    }
    for table in &reference {
        sqlx::query("select create_reference_table($1::regclass)")
            .bind(table)
            .execute(&mut *tx)
            .await?;
    }
    for table in &tenant {
        sqlx::query("select create_distributed_table($1::regclass, 'tenant_id')")
            .bind(table)
            .execute(&mut *tx)
            .await?;
    }
    for (table, name, definition) in &keys {
        let add: String = sqlx::query_scalar(
            "select format('alter table %s add constraint %I %s', $1::regclass, $2, $3)",
        )
        .bind(table)
        .bind(name)
        .bind(definition)
        .fetch_one(&mut *tx)
        .await?;
        tx.execute(add.as_str()).await?;
    }
    tx.commit().await?;
    Ok(())
}
