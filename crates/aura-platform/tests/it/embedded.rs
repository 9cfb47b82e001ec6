//! The private cluster behind `aura serve` without a database URL.

use std::fs;

use aura_platform::db::embedded::{EmbeddedCluster, EmbeddedError};
use aura_platform::db::testing::scratch_folder;
use sqlx::{Connection, PgConnection};

fn start(folder: &std::path::Path) -> EmbeddedCluster {
    EmbeddedCluster::start(folder, None).unwrap_or_else(|err| panic!("start the cluster: {err}"))
}

#[tokio::test]
async fn the_cluster_keeps_its_data_across_restarts_and_never_runs_as_root() {
    let dir = scratch_folder();
    let folder = dir.path().join("data");

    let cluster = start(&folder);
    assert!(cluster.started_here());
    let url = cluster.owner_url("postgres");
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("create table kept (note text); insert into kept values ('still here')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    // The postmaster runs as an unprivileged user even when the tests run as root.
    let pid = cluster.postmaster_pid().expect("a running postmaster");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid: u32 = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .unwrap();
    if nix::unistd::Uid::effective().is_root() {
        assert_ne!(uid, 0, "PostgreSQL must not run as root");
    } else {
        assert_eq!(uid, nix::unistd::Uid::effective().as_raw());
    }

    // A second start while it runs reuses it.
    let again = start(&folder);
    assert!(!again.started_here());

    cluster.stop().unwrap();
    let restarted = start(&folder);
    assert!(restarted.started_here());
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let note: String = sqlx::query_scalar("select note from kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(note, "still here");
    conn.close().await.unwrap();
    restarted.stop().unwrap();
}

#[test]
fn missing_server_binaries_are_named_and_nothing_is_created() {
    let dir = scratch_folder();
    let empty_bin = dir.path().join("bin");
    fs::create_dir(&empty_bin).unwrap();
    let folder = dir.path().join("data");

    let err = EmbeddedCluster::start(&folder, Some(&empty_bin)).unwrap_err();
    assert!(matches!(err, EmbeddedError::BinariesNotFound { .. }));
    let message = err.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("AURA_DATABASE_URL"), "{message}");
    assert!(
        !folder.exists(),
        "a failed start must not leave a data folder behind"
    );
}
