//! The platform's value types: identifiers that cannot be mixed up, and values that are valid
//! by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares an identifier type: a UUID that cannot be passed where another kind of id is
/// expected. Exported so the modules above the platform declare theirs the same way (they need
/// `serde`, `sqlx` and `uuid` as dependencies).
#[macro_export]
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            ::serde::Serialize, ::serde::Deserialize, ::sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(::uuid::Uuid::new_v4())
            }
            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<::uuid::Uuid> for $name {
            fn from(id: ::uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for ::uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

crate::id_type!(
    /// A tenant (one customer company).
    TenantId
);
crate::id_type!(
    /// A user account, which may belong to no tenant yet or to several.
    UserId
);

/// A member's role in a tenant (F4.1). Mirrors the `aura.member_role` enum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "aura.member_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Admin,
    Manager,
    SalesRep,
}

impl MemberRole {
    pub const ALL: [MemberRole; 3] = [MemberRole::Admin, MemberRole::Manager, MemberRole::SalesRep];

    /// The spelling shared by the database enum, the `app.current_role` setting and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Admin => "admin",
            MemberRole::Manager => "manager",
            MemberRole::SalesRep => "sales_rep",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MemberRole::Admin => "Admin",
            MemberRole::Manager => "Manager",
            MemberRole::SalesRep => "Sales Rep",
        }
    }
}

/// A tenant's subdomain: 1 to 40 lowercase letters, digits and inner hyphens, not a reserved word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

/// Names the apex domain uses for itself or that would mislead as a tenant's address.
const RESERVED_SLUGS: &[&str] = &[
    "admin", "api", "app", "assets", "auth", "aura", "billing", "help", "login", "mail",
    "platform", "signup", "static", "status", "support", "www",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("a subdomain must be 1 to 40 characters long")]
    Length,
    #[error("a subdomain may use only lowercase letters, digits and hyphens, and may not start or end with a hyphen")]
    Characters,
    #[error("`{0}` is reserved; choose another subdomain")]
    Reserved(String),
}

impl FromStr for TenantSlug {
    type Err = SlugError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 40 {
            return Err(SlugError::Length);
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if !s.chars().all(allowed) || s.starts_with('-') || s.ends_with('-') {
            return Err(SlugError::Characters);
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(SlugError::Reserved(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TenantSlug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed, with one `@`, a non-empty local part and a dotted domain.
/// Deliverability is proven by sending mail, not by a regular expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid email address")]
pub struct EmailError(String);

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let invalid = || EmailError(trimmed.to_owned());
        let (local, domain) = trimmed.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@');
        let no_space = !trimmed.chars().any(char::is_whitespace);
        if local.is_empty() || !domain_ok || !no_space || trimmed.len() > 254 {
            return Err(invalid());
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated() {
        assert!("acme".parse::<TenantSlug>().is_ok());
        assert!("acme-2".parse::<TenantSlug>().is_ok());
        assert_eq!("".parse::<TenantSlug>(), Err(SlugError::Length));
        assert_eq!("a".repeat(41).parse::<TenantSlug>(), Err(SlugError::Length));
        assert_eq!("-acme".parse::<TenantSlug>(), Err(SlugError::Characters));
        assert_eq!("Acme".parse::<TenantSlug>(), Err(SlugError::Characters));
        assert_eq!("ac me".parse::<TenantSlug>(), Err(SlugError::Characters));
        assert_eq!(
            "www".parse::<TenantSlug>(),
            Err(SlugError::Reserved("www".into()))
        );
    }

    #[test]
    fn emails_are_validated() {
        assert_eq!(
            "  ada@example.com ".parse::<Email>().unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "a@b@c.d",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn role_spellings_match_the_database_enum() {
        let spelled: Vec<_> = MemberRole::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(spelled, ["admin", "manager", "sales_rep"]);
    }
}
