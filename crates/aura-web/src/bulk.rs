//! Bulk reassignment from a list (contacts, deals), read one way: the rows ticked, or every row
//! matching the list's filter, and the member to give them to.

use std::future::Future;
use std::str::FromStr;

use aura_crm::{WriteError, MAX_BULK};
use aura_platform::db::TenantContext;
use aura_platform::ids::UserId;
use axum::extract::Query;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use crate::{refusals, AppState, WebError};

/// The bulk bar under a list, as the page shows it (`records/bulk_bar.html`).
pub(crate) struct BulkBar {
    /// Where the form posts: `/contacts/reassign`.
    pub action: &'static str,
    /// What the rows are called: `contacts`.
    pub records: &'static str,
    /// The list's search and filters as a query string, for "all matching".
    pub filter: String,
}

/// The list's bulk form as posted.
#[derive(Deserialize)]
pub(crate) struct ReassignForm {
    #[serde(default)]
    ids: Vec<String>,
    /// `1`: every row matching `filter`, not only those ticked.
    #[serde(default)]
    all_matching: String,
    /// The list's query string (its search and filters) when the form was posted.
    #[serde(default)]
    filter: String,
    #[serde(default)]
    owner: String,
}

/// Why nothing was reassigned: the list's notice code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    NoSelection,
    BadOwner,
    BadFilter,
    TooMany,
}

impl Refused {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::NoSelection => "no_selection",
            Self::BadOwner => "bad_owner",
            Self::BadFilter => "bad_filter",
            Self::TooMany => "too_many",
        }
    }

    /// Back to the list (`list`: `/contacts`), which says why nothing was reassigned.
    pub(crate) fn to_list(self, list: &str) -> Response {
        Redirect::to(&format!("{list}?notice={}", self.code())).into_response()
    }

    /// The list's notice for a code, `records` naming them ("contacts").
    pub(crate) fn notice(code: &str, records: &str) -> Option<String> {
        Some(match code {
            "no_selection" => {
                format!("Nothing was reassigned: select at least one of the {records} first.")
            }
            "bad_owner" => {
                "Nothing was reassigned: choose an active member of this workspace.".to_owned()
            }
            "bad_filter" => "Nothing was reassigned: correct the filters first.".to_owned(),
            "too_many" => format!(
                "Nothing was reassigned: that is more than {MAX_BULK} {records}. Narrow the \
                 list with a search or filter, then reassign."
            ),
            _ => return None,
        })
    }
}

/// Which rows a bulk form names.
pub(crate) enum Chosen<Id, Q> {
    Rows(Vec<Id>),
    /// Every row the list shows for this query.
    AllMatching(Q),
}

impl ReassignForm {
    /// What to reassign and to whom. Ids that do not read are dropped (an edited form).
    pub(crate) fn read<Id: FromStr, Q: DeserializeOwned>(
        &self,
    ) -> Result<(Chosen<Id, Q>, UserId), Refused> {
        let owner = self
            .owner
            .trim()
            .parse::<UserId>()
            .map_err(|_| Refused::BadOwner)?;
        if self.all_matching == "1" {
            let uri: Uri = format!("/?{}", self.filter.trim_start_matches('?'))
                .parse()
                .map_err(|_| Refused::BadFilter)?;
            let Query(query) = Query::<Q>::try_from_uri(&uri).map_err(|_| Refused::BadFilter)?;
            return Ok((Chosen::AllMatching(query), owner));
        }
        let ids: Vec<Id> = self
            .ids
            .iter()
            .filter_map(|id| id.trim().parse().ok())
            .collect();
        if ids.is_empty() {
            return Err(Refused::NoSelection);
        }
        Ok((Chosen::Rows(ids), owner))
    }
}

/// The answer to a reassignment: back to the list (`list`: `/contacts`) with how many moved, or
/// why none did. Rows the member may not see are recorded as refused and answered 404, as a
/// record's own page would be.
pub(crate) async fn reassigned<Id, R>(
    state: &AppState,
    context: TenantContext,
    list: &str,
    ids: &[Id],
    result: Result<u64, WriteError<R>>,
) -> Result<Response, WebError>
where
    Id: Copy + Into<Uuid>,
    R: serde::Serialize,
{
    match result {
        Ok(count) => Ok(Redirect::to(&format!("{list}?reassigned={count}")).into_response()),
        Err(WriteError::Invalid(_)) => Ok(Refused::BadOwner.to_list(list)),
        Err(WriteError::NotFound) => {
            let named: Vec<Uuid> = ids.iter().map(|&id| id.into()).collect();
            refusals::record_named(state, context, &named).await;
            Err(WebError::NotFound)
        }
        Err(other) => Err(other.into()),
    }
}

/// Every id a list shows for one filter, read page by page with the list's own keyset query
/// (`page` reads the page after a cursor, answering its ids and the next cursor). One more than
/// [`MAX_BULK`] is too many: the change is refused rather than cut short.
pub(crate) async fn all_matching<Id, C, F, Fut>(
    mut page: F,
) -> Result<Result<Vec<Id>, Refused>, WebError>
where
    F: FnMut(Option<C>) -> Fut,
    Fut: Future<Output = Result<(Vec<Id>, Option<C>), WebError>>,
{
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let (mut items, next) = page(after).await?;
        ids.append(&mut items);
        if ids.len() > MAX_BULK {
            return Ok(Err(Refused::TooMany));
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if ids.is_empty() {
        return Ok(Err(Refused::NoSelection));
    }
    Ok(Ok(ids))
}
