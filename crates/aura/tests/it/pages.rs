//! The public pages of the apex domain and the assets they load.

use std::collections::BTreeSet;

use reqwest::header;

use crate::helpers::TestApp;

/// Every `href`/`src` that points into the site, from an HTML page.
fn local_links(html: &str) -> BTreeSet<String> {
    let mut links = BTreeSet::new();
    for attribute in ["href=\"", "src=\""] {
        for piece in html.split(attribute).skip(1) {
            let target = piece.split('"').next().unwrap_or_default();
            if target.starts_with('/') {
                links.insert(target.split('#').next().unwrap().to_owned());
            }
        }
    }
    links
}

#[tokio::test]
async fn public_pages_render_in_the_shell_and_every_link_on_them_resolves() {
    let (app, _db) = TestApp::builder().spawn().await;
    let mut links = BTreeSet::new();
    for (path, heading) in [
        ("/", "The CRM that keeps every deal moving"),
        ("/pricing", "<h1>Pricing</h1>"),
        ("/about", "<h1>About Aura</h1>"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(html.contains(heading), "{path} lacks {heading}");
        assert!(html.contains("<html lang=\"en\">") && html.contains("name=\"viewport\""));
        assert!(html.contains("href=\"#main\""), "{path}: no skip link");
        assert!(
            html.contains(&format!("href=\"{path}\" aria-current=\"page\"")),
            "{path}: its navigation entry is not marked current"
        );
        assert!(
            !html.contains("<script>") && !html.contains(" style="),
            "{path}: inline script or style breaks the CSP"
        );
        links.extend(local_links(&html));
    }
    assert!(links.iter().any(|l| l.ends_with(".js")) && links.iter().any(|l| l.ends_with(".css")));
    for link in links {
        let response = app.client.get(app.url(&link)).send().await.unwrap();
        assert_eq!(response.status(), 200, "broken link {link}");
    }
}

#[tokio::test]
async fn assets_are_served_with_their_type_and_cached_for_good() {
    let (app, _db) = TestApp::builder().spawn().await;
    let html = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let links = local_links(&html);
    for (extension, content_type, marker) in [
        (".js", "text/javascript", "htmx"),
        (".css", "text/css", "--brand"),
    ] {
        let link = links.iter().find(|l| l.ends_with(extension)).unwrap();
        let response = app.client.get(app.url(link)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(content_type));
        assert!(headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        assert!(
            response.text().await.unwrap().contains(marker),
            "{link} is not the built bundle"
        );
    }
    let stale = app
        .client
        .get(app.url("/assets/app.000000000000.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
}

#[tokio::test]
async fn error_pages_for_browsers_use_the_site_layout() {
    let (app, _db) = TestApp::builder().spawn().await;
    let html = app
        .client
        .get(app.url("/missing"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<h1>Not found</h1>") && html.contains("Skip to content"));
}
