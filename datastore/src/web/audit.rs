//! `/audit`: the audit log as its reader may see it (admins every event; others the events of
//! the releases they may read), filtered as `GET /api/v1/events` is, with the latest signed
//! checkpoint of the chain.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::api::{AuditCheckpoint, Event};

use super::{Visitor, page};
use crate::api::audit::{EventQuery, filter_of};
use crate::auth::Viewer;
use crate::domain::audit;
use crate::domain::page::Page;
use crate::error::AppResult;
use crate::state::AppState;

/// Events on one page.
const PER_PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
pub struct AuditForm {
    committee: Option<String>,
    project: Option<String>,
    release: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    offset: Option<u64>,
    /// `whole`: recompute the whole chain (for those who read every event).
    verify: Option<String>,
}

#[derive(Serialize)]
struct EventRow {
    #[serde(flatten)]
    event: Event,
    /// The event's details, as JSON for people.
    details_text: String,
}

#[derive(Serialize)]
struct AuditPage {
    user: Option<Visitor>,
    form: EventQuery,
    events: Vec<EventRow>,
    total: u64,
    /// The places (1-based, counted from the newest) of the first and last events shown.
    from: u64,
    to: u64,
    earlier: Option<String>,
    later: Option<String>,
    checkpoint: Option<AuditCheckpoint>,
    chain: audit::ChainStatus,
    /// Whether this reader may have the whole chain recomputed.
    may_verify_whole: bool,
}

fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `GET /audit`: the newest events first, a page at a time.
pub async fn show(state: web::Data<AppState>, viewer: Viewer, form: web::Query<AuditForm>) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let offset = form.offset;
    let query = EventQuery {
        committee: given(form.committee),
        project: given(form.project),
        release: given(form.release),
        actor: given(form.actor),
        since: given(form.since),
        until: given(form.until),
    };
    let (mut filter, again) = filter_of(&query)?;
    filter.newest_first = true;
    let user = Visitor::of(viewer.principal());
    // Recomputing every event costs a read of the whole log: only for those who read it all.
    let may_verify_whole = viewer.principal().is_some_and(crate::auth::authz::reads_every_event);
    let whole = may_verify_whole && form.verify.as_deref() == Some("whole");
    let trusted = audit::trusted_key(&state.config.state_dir)?;
    let (list, checkpoint, chain) = state
        .db
        .run(move |c| -> AppResult<_> {
            let page = Page { limit: Some(PER_PAGE), offset };
            let list = audit::events(c, viewer.principal(), &filter, page, "")?;
            let checkpoint = audit::latest(c).ok();
            let chain = audit::status(c, trusted.as_deref(), whole);
            Ok((list, checkpoint, chain))
        })
        .await?;
    let mut chain = chain;
    if let Some(why) = &chain.broken {
        tracing::error!(whole, why, "the audit chain does not verify");
        // The first event that does not match may be one this reader may not see.
        if !may_verify_whole {
            chain.broken = Some("an event or checkpoint does not match the chain (an administrator sees which)".into());
        }
    }
    // Newest first: `offset` counts back from the newest event.
    let (first, total) = (list.page.offset, list.page.total);
    let link = |offset: u64| format!("/audit?{again}offset={offset}");
    let shown = u64::try_from(list.events.len()).unwrap_or(0);
    let earlier = (first + shown < total).then(|| link(first + shown));
    let later = (first > 0).then(|| link(first.saturating_sub(u64::from(PER_PAGE))));
    let events = list
        .events
        .into_iter()
        .map(|event| EventRow { details_text: serde_json::to_string_pretty(&event.details).unwrap_or_default(), event })
        .collect();
    let (from, to) = (first + 1, first + shown);
    page(
        "audit.html",
        &AuditPage { user, form: query, events, total, from, to, earlier, later, checkpoint, chain, may_verify_whole },
    )
}
