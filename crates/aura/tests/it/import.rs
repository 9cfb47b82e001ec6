//! CSV import (issue 15) over real HTTP against real PostgreSQL: upload, mapping (automatic and
//! remembered), preview with each row's problems, duplicates skipped or updated, the background
//! job to its end with progress, its audit entry and the rejected rows' report; a failing
//! import leaves nothing; a semicolon-separated Latin-1 file; a rep is refused; an import
//! whose server died is taken over. The files are written in the export's format (the CSV
//! contract shared with export), so a round trip keeps every field.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aura_platform::db::testing::TestDatabase;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::export::{csv_files, export_acme, zip_entry, CsvFile};
use crate::helpers::{
    audit_changes_on, id, location, unreachable_mail_server, user_id, Api, Member, TestApp,
};

const BOUNDARY: &str = "aura-import-test-boundary";

/// A multipart body as a browser sends the upload form.
fn multipart(
    member: &Member<'_>,
    entity: &str,
    encoding: &str,
    name: &str,
    file: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        ("csrf_token", member.csrf.as_str()),
        ("entity", entity),
        ("encoding", encoding),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_upload(member: &Member<'_>, body: Vec<u8>) -> reqwest::Response {
    member
        .browser
        .post(member.url("/imports"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Uploads a file and returns the new import's path.
async fn upload(
    member: &Member<'_>,
    entity: &str,
    encoding: &str,
    name: &str,
    file: &[u8],
) -> String {
    let response = post_upload(member, multipart(member, entity, encoding, name, file)).await;
    let status = response.status();
    if status != StatusCode::SEE_OTHER {
        panic!(
            "not uploaded ({status}): {}",
            response.text().await.unwrap()
        );
    }
    let path = location(&response);
    assert!(path.starts_with("/imports/"), "{path}");
    path
}

/// Starts the import and waits, polling its progress fragment as the page does, until it ends;
/// answers the fragment.
async fn run(member: &Member<'_>, path: &str, duplicates: &str) -> String {
    let started = member
        .submit(&format!("{path}/start"), &[("duplicates", duplicates)])
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    wait_for_end(member, path).await
}

async fn wait_for_end(member: &Member<'_>, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fragment = member
            .browser
            .get(member.url(path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(fragment.contains("id=\"import-progress\""), "{fragment}");
        if !fragment.contains("hx-trigger=\"every 1s\"") {
            return fragment;
        }
        assert!(
            Instant::now() < deadline,
            "the import never ended: {fragment}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn count(fragment: &str, id: &str) -> i64 {
    let marker = format!("id=\"count-{id}\">");
    fragment
        .split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {id} count in {fragment}"))
}

async fn audited_counts(db: &TestDatabase, path: &str) -> Value {
    let id = path.trim_start_matches("/imports/");
    audit_changes_on(db, "import.finished", id)
        .await
        .remove(0)
        .1
}

const ORGANIZATIONS_CSV: &str = "\
id,name,industry,size,location,website,parent,created_at,updated_at
6d6f0a4e-0000-4000-8000-000000000001,Initech Labs,Research,11-50,Austin,initech.example/labs,Initech,2026-01-02T03:04:05Z,2026-01-02T03:04:05Z
6d6f0a4e-0000-4000-8000-000000000002,Initech,Software,201-500,\"Austin, TX\",https://initech.example/,,2026-01-02T03:04:05Z,2026-01-02T03:04:05Z
6d6f0a4e-0000-4000-8000-000000000003,Bad Size Inc,,huge,,,,2026-01-02T03:04:05Z,2026-01-02T03:04:05Z
";

#[tokio::test]
async fn an_export_shaped_file_round_trips_with_preview_duplicates_audit_and_a_report() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    // A custom contact field, headed `custom:tier` in an export.
    let defined = admin
        .submit(
            "/settings/fields",
            &[
                ("entity", "contact"),
                ("label", "Tier"),
                ("key", "tier"),
                ("kind", "select"),
                ("options", "Gold\nSilver"),
            ],
        )
        .await;
    assert_eq!(defined.status(), StatusCode::SEE_OTHER);

    // Organizations first: the subsidiary comes before its parent in the file.
    let path = upload(
        &manager,
        "organization",
        "",
        "organizations.csv",
        ORGANIZATIONS_CSV.as_bytes(),
    )
    .await;
    let page = manager.ok_page(&path).await;
    assert!(page.contains("3 rows of organizations"), "{page}");
    assert!(
        page.contains("<option value=\"name\" selected>"),
        "name is mapped"
    );
    assert!(
        page.contains("<option value=\"parent\" selected>"),
        "parent is mapped"
    );
    assert!(
        page.contains("Choose one of the listed sizes."),
        "the bad size is named"
    );
    let done = run(&manager, &path, "skip").await;
    assert!(done.contains("Finished"), "{done}");
    assert_eq!(count(&done, "created"), 2);
    assert_eq!(count(&done, "rejected"), 1);
    let (parent, website, location): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "select p.name, o.website, o.location from organizations o
             left join organizations p on p.id = o.parent_id
             where o.name = 'Initech Labs'",
        )
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(parent.as_deref(), Some("Initech"));
    assert_eq!(website.as_deref(), Some("https://initech.example/labs"));
    assert_eq!(location.as_deref(), Some("Austin"));

    // A contact that the file duplicates.
    manager
        .create(
            "/contacts",
            &[
                ("first_name", "Peter"),
                ("last_name", "Old"),
                ("email", "peter@initech.example"),
            ],
        )
        .await;
    let contacts = "\
id,first_name,last_name,email,phone,title,organization,owner_email,custom:tier,created_at,updated_at
,Peter,Gibbons,PETER@initech.example,+1 512 555 0100,Engineer,Initech,rep@acme.example,Gold,,
,Samir,Nagheenanajar,samir@initech.example,555-0101,Engineer,initech labs,,Silver,,
,Michael,Bolton,not-an-email,,,Initech,,,,
,Milton,Waddams,milton@initech.example,,,Nowhere Corp,nobody@acme.example,Bronze,,
,Bill,Lumbergh,samir@initech.example,,,,,,,
";
    let path = upload(&manager, "contact", "", "contacts.csv", contacts.as_bytes()).await;
    let page = manager.ok_page(&path).await;
    assert!(
        page.contains("<option value=\"custom:tier\" selected>"),
        "custom field mapped"
    );
    assert!(page.contains("<option value=\"owner_email\" selected>"));
    assert!(
        page.contains("<strong>1</strong> would be created")
            && page.contains("<strong>1</strong> are duplicates")
            && page.contains("<strong>3</strong> would be rejected"),
        "{page}"
    );
    for message in [
        "“not-an-email” is not an email address",
        "No organization named “Nowhere Corp”",
        "No active member of this workspace has the email “nobody@acme.example”.",
        "Tier must be one of: Gold, Silver.",
        "Row 2 of the file has the same email.",
    ] {
        assert!(page.contains(message), "{message}");
    }

    // Leaving the title out is remembered for the next file with the same headers.
    let mut mapping: Vec<(String, String)> = [
        "",
        "first_name",
        "last_name",
        "email",
        "phone",
        "",
        "organization",
        "owner_email",
        "custom:tier",
        "",
        "",
    ]
    .iter()
    .enumerate()
    .map(|(i, key)| (format!("column_{i}"), key.to_string()))
    .collect();
    let form: Vec<(&str, &str)> = mapping
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let saved = manager.submit(&format!("{path}/mapping"), &form).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    // Two columns to one field is refused, naming the column.
    mapping[5].1 = "email".into();
    let form: Vec<(&str, &str)> = mapping
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let refused = manager.submit(&format!("{path}/mapping"), &form).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Another column already goes to this field."));

    // Skip: the existing contact is left as it is.
    let done = run(&manager, &path, "skip").await;
    assert_eq!(
        (
            count(&done, "created"),
            count(&done, "updated"),
            count(&done, "duplicates"),
            count(&done, "rejected")
        ),
        (1, 0, 1, 3)
    );
    let last: String =
        sqlx::query_scalar("select last_name from contacts where email = 'peter@initech.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(last, "Old");
    let samir: (Option<String>, Option<String>, Value, String, String) = sqlx::query_as(
        "select c.phone, c.title, c.custom_fields, o.name, u.email from contacts c
         join organizations o on o.id = c.organization_id join users u on u.id = c.assigned_to
         where c.email = 'samir@initech.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(samir.0.as_deref(), Some("555-0101"));
    assert_eq!(samir.1, None, "the title column was left out");
    assert_eq!(samir.2, serde_json::json!({ "tier": "Silver" }));
    assert_eq!(samir.3, "Initech Labs");
    assert_eq!(
        samir.4, "manager@acme.example",
        "no owner column: the importer"
    );
    assert_eq!(
        audited_counts(&db, &path).await,
        serde_json::json!({ "entity": "contact", "rows": 5, "created": 1, "updated": 0,
                            "duplicates": 1, "duplicates_were": "skip", "rejected": 3 })
    );

    // The rejected rows, as they were, with the reason.
    let report = manager
        .browser
        .get(manager.url(&format!("{path}/rejected.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), StatusCode::OK);
    assert!(report.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let report = report.text().await.unwrap();
    let mut lines = report.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with(",custom:tier,created_at,updated_at,reason"));
    assert_eq!(report.lines().count(), 4, "{report}");
    assert!(report.contains(",Michael,Bolton,not-an-email,"));
    assert!(report.contains("is not an email address"));

    // The same headers again: the remembered mapping; update the duplicate this time.
    let path = upload(
        &manager,
        "contact",
        "",
        "contacts-again.csv",
        contacts.as_bytes(),
    )
    .await;
    let page = manager.ok_page(&path).await;
    assert!(
        page.contains("<label for=\"column_5\">Column “title”</label>")
            && !page.contains("<option value=\"title\" selected>"),
        "the remembered mapping leaves the title out"
    );
    let done = run(&manager, &path, "update").await;
    assert_eq!((count(&done, "created"), count(&done, "updated")), (0, 2));
    let peter: (String, Option<String>, Value, i64) = sqlx::query_as(
        "select c.last_name, c.phone, c.custom_fields, c.version from contacts c
         where c.email ilike 'peter@initech.example' and c.deleted_at is null",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(peter.0, "Gibbons");
    assert_eq!(peter.1.as_deref(), Some("+1 512 555 0100"));
    assert_eq!(peter.2, serde_json::json!({ "tier": "Gold" }));
    assert_eq!(peter.3, 2);
    // The file is gone once the import has run.
    let files: i64 = sqlx::query_scalar("select count(*) from imports where content is not null")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(files, 0);
    // The list shows them.
    let list = manager.ok_page("/imports").await;
    assert!(list.contains("contacts-again.csv") && list.contains("organizations.csv"));
}

/// The round trip: acme is exported, its live contacts and organizations are moved out
/// of the way (deleted, as the trash does), the export's own `organizations.csv` and
/// `contacts.csv` are imported back through the pages, and a second export holds the same rows
/// field for field: only ids and times are new.
#[tokio::test]
async fn an_exported_workspace_imports_back_with_every_field() {
    let (app, db) = TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    let api = Api::sign_in(&app, "acme", "admin").await;
    for (entity, label, kind, options) in [
        ("organization", "Region", "text", json!([])),
        ("organization", "Portal", "url", json!([])),
        ("contact", "Tier", "select", json!(["Gold", "Silver"])),
        ("contact", "Seats", "number", json!([])),
        ("contact", "Renewal", "date", json!([])),
    ] {
        let (status, body) = api
            .post(
                "/api/v1/custom-fields",
                json!({ "entity": entity, "label": label, "kind": kind, "options": options }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Records that fill every field, with text a CSV must quote, and records that leave most
    // of them empty, owned by different members.
    let (status, parent) = api
        .post(
            "/api/v1/organizations",
            json!({ "name": "Initech Holdings" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{parent}");
    let (status, organization) = api
        .post(
            "/api/v1/organizations",
            json!({ "name": "Initech, \"Software\"", "industry": "Software", "size_band": "51-200",
                    "location": "Austin; TX", "website": "https://initech.example",
                    "parent_id": id(&parent),
                    "custom_fields": { "region": "South", "portal": "https://portal.initech.example/" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{organization}");
    let (status, other) = api
        .post(
            "/api/v1/organizations",
            json!({ "name": "Umbrella Über GmbH", "size_band": "1001-5000", "location": "Köln",
                    "custom_fields": { "region": "EMEA" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let rep = user_id(&db, "rep@acme.example").await;
    let manager = user_id(&db, "manager@acme.example").await;
    for contact in [
        json!({ "first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.example",
                "phone": "+1 512 555 0100", "title": "Programmer\nTPS reports",
                "organization_id": id(&organization), "assigned_to": rep,
                "custom_fields": { "tier": "Gold", "seats": 12.5, "renewal": "2027-03-31" } }),
        json!({ "first_name": "Mörän", "last_name": "O'Brien, Jr.", "email": "moran@umbrella.example",
                "organization_id": id(&other), "assigned_to": manager,
                "custom_fields": { "tier": "Silver", "seats": 3 } }),
        json!({ "first_name": "Sam", "title": "\"Head\" of things" }),
    ] {
        let (status, created) = api.post("/api/v1/contacts", contact).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }

    let before = export_acme(&api, &db).await;
    for table in ["contacts", "organizations"] {
        sqlx::query(&format!(
            "update {table} set deleted_at = now()
             where deleted_at is null and tenant_id = (select id from tenants where slug = 'acme')"
        ))
        .execute(&db.owner)
        .await
        .unwrap();
    }

    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    for (entity, file) in [
        ("organization", "organizations.csv"),
        ("contact", "contacts.csv"),
    ] {
        let rows = csv_files(&before)[file].1.len() as i64;
        let path = upload(&admin, entity, "", file, &zip_entry(&before, file)).await;
        let done = run(&admin, &path, "skip").await;
        assert!(done.contains("Finished"), "{done}");
        assert_eq!(count(&done, "created"), rows, "{file}: {done}");
        assert_eq!(count(&done, "rejected"), 0, "{file}: {done}");
    }

    let after = export_acme(&api, &db).await;
    let (before, after) = (csv_files(&before), csv_files(&after));
    for file in ["organizations.csv", "contacts.csv"] {
        assert_eq!(before[file].0, after[file].0, "{file}: the same columns");
        let rows = |files: &HashMap<String, CsvFile>| {
            let mut rows: Vec<Vec<(String, String)>> = files[file]
                .1
                .iter()
                .map(|row| {
                    let mut fields: Vec<(String, String)> = row
                        .iter()
                        .filter(|(column, _)| {
                            !["id", "created_at", "updated_at"].contains(&column.as_str())
                        })
                        .map(|(column, value)| (column.clone(), value.clone()))
                        .collect();
                    fields.sort();
                    fields
                })
                .collect();
            rows.sort();
            rows
        };
        let (was, is) = (rows(&before), rows(&after));
        assert_eq!(was.len(), 3, "{file}: {was:?}");
        assert_eq!(was, is, "{file}: every field of every row came back");
        let old_ids: HashSet<&String> = before[file].1.iter().map(|row| &row["id"]).collect();
        assert!(
            after[file]
                .1
                .iter()
                .all(|row| !old_ids.contains(&row["id"])),
            "{file}: the rows are new records"
        );
    }
}

#[tokio::test]
async fn a_failing_import_leaves_nothing_and_says_so() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    // A database refusal the forms cannot foresee, on the last of 2,500 rows (three batches).
    sqlx::raw_sql(
        "create function refuse_boom() returns trigger language plpgsql as $$
         begin
             if new.first_name = 'Boom' then raise exception 'refused'; end if;
             return new;
         end $$;
         create trigger refuse_boom before insert on contacts
             for each row execute function refuse_boom();",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let mut file = String::from("first_name,email\n");
    for i in 0..2499 {
        file.push_str(&format!("Person{i},person{i}@bulk.example\n"));
    }
    file.push_str("Boom,boom@bulk.example\n");
    let path = upload(&manager, "contact", "", "bulk.csv", file.as_bytes()).await;
    let done = run(&manager, &path, "skip").await;
    assert!(done.contains("Failed"), "{done}");
    assert!(done.contains("nothing was imported"), "{done}");
    assert!(
        !done.contains("refused"),
        "no database detail reaches the page"
    );
    let imported: i64 =
        sqlx::query_scalar("select count(*) from contacts where email like '%@bulk.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(imported, 0);
    let (processed, file_kept): (i32, bool) =
        sqlx::query_as("select processed_rows, content is not null from imports")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(processed, 2000, "progress was reported batch by batch");
    assert!(!file_kept);
}

#[tokio::test]
async fn a_semicolon_separated_latin1_file_is_read_as_such() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    // Windows-1252 bytes: é is E9, ü is FC; a BOM-less file with semicolons.
    let file: &[u8] = b"Vorname;Nachname;E-Mail;Position\r\nJos\xE9;M\xFCller;jose@latin.example;Gesch\xE4ftsf\xFChrer\r\n";
    let path = upload(&manager, "contact", "", "latin1.csv", file).await;
    let page = manager.ok_page(&path).await;
    assert!(
        page.contains("read as windows-1252 with a semicolon between fields"),
        "{page}"
    );
    // German headers map by hand.
    let saved = manager
        .submit(
            &format!("{path}/mapping"),
            &[
                ("column_0", "first_name"),
                ("column_1", "last_name"),
                ("column_2", "email"),
                ("column_3", "title"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let done = run(&manager, &path, "skip").await;
    assert_eq!(count(&done, "created"), 1);
    let (first, last, title): (String, String, String) = sqlx::query_as(
        "select first_name, last_name, title from contacts where email = 'jose@latin.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        (first.as_str(), last.as_str(), title.as_str()),
        ("José", "Müller", "Geschäftsführer")
    );

    // Chosen rather than detected, and a file too large for the limit is refused by name.
    let utf16: Vec<u8> = "first_name\tlast_name\nZoë\tÅberg\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let path = upload(&manager, "contact", "UTF-16LE", "utf16.tsv", &utf16).await;
    assert!(manager
        .ok_page(&path)
        .await
        .contains("read as UTF-16LE with a tab between fields"));
    let huge = vec![b'a'; 20 * 1024 * 1024 + 1];
    let refused = post_upload(
        &manager,
        multipart(&manager, "contact", "", "huge.csv", &huge),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("The file is larger than 20 MB"));
}

#[tokio::test]
async fn a_rep_may_not_import() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (status, _) = rep.page("/imports").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = post_upload(
        &rep,
        multipart(&rep, "contact", "", "c.csv", b"first_name\nAda\n"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let contacts = rep.ok_page("/contacts").await;
    assert!(!contacts.contains("href=\"/imports\""), "no link offered");
    // Another workspace's member cannot see an acme import either.
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let path = upload(&manager, "contact", "", "c.csv", b"first_name\nAda\n").await;
    let globex = Member::sign_in(&app, "globex", "manager@globex.example").await;
    let (status, _) = globex.page(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_import_whose_server_died_is_taken_over_and_finished() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let path = upload(
        &manager,
        "contact",
        "",
        "c.csv",
        b"first_name,email\nAda,ada@taken-over.example\n",
    )
    .await;
    // As if a server claimed it, got half-way and died: its claim has lapsed.
    sqlx::query(
        "update imports set status = 'running', processed_rows = 1,
                            claimed_until = now() - interval '1 minute'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let done = wait_for_end(&manager, &path).await;
    assert!(done.contains("Finished"), "{done}");
    assert_eq!(count(&done, "created"), 1);
    let imported: i64 =
        sqlx::query_scalar("select count(*) from contacts where email = 'ada@taken-over.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(imported, 1);
}

/// A deals file as an export writes `deals.csv` (its columns, its custom field column), plus
/// the import's `contact_email`: two good rows, and one bad row of each kind a deal import
/// finds (an unknown stage, a stage of another process, an unknown process, an unknown owner,
/// an amount that is not one, a lost deal without its reason).
const DEALS_CSV: &str = "\
id,name,amount,process,stage,outcome,probability,expected_close_date,organization,owner_email,notes,closed_at,lost_reason,created_at,updated_at,custom:region,contact_email
7d6f0a4e-0000-4000-8000-000000000001,Initech rollout,1250.50,Sales,Proposal,open,,2026-06-30,Initech Deals Co,rep@acme.example,Kick-off in June,,,2026-01-02T03:04:05Z,2026-01-02T03:04:05Z,EMEA,ada@deals.example
7d6f0a4e-0000-4000-8000-000000000002,Partner pilot won,300,partners,won,won,100,,,,,2026-01-03T03:04:05Z,,2026-01-02T03:04:05Z,2026-01-02T03:04:05Z,,
7d6f0a4e-0000-4000-8000-000000000003,Unknown stage deal,10,Sales,Discovery,open,,,,,,,,,,,
7d6f0a4e-0000-4000-8000-000000000004,Other process stage deal,10,Sales,Pilot,open,,,,,,,,,,,
7d6f0a4e-0000-4000-8000-000000000005,Unknown process deal,10,Nowhere,Proposal,open,,,,,,,,,,,
7d6f0a4e-0000-4000-8000-000000000006,Unknown owner deal,10,Sales,Proposal,open,,,,nobody@acme.example,,,,,,,
7d6f0a4e-0000-4000-8000-000000000007,Bad amount deal,lots,Sales,Proposal,open,,,,,,,,,,,
7d6f0a4e-0000-4000-8000-000000000008,Lost without reason deal,10,Sales,Lost,lost,0,,,,,2026-01-03T03:04:05Z,,,,,
";

#[tokio::test]
async fn an_export_shaped_deals_file_imports_into_its_processes_and_stages() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    // The test platform has no process: "Sales" (the default, the first) and "Partners", each
    // with the default stages; Partners also has a stage Sales lacks. And a custom deal field.
    let mut process = String::new();
    for name in ["Sales", "Partners"] {
        let created = admin
            .submit(
                "/settings/processes",
                &[("name", name), ("description", "")],
            )
            .await;
        process = location(&created)
            .trim_start_matches("/settings/processes/")
            .split(['?', '#'])
            .next()
            .unwrap()
            .to_owned();
    }
    let added = admin
        .submit(
            &format!("/settings/processes/{process}/stages"),
            &[
                ("name", "Pilot"),
                ("outcome", "open"),
                ("win_probability", "30"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let defined = admin
        .submit(
            "/settings/fields",
            &[
                ("entity", "deal"),
                ("label", "Region"),
                ("key", "region"),
                ("kind", "text"),
                ("options", ""),
            ],
        )
        .await;
    assert_eq!(defined.status(), StatusCode::SEE_OTHER);
    manager
        .create("/organizations", &[("name", "Initech Deals Co")])
        .await;
    manager
        .create(
            "/contacts",
            &[
                ("first_name", "Ada"),
                ("last_name", "Lovelace"),
                ("email", "ada@deals.example"),
            ],
        )
        .await;

    // The upload form offers deals, and says what they need first.
    let list = manager.ok_page("/imports").await;
    assert!(list.contains("<option value=\"deal\""), "{list}");
    assert!(list.contains("sales processes and stages that must exist first"));

    let path = upload(&manager, "deal", "", "deals.csv", DEALS_CSV.as_bytes()).await;
    let page = manager.ok_page(&path).await;
    assert!(page.contains("8 rows of deals"), "{page}");
    for key in [
        "name",
        "amount",
        "process",
        "stage",
        "probability",
        "expected_close_date",
        "organization",
        "owner_email",
        "notes",
        "lost_reason",
        "custom:region",
        "contact_email",
    ] {
        assert!(
            page.contains(&format!("<option value=\"{key}\" selected>")),
            "{key} is mapped"
        );
    }
    assert!(
        page.contains("<strong>2</strong> would be created")
            && page.contains("<strong>6</strong> would be rejected"),
        "{page}"
    );
    assert!(page.contains("every valid row creates a new deal"));
    assert!(
        !page.contains("value=\"update\""),
        "no duplicates choice for deals"
    );
    for message in [
        "The sales process “Sales” has no stage named “Discovery”.",
        "The sales process “Sales” has no stage named “Pilot”.",
        "No sales process named “Nowhere” takes new deals",
        "No active member of this workspace has the email “nobody@acme.example”.",
        "The amount “lots” is not a number",
        "Say why the deal was lost.",
    ] {
        assert!(page.contains(message), "{message}: {page}");
    }

    let done = run(&manager, &path, "skip").await;
    assert!(done.contains("Finished"), "{done}");
    assert_eq!((count(&done, "created"), count(&done, "rejected")), (2, 6));
    assert!(done.contains("href=\"/deals\""), "{done}");

    // The first deal: its process, stage, amount, owner, organization, contact, custom field.
    #[allow(clippy::type_complexity)]
    let rollout: (
        uuid::Uuid,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        Value,
        Option<String>,
    ) = sqlx::query_as(
        "select d.id, p.name, s.name, d.amount::numeric(14, 2)::text, d.probability::text, u.email, o.name,
                d.expected_close_date::text, d.custom_fields, d.notes
         from deals d
         join sales_processes p on p.id = d.process_id join deal_stages s on s.id = d.stage_id
         join users u on u.id = d.assigned_to
         left join organizations o on o.id = d.organization_id
         where d.name = 'Initech rollout'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        (
            rollout.1.as_str(),
            rollout.2.as_str(),
            rollout.3.as_str(),
            rollout.4.as_str(),
            rollout.5.as_str(),
            rollout.6.as_deref(),
            rollout.7.as_str(),
        ),
        (
            "Sales",
            "Proposal",
            "1250.50",
            "50.00",
            "rep@acme.example",
            Some("Initech Deals Co"),
            "2026-06-30",
        )
    );
    assert_eq!(rollout.8, serde_json::json!({ "region": "EMEA" }));
    assert_eq!(rollout.9.as_deref(), Some("Kick-off in June"));
    let (contact, deal_owner): (String, uuid::Uuid) = sqlx::query_as(
        "select c.email, dc.deal_owner from deal_contacts dc
         join contacts c on c.id = dc.contact_id where dc.deal_id = $1",
    )
    .bind(rollout.0)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(contact, "ada@deals.example");
    let rep: uuid::Uuid =
        sqlx::query_scalar("select id from users where email = 'rep@acme.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(deal_owner, rep, "the link carries the deal's owner");
    // As a deal created by its form: the stage history's first row and the audit entry.
    let history: i64 = sqlx::query_scalar(
        "select count(*) from deal_stage_history
         where deal_id = $1 and from_stage_id is null and to_stage_name = 'Proposal'",
    )
    .bind(rollout.0)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let audited = audit_changes_on(&db, "deal.created", &rollout.0.to_string())
        .await
        .into_iter()
        .filter(|(_, after)| after["name"] == "Initech rollout")
        .count();
    assert_eq!((history, audited), (1, 1));

    // The second: the other process's won stage, closed, the importer's.
    let won: (String, String, String, bool, String) = sqlx::query_as(
        "select p.name, d.outcome::text, d.probability::text, d.closed_at is not null, u.email
         from deals d join sales_processes p on p.id = d.process_id
         join users u on u.id = d.assigned_to where d.name = 'Partner pilot won'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        won,
        (
            "Partners".to_owned(),
            "won".to_owned(),
            "100.00".to_owned(),
            true,
            "manager@acme.example".to_owned()
        )
    );
    let bad: i64 = sqlx::query_scalar("select count(*) from deals where name like '% deal'")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(bad, 0, "no rejected row was written");
    assert_eq!(
        audited_counts(&db, &path).await,
        serde_json::json!({ "entity": "deal", "rows": 8, "created": 2, "updated": 0,
                            "duplicates": 0, "duplicates_were": "skip", "rejected": 6 })
    );

    // The rejected rows, as they were, with the reason.
    let report = manager
        .browser
        .get(manager.url(&format!("{path}/rejected.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report
        .lines()
        .next()
        .unwrap()
        .ends_with(",contact_email,reason"));
    assert_eq!(report.lines().count(), 7, "{report}");
    for name in [
        "Unknown stage deal",
        "Other process stage deal",
        "Unknown process deal",
        "Unknown owner deal",
        "Bad amount deal",
        "Lost without reason deal",
    ] {
        assert!(report.contains(name), "{name}: {report}");
    }
    assert!(report.contains("has no stage named “Pilot”"), "{report}");

    // A rep may not import deals.
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let refused = post_upload(
        &rep,
        multipart(&rep, "deal", "", "deals.csv", DEALS_CSV.as_bytes()),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (status, _) = rep.page(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
