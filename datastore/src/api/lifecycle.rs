//! The vote and what follows it: start, ballots, resolve, moves in preview, release, archive,
//! revoke (`docs/LIFECYCLE.md`). Each handler is one call into `domain::votes` or
//! `domain::publish`, which authorize and refuse.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use shared_models::api::{
    Ballot, CastVoteRequest, FetchThreadRequest, FileList, MailTally, MoveRequest, Release, ResolveRequest,
    RevokeRequest, StartVoteRequest, TaskQueued, VoteStatus,
};

use super::created;
use crate::auth::{Principal, Viewer};
use crate::db::DbConnection;
use crate::db::queries::releases::ReleaseContext;
use crate::domain::releases::{self, Change, ReleaseRef};
use crate::domain::{mailtally, publish, votes};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Put the latest revision of a draft to the vote: it is frozen, its files become public under
/// `/candidate/`, and the project's policy is copied into the release. Refused while checks
/// are running, could not run or failed (409 `vote_blocked`, `details.blockers` says which).
#[utoipa::path(operation_id = "start_vote", tag = "vote", request_body = StartVoteRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = VoteStatus, description = "the vote, open"),
        (status = 409, description = "`wrong_phase` (not a draft), `stale_revision` (not the latest), \
            `vote_blocked` (checks incomplete or failed; `details.blockers`)", body = shared_models::ErrorBody)))]
#[post("/vote/start")]
pub async fn start_vote(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<StartVoteRequest>,
) -> AppResult<web::Json<VoteStatus>> {
    let status = state.db.run(move |c| votes::start(c, &principal, &release, &body)).await?;
    crate::download::phases_changed();
    Ok(web::Json(status))
}

/// Cast a ballot (+1, 0 or -1) on a candidate. It is binding if you are on the committee's PMC
/// now; a later ballot replaces your earlier one in the tally (both stay in the audit log). A
/// ballot may carry an OpenPGP signature over its text (`GET …/votes/ballot-text`) by one of
/// your registered keys; it is then marked with that key (`signed_by`).
#[utoipa::path(operation_id = "cast_vote", tag = "vote", request_body = CastVoteRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = Ballot),
        (status = 409, description = "`wrong_phase` (not a candidate), `wrong_vote_mode` (the vote is held \
            on the list or recorded by hand)", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`, `invalid_signature` (it does not hold for the ballot's \
            text with any of your keys; `details.signed_text` is the text)", body = shared_models::ErrorBody)))]
#[post("/votes")]
pub async fn cast_vote(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<CastVoteRequest>,
) -> AppResult<HttpResponse> {
    let ballot = state.db.run(move |c| votes::cast(c, &principal, &release, &body)).await?;
    Ok(created(&ballot))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BallotQuery {
    /// The ballot's value: 1, 0 or -1.
    #[param(minimum = -1, maximum = 1)]
    pub value: i32,
}

/// Have a runner fetch the thread of a vote held on the list (`mail` mode) and tally it, as
/// `POST …/vote/tally` does with a posted thread: from `url`, or from the server's list archive
/// for the announcement's Message-ID. 202 with the task; its ballots appear in `GET …/votes`.
#[utoipa::path(operation_id = "fetch_vote_thread", tag = "vote", request_body = FetchThreadRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 202, body = TaskQueued), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase`, `wrong_vote_mode`", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request` (no url, and none can be made)", body = shared_models::ErrorBody)))]
#[post("/vote/fetch")]
pub async fn fetch_thread(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<FetchThreadRequest>,
) -> AppResult<HttpResponse> {
    let archive = state.config.mail_archive_url.clone();
    let task = state
        .db
        .run(move |c| votes::fetch_thread(c, &principal, &release, body.url.as_deref(), archive.as_deref()))
        .await?;
    state.wake_runners();
    Ok(HttpResponse::Accepted().json(TaskQueued { task }))
}

/// The text to sign (`gpg --armor --detach-sign`) for a signed ballot in the open vote: it
/// names the release, the round, the manifest digest and the value (docs/LIFECYCLE.md).
#[utoipa::path(security((), ("bearer" = [])), operation_id = "ballot_text", tag = "vote",
    params(("project" = String, Path), ("version" = String, Path), BallotQuery),
    responses((status = 200, content_type = "text/plain", body = String), (status = 400, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase` (no open vote)", body = shared_models::ErrorBody)))]
#[get("/votes/ballot-text")]
pub async fn ballot_text(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
    query: web::Query<BallotQuery>,
) -> AppResult<HttpResponse> {
    let value = query.into_inner().value;
    let text = state.db.run(move |c| votes::ballot_text_for(c, viewer.principal(), &release, value)).await?;
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::plaintext()).body(text))
}

/// The vote of the latest round: the ballots that count, the tally, whether it passes (V1) and
/// the time left (V2).
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_votes", tag = "vote",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VoteStatus),
        (status = 404, description = "no such release, or no vote has started", body = shared_models::ErrorBody)))]
#[get("/votes")]
pub async fn show_votes(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
) -> AppResult<web::Json<VoteStatus>> {
    let status = state.db.run(move |c| votes::status(c, viewer.principal(), &release)).await?;
    Ok(web::Json(status))
}

/// Tally a vote held on the mailing list (`mail` mode) from its thread, sent as an mbox
/// (`Content-Type: application/mbox`): CHECKS.md V3 decides which lines count, senders are
/// matched to users by their registered addresses, and the ballots are recorded.
#[utoipa::path(operation_id = "tally_vote", tag = "vote",
    request_body(content = String, content_type = "application/mbox", description = "the vote thread"),
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MailTally),
        (status = 409, description = "`wrong_phase` (not a candidate), `wrong_vote_mode` (not mail mode)", body = shared_models::ErrorBody),
        (status = 413, description = "a thread over 16 MiB", body = shared_models::ErrorBody),
        (status = 415, description = "not `application/mbox`", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_mbox`", body = shared_models::ErrorBody)))]
#[post("/vote/tally")]
pub async fn tally_vote(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    req: HttpRequest,
    mut payload: web::Payload,
) -> AppResult<web::Json<MailTally>> {
    let mime = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != "application/mbox" {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the vote thread as an mbox, with `Content-Type: application/mbox`.",
        ));
    }
    // Who may tally is known before a byte of the (up to 16 MiB) thread is read.
    let (check, who) = (release.clone(), principal.clone());
    state.db.run(move |c| votes::authorize_tally(c, &who, &check)).await?;
    let mut thread = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| AppError::bad_request("upload_interrupted", format!("The thread did not arrive: {e}.")))?;
        if thread.len() + chunk.len() > mailtally::MAX_THREAD_BYTES {
            return Err(AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("A vote thread is read up to {} MiB.", mailtally::MAX_THREAD_BYTES >> 20),
            ));
        }
        thread.extend_from_slice(&chunk);
    }
    let tally = state.db.run(move |c| votes::tally_mail(c, &principal, &release, &thread)).await?;
    Ok(web::Json(tally))
}

/// End the vote: `passed` (after the minimum time, with the quorum, or in manual mode with a
/// reason) moves the release to `preview`; `failed` sends it back to `draft`.
#[utoipa::path(operation_id = "resolve_vote", tag = "vote", request_body = ResolveRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Release),
        (status = 409, description = "`wrong_phase`, `vote_open` (before `closes_at`), `no_quorum` \
            (`details.tally`)", body = shared_models::ErrorBody)))]
#[post("/resolve")]
pub async fn resolve(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<ResolveRequest>,
) -> AppResult<web::Json<Release>> {
    phase_changed(&state, move |c| votes::resolve(c, &principal, &release, body.outcome, body.reason.as_deref())).await
}

/// Rename a file or move a folder: a new revision, in a draft or a preview (where names may
/// change before the release, bytes may not).
#[utoipa::path(operation_id = "move_file", tag = "releases", request_body = MoveRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = FileList, description = "the files of the new revision"),
        (status = 409, description = "`wrong_phase`, `path_conflict`", body = shared_models::ErrorBody)))]
#[post("/files/move")]
pub async fn move_file(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<MoveRequest>,
) -> AppResult<HttpResponse> {
    let MoveRequest { from, to } = body.into_inner();
    let description = format!("move {from} to {to}");
    let (listing, queued) = state
        .db
        .run(move |c| {
            let revision =
                releases::commit_revision(c, &principal, &release, &[Change::Move { from, to }], &description)?;
            Ok::<_, AppError>((releases::file_list(&revision)?, !revision.tasks.is_empty()))
        })
        .await?;
    if queued {
        state.wake_runners();
    }
    crate::download::phases_changed(); // a preview's files are public under their names
    Ok(created(&listing))
}

/// Publish a preview: its latest revision, holding exactly the voted bytes, goes out under
/// `/current/`, and `latest` names it if it is the newest release.
#[utoipa::path(operation_id = "publish_release", tag = "vote",
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Release),
        (status = 409, description = "`wrong_phase`, `content_changed`", body = shared_models::ErrorBody)))]
#[post("/release")]
pub async fn publish_release(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
) -> AppResult<web::Json<Release>> {
    phase_changed(&state, move |c| publish::release(c, &principal, &release)).await
}

/// Archive a current release (a newer one supersedes it); its files stay under `/current/`.
#[utoipa::path(operation_id = "archive_release", tag = "vote",
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Release), (status = 409, description = "`wrong_phase`", body = shared_models::ErrorBody)))]
#[post("/archive")]
pub async fn archive_release(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
) -> AppResult<web::Json<Release>> {
    phase_changed(&state, move |c| publish::archive(c, &principal, &release)).await
}

/// Revoke a released release: its files move to `/revoked/` and its old URLs answer 410 with
/// the reason. Nothing is deleted.
#[utoipa::path(operation_id = "revoke_release", tag = "vote", request_body = RevokeRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Release), (status = 409, description = "`wrong_phase`", body = shared_models::ErrorBody)))]
#[post("/revoke")]
pub async fn revoke_release(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<RevokeRequest>,
) -> AppResult<web::Json<Release>> {
    phase_changed(&state, move |c| publish::revoke(c, &principal, &release, &body.reason)).await
}

/// Runs a phase change and answers with the release as it now is; downloads in this process
/// see the new phase at once.
async fn phase_changed(
    state: &AppState,
    change: impl FnOnce(&mut DbConnection) -> AppResult<ReleaseContext> + Send + 'static,
) -> AppResult<web::Json<Release>> {
    let public_url = state.config.public_url();
    let detail = state
        .db
        .run(move |c| {
            let ctx = change(c)?;
            releases::detail(c, &ctx, &public_url)
        })
        .await?;
    crate::download::phases_changed();
    Ok(web::Json(detail))
}
