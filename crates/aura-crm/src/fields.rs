//! Checks shared by the CRM's forms and API. Each refusal names the field and says what is
//! wrong in words a user can act on; all of a submission's problems are reported at once.

use aura_platform::db::{DbError, TenantContext};
use aura_platform::ids::Email;
use aura_platform::permissions::Permission;
use serde::Serialize;

/// One field's problem: `field` is the input's name (`email`, `website`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a write to a record was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<T> {
    #[error("the input is invalid")]
    Invalid(Vec<FieldError>),
    /// Someone saved the record since the caller read it; `T` is the record as it is now.
    #[error("the record changed since it was read")]
    Stale(Box<T>),
    /// Another live record already holds this unique value (a contact's email, F7.7). The id
    /// of that record is given only if the caller may see it.
    #[error("another record already has this {field}")]
    Duplicate {
        field: &'static str,
        existing: Option<uuid::Uuid>,
    },
    /// No such record, or not one the caller may see.
    #[error("no such record")]
    NotFound,
    /// The caller's role may not do this (F4).
    #[error("not allowed for this role")]
    NotAllowed,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl<T> WriteError<T> {
    /// `err` as a `Duplicate` of `field` if it violates the unique `constraint` behind that
    /// field, else passed on as it is.
    pub fn duplicate_on(err: DbError, constraint: &str, field: &'static str) -> Self {
        if err.unique_violation() == Some(constraint) {
            Self::Duplicate {
                field,
                existing: None,
            }
        } else {
            Self::Db(err)
        }
    }

    /// Refuses (`NotAllowed`) a caller whose role may not do `permission` (F4.1).
    pub fn unless_may(context: &TenantContext, permission: Permission) -> Result<(), Self> {
        if context.role.may(permission) {
            Ok(())
        } else {
            Err(Self::NotAllowed)
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }
}

/// Collects the problems of one submission while normalizing its values.
#[derive(Debug, Default)]
pub struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn refuse(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Trimmed text that must be there, at most `max` characters.
    pub fn required(&mut self, field: &str, label: &str, value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.refuse(field, format!("{label} is required."));
        } else {
            self.max_length(field, label, value, max);
        }
        value.to_owned()
    }

    /// Trimmed text that may be left out (empty reads as none), at most `max` characters.
    pub fn optional(
        &mut self,
        field: &str,
        label: &str,
        value: &str,
        max: usize,
    ) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        self.max_length(field, label, value, max);
        Some(value.to_owned())
    }

    fn max_length(&mut self, field: &str, label: &str, value: &str, max: usize) {
        let length = value.chars().count();
        if length > max {
            self.refuse(
                field,
                format!("{label} is too long: {length} characters, at most {max}."),
            );
        }
    }

    pub fn optional_email(&mut self, field: &str, value: &str) -> Option<Email> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        match value.parse::<Email>() {
            Ok(email) => Some(email),
            Err(_) => {
                self.refuse(
                    field,
                    format!("“{value}” is not an email address (like name@example.com)."),
                );
                None
            }
        }
    }

    /// A phone number as people write them: digits with `+ - ( ) . /` and spaces, and an
    /// optional extension (`x123`); between 5 and 20 digits.
    pub fn optional_phone(&mut self, field: &str, value: &str) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let lower = value.to_ascii_lowercase();
        let (number, extension) = match lower.find(|c: char| c.is_ascii_alphabetic()) {
            Some(at) => (&lower[..at], Some(&lower[at..])),
            None => (lower.as_str(), None),
        };
        let allowed = number
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c));
        let digits = number.chars().filter(char::is_ascii_digit).count();
        let extension_ok = extension.is_none_or(|e| {
            let rest = e
                .strip_prefix("ext.")
                .or_else(|| e.strip_prefix("ext"))
                .or_else(|| e.strip_prefix('x'));
            rest.map(str::trim).is_some_and(|d| {
                !d.is_empty() && d.len() <= 6 && d.chars().all(|c| c.is_ascii_digit())
            })
        });
        if !allowed || !(5..=20).contains(&digits) || !extension_ok || value.len() > 40 {
            self.refuse(
                field,
                format!("“{value}” is not a phone number: use 5 to 20 digits, with + - ( ) . / or spaces if you like, and x123 for an extension."),
            );
            return None;
        }
        Some(value.to_owned())
    }

    /// A web address; `acme.example` is read as `https://acme.example`. Only http(s).
    pub fn optional_url(&mut self, field: &str, label: &str, value: &str) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let candidate = if value.contains("://") {
            value.to_owned()
        } else {
            format!("https://{value}")
        };
        match url::Url::parse(&candidate) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|h| h.contains('.'))
                    && candidate.len() <= 2000 =>
            {
                Some(url.to_string())
            }
            _ => {
                self.refuse(
                    field,
                    format!("{label} “{value}” is not a web address (like https://example.com)."),
                );
                None
            }
        }
    }

    pub fn finish<T>(self) -> Result<(), WriteError<T>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Invalid(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_as_people_write_them_pass() {
        for phone in [
            "+1 (555) 010-9999",
            "030 1234567",
            "555.0100 x12",
            "+44 20 7946 0958 ext 7",
        ] {
            let mut check = Check::new();
            assert_eq!(check.optional_phone("phone", phone).as_deref(), Some(phone));
            assert!(check.errors.is_empty(), "{phone}");
        }
    }

    #[test]
    fn words_and_short_numbers_are_not_phones() {
        for phone in [
            "call me",
            "123",
            "555-0100; drop table",
            "1".repeat(21).as_str(),
        ] {
            let mut check = Check::new();
            assert_eq!(check.optional_phone("phone", phone), None);
            assert_eq!(check.errors.len(), 1, "{phone}");
        }
    }

    #[test]
    fn bare_domains_become_https_addresses_and_other_schemes_are_refused() {
        let mut check = Check::new();
        assert_eq!(
            check
                .optional_url("website", "Website", "acme.example")
                .as_deref(),
            Some("https://acme.example/")
        );
        assert_eq!(
            check.optional_url("website", "Website", "javascript:alert(1)"),
            None
        );
        assert_eq!(
            check.optional_url("website", "Website", "ftp://acme.example"),
            None
        );
        assert_eq!(check.errors.len(), 2);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut check = Check::new();
        check.required("first_name", "First name", "  ", 100);
        check.optional("title", "Title", &"x".repeat(201), 200);
        check.optional_email("email", "not-an-email");
        let Err(WriteError::<()>::Invalid(errors)) = check.finish() else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["first_name", "title", "email"]);
    }
}
