//! The import scenario (issue 15): a manager of the large workspace uploads a CSV file of new
//! contacts over HTTP (export-shaped: names, email, phone, title, organization by name, owner
//! by email), starts the import with duplicates skipped, and polls its progress fragment as the
//! page does until the server's worker has finished it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use uuid::Uuid;

use crate::scenarios::{Http, Role};

pub struct Measured {
    pub rows: usize,
    pub bytes: usize,
    /// Upload, decoding, mapping and storing the file: the upload's answer.
    pub upload: Duration,
    /// The preview page (the whole file planned, the first rows shown).
    pub preview: Duration,
    /// From the start to the worker's commit, as the polling page sees it.
    pub import: Duration,
}

const BOUNDARY: &str = "aura-bench-import";

pub async fn run(http: &Http, rows: usize) -> anyhow::Result<Measured> {
    let manager = http.session(Role::Manager, 0);
    let owner = &http.members[&Role::Rep][0].email;
    let run = Uuid::new_v4().simple().to_string();
    let mut file = String::from(
        "id,first_name,last_name,email,phone,title,organization,owner_email,created_at,updated_at\n",
    );
    for i in 0..rows {
        file.push_str(&format!(
            ",Imported{i},Person{i},imported{i}.{run}@bench.example,+1 555 {:04} {:03},Buyer,,{owner},,\n",
            i % 10_000,
            i % 1000
        ));
    }
    let page = manager
        .get(http.url("/imports"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the imports page's CSRF token")?
        .to_owned();
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"entity\"\r\n\r\ncontact\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file.as_bytes());
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let bytes = file.len();

    let started = Instant::now();
    let uploaded = manager
        .post(http.url("/imports"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await?;
    let upload = started.elapsed();
    let path = uploaded
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .with_context(|| format!("the upload was refused: {}", uploaded.status()))?
        .to_owned();

    let started = Instant::now();
    let preview_page = manager.get(http.url(&path)).send().await?.text().await?;
    let preview = started.elapsed();
    if !preview_page.contains(&format!("<strong>{rows}</strong> would be created")) {
        bail!("the preview does not create every row");
    }

    let started = Instant::now();
    let start = manager
        .post(http.url(&format!("{path}/start")))
        .form(&[("csrf_token", csrf.as_str()), ("duplicates", "skip")])
        .send()
        .await?;
    if start.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("the import did not start: {}", start.status());
    }
    loop {
        let fragment = manager
            .get(http.url(&path))
            .header("HX-Request", "true")
            .send()
            .await?
            .text()
            .await?;
        if fragment.contains("Failed") {
            bail!("the import failed: {fragment}");
        }
        if !fragment.contains("every 1s") {
            if !fragment.contains(&format!("id=\"count-created\">{rows}<")) {
                bail!("the import did not create every row: {fragment}");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Measured {
        rows,
        bytes,
        upload,
        preview,
        import: started.elapsed(),
    })
}

/// The section of BENCHMARKS.md.
pub fn print(measured: &Measured) {
    println!("### Import of {} contacts (issue 15)", measured.rows);
    println!();
    println!(
        "A {:.1} MB CSV file uploaded over HTTP by a manager of the large workspace, every row \
         a new contact assigned to a rep by email; the worker in the server writes it in \
         batches of 1,000 rows (one `unnest` insert each) in one transaction, with the \
         database's audit trigger writing an entry per contact.",
        measured.bytes as f64 / 1_000_000.0
    );
    println!();
    println!("| step | time |");
    println!("| --- | ---: |");
    println!(
        "| upload (decode, detect, store) | {:.2} s |",
        measured.upload.as_secs_f64()
    );
    println!(
        "| preview (plan all rows, show 20) | {:.2} s |",
        measured.preview.as_secs_f64()
    );
    println!(
        "| import, start to finished (page polled every 100 ms) | {:.2} s |",
        measured.import.as_secs_f64()
    );
}
