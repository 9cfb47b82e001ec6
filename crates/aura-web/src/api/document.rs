//! What every operation of the OpenAPI document shares, added once the routes are collected
//! rather than repeated in each handler's attribute: the security schemes, the problem
//! responses (each error a `$ref` to one shared response whose body is the `Problem` schema),
//! the errors any request can meet (401, 429, 503, and 400 and 422 where something is sent),
//! and a short summary per operation.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, Type};
use utoipa::openapi::{ObjectBuilder, ResponseBuilder};

/// The problem responses every operation refers to, by status: the component's name and what
/// it means when an operation does not say more.
const PROBLEMS: [(&str, &str, &str); 10] = [
    (
        "400",
        "BadRequest",
        "The body is not JSON of the documented shape, or the query string does not parse (a \
         parameter given twice, a required one missing).",
    ),
    (
        "401",
        "Unauthorized",
        "The credentials are missing, invalid or expired, or the caller is no longer an active member here.",
    ),
    ("403", "Forbidden", "The caller's role may not do this."),
    (
        "404",
        "NotFound",
        "No such record, or none the caller may see (a record of another workspace, or a rep's \
         record for another rep, is not found either).",
    ),
    (
        "409",
        "Conflict",
        "A unique value is taken (`duplicate`, `conflict`) or the record changed since it was \
         read (`stale`, with `current`).",
    ),
    (
        "410",
        "Gone",
        "It existed and is gone for good: an export's file after it expired and was deleted.",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is missing or not sent as `Content-Type: application/json`.",
    ),
    (
        "422",
        "Invalid",
        "Some of what was sent is not valid: `errors` names each field and why (or `field`, for \
         a NUL character in any field or query parameter).",
    ),
    (
        "429",
        "RateLimited",
        "More than 100 requests in a minute by this user (or from this address, before sign-in); \
         retry after `Retry-After` seconds.",
    ),
    (
        "503",
        "Unavailable",
        "The database is briefly unreachable; nothing was half-saved. Retry after `Retry-After` \
         seconds.",
    ),
];

pub(super) const BEARER: &str = "bearer";
pub(super) const API_KEY: &str = "api_key";
pub(super) const PLATFORM_KEY: &str = "platform_key";

/// Adds what the operations share to the collected `document`.
pub(super) fn finish(document: &mut OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        bearer(
            "JWT",
            "An access token from `POST /api/v1/auth/token` (15 minutes; renew it with \
         `POST /api/v1/auth/refresh`). Valid only on its workspace's host.",
        ),
    );
    components.add_security_scheme(
        API_KEY,
        bearer(
            "aura_live_…",
            "A workspace's API key (`aura_live_…`), created by an admin in Settings → API keys. \
         Valid only on its workspace's host.",
        ),
    );
    components.add_security_scheme(
        PLATFORM_KEY,
        bearer(
            "key",
            "The platform's own key (`AURA_PLATFORM_API_KEY`), for the platform's integrations on \
         the apex.",
        ),
    );
    for (status, name, description) in PROBLEMS {
        components.responses.insert(
            name.to_owned(),
            RefOr::T(problem_response(status, description)),
        );
    }
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            finish_operation(operation);
        }
    }
}

fn bearer(format: &str, description: &str) -> SecurityScheme {
    let mut scheme = Http::new(HttpAuthScheme::Bearer);
    scheme.bearer_format = Some(format.to_owned());
    scheme.description = Some(description.to_owned());
    SecurityScheme::Http(scheme)
}

/// A problem response: `application/problem+json` holding a `Problem`, with the headers its
/// status comes with.
fn problem_response(status: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build();
    let seconds = || ObjectBuilder::new().schema_type(Type::Integer).build();
    match status {
        "401" => {
            let header = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String).build())
                .description(Some("`Bearer`"))
                .build();
            response
                .headers
                .insert("WWW-Authenticate".to_owned(), header);
        }
        "429" | "503" => {
            let header = HeaderBuilder::new()
                .schema(seconds())
                .description(Some("Seconds to wait before trying again."))
                .build();
            response.headers.insert("Retry-After".to_owned(), header);
        }
        _ => {}
    }
    response
}

fn finish_operation(operation: &mut Operation) {
    // An API key is taken wherever an access token is (the same `Authorization: Bearer`).
    if let Some(requirements) = operation.security.as_mut() {
        let takes_token = requirements.iter().any(|requirement| {
            serde_json::to_value(requirement).is_ok_and(|names| names.get(BEARER).is_some())
        });
        if takes_token {
            requirements.push(SecurityRequirement::new(API_KEY, Vec::<String>::new()));
        }
    }
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    // A body or query that does not parse is 400; a NUL character in either is refused (422)
    // before any handler.
    // An `Idempotency-Key` header that is malformed is 400, one reused for another request 422.
    let sends_something = operation.request_body.is_some()
        || operation.parameters.iter().flatten().any(|p| {
            matches!(p.parameter_in, ParameterIn::Query)
                || (matches!(p.parameter_in, ParameterIn::Header) && p.name == "Idempotency-Key")
        });
    let responses = &mut operation.responses.responses;
    // Errors any call may meet, beside those the operation names.
    let mut common = vec!["429", "503"];
    if secured {
        common.push("401");
    }
    if operation.request_body.is_some() {
        common.push("415");
    }
    if sends_something {
        common.extend(["400", "422"]);
    }
    for status in common {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new("")));
    }
    // Every error is the shared problem response; an operation's own words about it stay.
    for (status, response) in responses.iter_mut() {
        let Some((_, name, _)) = PROBLEMS.iter().find(|(s, ..)| s == status) else {
            continue;
        };
        if let RefOr::T(own) = response {
            let mut reference = Ref::from_response_name(*name);
            if !own.description.is_empty() {
                reference.description = own.description.clone();
            }
            *response = RefOr::Ref(reference);
        }
    }
    split_summary(operation);
}

/// utoipa takes a handler's whole first doc paragraph as the summary; the summary is its first
/// sentence, and the rest goes to the description.
fn split_summary(operation: &mut Operation) {
    let Some(summary) = operation.summary.take() else {
        return;
    };
    let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    let (first, rest) = match summary.find(". ") {
        Some(at) => (&summary[..at], summary[at + 2..].trim()),
        None => (summary.trim_end_matches('.'), ""),
    };
    if !rest.is_empty() {
        let description = match operation.description.take().filter(|d| !d.is_empty()) {
            Some(more) => format!("{rest}\n\n{more}"),
            None => rest.to_owned(),
        };
        operation.description = Some(description);
    }
    operation.summary = Some(first.to_owned());
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Operations anyone may call: they hand out the credentials.
    const PUBLIC: [&str; 2] = ["/api/v1/auth/token", "/api/v1/auth/refresh"];

    /// Every operation says what it does, which credentials it takes (but the public ones),
    /// and how it is refused: a client generated from the document knows all three.
    #[test]
    fn every_operation_has_a_summary_credentials_and_problem_responses() {
        let document = serde_json::to_value(super::super::document()).unwrap();
        let schemes = &document["components"]["securitySchemes"];
        let mut faults = Vec::new();
        let paths = document["paths"].as_object().expect("paths");
        assert!(paths.len() >= 40, "the document holds the API's routes");
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let name = format!("{} {path}", method.to_uppercase());
                let summary = operation["summary"].as_str().unwrap_or_default();
                if summary.trim().is_empty() {
                    faults.push(format!("{name}: no summary"));
                }
                let requirements = operation["security"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let named: Vec<String> = requirements
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|r| r.keys().cloned())
                    .collect();
                if !PUBLIC.contains(&path.as_str()) && named.is_empty() {
                    faults.push(format!("{name}: no security"));
                }
                if requirements
                    .iter()
                    .any(|r| r.as_object().is_some_and(|r| r.is_empty()))
                {
                    faults.push(format!("{name}: security made optional"));
                }
                for scheme in &named {
                    if !schemes[scheme].is_object() {
                        faults.push(format!("{name}: the scheme `{scheme}` is not declared"));
                    }
                }
                let responses = operation["responses"].as_object().unwrap();
                let mut problems = 0;
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        if problem_schema(&document, response) {
                            problems += 1;
                        } else {
                            faults.push(format!("{name}: {status} is not a problem document"));
                        }
                    }
                }
                if !responses.keys().any(|s| s.starts_with('4')) || problems == 0 {
                    faults.push(format!("{name}: no 4xx problem response"));
                }
                if !responses.keys().any(|s| s.starts_with('2')) {
                    faults.push(format!("{name}: no success response"));
                }
            }
        }
        assert!(faults.is_empty(), "{faults:#?}");
    }

    /// Whether `response` (or the shared response it refers to) is `application/problem+json`
    /// holding the `Problem` schema.
    fn problem_schema(document: &Value, response: &Value) -> bool {
        let response = match response["$ref"].as_str() {
            Some(location) => document
                .pointer(location.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => response,
        };
        response["content"]["application/problem+json"]["schema"]["$ref"]
            == "#/components/schemas/Problem"
    }

    #[test]
    fn summaries_are_the_first_sentence() {
        let mut operation = utoipa::openapi::path::Operation::new();
        operation.summary = Some("Deletes a deal (soft).\nIt can be restored. Audited.".into());
        super::split_summary(&mut operation);
        assert_eq!(operation.summary.as_deref(), Some("Deletes a deal (soft)"));
        assert_eq!(
            operation.description.as_deref(),
            Some("It can be restored. Audited.")
        );
    }
}
