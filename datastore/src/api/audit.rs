//! The audit log: its events across releases, and its signed checkpoint (`docs/AUDIT.md`).

use actix_web::{get, web};
use chrono::DateTime;
use serde::Deserialize;
use shared_models::api::{AuditCheckpoint, EventList};

use super::PageQuery;
use crate::auth::Viewer;
use crate::db::queries::events::EventFilter;
use crate::domain::audit;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::url::encode_query_value;

#[derive(Debug, Deserialize, serde::Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    #[param(pattern = "^[a-z][a-z0-9-]*$")]
    pub committee: Option<String>,
    #[param(pattern = "^[a-z][a-z0-9-]*$")]
    pub project: Option<String>,
    /// `project/version` or `project/product/version`.
    #[param(pattern = "^[a-z][a-z0-9-]*/([a-z][a-z0-9-]*/)?[0-9][A-Za-z0-9.+_-]*$")]
    pub release: Option<String>,
    /// A user id, `runner:<name>` or `system`.
    #[param(max_length = 200)]
    pub actor: Option<String>,
    /// Events at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
}

fn time(field: &str, value: Option<&str>) -> AppResult<Option<i64>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v).map(|t| t.timestamp_millis()).map_err(|e| {
                AppError::bad_request(
                    "invalid_query",
                    format!("{field} is not an RFC 3339 time ({e}), e.g. 2026-12-01T00:00:00Z."),
                )
            })
        })
        .transpose()
}

/// The filter a query names, and the query string that names it again (for `next` links).
/// The audit page reads its form with this too.
pub(crate) fn filter_of(query: &EventQuery) -> AppResult<(EventFilter, String)> {
    let name = |value: &Option<String>| -> AppResult<Option<String>> {
        value.as_deref().map(|v| super::url_name(shared_models::Name::parse(v)).map(|n| n.to_string())).transpose()
    };
    if query.actor.as_ref().is_some_and(|a| a.chars().count() > 200) {
        return Err(AppError::bad_request("invalid_query", "actor has at most 200 characters."));
    }
    let release = query.release.as_deref().map(super::tasks::parse_release).transpose()?;
    let filter = EventFilter {
        committee: name(&query.committee)?,
        project: name(&query.project)?,
        release: release.map(|r| (r.project.to_string(), r.product_name().to_owned(), r.version.to_string())),
        actor: query.actor.clone(),
        since: time("since", query.since.as_deref())?,
        until: time("until", query.until.as_deref())?,
        newest_first: false,
    };
    let mut again = String::new();
    for (key, value) in [
        ("committee", &query.committee),
        ("project", &query.project),
        ("release", &query.release),
        ("actor", &query.actor),
        ("since", &query.since),
        ("until", &query.until),
    ] {
        if let Some(value) = value {
            again.push_str(&format!("{key}={}&", encode_query_value(value)));
        }
    }
    Ok((filter, again))
}

/// The audit log, oldest first: every event for admins; for others, those of the releases
/// they may read (public releases, and their committees' drafts).
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_all_events", tag = "audit",
    params(EventQuery, PageQuery),
    responses((status = 200, body = EventList)))]
#[get("/events")]
pub async fn events(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<EventQuery>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<EventList>> {
    let (filter, again) = filter_of(&query.into_inner())?;
    let page = page.into_inner();
    let list = state.db.run(move |c| audit::events(c, viewer.principal(), &filter, page, &again)).await?;
    Ok(web::Json(list))
}

/// The latest signed checkpoint of the audit chain: its length, head hash, and an Ed25519
/// signature anyone can check. Public.
#[utoipa::path(operation_id = "show_audit_checkpoint", tag = "audit",
    responses((status = 200, body = AuditCheckpoint),
        (status = 404, description = "none signed yet", body = shared_models::ErrorBody)))]
#[get("/audit/checkpoint")]
pub async fn checkpoint(state: web::Data<AppState>) -> AppResult<web::Json<AuditCheckpoint>> {
    Ok(web::Json(state.db.run(audit::latest).await?))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(checkpoint).service(events);
}
