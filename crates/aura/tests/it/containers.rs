//! The container files: the compose file names only settings `aura` reads, and (with a Docker
//! engine, when asked for with `AURA_TEST_DOCKER=1`: the build takes many minutes) the image
//! builds and the compose file serves Aura with PostgreSQL and Redis.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::CommandFactory;

use crate::helpers::free_port;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every environment variable `aura` reads, from its command-line definition.
fn settings_aura_reads() -> Vec<String> {
    let mut names = Vec::new();
    let mut commands = vec![aura::cli::Cli::command()];
    while let Some(command) = commands.pop() {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                names.push(env.to_string_lossy().into_owned());
            }
        }
        commands.extend(command.get_subcommands().cloned());
    }
    names
}

#[test]
fn the_compose_file_sets_only_settings_aura_reads() {
    let compose = std::fs::read_to_string(repository().join("docker-compose.yml")).unwrap();
    let known = settings_aura_reads();
    let named: Vec<&str> = compose
        .lines()
        .filter_map(|line| line.trim().split(':').next())
        .filter(|key| key.starts_with("AURA_") && !key.contains(' '))
        .collect();
    for expected in ["AURA_DATABASE_URL", "AURA_APP_PASSWORD", "AURA_REDIS_URL"] {
        assert!(
            named.contains(&expected),
            "the compose file sets no {expected}"
        );
    }
    for name in &named {
        assert!(known.iter().any(|k| k == name), "aura reads no {name}");
    }
    let dockerfile = std::fs::read_to_string(repository().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("aura migrate && exec aura serve"));
    assert!(
        dockerfile.contains("\nUSER aura\n"),
        "the server runs as root"
    );
    assert!(known.iter().any(|k| k == "AURA_LISTEN"));
}

/// Runs `docker` with `args` in the repository, returning whether it succeeded and its output.
fn docker(args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let output = Command::new("docker")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(repository())
        .output();
    match output {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(err) => (false, format!("docker could not be run: {err}")),
    }
}

/// Stops and removes the compose project, with its volume, however the test ends.
struct Project {
    name: String,
    env: Vec<(&'static str, String)>,
}

impl Drop for Project {
    fn drop(&mut self) {
        docker(&["compose", "-p", &self.name, "down", "-v"], &self.env);
    }
}

#[tokio::test]
async fn the_image_builds_and_the_compose_file_serves_aura() {
    if std::env::var_os("AURA_TEST_DOCKER").is_none() {
        eprintln!(
            "SKIPPED the_image_builds_and_the_compose_file_serves_aura: building the image takes \
             many minutes; set AURA_TEST_DOCKER=1 to run it"
        );
        return;
    }
    let (engine, info) = docker(&["info", "--format", "{{.ServerVersion}}"], &[]);
    if !engine {
        eprintln!(
            "SKIPPED the_image_builds_and_the_compose_file_serves_aura: no Docker engine: {}",
            info.trim()
        );
        return;
    }
    let port = free_port();
    let key = "k".repeat(40);
    let project = Project {
        name: format!("aura-test-{port}"),
        env: vec![
            ("AURA_PORT", port.to_string()),
            ("AURA_PUBLIC_URL", format!("http://localhost:{port}")),
            ("AURA_PLATFORM_API_KEY", key.clone()),
        ],
    };
    let (built, log) = docker(
        &[
            "compose",
            "-p",
            &project.name,
            "up",
            "-d",
            "--build",
            "--wait",
        ],
        &project.env,
    );
    assert!(built, "docker compose up failed:\n{log}");

    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let started = Instant::now();
    loop {
        let ready = client.get(url("/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the container never became ready"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let home = client
        .get(url("/"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    // Migrated, as aura_app, with Redis: the platform's health reads the queues.
    let metrics = client
        .get(url("/metrics"))
        .header("host", format!("localhost:{port}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("aura_database_up 1"), "{metrics}");
    let (_, user) = docker(
        &[
            "compose",
            "-p",
            &project.name,
            "exec",
            "-T",
            "aura",
            "id",
            "-u",
        ],
        &project.env,
    );
    assert_eq!(user.trim(), "10001", "the server runs as the aura user");
}
