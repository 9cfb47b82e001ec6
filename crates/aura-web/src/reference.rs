//! The API reference people read, at `/api/docs` on every host: rendered on the server from the
//! same OpenAPI document clients fetch (`/api/v1/openapi.json`), so the two cannot disagree.
//! Operations by tag, each with its parameters, body, responses and examples, then every schema;
//! every operation and schema has an anchor. No script, nothing from elsewhere.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use aura_platform::tenants::Workspace;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Map, Value};

use crate::layout::{render, Chrome, Section};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/docs", get(page))
}

async fn page(workspace: Option<Extension<Workspace>>) -> Response {
    let chrome = match workspace {
        Some(Extension(workspace)) => Chrome::for_workspace(Section::None, &workspace),
        None => Chrome::new(Section::None),
    };
    render(&ReferencePage {
        chrome,
        reference: &REFERENCE,
    })
}

#[derive(askama::Template)]
#[template(path = "reference/page.html")]
struct ReferencePage {
    chrome: Chrome,
    reference: &'static Reference,
}

/// The document, read once into what the page shows.
static REFERENCE: LazyLock<Reference> = LazyLock::new(|| {
    let document = serde_json::to_value(crate::api::document()).unwrap_or_default();
    Reference::of(&document)
});

pub struct Reference {
    title: String,
    overview: Vec<Paragraph>,
    security: Vec<Scheme>,
    tags: Vec<Tag>,
    schemas: Vec<SchemaView>,
}

/// A paragraph of a description: text with `code` spans; a leading `**Lead.**` is bold.
pub struct Paragraph {
    lead: String,
    spans: Vec<Span>,
}

pub struct Span {
    code: bool,
    text: String,
}

struct Scheme {
    name: String,
    format: String,
    description: Vec<Paragraph>,
}

struct Tag {
    name: String,
    description: Vec<Paragraph>,
    anchor: String,
    operations: Vec<Operation>,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: Vec<Paragraph>,
    /// The credentials it takes, or none for a public operation.
    security: Vec<String>,
    parameters: Vec<Parameter>,
    body: Option<Body>,
    responses: Vec<ResponseView>,
}

struct Parameter {
    name: String,
    location: String,
    required: bool,
    kind: Kind,
    description: Vec<Paragraph>,
}

struct Body {
    kind: Kind,
    example: String,
}

struct ResponseView {
    status: String,
    /// A 4xx or 5xx.
    error: bool,
    description: Vec<Paragraph>,
    media: String,
    kind: Option<Kind>,
    example: String,
}

struct SchemaView {
    name: String,
    anchor: String,
    description: Vec<Paragraph>,
    fields: Vec<Field>,
    /// What it is when it is not an object with fields (`one of …`, `string`).
    shape: Option<Kind>,
    example: String,
}

struct Field {
    name: String,
    kind: Kind,
    required: bool,
    description: Vec<Paragraph>,
}

/// A type as the page names it: words around the schema it links to, if it names one
/// (`array of ` [Contact] ` or null`).
struct Kind {
    prefix: String,
    /// The schema's anchor and name.
    link: Option<(String, String)>,
    suffix: String,
}

impl Kind {
    fn words(text: String) -> Self {
        Self {
            prefix: text,
            link: None,
            suffix: String::new(),
        }
    }

    fn text(&self) -> String {
        let name = self.link.as_ref().map_or("", |(_, name)| name.as_str());
        format!("{}{name}{}", self.prefix, self.suffix)
    }
}

fn schema_anchor(name: &str) -> String {
    format!("schema-{name}")
}

fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn paragraphs(text: Option<&str>) -> Vec<Paragraph> {
    text.unwrap_or_default()
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (lead, rest) = match p.strip_prefix("**").and_then(|r| r.split_once("**")) {
                Some((lead, rest)) => (lead.to_owned(), rest.trim_start().to_owned()),
                None => (String::new(), p),
            };
            let spans = rest
                .split('`')
                .enumerate()
                .filter(|(_, text)| !text.is_empty())
                .map(|(i, text)| Span {
                    code: i % 2 == 1,
                    text: text.to_owned(),
                })
                .collect();
            Paragraph { lead, spans }
        })
        .collect()
}

impl Reference {
    fn of(document: &Value) -> Self {
        let resolver = Resolver { document };
        let mut tags: Vec<Tag> = Vec::new();
        let empty = Map::new();
        for (path, item) in document["paths"].as_object().unwrap_or(&empty) {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let tag = operation["tags"][0].as_str().unwrap_or("other").to_owned();
                let view = resolver.operation(method, path, operation);
                match tags.iter_mut().find(|t| t.name == tag) {
                    Some(existing) => existing.operations.push(view),
                    None => tags.push(Tag {
                        anchor: format!("tag-{}", slug(&tag)),
                        description: paragraphs(tag_description(document, &tag)),
                        name: tag,
                        operations: vec![view],
                    }),
                }
            }
        }
        // In the order the document lists its tags (auth first), not by path.
        let order = |tag: &Tag| {
            document["tags"]
                .as_array()
                .and_then(|tags| tags.iter().position(|t| t["name"] == tag.name.as_str()))
                .unwrap_or(usize::MAX)
        };
        tags.sort_by_key(order);
        let security = document["components"]["securitySchemes"]
            .as_object()
            .unwrap_or(&empty)
            .iter()
            .map(|(name, scheme)| Scheme {
                name: name.clone(),
                format: scheme["bearerFormat"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                description: paragraphs(scheme["description"].as_str()),
            })
            .collect();
        let schemas = document["components"]["schemas"]
            .as_object()
            .unwrap_or(&empty)
            .iter()
            .map(|(name, schema)| resolver.schema_view(name, schema))
            .collect();
        Self {
            title: document["info"]["title"]
                .as_str()
                .unwrap_or("API")
                .to_owned(),
            overview: paragraphs(document["info"]["description"].as_str()),
            security,
            tags,
            schemas,
        }
    }
}

fn tag_description<'a>(document: &'a Value, tag: &str) -> Option<&'a str> {
    document["tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == tag)?["description"]
        .as_str()
}

/// Reads the document, following `$ref`s into its components.
struct Resolver<'a> {
    document: &'a Value,
}

impl<'a> Resolver<'a> {
    /// The value a `$ref` points at (or the value itself), with the name of the component.
    fn resolve(&self, value: &'a Value) -> (&'a Value, Option<&'a str>) {
        match value["$ref"].as_str() {
            Some(location) => {
                let pointer = location.trim_start_matches('#');
                let name = location.rsplit('/').next();
                (self.document.pointer(pointer).unwrap_or(&Value::Null), name)
            }
            None => (value, None),
        }
    }

    fn operation(&self, method: &str, path: &str, operation: &Value) -> Operation {
        let security = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let parameters = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| Parameter {
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                location: p["in"].as_str().unwrap_or_default().to_owned(),
                required: p["required"].as_bool().unwrap_or(false),
                kind: self.kind(&p["schema"]),
                description: paragraphs(p["description"].as_str()),
            })
            .collect();
        let body = operation["requestBody"]["content"]
            .as_object()
            .and_then(|content| content.values().next())
            .map(|media| Body {
                kind: self.kind(&media["schema"]),
                example: pretty(&self.example(&media["schema"], 0)),
            });
        let responses = operation["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, response)| {
                let own = response["description"].as_str();
                let (response, _) = self.resolve(response);
                let media = response["content"]
                    .as_object()
                    .and_then(|c| c.iter().next());
                ResponseView {
                    error: !status.starts_with('2'),
                    status: status.clone(),
                    description: paragraphs(own.or(response["description"].as_str())),
                    media: media.map(|(name, _)| name.clone()).unwrap_or_default(),
                    kind: media.map(|(_, m)| self.kind(&m["schema"])),
                    example: media
                        .filter(|_| status.starts_with('2'))
                        .map(|(_, m)| pretty(&self.example(&m["schema"], 0)))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Operation {
            anchor: operation["operationId"]
                .as_str()
                .map_or_else(|| slug(&format!("{method}{path}")), str::to_owned),
            method: method.to_uppercase(),
            path: path.to_owned(),
            summary: operation["summary"].as_str().unwrap_or_default().to_owned(),
            description: paragraphs(operation["description"].as_str()),
            security,
            parameters,
            body,
            responses,
        }
    }

    /// A schema's type in words, linked to the component it names.
    fn kind(&self, schema: &Value) -> Kind {
        if let Some(location) = schema["$ref"].as_str() {
            let name = location.rsplit('/').next().unwrap_or_default().to_owned();
            return Kind {
                prefix: String::new(),
                link: Some((schema_anchor(&name), name)),
                suffix: String::new(),
            };
        }
        for (key, word) in [
            ("oneOf", "one of"),
            ("anyOf", "any of"),
            ("allOf", "all of"),
        ] {
            if let Some(parts) = schema[key].as_array() {
                let mut named: Vec<Kind> = parts
                    .iter()
                    .filter(|p| p["type"] != "null")
                    .map(|p| self.kind(p))
                    .collect();
                let nullable = parts.iter().any(|p| p["type"] == "null");
                if named.len() == 1 {
                    let mut only = named.remove(0);
                    if nullable {
                        only.suffix.push_str(" or null");
                    }
                    return only;
                }
                let words: Vec<String> = named.iter().map(Kind::text).collect();
                return Kind::words(format!("{word}: {}", words.join(", ")));
            }
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let nullable = types.contains(&"null");
        let main = types.iter().find(|t| **t != "null").copied();
        let mut kind = match main {
            Some("array") => {
                let items = self.kind(&schema["items"]);
                Kind {
                    prefix: format!("array of {}", items.prefix),
                    ..items
                }
            }
            Some(t) => {
                let format = schema["format"].as_str().map(|f| format!(" ({f})"));
                let choices = schema["enum"].as_array().map(|values| {
                    let values: Vec<String> = values
                        .iter()
                        .filter(|v| !v.is_null())
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect();
                    format!(": {}", values.join(", "))
                });
                Kind::words(format!(
                    "{t}{}{}",
                    format.unwrap_or_default(),
                    choices.unwrap_or_default()
                ))
            }
            None => Kind::words("any".to_owned()),
        };
        if nullable {
            kind.suffix.push_str(" or null");
        }
        kind
    }

    /// An example value for `schema`: its own example where it has one, else one made up from
    /// its types, so every body on the page shows its shape.
    fn example(&self, schema: &Value, depth: usize) -> Value {
        if depth > 6 {
            return json!({});
        }
        let (schema, _) = self.resolve(schema);
        if let Some(example) = schema.get("example") {
            return example.clone();
        }
        if let Some(example) = schema["examples"].as_array().and_then(|e| e.first()) {
            return example.clone();
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        if let Some(parts) = schema["allOf"].as_array() {
            let mut merged = Map::new();
            for part in parts {
                if let Value::Object(fields) = self.example(part, depth + 1) {
                    merged.extend(fields);
                }
            }
            return Value::Object(merged);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(parts) = schema[key].as_array() {
                let first = parts.iter().find(|p| p["type"] != "null");
                return first.map_or(Value::Null, |p| self.example(p, depth + 1));
            }
        }
        let main = match &schema["type"] {
            Value::String(t) => Some(t.as_str()),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        match main {
            Some("object") | None if schema["properties"].is_object() => {
                let fields = schema["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, field)| (name.clone(), self.example(field, depth + 1)))
                    .collect();
                Value::Object(fields)
            }
            Some("object") => json!({}),
            Some("array") => json!([self.example(&schema["items"], depth + 1)]),
            Some("integer") => json!(schema["minimum"].as_i64().unwrap_or(1)),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            Some("string") => json!(match schema["format"].as_str() {
                Some("uuid") => "0b7f3e0a-5c1d-4f7e-9a2b-6d8c1e4f2a90",
                Some("date") => "2026-03-31",
                Some("date-time") => "2026-03-31T09:30:00Z",
                Some("email") => "name@example.com",
                Some("uri") => "https://example.com",
                _ => "text",
            }),
            _ => Value::Null,
        }
    }

    fn schema_view(&self, name: &str, schema: &Value) -> SchemaView {
        let mut fields = Vec::new();
        self.collect_fields(schema, &mut fields, 0);
        let is_object = !fields.is_empty() || schema["type"] == "object";
        SchemaView {
            name: name.to_owned(),
            anchor: schema_anchor(name),
            description: paragraphs(schema["description"].as_str()),
            shape: (!is_object).then(|| self.kind(schema)),
            example: pretty(&self.example(schema, 0)),
            fields,
        }
    }

    /// An object's fields, those of the objects it is made of (`allOf`) included.
    fn collect_fields(&self, schema: &Value, fields: &mut Vec<Field>, depth: usize) {
        let (schema, _) = self.resolve(schema);
        if depth > 4 {
            return;
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.collect_fields(part, fields, depth + 1);
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, field) in schema["properties"].as_object().into_iter().flatten() {
            fields.push(Field {
                name: name.clone(),
                kind: self.kind(field),
                required: required.contains(&name.as_str()),
                description: paragraphs(field["description"].as_str()),
            });
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
