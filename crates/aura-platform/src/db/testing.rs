//! Test harness: every test gets a fresh database cloned from a migrated template, and connects
//! to it as `aura_app` exactly as the server does.
//!
//! The PostgreSQL server is `AURA_TEST_DATABASE_URL` (a superuser URL, as in CI) when set, else
//! a private embedded cluster in the system's temporary folder, started on first use and left
//! running for the next test run.
//!
//! `AURA_TEST_CITUS_URL` (a superuser URL to a Citus coordinator's maintenance database, whose
//! workers are added, as `scripts/citus/start.sh` leaves it) runs the same tests on a cluster
//! instead (issue 17): every test database then exists on every node, cloned there from a
//! template that `migrate` distributed, so each test's shards are its own.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;
use url::Url;

use super::embedded::EmbeddedCluster;
use super::{app_url_from_owner_url, migrate, AppPool, OwnerPool, PoolSettings, MIGRATOR};

const TEST_DB_PREFIX: &str = "aura_test_";

/// The server the tests run against: a superuser URL to its maintenance database.
struct TestServer {
    admin_url: String,
    /// A superuser URL to every node's maintenance database, this server's first: a database
    /// is created, cloned and dropped on each (only this server on plain PostgreSQL).
    nodes: Vec<String>,
    template: String,
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();

/// A database of one's own for one test, dropped when the value is dropped.
pub struct TestDatabase {
    pub name: String,
    /// The schema owner's URL (a superuser here).
    pub owner_url: String,
    /// `aura_app`'s URL: what the server is configured with.
    pub app_url: String,
    /// A superuser pool, for a test's own setup and for looking behind row-level security.
    pub owner: PgPool,
    /// The pool the application uses.
    pub app: AppPool,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let server = SERVER.get_or_init(init_server).await;
        Self::create(server, &server.template).await
    }

    /// A database with no schema at all (cloned from `template0`), dropped like the others: the
    /// target of a restore.
    pub async fn empty() -> Self {
        let server = SERVER.get_or_init(init_server).await;
        Self::create(server, "template0").await
    }

    async fn create(server: &TestServer, template: &str) -> Self {
        let name = format!("{TEST_DB_PREFIX}{}", uuid::Uuid::new_v4().simple());
        for node in &server.nodes {
            let mut admin = PgConnection::connect(node)
                .await
                .expect("connect to the test PostgreSQL server");
            alone(
                &mut admin,
                template,
                &format!(r#"create database "{name}" template "{template}""#),
            )
            .await
            .expect("clone the template database");
            admin.close().await.ok();
        }

        let owner_url = with_database(&server.admin_url, &name);
        let app_url = app_url_from_owner_url(&owner_url, None).expect("a valid URL");
        let owner = PgPoolOptions::new()
            .max_connections(5)
            .connect(&owner_url)
            .await
            .expect("connect to the test database as owner");
        let app = AppPool::connect_lazy(&app_url, PoolSettings::default()).expect("app pool");
        Self {
            name,
            owner_url,
            app_url,
            owner,
            app,
        }
    }

    /// A pool of `aura_app` with no tenant context available, for attacking it directly.
    pub async fn raw_app_connection(&self) -> PgConnection {
        PgConnection::connect(&self.app_url)
            .await
            .expect("connect as aura_app")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(server) = SERVER.get() else { return };
        let nodes = server.nodes.clone();
        let name = self.name.clone();
        // Drop runs outside async; use a thread with its own small runtime. FORCE ends the
        // pools' connections, which would otherwise keep the database alive.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                for node in &nodes {
                    let mut admin = PgConnection::connect(node).await?;
                    sqlx::raw_sql(&format!(r#"drop database if exists "{name}" with (force)"#))
                        .execute(&mut admin)
                        .await?;
                }
                Ok::<_, sqlx::Error>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("warning: could not drop test database {}: {err}", self.name);
        }
    }
}

async fn init_server() -> TestServer {
    let setting = |name| {
        std::env::var(name)
            .ok()
            .filter(|url: &String| !url.is_empty())
    };
    let (admin_url, nodes) = match (
        setting("AURA_TEST_CITUS_URL"),
        setting("AURA_TEST_DATABASE_URL"),
    ) {
        (Some(coordinator), _) => {
            let nodes = citus_nodes(&coordinator).await;
            (coordinator, nodes)
        }
        (None, Some(url)) => (url.clone(), vec![url]),
        (None, None) => {
            let url = embedded_test_cluster().await;
            (url.clone(), vec![url])
        }
    };
    let template = ensure_template(&admin_url, &nodes).await;
    TestServer {
        admin_url,
        nodes,
        template,
    }
}

/// The coordinator's URL and its workers' (from its node table), same user and options.
async fn citus_nodes(coordinator: &str) -> Vec<String> {
    let mut admin = PgConnection::connect(coordinator)
        .await
        .expect("connect to the Citus coordinator");
    let workers: Vec<(String, i32)> = sqlx::query_as(
        "select nodename::text, nodeport from pg_dist_node
         where groupid <> 0 and noderole = 'primary' order by nodeid",
    )
    .fetch_all(&mut admin)
    .await
    .expect(
        "read the coordinator's node table (is the citus extension created and are workers added?)",
    );
    admin.close().await.ok();
    assert!(!workers.is_empty(), "the Citus coordinator has no workers");
    let mut nodes = vec![coordinator.to_owned()];
    for (host, port) in workers {
        let mut url = Url::parse(coordinator).expect("a valid database URL");
        url.set_host(Some(&host)).expect("a worker's host name");
        url.set_port(Some(port as u16)).expect("a worker's port");
        nodes.push(url.into());
    }
    nodes
}

/// On a Citus cluster, readies a fresh database on every node for `migrate` to distribute
/// into: the extension in each, the workers added to the coordinator's (the first node).
async fn join_citus_nodes(nodes: &[String], database: &str) {
    for node in nodes {
        let mut connection = PgConnection::connect(&with_database(node, database))
            .await
            .expect("connect to a node's new database");
        sqlx::raw_sql("create extension if not exists citus")
            .execute(&mut connection)
            .await
            .expect("create the citus extension");
        connection.close().await.ok();
    }
    let mut coordinator = PgConnection::connect(&with_database(&nodes[0], database))
        .await
        .expect("connect to the coordinator's new database");
    let url = |node: &String| Url::parse(node).expect("a valid database URL");
    let own = url(&nodes[0]);
    sqlx::query("select citus_set_coordinator_host($1, $2)")
        .bind(own.host_str().unwrap_or("127.0.0.1"))
        .bind(i32::from(own.port().unwrap_or(5432)))
        .execute(&mut coordinator)
        .await
        .expect("register the coordinator");
    for worker in &nodes[1..] {
        let worker = url(worker);
        sqlx::query("select citus_add_node($1, $2)")
            .bind(worker.host_str().unwrap_or("127.0.0.1"))
            .bind(i32::from(worker.port().unwrap_or(5432)))
            .execute(&mut coordinator)
            .await
            .expect("add a worker");
    }
    coordinator.close().await.ok();
}

/// Runs a statement that needs `database` to itself (renaming it, cloning it). Citus keeps a
/// maintenance daemon connected to every database holding its extension, and starts it again
/// seconds after it ends: end the connections and run the statement at once, retrying if one
/// came back in between. Nothing else connects to a template on plain PostgreSQL.
async fn alone(
    admin: &mut PgConnection,
    database: &str,
    statement: &str,
) -> Result<(), sqlx::Error> {
    let mut tries = 0;
    loop {
        sqlx::query(
            "select pg_terminate_backend(pid) from pg_stat_activity
             where datname = $1 and pid <> pg_backend_pid()",
        )
        .bind(database)
        .execute(&mut *admin)
        .await?;
        match sqlx::raw_sql(statement).execute(&mut *admin).await {
            Err(sqlx::Error::Database(err))
                if err.code().as_deref() == Some("55006") && tries < 50 =>
            {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            done => return done.map(drop),
        }
    }
}

/// The embedded cluster the tests use when no server is configured.
async fn embedded_test_cluster() -> String {
    let folder =
        std::env::temp_dir().join(format!("aura-test-pg-{}", nix::unistd::Uid::effective()));
    let bin_dir = std::env::var_os("AURA_PG_BIN_DIR").map(PathBuf::from);
    let cluster =
        tokio::task::spawn_blocking(move || EmbeddedCluster::start(&folder, bin_dir.as_deref()))
            .await
            .expect("the cluster start task")
            .unwrap_or_else(|err| panic!("start the embedded test cluster: {err}"));
    cluster.owner_url("postgres")
}

/// The name of the template for the current migrations; built once per migration set, by the
/// first test process to need it (an advisory lock makes concurrent processes wait for it).
async fn ensure_template(admin_url: &str, nodes: &[String]) -> String {
    let mut hasher = DefaultHasher::new();
    for migration in MIGRATOR.iter() {
        migration.version.hash(&mut hasher);
        migration.checksum.hash(&mut hasher);
    }
    let template = format!("aura_template_{:016x}", hasher.finish());

    let mut admin = PgConnection::connect(admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::raw_sql("select pg_advisory_lock(hashtext('aura test template'))")
        .execute(&mut admin)
        .await
        .expect("take the template lock");
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&template)
            .fetch_one(&mut admin)
            .await
            .expect("look for the template");
    if !exists {
        // Build under a scratch name and rename, so a crash mid-way leaves no broken template.
        let building = format!("{template}_building");
        // One statement per call: (DROP|CREATE|ALTER) DATABASE refuse to run inside the
        // implicit transaction of a multi-statement query.
        for node in nodes {
            let mut node = PgConnection::connect(node)
                .await
                .expect("connect to a node");
            for statement in [
                format!(r#"drop database if exists "{building}" with (force)"#),
                format!(r#"create database "{building}""#),
            ] {
                sqlx::raw_sql(&statement)
                    .execute(&mut node)
                    .await
                    .expect("create the template database");
            }
        }
        if nodes.len() > 1 {
            join_citus_nodes(nodes, &building).await;
        }
        let owner = OwnerPool::connect(&with_database(admin_url, &building))
            .await
            .expect("connect to the template");
        migrate(&owner, None).await.expect("migrate the template");
        owner.close().await;
        for node in nodes {
            let mut node = PgConnection::connect(node)
                .await
                .expect("connect to a node");
            alone(
                &mut node,
                &building,
                &format!(r#"alter database "{building}" rename to "{template}""#),
            )
            .await
            .expect("publish the template");
            sqlx::raw_sql(&format!(r#"alter database "{template}" is_template true"#))
                .execute(&mut node)
                .await
                .expect("publish the template");
            drop_stale_templates(&mut node, &template).await;
        }
    }
    sqlx::raw_sql("select pg_advisory_unlock(hashtext('aura test template'))")
        .execute(&mut admin)
        .await
        .expect("release the template lock");
    admin.close().await.ok();
    template
}

/// Templates of earlier migration sets are of no further use, once an hour old: a younger one
/// may be another checkout's whose tests run on the same server right now (its directory's
/// age is the template's, read with `pg_stat_file`, which needs the superuser the tests use).
async fn drop_stale_templates(admin: &mut PgConnection, current: &str) {
    let stale: Vec<String> = sqlx::query_scalar(
        "select datname from pg_database
         where datname like 'aura\\_template\\_%' and datname <> $1
           and (pg_stat_file('base/' || oid || '/PG_VERSION')).modification
               < now() - interval '1 hour'",
    )
    .bind(current)
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for name in stale {
        for statement in [
            format!(r#"alter database "{name}" is_template false"#),
            format!(r#"drop database if exists "{name}" with (force)"#),
        ] {
            sqlx::raw_sql(&statement).execute(&mut *admin).await.ok();
        }
    }
}

fn with_database(url: &str, database: &str) -> String {
    let mut url = Url::parse(url).expect("a valid database URL");
    url.set_path(database);
    url.into()
}

/// A temporary folder that the embedded cluster's unprivileged service user can reach (tempfile
/// creates them 0700, which would lock that user out when the tests run as root).
pub fn scratch_folder() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("create a temporary folder");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the temporary folder to the service user");
    dir
}
