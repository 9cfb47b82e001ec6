//! Custom fields (F6.6, F7.6): fields a tenant's admins add to organizations and contacts.
//! A definition names a key, a label and a type; a record's values are a JSON object checked
//! against the live definitions on every write: unknown keys and values of the wrong type
//! are refused by name, and nothing unchecked is stored.

use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::fields::{Check, WriteError};

aura_platform::id_type!(
    /// A custom field's definition.
    DefinitionId
);

/// Which records a field belongs to. Mirrors `aura.custom_field_entity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.custom_field_entity", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Organization,
    Contact,
    Deal,
    Product,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Contact => "contact",
            Self::Deal => "deal",
            Self::Product => "product",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Organization, Self::Contact, Self::Deal, Self::Product]
            .into_iter()
            .find(|e| e.as_str() == value.trim())
    }
}

/// Mirrors `aura.custom_field_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.custom_field_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Number,
    Date,
    Select,
    Url,
}

impl Kind {
    pub const ALL: [Self; 5] = [
        Self::Text,
        Self::Number,
        Self::Date,
        Self::Select,
        Self::Url,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::Select => "select",
            Self::Url => "url",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Number => "Number",
            Self::Date => "Date",
            Self::Select => "Choice from a list",
            Self::Url => "Web address",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value.trim())
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Definition {
    #[schema(value_type = uuid::Uuid)]
    pub id: DefinitionId,
    pub entity: Entity,
    pub key: String,
    pub label: String,
    pub kind: Kind,
    pub options: Vec<String>,
}

impl Definition {
    /// The record's value of this field, as text for a form or a page ("" if none).
    pub fn value_text(&self, values: &Value) -> String {
        match values.get(&self.key) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DefinitionInput {
    /// `organization`, `contact`, `deal` or `product`.
    #[serde(default)]
    pub entity: String,
    #[serde(default)]
    pub label: String,
    /// Lower-case letters, digits and `_`, starting with a letter; made from the label if
    /// left out.
    pub key: Option<String>,
    /// `text`, `number`, `date`, `select` or `url`.
    #[serde(default)]
    pub kind: String,
    /// The choices of a `select` field.
    #[serde(default)]
    pub options: Vec<String>,
}

/// The live definitions for `entity`, in the order they were defined.
pub async fn list(
    pool: &AppPool,
    context: TenantContext,
    entity: Entity,
) -> Result<Vec<Definition>, DbError> {
    let mut tx = pool.begin(context).await?;
    definitions(&mut tx, entity).await
}

pub(crate) async fn definitions(
    tx: &mut TenantTx,
    entity: Entity,
) -> Result<Vec<Definition>, DbError> {
    let tenant = tx.context().tenant_id;
    let definitions = sqlx::query_as!(
        Definition,
        r#"select id as "id: DefinitionId", entity as "entity: Entity", key, label,
                  kind as "kind: Kind", options
           from custom_field_definitions
           where tenant_id = $1 and entity = $2 and archived_at is null
           order by created_at, key"#,
        tenant.as_uuid(),
        entity as Entity,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(definitions)
}

/// Defines a field (admins only).
pub async fn define(
    pool: &AppPool,
    context: TenantContext,
    input: &DefinitionInput,
) -> Result<DefinitionId, WriteError<Definition>> {
    if !context.role.may(Permission::DefineCustomFields) {
        return Err(WriteError::NotAllowed);
    }
    let mut check = Check::new();
    let entity = Entity::parse(&input.entity);
    if entity.is_none() {
        check.refuse(
            "entity",
            "Choose organizations, contacts, deals or products.",
        );
    }
    let label = check.required("label", "Label", &input.label, 100);
    let key = match input
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => key.to_owned(),
        None => key_from_label(&label),
    };
    let key_ok = key.len() <= 40
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        check.refuse(
            "key",
            "The key is 1 to 40 lower-case letters, digits or _, starting with a letter.",
        );
    }
    let kind = Kind::parse(&input.kind);
    let options: Vec<String> = input
        .options
        .iter()
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    match kind {
        None => check.refuse("kind", "Choose one of the listed types."),
        Some(Kind::Select) if options.is_empty() || options.len() > 50 => {
            check.refuse("options", "A choice field needs 1 to 50 choices.")
        }
        Some(Kind::Select) if options.iter().any(|o| o.chars().count() > 100) => {
            check.refuse("options", "Each choice is at most 100 characters.")
        }
        _ => {}
    }
    check.finish()?;
    let options = if kind == Some(Kind::Select) {
        options
    } else {
        Vec::new()
    };
    let mut tx = pool.begin(context).await?;
    let id = sqlx::query_scalar!(
        r#"insert into custom_field_definitions
               (tenant_id, entity, key, label, kind, options, created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $7)
           returning id as "id: DefinitionId""#,
        context.tenant_id.as_uuid(),
        entity as Option<Entity>,
        key,
        label,
        kind as Option<Kind>,
        &options,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(|err| WriteError::duplicate_on(err.into(), "custom_field_definitions_key", "key"))?;
    tx.commit().await?;
    Ok(id)
}

/// Archives a field (admins only): forms no longer show it; records keep their values.
pub async fn archive(
    pool: &AppPool,
    context: TenantContext,
    id: DefinitionId,
) -> Result<(), WriteError<Definition>> {
    if !context.role.may(Permission::DefineCustomFields) {
        return Err(WriteError::NotAllowed);
    }
    let mut tx = pool.begin(context).await?;
    let archived = sqlx::query!(
        "update custom_field_definitions
         set archived_at = now(), version = version + 1, updated_at = now(), updated_by = $3
         where tenant_id = $1 and id = $2 and archived_at is null",
        context.tenant_id.as_uuid(),
        id as DefinitionId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if archived.rows_affected() == 0 {
        return Err(WriteError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// "LinkedIn profile" → `linkedin_profile`.
fn key_from_label(label: &str) -> String {
    let mut key = String::new();
    for c in label.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    key.trim_end_matches('_').chars().take(40).collect()
}

/// Checks submitted values against the definitions and returns what to store: each value in
/// its type's canonical form (numbers as JSON numbers, dates as `YYYY-MM-DD`, addresses
/// normalized); empty values are left out. Problems are reported as `custom_fields.<key>`.
pub(crate) fn validate(
    definitions: &[Definition],
    submitted: Option<&Map<String, Value>>,
    check: &mut Check,
) -> Map<String, Value> {
    let mut stored = Map::new();
    let Some(submitted) = submitted else {
        return stored;
    };
    for (key, value) in submitted {
        let field = format!("custom_fields.{key}");
        let Some(definition) = definitions.iter().find(|d| &d.key == key) else {
            check.refuse(&field, format!("There is no custom field “{key}”."));
            continue;
        };
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text.trim().to_owned(),
            Value::Number(number) if definition.kind == Kind::Number => number.to_string(),
            _ => {
                check.refuse(
                    &field,
                    format!("{} must be given as text.", definition.label),
                );
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let label = &definition.label;
        let canonical = match definition.kind {
            Kind::Text => check
                .optional(&field, label, &text, 1000)
                .map(Value::String),
            // Whole numbers stay whole (12, not 12.0).
            Kind::Number => match (text.parse::<i64>(), text.parse::<f64>()) {
                (Ok(whole), _) => Some(Value::Number(whole.into())),
                (_, Ok(number)) if number.is_finite() => {
                    serde_json::Number::from_f64(number).map(Value::Number)
                }
                _ => {
                    check.refuse(&field, format!("{label} must be a number, like 42 or 3.5."));
                    None
                }
            },
            Kind::Date => match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(date) => Some(Value::String(date.to_string())),
                Err(_) => {
                    check.refuse(&field, format!("{label} must be a date, like 2026-11-30."));
                    None
                }
            },
            Kind::Select => {
                if definition.options.contains(&text) {
                    Some(Value::String(text))
                } else {
                    check.refuse(
                        &field,
                        format!("{label} must be one of: {}.", definition.options.join(", ")),
                    );
                    None
                }
            }
            Kind::Url => check.optional_url(&field, label, &text).map(Value::String),
        };
        if let Some(value) = canonical {
            stored.insert(key.clone(), value);
        }
    }
    stored
}

/// The keys an update replaces: those submitted (a null or empty value clears one). Values the
/// input leaves out, and those of archived fields, are kept, so a client that does not know a
/// field cannot wipe it.
pub(crate) fn keys(submitted: Option<&Map<String, Value>>) -> Vec<String> {
    submitted.map_or_else(Vec::new, |values| values.keys().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(key: &str, kind: Kind, options: &[&str]) -> Definition {
        Definition {
            id: DefinitionId::new(),
            entity: Entity::Contact,
            key: key.into(),
            label: key.into(),
            kind,
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn values_are_checked_by_type_and_stored_canonically() {
        let definitions = [
            definition("seats", Kind::Number, &[]),
            definition("renewal", Kind::Date, &[]),
            definition("tier", Kind::Select, &["Gold", "Silver"]),
            definition("linkedin", Kind::Url, &[]),
            definition("notes", Kind::Text, &[]),
        ];
        let submitted = serde_json::json!({
            "seats": "12", "renewal": "2027-01-31", "tier": "Gold",
            "linkedin": "linkedin.example/in/ada", "notes": "", "unknown": "x",
        });
        let mut check = Check::new();
        let stored = validate(&definitions, submitted.as_object(), &mut check);
        assert_eq!(
            Value::Object(stored),
            serde_json::json!({ "seats": 12, "renewal": "2027-01-31", "tier": "Gold",
                                "linkedin": "https://linkedin.example/in/ada" })
        );
        let Err(WriteError::<()>::Invalid(errors)) = check.finish() else {
            panic!("the unknown key is refused")
        };
        assert_eq!(errors[0].field, "custom_fields.unknown");
    }

    #[test]
    fn wrong_values_name_their_field() {
        let definitions = [
            definition("seats", Kind::Number, &[]),
            definition("renewal", Kind::Date, &[]),
            definition("tier", Kind::Select, &["Gold"]),
        ];
        let submitted =
            serde_json::json!({ "seats": "many", "renewal": "31/01/2027", "tier": "Bronze" });
        let mut check = Check::new();
        validate(&definitions, submitted.as_object(), &mut check);
        let Err(WriteError::<()>::Invalid(errors)) = check.finish() else {
            panic!("expected errors")
        };
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "custom_fields.renewal",
                "custom_fields.seats",
                "custom_fields.tier"
            ]
        );
    }

    #[test]
    fn keys_are_made_from_labels() {
        assert_eq!(key_from_label("LinkedIn profile"), "linkedin_profile");
        assert_eq!(key_from_label("  Seats (paid) "), "seats_paid");
    }
}
