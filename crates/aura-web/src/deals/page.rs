//! The deal's page: its process and stage bar (each stage a button that moves the deal there),
//! won and lost, the contacts the viewer may see, the stage history, the activities, and the
//! actions on the deal (edit, reassign, delete, restore).

use askama::Template;
use aura_crm::activities::{self, ActivityKind, Timeline};
use aura_crm::custom_fields::{self, Entity};
use aura_crm::deals::{self, ContactRole, DealDetail, Outcome, Stage, StageMoveInput};
use aura_crm::ids::{ActivityId, ContactId, DealId, StageId};
use aura_crm::paging::Cursor;
use aura_crm::WriteError;
use aura_platform::ids::UserId;
use aura_platform::members::Member as TeamMember;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{contact_named, currency, duration, money, percent, visible_deal};
use crate::extract::{Id, MemberForm};
use crate::forms::{optional_id, version, CustomField, Errors};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::{owner_choices, ActivityForm, MoreActivities, ProblemPage, TimelineView};
use crate::removal::{self, Removable};
use crate::session::Member;
use crate::{refusals, AppState, WebError};

/// A row of the stage history as the page shows it.
struct HistoryRow {
    from: Option<String>,
    to: String,
    by: String,
    at: DateTime<Utc>,
    when: String,
    /// How long the deal was in the stage it left.
    time_in_previous: Option<String>,
}

/// A stage move that was refused: where to, and what the stage still needs.
struct MoveProblem {
    stage: String,
    messages: Vec<String>,
    /// The stage needs a contact: the page points at the contact form.
    needs_contact: bool,
    /// Something the edit form sets (amount, close date): the page links to it.
    needs_fields: bool,
    /// The stage needs a product: the page points at the deal's products.
    needs_product: bool,
}

/// The "link a contact" form as sent.
#[derive(Deserialize, Default)]
pub(super) struct LinkForm {
    #[serde(default)]
    contact: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "deals/page.html")]
struct DealPage {
    chrome: Chrome,
    csrf_token: String,
    detail: DealDetail,
    currency: String,
    amount: String,
    probability: String,
    custom_fields: Vec<CustomField>,
    created: String,
    updated: String,
    notice: Option<&'static str>,
    /// Right after a delete: the restore form's address, offered as Undo.
    undo: Option<String>,
    history: Vec<HistoryRow>,
    history_older: Option<String>,
    timeline: TimelineView,
    kinds: [ActivityKind; 4],
    activity: ActivityForm,
    activity_errors: Errors,
    link: LinkForm,
    link_errors: Errors,
    roles: [ContactRole; 5],
    move_problem: Option<MoveProblem>,
    /// Someone changed the deal since the page was read: the move was not made.
    stale_move: bool,
    lost_reason: String,
    lost_errors: Errors,
    can_reassign: bool,
    owners: Vec<TeamMember>,
}

impl DealPage {
    async fn load(
        state: &AppState,
        member: &Member,
        detail: DealDetail,
        history_after: Option<Cursor<deals::StageMoveId>>,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let deal = &detail.deal;
        let timeline = TimelineView::load(
            state,
            context,
            member.zone(),
            Timeline::Deal(deal.id),
            format!("/deals/{}", deal.id),
            None,
        )
        .await?;
        let history = deals::history(&state.db, context, deal.id, history_after.as_ref(), None)
            .await?
            .ok_or(WebError::NotFound)?;
        let definitions = custom_fields::list(&state.db, context, Entity::Deal).await?;
        let can_reassign = member.may(Permission::AssignDeals);
        Ok(Self {
            chrome: Chrome::for_member(Section::Deals, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            currency: currency(state, context).await?,
            amount: deal.amount.as_ref().map(money).unwrap_or_default(),
            probability: percent(&deal.probability),
            custom_fields: CustomField::all(definitions, &CustomField::stored(&deal.custom_fields)),
            created: member.zone().when(&deal.created_at),
            updated: member.zone().when(&deal.updated_at),
            notice: None,
            undo: None,
            history: history
                .items
                .into_iter()
                .map(|m| HistoryRow {
                    from: m.from_stage_name,
                    to: m.to_stage_name,
                    by: m
                        .moved_by_name
                        .unwrap_or_else(|| "a former member".to_owned()),
                    at: m.moved_at,
                    when: member.zone().when(&m.moved_at),
                    time_in_previous: m.seconds_in_previous.map(duration),
                })
                .collect(),
            history_older: history.next.map(|c| c.to_string()),
            timeline,
            kinds: ActivityKind::ALL,
            activity: ActivityForm {
                kind: "call".to_owned(),
                occurred_at: member.zone().now_input(),
                ..ActivityForm::default()
            },
            activity_errors: Errors::default(),
            link: LinkForm::default(),
            link_errors: Errors::default(),
            roles: ContactRole::ALL,
            move_problem: None,
            stale_move: false,
            lost_reason: String::new(),
            lost_errors: Errors::default(),
            owners: if can_reassign {
                owner_choices(state, context, Some(deal.assigned_to)).await?
            } else {
                Vec::new()
            },
            can_reassign,
            detail,
        })
    }

    fn is_current(&self, stage: &Stage) -> bool {
        stage.id == self.detail.deal.stage_id
    }

    /// The stages a deal closes in, won or lost.
    fn closing(&self, outcome: &str) -> Vec<&Stage> {
        self.detail
            .stages
            .iter()
            .filter(|s| s.outcome.as_str() == outcome)
            .collect()
    }

    fn is_open(&self) -> bool {
        self.detail.deal.outcome == Outcome::Open
    }

    fn is_live(&self) -> bool {
        self.detail.deal.deleted_at.is_none()
    }
}

fn deal_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Deal created.",
        "saved" => "Deal saved.",
        "moved" => "Deal moved.",
        "won" => "Deal won. Well done.",
        "lost" => "Deal closed as lost.",
        "deleted" => "Deal deleted. It no longer shows in lists and searches.",
        "restored" => "Deal restored.",
        "logged" => "Activity logged.",
        "linked" => "Contact linked.",
        "unlinked" => "Contact unlinked.",
        "reassigned" => "Deal reassigned.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub(super) struct DealQuery {
    after: Option<String>,
    history_after: Option<String>,
    notice: Option<String>,
}

pub(super) async fn deal_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<DealId>,
    Query(query): Query<DealQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let detail = visible_deal(&state, &member, id).await?;
    if wants_fragment(&headers) {
        // Older activities, for htmx to append to the timeline.
        let after: Option<Cursor<ActivityId>> = query.after.as_deref().and_then(Cursor::parse);
        let mut timeline = TimelineView::load(
            &state,
            member.signed_in.context,
            member.zone(),
            Timeline::Deal(detail.deal.id),
            format!("/deals/{}", detail.deal.id),
            after,
        )
        .await?;
        timeline.oob = true;
        return Ok(vary_on_htmx(render(&MoreActivities {
            timeline,
            csrf_token: member.signed_in.csrf_token.clone(),
        })));
    }
    let history_after = query.history_after.as_deref().and_then(Cursor::parse);
    let mut page = DealPage::load(&state, &member, detail, history_after).await?;
    if let Some(after) = query.after.as_deref().and_then(Cursor::parse) {
        // Without script, "older activities" is a page of its own timeline position.
        page.timeline = TimelineView::load(
            &state,
            member.signed_in.context,
            member.zone(),
            Timeline::Deal(page.detail.deal.id),
            format!("/deals/{}", page.detail.deal.id),
            Some(after),
        )
        .await?;
    }
    page.notice = deal_notice(query.notice.as_deref());
    page.undo = removal::undo::<Deals>(query.notice.as_deref(), id);
    Ok(vary_on_htmx(render(&page)))
}

#[derive(Deserialize, Default)]
pub(super) struct MoveForm {
    #[serde(default)]
    stage_id: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    lost_reason: String,
}

pub(super) async fn move_stage(
    State(state): State<AppState>,
    Id(id): Id<DealId>,
    MemberForm { member, form }: MemberForm<MoveForm>,
) -> Result<Response, WebError> {
    let detail = visible_deal(&state, &member, id).await?;
    let target: Option<StageId> = optional_id(Some(&form.stage_id));
    let input = StageMoveInput {
        stage_id: target,
        version: version(&form.version),
        lost_reason: Some(form.lost_reason.clone()).filter(|r| !r.trim().is_empty()),
    };
    let error = match deals::move_to_stage(&state.db, member.signed_in.context, id, &input).await {
        Ok(deal) => {
            let notice = match deal.outcome {
                Outcome::Won => "won",
                Outcome::Lost => "lost",
                Outcome::Open => "moved",
            };
            return Ok(
                Redirect::to(&format!("/deals/{id}?notice={notice}#stage-bar")).into_response(),
            );
        }
        Err(error) => error,
    };
    let stage_name = detail
        .stages
        .iter()
        .find(|s| Some(s.id) == target)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    match error {
        WriteError::Invalid(found) => {
            let mut page = DealPage::load(&state, &member, detail, None).await?;
            page.lost_reason = form.lost_reason;
            let mut messages = Vec::new();
            for problem in found {
                if problem.field == "lost_reason" {
                    page.lost_errors.add("lost_reason", problem.message.clone());
                }
                page.move_problem.get_or_insert_with(|| MoveProblem {
                    stage: stage_name.clone(),
                    messages: Vec::new(),
                    needs_contact: false,
                    needs_fields: false,
                    needs_product: false,
                });
                if let Some(problem_view) = page.move_problem.as_mut() {
                    problem_view.needs_contact |= problem.field == "contacts";
                    problem_view.needs_product |= problem.field == "line_items";
                    problem_view.needs_fields |=
                        problem.field == "amount" || problem.field == "expected_close_date";
                }
                messages.push(problem.message);
            }
            if let Some(problem_view) = page.move_problem.as_mut() {
                problem_view.messages = messages;
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        WriteError::Stale(_) => {
            // The page is read again: the bar shows where the deal is now.
            let detail = visible_deal(&state, &member, id).await?;
            let mut page = DealPage::load(&state, &member, detail, None).await?;
            page.stale_move = true;
            page.lost_reason = form.lost_reason;
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        other => Err(other.into()),
    }
}

pub(super) async fn link_contact(
    State(state): State<AppState>,
    Id(id): Id<DealId>,
    MemberForm { member, form }: MemberForm<LinkForm>,
) -> Result<Response, WebError> {
    let detail = visible_deal(&state, &member, id).await?;
    let context = member.signed_in.context;
    let mut errors = Errors::default();
    let role = ContactRole::parse(&form.role);
    if role.is_none() {
        errors.add("role", "Choose a role.");
    }
    let contact = contact_named(&state, context, &form.contact).await?;
    if contact.is_none() {
        errors.add(
            "contact",
            if form.contact.trim().is_empty() {
                "Give the contact's email or full name.".to_owned()
            } else {
                format!(
                    "No contact of yours has the email or name “{}”.",
                    form.contact.trim()
                )
            },
        );
    }
    if let (Some(contact), Some(role), true) = (contact, role, errors.is_empty()) {
        match deals::link_contact(&state.db, context, id, contact, role).await {
            Ok(()) => {
                return Ok(
                    Redirect::to(&format!("/deals/{id}?notice=linked#contacts")).into_response()
                )
            }
            Err(WriteError::Invalid(found)) => {
                for problem in found {
                    errors.add("contact", problem.message);
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    let mut page = DealPage::load(&state, &member, detail, None).await?;
    page.link = form;
    page.link_errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct UnlinkForm {
    #[serde(default)]
    contact_id: String,
}

pub(super) async fn unlink_contact(
    State(state): State<AppState>,
    Id(id): Id<DealId>,
    MemberForm { member, form }: MemberForm<UnlinkForm>,
) -> Result<Response, WebError> {
    visible_deal(&state, &member, id).await?;
    let contact: ContactId = optional_id(Some(&form.contact_id)).ok_or(WebError::NotFound)?;
    deals::unlink_contact(&state.db, member.signed_in.context, id, contact).await?;
    Ok(Redirect::to(&format!("/deals/{id}?notice=unlinked#contacts")).into_response())
}

pub(super) async fn log_activity(
    State(state): State<AppState>,
    Id(id): Id<DealId>,
    MemberForm { member, form }: MemberForm<ActivityForm>,
) -> Result<Response, WebError> {
    let detail = visible_deal(&state, &member, id).await?;
    let mut errors = Errors::default();
    let input = form.input(member.zone(), &mut errors);
    let contact: Option<ContactId> = optional_id(Some(&form.contact_id));
    match activities::log_on_deal(&state.db, member.signed_in.context, id, contact, &input).await {
        Ok(_) => {
            return Ok(Redirect::to(&format!("/deals/{id}?notice=logged#timeline")).into_response())
        }
        Err(WriteError::Invalid(found)) => {
            errors.extend(found, &[("contact_id", "activity_contact")])
        }
        Err(other) => return Err(other.into()),
    }
    let mut page = DealPage::load(&state, &member, detail, None).await?;
    page.activity = form;
    page.activity_errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct OwnerForm {
    #[serde(default)]
    owner: String,
}

pub(super) async fn reassign_one(
    State(state): State<AppState>,
    Id(id): Id<DealId>,
    MemberForm { member, form }: MemberForm<OwnerForm>,
) -> Result<Response, WebError> {
    visible_deal(&state, &member, id).await?;
    member.require(Permission::AssignDeals)?;
    let Some(owner) = optional_id::<UserId>(Some(&form.owner)) else {
        return Err(WebError::InvalidFields(vec![aura_crm::FieldError {
            field: "owner".to_owned(),
            message: "Choose a member.".to_owned(),
        }]));
    };
    match deals::reassign(&state.db, member.signed_in.context, &[id], owner).await {
        Ok(_) => Ok(Redirect::to(&format!("/deals/{id}?notice=reassigned")).into_response()),
        Err(WriteError::NotFound) => {
            refusals::record_named(&state, member.signed_in.context, &[id.as_uuid()]).await;
            Err(WebError::NotFound)
        }
        Err(other) => Err(other.into()),
    }
}

/// Deals are deleted and restored by the shared path (`crate::removal`).
pub(super) struct Deals;

impl Removable for Deals {
    type Id = DealId;
    type Record = DealDetail;
    const PATH: &'static str = "/deals";
    const NOUN: &'static str = "deal";
    const SECTION: Section = Section::Deals;

    async fn find(state: &AppState, member: &Member, id: DealId) -> Result<DealDetail, WebError> {
        visible_deal(state, member, id).await
    }

    fn name(detail: &DealDetail) -> String {
        detail.deal.name.clone()
    }

    async fn set_deleted(
        state: &AppState,
        member: &Member,
        detail: &DealDetail,
        deleted: bool,
    ) -> Result<Option<ProblemPage>, WebError> {
        let context = member.signed_in.context;
        deals::set_deleted(&state.db, context, detail.deal.id, deleted).await?;
        Ok(None)
    }
}
