//! A member's API client: a bearer token on one workspace, answers as status and JSON.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{api_token, TestApp};

/// A signed-in API client of one member in one workspace.
pub struct Api<'a> {
    pub app: &'a TestApp,
    pub slug: &'a str,
    pub token: String,
}

impl<'a> Api<'a> {
    /// `who@slug.example` signed in with the demo password.
    pub async fn sign_in(app: &'a TestApp, slug: &'a str, who: &str) -> Self {
        let token = api_token(app, slug, &format!("{who}@{slug}.example")).await;
        Self { app, slug, token }
    }

    /// A client presenting `key` as its bearer on the workspace `slug`: an API key's secret, or
    /// a sign-in's access token taken once and reused (`api_token`).
    pub fn with_key(app: &'a TestApp, slug: &'a str, key: &str) -> Self {
        Self {
            app,
            slug,
            token: key.to_owned(),
        }
    }

    /// A request with the token, its answer's status and body (JSON, or the text as a JSON
    /// string, or null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .request(method, self.app.workspace_url(self.slug, path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// The body of a GET that must answer 200.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// The body of a POST that must answer 201.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        let (status, created) = self.post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
        created
    }

    /// The caller's user id.
    pub async fn me(&self) -> String {
        self.ok("/api/v1/me").await["user_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a contact and returns its id.
    pub async fn contact(&self, body: Value) -> String {
        id(&self.created("/api/v1/contacts", body).await)
    }

    /// Creates a deal and returns it.
    pub async fn deal(&self, body: Value) -> Value {
        self.created("/api/v1/deals", body).await
    }

    /// Every item of a list, following its `next` cursors (`path` has a query already).
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.ok(&format!("{path}{after}")).await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = format!("&after={next}"),
                None => return items,
            }
        }
    }
}

/// The `id` of a record.
pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// The ids of a list page's items.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}

/// The fields a problem document's errors name, in its order.
pub fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a problem with errors: {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// The fields a problem document's errors name, sorted.
pub fn sorted_fields(problem: &Value) -> Vec<&str> {
    let mut fields = fields(problem);
    fields.sort();
    fields
}
