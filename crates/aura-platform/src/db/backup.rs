//! Backups (NFR-R2-R3): a `pg_dump` custom-format archive of the owner's database, and beside it
//! a manifest (`<archive>.manifest.json`) saying what a restore needs to know: the Aura version
//! that made it, the migrations applied (version and checksum), and the archive's SHA-256.
//!
//! A restore goes only into an EMPTY database (nothing is merged or overwritten), creates the
//! cluster-wide `aura_app` role first as `aura migrate` does (the archive grants it privileges),
//! refuses a backup whose migrations this binary does not know, and runs in one transaction, so
//! a failure leaves the database as empty as it was.
//!
//! The queries here read the catalog and sqlx's bookkeeping table as the owner, like the
//! migrator itself; no tenant data passes through Aura (pg_dump and pg_restore move it).

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::migrate::{ensure_app_role, MIGRATOR};
use super::{DbError, OwnerPool};

/// The manifest layout's version, for a future Aura that reads older manifests.
const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Tool { command: String, detail: String },
    #[error("the manifest {path} cannot be read: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("the archive does not match its manifest's SHA-256: it was changed or is incomplete")]
    ArchiveChanged,
    #[error(
        "the backup has migration {version} ({description}), which this Aura ({aura}) does not \
         know: restore it with Aura {made_by} or newer"
    )]
    UnknownMigration {
        version: i64,
        description: String,
        aura: String,
        made_by: String,
    },
    #[error("migration {version} in the backup differs from this Aura's (checksum mismatch)")]
    ChecksumMismatch { version: i64 },
    #[error(
        "refusing to restore: the database is not empty (it holds {}{}); restore into a new, \
         empty database",
        .0.join(", "), if .0.len() >= NOT_EMPTY_SHOWN { ", ..." } else { "" }
    )]
    NotEmpty(Vec<String>),
    #[error(
        "the database changed its migrations while it was being backed up; run the backup again"
    )]
    MigratedDuringBackup,
    #[error("after the restore the database's migrations differ from the manifest's")]
    RestoredMigrationsDiffer,
}

const NOT_EMPTY_SHOWN: usize = 5;

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

/// What `aura backup` writes beside the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub aura_version: String,
    pub created_at: DateTime<Utc>,
    /// PostgreSQL's `server_version` of the backed-up database: pg_restore must be as new.
    pub server_version: String,
    pub migrations: Vec<AppliedMigration>,
    pub archive_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    /// SHA-384 of the migration's SQL as sqlx records it, hex.
    pub checksum: String,
}

/// Where the manifest of `archive` lives.
pub fn manifest_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// Where `pg_dump` and `pg_restore` are: a folder (the embedded cluster's installation, or
/// AURA_PG_BIN_DIR), or `PATH`.
#[derive(Debug, Clone, Default)]
pub struct PgClientTools {
    pub dir: Option<PathBuf>,
}

impl PgClientTools {
    fn command(&self, name: &str, owner_url: &str) -> Result<tokio::process::Command, BackupError> {
        let program = match &self.dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        };
        let mut command = tokio::process::Command::new(program);
        // The password goes by environment, never on the command line where `ps` shows it.
        let (url, password) = split_password(owner_url)?;
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        command.arg("--no-password").arg("--dbname").arg(url);
        Ok(command)
    }
}

/// The URL without its password, and the password decoded.
fn split_password(url: &str) -> Result<(String, Option<String>), BackupError> {
    let mut url = Url::parse(url).map_err(|err| BackupError::Tool {
        command: "parse the database URL".into(),
        detail: err.to_string(),
    })?;
    let password = url.password().map(|encoded| {
        percent_encoding::percent_decode_str(encoded)
            .decode_utf8_lossy()
            .into_owned()
    });
    url.set_password(None).ok();
    Ok((url.into(), password))
}

async fn run(mut command: tokio::process::Command, name: &str) -> Result<(), BackupError> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|err| BackupError::Tool {
            command: name.into(),
            detail: format!("cannot run it ({err}); install the PostgreSQL client programs or set AURA_PG_BIN_DIR"),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            command: name.into(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// The migrations the database records as applied, in order.
pub async fn applied_migrations(owner: &OwnerPool) -> Result<Vec<AppliedMigration>, DbError> {
    let rows = sqlx::query!(
        "select version, description, checksum from _sqlx_migrations
         where success order by version",
    )
    .fetch_all(owner.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AppliedMigration {
            version: row.version,
            description: row.description,
            checksum: hex(&row.checksum),
        })
        .collect())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn sha256_of(path: &Path) -> Result<String, BackupError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file =
            std::fs::File::open(&path).map_err(io_error(format!("opening {}", path.display())))?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher)
            .map_err(io_error(format!("reading {}", path.display())))?;
        Ok(hex(&hasher.finalize()))
    })
    .await
    .map_err(|err| io_error("hashing the archive")(io::Error::other(err)))?
}

/// Writes `archive` (pg_dump's custom format) and its manifest. Both appear only when complete:
/// each is written under a temporary name and renamed.
pub async fn backup(
    owner: &OwnerPool,
    owner_url: &str,
    tools: &PgClientTools,
    archive: &Path,
    aura_version: &str,
) -> Result<Manifest, BackupError> {
    let migrations = applied_migrations(owner).await?;
    // `current_setting` rather than `show`: the same value, and a statement the macro can check.
    let server_version: String =
        sqlx::query_scalar!(r#"select current_setting('server_version') as "server_version!""#)
            .fetch_one(owner.pool())
            .await
            .map_err(DbError::from)?;

    let partial = with_suffix(archive, ".partial");
    let mut dump = tools.command("pg_dump", owner_url)?;
    dump.arg("--format=custom").arg("--file").arg(&partial);
    run(dump, "pg_dump").await?;
    // The dump is one snapshot; a migration that ran meanwhile may or may not be in it.
    if applied_migrations(owner).await? != migrations {
        std::fs::remove_file(&partial).ok();
        return Err(BackupError::MigratedDuringBackup);
    }

    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        aura_version: aura_version.to_owned(),
        created_at: Utc::now(),
        server_version,
        migrations,
        archive_sha256: sha256_of(&partial).await?,
    };
    std::fs::rename(&partial, archive)
        .map_err(io_error(format!("writing {}", archive.display())))?;
    let manifest_file = manifest_path(archive);
    let manifest_partial = with_suffix(&manifest_file, ".partial");
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    std::fs::write(&manifest_partial, json)
        .and_then(|()| std::fs::rename(&manifest_partial, &manifest_file))
        .map_err(io_error(format!("writing {}", manifest_file.display())))?;
    Ok(manifest)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Reads `archive`'s manifest and checks the archive against it and against this binary.
pub async fn verify(archive: &Path, aura_version: &str) -> Result<Manifest, BackupError> {
    let path = manifest_path(archive);
    let text = std::fs::read(&path).map_err(|err| BackupError::Manifest {
        path: path.clone(),
        detail: err.to_string(),
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|err| BackupError::Manifest {
            path: path.clone(),
            detail: err.to_string(),
        })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(BackupError::Manifest {
            path,
            detail: format!("unknown format {}", manifest.format),
        });
    }
    if sha256_of(archive).await? != manifest.archive_sha256 {
        return Err(BackupError::ArchiveChanged);
    }
    check_migrations(&manifest, aura_version)?;
    Ok(manifest)
}

/// Every migration in the backup must be one of this binary's, byte for byte; this binary may
/// have more (`aura migrate` applies them after the restore).
fn check_migrations(manifest: &Manifest, aura_version: &str) -> Result<(), BackupError> {
    for applied in &manifest.migrations {
        let Some(known) = MIGRATOR
            .iter()
            .find(|m| m.version == applied.version && !m.migration_type.is_down_migration())
        else {
            return Err(BackupError::UnknownMigration {
                version: applied.version,
                description: applied.description.clone(),
                aura: aura_version.to_owned(),
                made_by: manifest.aura_version.clone(),
            });
        };
        if hex(&known.checksum) != applied.checksum {
            return Err(BackupError::ChecksumMismatch {
                version: applied.version,
            });
        }
    }
    Ok(())
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// This binary's migrations the backup predates: `aura migrate` applies them.
    pub pending_migrations: usize,
}

/// Restores `archive` into the empty database at `owner_url` (whose role becomes the owner of
/// everything restored). `app_password`, when given, becomes `aura_app`'s password.
pub async fn restore(
    owner: &OwnerPool,
    owner_url: &str,
    tools: &PgClientTools,
    archive: &Path,
    aura_version: &str,
    app_password: Option<&str>,
) -> Result<Restored, BackupError> {
    let manifest = verify(archive, aura_version).await?;
    let found = user_relations(owner).await?;
    if !found.is_empty() {
        return Err(BackupError::NotEmpty(found));
    }
    ensure_app_role(owner, app_password).await?;

    let mut restore = tools.command("pg_restore", owner_url)?;
    // One transaction: a failure leaves the database empty. `--no-owner`: the objects belong to
    // the role restoring them, whatever the source cluster's owner was called.
    restore
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .arg("--no-owner")
        .arg(archive);
    run(restore, "pg_restore").await?;

    let restored = applied_migrations(owner).await?;
    if restored != manifest.migrations {
        return Err(BackupError::RestoredMigrationsDiffer);
    }
    let pending_migrations = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| !restored.iter().any(|r| r.version == m.version))
        .count();
    Ok(Restored {
        manifest,
        pending_migrations,
    })
}

/// Tables, views, sequences, functions and schemas that are not PostgreSQL's own, a few of them.
async fn user_relations(owner: &OwnerPool) -> Result<Vec<String>, DbError> {
    let found: Vec<String> = sqlx::query_scalar!(
        r#"select what as "what!" from (
             select format('%s %s', case c.relkind when 'S' then 'sequence' when 'v' then 'view'
                                    else 'table' end, c.oid::regclass) as what
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
               and n.nspname not like 'pg\_temp\_%' and n.nspname not like 'pg\_toast\_temp\_%'
               and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
             union all
             select format('schema %I', nspname) from pg_namespace
             where nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'public')
               and nspname not like 'pg\_%'
         ) found order by 1 limit $1"#,
        NOT_EMPTY_SHOWN as i64,
    )
    .fetch_all(owner.pool())
    .await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_decoded() {
        let (url, password) = split_password("postgres://owner:p%40ss%2Fw@db:5432/aura").unwrap();
        assert_eq!(url, "postgres://owner@db:5432/aura");
        assert_eq!(password.as_deref(), Some("p@ss/w"));
        let (url, password) = split_password("postgres://owner@db/aura?host=/run/pg").unwrap();
        assert_eq!(url, "postgres://owner@db/aura?host=/run/pg");
        assert_eq!(password, None);
    }

    #[test]
    fn the_manifest_sits_beside_the_archive() {
        assert_eq!(
            manifest_path(Path::new("/backups/aura-2026-12-01.dump")),
            Path::new("/backups/aura-2026-12-01.dump.manifest.json")
        );
    }

    #[test]
    fn a_backup_with_an_unknown_migration_is_refused() {
        let known: Vec<AppliedMigration> = MIGRATOR
            .iter()
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description.to_string(),
                checksum: hex(&m.checksum),
            })
            .collect();
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT,
            aura_version: "9.9.9".into(),
            created_at: Utc::now(),
            server_version: "15".into(),
            migrations: known.clone(),
            archive_sha256: String::new(),
        };
        assert!(check_migrations(&manifest, "1.0.0").is_ok());
        manifest.migrations.push(AppliedMigration {
            version: 9999,
            description: "from the future".into(),
            checksum: "00".into(),
        });
        assert!(matches!(
            check_migrations(&manifest, "1.0.0"),
            Err(BackupError::UnknownMigration { version: 9999, .. })
        ));
        manifest.migrations = known;
        manifest.migrations[0].checksum = "00".into();
        assert!(matches!(
            check_migrations(&manifest, "1.0.0"),
            Err(BackupError::ChecksumMismatch { .. })
        ));
    }
}
