//! NUL characters are refused at the edge, before any handler: PostgreSQL's text cannot hold
//! one, so a NUL that reached a query would fail it (a 500, logged as an error). One check
//! here covers every query string, form and JSON body of every route, present and future; the
//! answer is a 422 naming the field, as a page for the pages and a problem for the API.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::error::wants_html;
use crate::WebError;

/// The most a body may hold, as axum's own extractors allow.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

pub(crate) async fn refuse(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let html = wants_html(&parts.headers) || !parts.uri.path().starts_with("/api/");
    // A path with a NUL (`%00`) names nothing.
    if in_form(parts.uri.path().as_bytes()).is_some() {
        return WebError::NotFound.render(html);
    }
    if let Some(field) = parts.uri.query().and_then(|q| in_form(q.as_bytes())) {
        return WebError::NulCharacter { field }.render(html);
    }
    let body = match Kind::of(&parts.headers) {
        None => body,
        Some(kind) => {
            let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
                return WebError::TooLarge.render(html);
            };
            if let Some(field) = kind.find(&bytes) {
                return WebError::NulCharacter { field }.render(html);
            }
            Body::from(bytes)
        }
    };
    next.run(Request::from_parts(parts, body)).await
}

/// The bodies that carry text fields.
enum Kind {
    Form,
    Json,
}

impl Kind {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let media_type = headers
            .get(header::CONTENT_TYPE)?
            .to_str()
            .ok()?
            .split(';')
            .next()?
            .trim()
            .to_ascii_lowercase();
        if media_type == "application/x-www-form-urlencoded" {
            Some(Self::Form)
        } else if media_type == "application/json" || media_type.ends_with("+json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    /// The first field holding a NUL.
    fn find(&self, body: &Bytes) -> Option<String> {
        match self {
            Self::Form => in_form(body),
            // A body that is not JSON is the handler's to refuse.
            Self::Json => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|value| in_json(&value, "")),
        }
    }
}

fn has_nul(key: &str, value: &str) -> bool {
    key.contains('\0') || value.contains('\0')
}

/// The name of the first pair holding a NUL (`%00`) in a query string or form body.
fn in_form(encoded: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(encoded)
        .find(|(key, value)| has_nul(key, value))
        .map(|(key, _)| printable(&key))
}

/// The path (`custom_fields.note`, `contact_ids[2]`) of the first string or key holding a NUL.
fn in_json(value: &Value, path: &str) -> Option<String> {
    let name = |path: &str| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            printable(path)
        }
    };
    match value {
        Value::String(text) => text.contains('\0').then(|| name(path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| in_json(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(name(&path))
            } else {
                in_json(item, &path)
            }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// A field's name as the answer may show it: its own NULs written out.
fn printable(name: &str) -> String {
    name.replace('\0', "\\u0000")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms_and_queries_name_the_field_with_a_nul() {
        assert_eq!(in_form(b"q=ann&csrf_token=x"), None);
        assert_eq!(
            in_form(b"first_name=Ann&last_name=Le%00e"),
            Some("last_name".into())
        );
        assert_eq!(in_form(b"q=%00"), Some("q".into()));
        assert_eq!(in_form(b"a%00b=1"), Some("a\\u0000b".into()));
    }

    #[test]
    fn json_names_the_path_to_a_nul() {
        assert_eq!(
            in_json(&json!({ "name": "Ann", "n": 1, "ok": null }), ""),
            None
        );
        assert_eq!(
            in_json(&json!({ "email": "a\u{0}@b.example" }), ""),
            Some("email".into())
        );
        assert_eq!(
            in_json(&json!({ "custom_fields": { "note": "x\u{0}" } }), ""),
            Some("custom_fields.note".into())
        );
        assert_eq!(
            in_json(&json!({ "ids": ["a", "\u{0}"] }), ""),
            Some("ids[1]".into())
        );
        assert_eq!(
            in_json(&json!({ "k\u{0}": 1 }), ""),
            Some("k\\u0000".into())
        );
        assert_eq!(in_json(&json!("\u{0}"), ""), Some("body".into()));
    }
}
