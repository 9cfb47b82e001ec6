//! Deleting and restoring a record, one path for every kind (contacts, organizations, deals):
//! the kind says how to find the record and how to (un)delete it; asking first, the answer,
//! and the Undo offer are the same for all.
//!
//! Delete asks first: with script, a `<dialog>` (`web/src/app.js`) before the form posts;
//! without, the form carries `confirm=ask`, and this answers with a page that asks. After a
//! delete the record's page says so with an Undo button (a restore form), which the script
//! withdraws after [`UNDO_SECONDS`]; restoring stays possible from the deleted list.

use std::fmt::Display;
use std::future::Future;
use std::str::FromStr;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::layout::{render, Chrome, Section};
use crate::records::ProblemPage;
use crate::session::Member;
use crate::{AppState, WebError};

/// How long the Undo button stays after a delete.
pub(crate) const UNDO_SECONDS: u32 = 30;

/// A kind of record that is deleted softly and may be restored.
pub(crate) trait Removable: Send + Sync + 'static {
    type Id: FromStr + Display + Copy + Send + Sync + 'static;
    type Record: Send;
    /// Where its pages are: `/contacts`.
    const PATH: &'static str;
    /// What one is called in a sentence: `contact`.
    const NOUN: &'static str;
    const SECTION: Section;

    /// The record, if the member may delete and restore it (404 or 403 otherwise).
    fn find(
        state: &AppState,
        member: &Member,
        id: Self::Id,
    ) -> impl Future<Output = Result<Self::Record, WebError>> + Send;

    fn name(record: &Self::Record) -> String;

    /// Deletes or restores it. A restore refused because another record now holds its unique
    /// name or address is answered with the page that says what to do.
    fn set_deleted(
        state: &AppState,
        member: &Member,
        record: &Self::Record,
        deleted: bool,
    ) -> impl Future<Output = Result<Option<ProblemPage>, WebError>> + Send;
}

/// The delete form: `confirm=ask` (sent by a browser without script) asks first.
#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

impl DeleteForm {
    pub(crate) fn asks_first(&self) -> bool {
        self.confirm == "ask"
    }
}

/// "Delete this?" as a page, for a browser without script: the same form again, without
/// `confirm=ask`.
#[derive(Template)]
#[template(path = "records/confirm.html")]
pub(crate) struct ConfirmPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub title: String,
    pub detail: String,
    pub action: String,
    /// Other fields the form posts as they were.
    pub hidden: Vec<(&'static str, String)>,
    pub button: String,
    pub back: String,
}

pub(crate) async fn delete<K: Removable>(
    State(state): State<AppState>,
    Id(id): Id<K::Id>,
    MemberForm { member, form }: MemberForm<DeleteForm>,
) -> Result<Response, WebError> {
    let record = K::find(&state, &member, id).await?;
    if form.asks_first() {
        let name = K::name(&record);
        return Ok(render(&ConfirmPage {
            chrome: Chrome::for_member(K::SECTION, &member),
            csrf_token: member.signed_in.csrf_token.clone(),
            title: format!("Delete {name}?"),
            detail: format!(
                "The {} leaves lists and searches. You can restore it from the deleted {}s.",
                K::NOUN,
                K::NOUN
            ),
            action: format!("{}/{id}/delete", K::PATH),
            hidden: Vec::new(),
            button: format!("Delete {}", K::NOUN),
            back: format!("{}/{id}", K::PATH),
        }));
    }
    set_deleted::<K>(&state, &member, id, &record, true).await
}

pub(crate) async fn restore<K: Removable>(
    State(state): State<AppState>,
    Id(id): Id<K::Id>,
    MemberForm { member, .. }: MemberForm<crate::forms::NoFields>,
) -> Result<Response, WebError> {
    let record = K::find(&state, &member, id).await?;
    set_deleted::<K>(&state, &member, id, &record, false).await
}

async fn set_deleted<K: Removable>(
    state: &AppState,
    member: &Member,
    id: K::Id,
    record: &K::Record,
    deleted: bool,
) -> Result<Response, WebError> {
    if let Some(problem) = K::set_deleted(state, member, record, deleted).await? {
        return Ok((StatusCode::CONFLICT, render(&problem)).into_response());
    }
    let notice = if deleted { "deleted" } else { "restored" };
    Ok(Redirect::to(&format!("{}/{id}?notice={notice}", K::PATH)).into_response())
}

/// The restore form's address a record page offers as Undo, right after it was deleted.
pub(crate) fn undo<K: Removable>(notice: Option<&str>, id: K::Id) -> Option<String> {
    (notice == Some("deleted")).then(|| format!("{}/{id}/restore", K::PATH))
}
