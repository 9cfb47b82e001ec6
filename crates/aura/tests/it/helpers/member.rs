//! A member signed in with a browser-like client (a cookie session), on a workspace or on the
//! apex: its form posts carry the session's CSRF token by themselves.

use std::ops::Deref;

use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{header, Client, Response, StatusCode};

use super::{csrf_token, signed_in_to, submit_login, TestApp};

/// The host a session belongs to: sessions of the apex and of a workspace do not open each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// The platform operator's and prospects' host.
    Apex,
    Workspace(&'a str),
}

/// A signed-in browser on one host, and the session's CSRF token.
pub struct Member<'a> {
    pub app: &'a TestApp,
    pub host: Host<'a>,
    pub browser: Client,
    pub csrf: String,
}

impl<'a> Member<'a> {
    /// `email` signed in to `slug` with the demo password.
    pub async fn sign_in(app: &'a TestApp, slug: &'a str, email: &str) -> Self {
        Self::with_password(app, slug, email, DEMO_PASSWORD).await
    }

    /// `email` signed in to `slug` with `password`.
    pub async fn with_password(
        app: &'a TestApp,
        slug: &'a str,
        email: &str,
        password: &str,
    ) -> Self {
        let (browser, csrf) = signed_in_to(app, slug, email, password).await;
        Self {
            app,
            host: Host::Workspace(slug),
            browser,
            csrf,
        }
    }

    /// The platform operator (`ops@aura.example`, demo password) signed in on the apex.
    pub async fn operator(app: &'a TestApp) -> Self {
        let browser = app.browser();
        let signed_in = submit_login(
            &browser,
            &app.url("/login"),
            "ops@aura.example",
            DEMO_PASSWORD,
        )
        .await;
        assert_eq!(signed_in.headers()[header::LOCATION], "/account");
        Self::from_browser(app, Host::Apex, browser).await
    }

    /// A session `browser` already holds (a signup's link, a handoff, a sign-in the test did
    /// itself): its token is read from the host's home page, as a browser gets it.
    pub async fn from_browser(app: &'a TestApp, host: Host<'a>, browser: Client) -> Self {
        let mut member = Self {
            app,
            host,
            browser,
            csrf: String::new(),
        };
        let home = match host {
            Host::Apex => "/account",
            Host::Workspace(_) => "/",
        };
        member.csrf = csrf_token(&member.ok_page(home).await);
        member
    }

    /// A URL on the member's host.
    pub fn url(&self, path: &str) -> String {
        match self.host {
            Host::Apex => self.app.url(path),
            Host::Workspace(slug) => self.app.workspace_url(slug, path),
        }
    }

    /// The status and text of a page.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.browser.get(self.url(path)).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The text of a page that must answer 200.
    pub async fn ok_page(&self, path: &str) -> String {
        let (status, html) = self.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        html
    }

    /// The text of a fragment htmx asks for (`HX-Request`), which must answer 200.
    pub async fn htmx_get(&self, path: &str) -> String {
        let response = self
            .browser
            .get(self.url(path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    /// Posts a form with the session's CSRF token added, as htmx does (`HX-Request`).
    pub async fn htmx_submit(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut form = form.to_vec();
        form.push(("csrf_token", &self.csrf));
        self.browser
            .post(self.url(path))
            .header("HX-Request", "true")
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut form = form.to_vec();
        form.push(("csrf_token", &self.csrf));
        self.submit_as_is(path, &form).await
    }

    /// Posts exactly `form` (no token added: for the tests of the CSRF check).
    pub async fn submit_as_is(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.browser
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form that must redirect to a new record and returns the record's path, which
    /// starts with `path`.
    pub async fn create(&self, path: &str, form: &[(&str, &str)]) -> String {
        let created = self.submit(path, form).await;
        let status = created.status();
        if status != StatusCode::SEE_OTHER {
            panic!("not created ({status}): {}", created.text().await.unwrap());
        }
        let record = record_path(&created);
        assert!(record.starts_with(&format!("{path}/")), "{record}");
        record
    }
}

impl Member<'_> {
    /// Creates an API key in Settings -> API keys (the member must be an admin) and returns
    /// its secret: `role` is `read_only` or `manager`, `expires_on` a date or empty.
    pub async fn create_api_key(&self, name: &str, role: &str, expires_on: &str) -> String {
        let response = self
            .submit(
                "/settings/api-keys",
                &[("name", name), ("role", role), ("expires_on", expires_on)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "the key is created");
        let html = response.text().await.unwrap();
        html.split("value=\"aura_live_")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|secret| format!("aura_live_{secret}"))
            .expect("the new key's secret on the page")
    }
}

/// The raw client, for requests the helpers above do not shape.
impl Deref for Member<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.browser
    }
}

/// Where a 303 leads.
pub fn location(response: &Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "a redirect");
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// `/contacts/<id>?notice=...` -> `/contacts/<id>`.
pub fn record_path(response: &Response) -> String {
    location(response)
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned()
}

/// The value of the hidden `version` field in a page (the first one).
pub fn version_in(html: &str) -> String {
    html.split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a version field")
        .to_owned()
}

/// The value of the first `<option>` whose label starts with `name` (a member's user id, a
/// contact's id).
pub fn option_value(html: &str, name: &str) -> String {
    html.split("<option value=\"")
        .skip(1)
        .filter_map(|option| {
            let (value, rest) = option.split_once('"')?;
            Some((value, rest.split_once('>')?.1))
        })
        .find(|(_, label)| label.starts_with(name))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_else(|| panic!("{name} among the options"))
}
