//! Schema conformance: schemathesis (PyPI; `.ci/run` installs it in `target/schemathesis`)
//! generates requests for every operation of the running server's OpenAPI document, as a
//! workspace admin, and fails on any 5xx and on any answer the document does not describe
//! (status, content type, headers, body). Bounded: a few examples per operation.

use std::path::PathBuf;
use std::process::Command;

use aura_platform::db::testing::scratch_folder;
use aura_web::rate_limit::RateLimiter;

use crate::helpers::{api_token, demo_database, TestApp};

/// The version `.ci/run` installs.
const VERSION: &str = "4.32.5";

/// schemathesis from `target/schemathesis` (where `.ci/run` puts it) or the `PATH`.
fn schemathesis() -> Option<PathBuf> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        workspace.join("target/schemathesis/bin/schemathesis"),
        PathBuf::from("schemathesis"),
    ];
    candidates.into_iter().find(|candidate| {
        Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    })
}

#[tokio::test]
async fn every_answer_of_every_operation_is_as_the_document_says() {
    let Some(schemathesis) = schemathesis() else {
        let hint = format!(
            "schemathesis is needed for the conformance test: \
             python3 -m venv target/schemathesis && \
             target/schemathesis/bin/pip install schemathesis=={VERSION}"
        );
        // CI installs it: there a missing tool is a failure, not a skip.
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{hint}");
        eprintln!("skipped: {hint}");
        return;
    };
    let db = demo_database().await;
    // A few thousand requests as one member: the per-user limit would only slow them down.
    let app = TestApp::builder()
        .limiter(RateLimiter::local().with_limit(u64::MAX))
        .serve(db.app.clone())
        .await;
    let token = api_token(&app, "acme", "admin@acme.example").await;
    let reports = scratch_folder();
    let port = app.port;
    let output = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .arg("run")
            .arg(format!("http://127.0.0.1:{port}/api/v1/openapi.json"))
            .args(["--url", &format!("http://127.0.0.1:{port}")])
            // acme's host, as the API is served per workspace.
            .args(["--header", &format!("Host: acme.localhost:{port}")])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance",
            ])
            // The platform's endpoint lives on the apex, with another key.
            .args(["--exclude-tag", "platform"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "8", "--seed", "14", "--workers", "2"])
            .args(["--request-timeout", "20", "--no-color"])
            .arg(format!("--report-dir={}", reports.path().display()))
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found answers the document does not describe:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("passed"),
        "schemathesis tested the operations:\n{report}"
    );
}
