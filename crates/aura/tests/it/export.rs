//! Workspace export (NFR-D2, issue 15) over real HTTP: an admin starts one with a one-time
//! code, the worker in the server writes it, and the zip holds every field of every contact
//! and organization, custom fields included, in the CSV layout the import reads. Managers and
//! reps are refused; an export left running by a dead server is taken up again; an expired
//! file answers 410 with a page that says so.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use aura_platform::db::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    audited, demo_database, emailed_code, id, unreachable_mail_server, user_id, Api, Member,
    TestApp,
};

/// Waits until the export `id` is no longer waiting or running, at most 60 s; answers it.
pub(crate) async fn finished(admin: &Api<'_>, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, export) = admin.get(&format!("/api/v1/exports/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{export}");
        if !matches!(export["status"].as_str(), Some("queued" | "running")) {
            return export;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the export did not finish: {export}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A CSV file's header, and its rows as a map of column to value each.
pub(crate) type CsvFile = (Vec<String>, Vec<HashMap<String, String>>);

/// The CSV files of a zip, by name.
pub(crate) fn csv_files(zip: &[u8]) -> HashMap<String, CsvFile> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).expect("a zip");
    let mut files = HashMap::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        files.insert(name, (header, rows));
    }
    files
}

/// One file of a zip as it is stored.
pub(crate) fn zip_entry(zip: &[u8], name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).expect("a zip");
    let mut bytes = Vec::new();
    archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} is in the zip"))
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// Exports acme as CSV through the API, with the code emailed to its admin, and answers the zip.
pub(crate) async fn export_acme(admin: &Api<'_>, db: &TestDatabase) -> Vec<u8> {
    let (status, _) = admin.post("/api/v1/exports/code", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let code = emailed_code(db).await;
    let (status, export) = admin
        .post("/api/v1/exports", json!({ "format": "csv", "code": code }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{export}");
    let export_id = id(&export);
    assert_eq!(finished(admin, &export_id).await["status"], "done");
    let (status, _, zip) = download(admin, &export_id).await;
    assert_eq!(status, StatusCode::OK);
    zip
}

async fn download(admin: &Api<'_>, id: &str) -> (StatusCode, String, Vec<u8>) {
    let response = admin
        .app
        .client
        .get(
            admin
                .app
                .workspace_url(admin.slug, &format!("/api/v1/exports/{id}/file")),
        )
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn an_admin_exports_the_workspace_with_a_code_and_the_zip_holds_every_field() {
    let (app, db) = TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    let admin = Api::sign_in(&app, "acme", "admin").await;
    for (entity, label, kind, options) in [
        ("organization", "Region", "text", json!([])),
        ("contact", "Tier", "select", json!(["Gold", "Silver"])),
        ("contact", "Seats", "number", json!([])),
        ("contact", "Renewal", "date", json!([])),
    ] {
        let (status, body) = admin
            .post(
                "/api/v1/custom-fields",
                json!({ "entity": entity, "label": label, "kind": kind, "options": options }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, parent) = admin
        .post(
            "/api/v1/organizations",
            json!({ "name": "Initech Holdings" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{parent}");
    let (status, organization) = admin
        .post(
            "/api/v1/organizations",
            json!({ "name": "Initech, \"Software\"", "industry": "Software", "size_band": "51-200",
                    "location": "Austin", "website": "https://initech.example",
                    "parent_id": id(&parent), "custom_fields": { "region": "South" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{organization}");
    let rep = user_id(&db, "rep@acme.example").await;
    let (status, contact) = admin
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.example",
                    "phone": "+1 512 555 0100", "title": "Programmer\nTPS reports",
                    "organization_id": id(&organization), "assigned_to": rep,
                    "custom_fields": { "tier": "Gold", "seats": 12.5, "renewal": "2027-03-31" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");

    // Another workspace's contact, which acme's export must not hold.
    let globex = Api::sign_in(&app, "globex", "admin").await;
    let (status, theirs) = globex
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Hank", "last_name": "Scorpio" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");

    // Without a code: refused, nothing queued.
    let (status, problem) = admin
        .post(
            "/api/v1/exports",
            json!({ "format": "csv", "code": "000000" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(audited(&db, "workspace.export_started").await, 0);
    let (status, _) = admin.post("/api/v1/exports/code", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let code = emailed_code(&db).await;
    let (status, export) = admin
        .post("/api/v1/exports", json!({ "format": "csv", "code": code }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{export}");
    let export_id = id(&export);

    let export = finished(&admin, &export_id).await;
    assert_eq!(export["status"], "done", "{export}");
    // The code worked once.
    let (status, _) = admin
        .post("/api/v1/exports", json!({ "format": "csv", "code": code }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(export["records_done"], export["records_total"]);
    assert!(export["expires_at"].is_string());
    // The page shows it with its download link.
    let page = Member::sign_in(&app, "acme", "admin@acme.example")
        .await
        .ok_page("/settings/export")
        .await;
    assert!(
        page.contains(&format!("/settings/export/{export_id}/download")),
        "{page}"
    );

    let (status, kind, zip) = download(&admin, &export_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/zip");
    assert_eq!(audited(&db, "workspace.export_started").await, 1);
    assert_eq!(audited(&db, "workspace.export_downloaded").await, 1);
    let files = csv_files(&zip);
    for name in [
        "organizations.csv",
        "contacts.csv",
        "deals.csv",
        "deal_line_items.csv",
        "products.csv",
        "activities.csv",
        "follow_ups.csv",
    ] {
        assert!(files.contains_key(name), "{name} is missing");
    }

    let (header, organizations) = &files["organizations.csv"];
    assert_eq!(
        header,
        &[
            "id",
            "name",
            "industry",
            "size",
            "location",
            "website",
            "parent",
            "created_at",
            "updated_at",
            "custom:region",
        ]
    );
    let row = organizations
        .iter()
        .find(|row| row["id"] == export_field(&organization, "id"))
        .expect("the organization is exported");
    for (column, value) in [
        ("name", "Initech, \"Software\""),
        ("industry", "Software"),
        ("size", "51-200"),
        ("location", "Austin"),
        ("website", "https://initech.example/"),
        ("parent", "Initech Holdings"),
        ("custom:region", "South"),
    ] {
        assert_eq!(row[column], value, "organizations.csv {column}");
    }
    assert!(row["created_at"].ends_with('Z') && !row["updated_at"].is_empty());

    let (header, contacts) = &files["contacts.csv"];
    assert_eq!(
        header,
        &[
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "organization",
            "owner_email",
            "created_at",
            "updated_at",
            "custom:tier",
            "custom:seats",
            "custom:renewal",
        ]
    );
    let row = contacts
        .iter()
        .find(|row| row["id"] == export_field(&contact, "id"))
        .expect("the contact is exported");
    for (column, value) in [
        ("first_name", "Peter"),
        ("last_name", "Gibbons"),
        ("email", "peter@initech.example"),
        ("phone", "+1 512 555 0100"),
        ("title", "Programmer\nTPS reports"),
        ("organization", "Initech, \"Software\""),
        ("owner_email", "rep@acme.example"),
        ("custom:tier", "Gold"),
        ("custom:seats", "12.5"),
        ("custom:renewal", "2027-03-31"),
    ] {
        assert_eq!(row[column], value, "contacts.csv {column}");
    }
    // The rep's contacts and everyone else's: an admin's export holds every live contact.
    let live: i64 = sqlx::query_scalar(
        "select count(*) from contacts c join tenants t on t.id = c.tenant_id
         where t.slug = 'acme' and c.deleted_at is null",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(contacts.len() as i64, live);
    assert!(contacts
        .iter()
        .all(|row| row["id"] != export_field(&theirs, "id")));

    // JSON lines: one object per record, each naming its type.
    let (_, _) = admin.post("/api/v1/exports/code", json!({})).await;
    let code = emailed_code(&db).await;
    let (status, export) = admin
        .post(
            "/api/v1/exports",
            json!({ "format": "jsonl", "code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{export}");
    let export_id = id(&export);
    assert_eq!(finished(&admin, &export_id).await["status"], "done");
    let (status, kind, lines) = download(&admin, &export_id).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::OK, "application/jsonl")
    );
    let text = String::from_utf8(lines).unwrap();
    let peter = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|record| record["record_type"] == "contacts" && record["id"] == contact["id"])
        .expect("the contact is a line");
    assert_eq!(peter["custom:tier"], "Gold");
    assert!(
        !text.contains(&export_field(&theirs, "id")),
        "globex's contact is not in acme's export"
    );
    assert_eq!(peter["organization"], "Initech, \"Software\"");
}

fn export_field(record: &Value, field: &str) -> String {
    record[field].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn managers_and_reps_cannot_export() {
    let (app, db) = TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    for who in ["manager", "rep"] {
        let api = Api::sign_in(&app, "acme", who).await;
        for (method, path) in [
            (Method::GET, "/api/v1/exports"),
            (Method::POST, "/api/v1/exports/code"),
        ] {
            let (status, _) = api.call(method, path, Some(json!({}))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {path}");
        }
        let (status, _) = api
            .post(
                "/api/v1/exports",
                json!({ "format": "csv", "code": "123456" }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} starts an export");
        let member = Member::sign_in(&app, "acme", &format!("{who}@acme.example")).await;
        let (status, _) = member.page("/settings/export").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} opens the page");
        let response = member
            .submit("/settings/export", &[("format", "csv"), ("code", "123456")])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who} submits");
    }
    let exports: i64 = sqlx::query_scalar("select count(*) from exports")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(exports, 0);
    let codes: i64 = sqlx::query_scalar("select count(*) from step_up_codes")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(codes, 0, "no code was issued to them");
}

/// An export of acme's admin as the owner writes it: `status`, a lease, and a chunk.
async fn plant_export(db: &TestDatabase, status: &str, attempts: i32, expires: &str) -> String {
    let admin = user_id(db, "admin@acme.example").await;
    let id: uuid::Uuid = sqlx::query_scalar(&format!(
        "insert into exports (tenant_id, format, status, requested_by, attempts, lease_until,
                              records_done, bytes, started_at, finished_at, expires_at)
         select id, 'csv', '{status}', $1, {attempts}, now() - interval '1 minute', 7, 11,
                now() - interval '5 minutes', {finished}, {expires}
         from tenants where slug = 'acme'
         returning id",
        finished = if status == "done" {
            "now() - interval '2 days'"
        } else {
            "null"
        },
    ))
    .bind(admin)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    sqlx::query(
        "insert into export_chunks (tenant_id, export_id, seq, data)
         select tenant_id, id, 0, 'half a zip' from exports where id = $1",
    )
    .bind(id)
    .execute(&db.owner)
    .await
    .unwrap();
    id.to_string()
}

#[tokio::test]
async fn an_export_left_running_by_a_dead_server_is_taken_up_again() {
    let db = demo_database().await;
    // A server died while writing it: its lease ran out a minute ago, half a file is stored.
    let export_id = plant_export(&db, "running", 1, "null").await;
    let app = TestApp::builder().serve(db.app.clone()).await;
    let admin = Api::sign_in(&app, "acme", "admin").await;
    let export = finished(&admin, &export_id).await;
    assert_eq!(export["status"], "done", "{export}");
    let attempts: i32 = sqlx::query_scalar("select attempts from exports where id = $1::uuid")
        .bind(&export_id)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(attempts, 2, "claimed once more");
    let (status, _, zip) = download(&admin, &export_id).await;
    assert_eq!(status, StatusCode::OK);
    // The dead run's half file is gone: what downloads is a whole zip.
    let files = csv_files(&zip);
    assert_eq!(files.len(), 7, "every record type's file");
    assert_eq!(
        files["contacts.csv"].0[..3],
        ["id", "first_name", "last_name"]
    );
}

#[tokio::test]
async fn an_expired_export_answers_410_with_a_page_that_says_so() {
    let db = demo_database().await;
    let export_id = plant_export(&db, "done", 1, "now() - interval '1 hour'").await;
    let app = TestApp::builder().serve(db.app.clone()).await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let response = admin
        .browser
        .get(admin.url(&format!("/settings/export/{export_id}/download")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let page = response.text().await.unwrap();
    assert!(page.contains("This export has expired"), "{page}");
    assert!(page.contains("Start a new export"), "{page}");
    let api = Api::sign_in(&app, "acme", "admin").await;
    let (status, problem) = api.get(&format!("/api/v1/exports/{export_id}/file")).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(problem["code"], "export_expired");
    // The worker deletes the file and marks the export expired; the page says so.
    let started = Instant::now();
    loop {
        let chunks: i64 =
            sqlx::query_scalar("select count(*) from export_chunks where export_id = $1::uuid")
                .bind(&export_id)
                .fetch_one(&db.owner)
                .await
                .unwrap();
        if chunks == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the file was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, export) = api.get(&format!("/api/v1/exports/{export_id}")).await;
    assert_eq!(export["status"], "expired");
    let page = admin.ok_page("/settings/export").await;
    assert!(page.contains("Expired: the file was deleted"), "{page}");
}
