//! What the record forms share: their problems by field, ids read from forms, and
//! the inputs for the workspace's custom fields (F6.6, F7.6).

use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;

use aura_crm::custom_fields::{Definition, Kind};
use aura_crm::{FieldError, WriteError};
use aura_platform::db::DbError;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::WebError;

/// A form's problems, by field name, for the templates (`errors.get("email")`).
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push(FieldError {
                field: field.to_owned(),
                message: message.into(),
            });
        }
    }

    /// Adds the domain's errors, naming each after the form's input (`organization_id` is
    /// the `organization` input, which takes a name).
    pub(crate) fn extend(&mut self, errors: Vec<FieldError>, renames: &[(&str, &str)]) {
        for error in errors {
            let field = renames
                .iter()
                .find(|(from, _)| *from == error.field)
                .map_or(error.field.as_str(), |(_, to)| to);
            self.add(field, error.message.clone());
        }
    }
}

/// A refused write's problems by field, with the status to answer: 422 for invalid input, 409
/// for a duplicate (`taken` says what it collides with) or a stale save (with the current
/// record, and `stale` on the version when the page says so); anything else is passed on.
pub(crate) fn write_problems<T: serde::Serialize>(
    err: WriteError<T>,
    taken: &str,
    stale: Option<&str>,
) -> Result<(StatusCode, Errors, Option<T>), WebError> {
    let mut errors = Errors::default();
    match err {
        WriteError::Invalid(list) => {
            errors.extend(list, &[]);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, errors, None))
        }
        WriteError::Duplicate { field, .. } => {
            errors.add(field, taken);
            Ok((StatusCode::CONFLICT, errors, None))
        }
        WriteError::Stale(current) => {
            if let Some(message) = stale {
                errors.add("version", message);
            }
            Ok((StatusCode::CONFLICT, errors, Some(*current)))
        }
        other => Err(other.into()),
    }
}

/// The version a record form was loaded at. A mangled one matches no row, and is answered like a
/// stale save.
pub(crate) fn version(text: &str) -> i64 {
    text.trim().parse().unwrap_or(-1)
}

/// A record form's write, made only when the form found no problem of its own (a date or an
/// amount that does not read). Otherwise nothing is saved and the answer is invalid with the
/// domain's problems too (`problems`), so the page shows every problem at once. The write and
/// the check are futures: only the one needed runs.
pub(crate) async fn write_unless<T, R>(
    form_errors: &Errors,
    write: impl Future<Output = Result<T, WriteError<R>>>,
    problems: impl Future<Output = Result<Vec<FieldError>, DbError>>,
) -> Result<Result<T, WriteError<R>>, WebError> {
    if form_errors.is_empty() {
        Ok(write.await)
    } else {
        Ok(Err(WriteError::Invalid(problems.await?)))
    }
}

/// An optional id from a query or form; anything that is not one is ignored.
pub(crate) fn optional_id<T: FromStr>(value: Option<&str>) -> Option<T> {
    value.and_then(|v| v.trim().parse().ok())
}

/// A form with nothing to read but its CSRF token, which `MemberForm` checks (delete, restore,
/// and the like).
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// A value for a query string, percent-encoded.
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The prefix of a custom field's input name; the domain reports its problems under the same
/// name, so they land at the input.
const CUSTOM_PREFIX: &str = "custom_fields.";

/// A custom field on a form or a record's page: its definition and the value as text.
pub(crate) struct CustomField {
    pub(crate) definition: Definition,
    /// The input's name and id, `custom_fields.<key>`.
    pub(crate) name: String,
    pub(crate) value: String,
}

impl CustomField {
    /// Each live definition with its value among `values` (input names to text).
    pub(crate) fn all(
        definitions: Vec<Definition>,
        values: &BTreeMap<String, String>,
    ) -> Vec<Self> {
        definitions
            .into_iter()
            .map(|definition| {
                let name = format!("{CUSTOM_PREFIX}{}", definition.key);
                let value = values.get(&name).cloned().unwrap_or_default();
                Self {
                    definition,
                    name,
                    value,
                }
            })
            .collect()
    }

    /// The values a record holds, by input name, as a form shows them.
    pub(crate) fn stored(values: &Value) -> BTreeMap<String, String> {
        values
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (format!("{CUSTOM_PREFIX}{key}"), text)
            })
            .collect()
    }

    /// What a form sent for the live fields, for the domain layer: every live field is given,
    /// so an emptied input clears its value; inputs of fields archived meanwhile are dropped.
    pub(crate) fn submitted(
        definitions: &[Definition],
        form: &BTreeMap<String, String>,
    ) -> Map<String, Value> {
        definitions
            .iter()
            .map(|definition| {
                let name = format!("{CUSTOM_PREFIX}{}", definition.key);
                let text = form.get(&name).cloned().unwrap_or_default();
                (definition.key.clone(), Value::String(text))
            })
            .collect()
    }

    pub(crate) fn is_select(&self) -> bool {
        self.definition.kind == Kind::Select
    }

    pub(crate) fn is_url(&self) -> bool {
        self.definition.kind == Kind::Url
    }

    /// The HTML input type that helps the browser offer the right keyboard and picker.
    pub(crate) fn input_type(&self) -> &'static str {
        match self.definition.kind {
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::Url => "url",
            Kind::Text | Kind::Select => "text",
        }
    }
}
