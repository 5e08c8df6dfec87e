//! `/runners`: the registered runners as operators watch them (admins only): the version and
//! task kinds each last reported, when it was last seen, what it runs now. Each runner's own
//! status page (`RUNNER_BIND`/status) has the detail of its tasks.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared_models::api::RunnerInfo;

use super::{Visitor, logged_in, page, to_login};
use crate::auth::Viewer;
use crate::domain::tokens;
use crate::error::AppResult;
use crate::state::AppState;

/// A runner not seen for this long is shown as silent (it claims at least every 30 s).
const SILENT_AFTER_SECS: i64 = 120;

#[derive(Serialize)]
struct RunnerRow {
    #[serde(flatten)]
    runner: RunnerInfo,
    silent: bool,
}

#[derive(Serialize)]
struct RunnersPage {
    user: Option<Visitor>,
    runners: Vec<RunnerRow>,
}

pub async fn show(state: web::Data<AppState>, viewer: Viewer) -> AppResult<HttpResponse> {
    let Some(principal) = logged_in(viewer) else { return Ok(to_login("/runners")) };
    let user = Visitor::of(Some(&principal));
    let runners = state.db.run(move |c| tokens::runners(c, &principal)).await?;
    let now = chrono::Utc::now();
    let runners = runners
        .into_iter()
        .map(|runner| {
            let silent = runner.last_seen_at.is_none_or(|at| (now - at).num_seconds() > SILENT_AFTER_SECS);
            RunnerRow { runner, silent }
        })
        .collect();
    page("runners.html", &RunnersPage { user, runners })
}
