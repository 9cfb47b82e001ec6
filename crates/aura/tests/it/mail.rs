//! With a mail server configured, messages leave by SMTP and are marked sent; the UI then stops
//! showing links itself. The server here is Python's standard-library SMTP debugging server, a
//! real SMTP peer on a loopback port.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{demo_mailing_to, Member};

#[tokio::test]
async fn an_invitation_goes_out_by_smtp_and_is_marked_sent() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut smtp = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-u",
            "-m",
            "smtpd",
            "-n",
            "-c",
            "DebuggingServer",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs an SMTP server for this test");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the SMTP server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (app, db) = demo_mailing_to(port).await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let invited = admin
        .post(app.workspace_url("acme", "/members/invitations"))
        .form(&[
            ("email", "nina@acme.example"),
            ("role", "sales_rep"),
            ("csrf_token", &admin.csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), StatusCode::OK);
    let html = invited.text().await.unwrap();
    assert!(
        html.contains("on its way by email") && !html.contains("class=\"copyable\""),
        "no link on the page"
    );

    let (sent, secret_kept): (Option<chrono::DateTime<chrono::Utc>>, bool) = sqlx::query_as(
        "select sent_at, body_text is not null from email_outbox where to_address = 'nina@acme.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    smtp.kill().unwrap();
    smtp.wait().unwrap();
    let mut received = String::new();
    smtp.stdout
        .take()
        .unwrap()
        .read_to_string(&mut received)
        .unwrap();
    assert!(
        sent.is_some(),
        "not marked sent; the server got: {received}"
    );
    assert!(
        received.contains("You are invited to Acme Corporation on Aura"),
        "{received}"
    );
    assert!(
        !secret_kept,
        "the sent message's link is dropped from the outbox"
    );
    // The debugging server prints each line as a Python bytes literal; the body is
    // quoted-printable, so a long line goes on after a trailing `=`.
    let body = received
        .lines()
        .filter_map(|line| line.strip_prefix("b'")?.strip_suffix('\''))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("=\n", "")
        .replace("=3D", "=");
    let link = body
        .split_whitespace()
        .find(|word| word.starts_with("http") && word.contains("/invitations/"))
        .expect("the link travels in the message");
    assert_eq!(
        app.client.get(link).send().await.unwrap().status(),
        StatusCode::OK,
        "{link}"
    );
}
