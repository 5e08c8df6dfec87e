//! The vote (`docs/LIFECYCLE.md`): a draft's latest revision is frozen and put to the vote
//! under a snapshot of the project's policy; people cast ballots; the release manager resolves
//! it. The rules of CHECKS.md V1 (quorum) and V2 (minimum time) are here.

use std::collections::{BTreeMap, BTreeSet};

use checks::digest::Sha256;
use serde_json::json;
use shared_models::api::{
    Ballot, CastVoteRequest, CountedMail, KeyFindingSeverity, MailTally, Phase, ProjectPolicy, SkippedMail,
    StartVoteRequest, Tally, VoteMode, VoteOutcome, VoteStage, VoteStatus, VoteSummary,
};
use shared_models::checks::CheckStatus;
use shared_models::runner::{TaskKind, VoteThreadOrder};

use super::lifecycle::{self, Transition};
use super::releases::{self, ReleaseRef};
use super::text;
use crate::auth::{Action, Principal, authz};
use crate::db::models::{BlobRow, NewVote, ReleaseRow, VoteRow};
use crate::db::queries::auth as auth_q;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases as rq;
use crate::db::queries::releases::ReleaseContext;
use crate::db::queries::votes as q;
use crate::db::{DbConnection, now_ms, to_time, write_transaction};
use crate::error::{AppError, AppResult};

const HOUR_MS: i64 = 3_600_000;
/// The committee whose PMC votes second on a podling's release.
pub const INCUBATOR: &str = "incubator";
/// Blockers named in a refusal, at most (the checks report has them all).
const MAX_BLOCKERS_LISTED: usize = 20;

/// The manifest digest of a revision: the hex SHA-256 of one line per file, in the byte order
/// of the paths, each `path TAB size TAB sha512 LF` (size in decimal, sha512 in lower-case
/// hex). Paths hold no tab or line break (the path grammar forbids control characters), so
/// the text is unambiguous and anyone can recompute it from a file listing.
pub fn manifest_digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a BlobRow)>) -> String {
    let mut lines: Vec<String> =
        files.into_iter().map(|(path, blob)| format!("{path}\t{}\t{}\n", blob.size, blob.sha512)).collect();
    lines.sort_unstable();
    let mut hasher = Sha256::default();
    for line in &lines {
        hasher.update(line.as_bytes());
    }
    hasher.finish_hex()
}

/// What keeps a draft's latest revision from going to the vote: checks still to run, checks
/// that could not run, failures, and an empty revision.
fn blockers(conn: &mut DbConnection, ctx: &ReleaseContext, files: usize, closes_at: i64) -> AppResult<Vec<String>> {
    let mut blockers = Vec::new();
    if files == 0 {
        blockers.push("the revision has no files".to_owned());
    }
    let report = super::checks::report(conn, ctx)?;
    if !report.complete {
        blockers.push("checks are still running: wait until GET …/checks says \"complete\": true".to_owned());
    }
    // KEYS lint: a key that signed this revision and would stop verifying (expired, revoked)
    // before the vote closes. Its other findings are warnings on the keys pages.
    let signers: BTreeSet<String> = report
        .results
        .iter()
        .filter(|r| r.checker == TaskKind::Signature && r.status == CheckStatus::Success)
        .filter_map(|r| r.data.as_ref())
        .flat_map(|d| ["signer", "signing_key"].map(|k| d.get(k).and_then(|v| v.as_str()).map(str::to_owned)))
        .flatten()
        .collect();
    if !signers.is_empty() {
        let lint = super::keys::lint(conn, &ctx.committee, Some(to_time(closes_at)), &signers)?;
        blockers.extend(
            lint.findings
                .into_iter()
                .filter(|f| f.severity == KeyFindingSeverity::Blocking)
                .map(|f| format!("KEYS: {} (key {})", f.message, f.fingerprint)),
        );
    }
    for result in &report.results {
        let what = match result.status {
            CheckStatus::Failure => "failure",
            CheckStatus::Error => "could not run (retry the task)",
            _ => continue,
        };
        let place = match &result.member {
            Some(member) => format!("{}!{member}", result.path),
            None => result.path.clone(),
        };
        blockers.push(format!("{} on {place}: {what}: {}", result.checker.as_str(), result.message));
    }
    Ok(blockers)
}

/// `POST …/vote/start`: freezes the latest revision of a draft and opens round `n + 1` of its
/// vote, under a snapshot of the project's policy. Refused (409) while blockers remain, when the
/// named revision is not the latest, or when the release is not a draft.
pub fn start(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    request: &StartVoteRequest,
) -> AppResult<VoteStatus> {
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize_release(principal, Action::StartVote, &ctx)?;
        lifecycle::next(ctx.release.phase()?, Transition::StartVote)?;
        let latest = ctx.release.revision;
        let revision = request.revision.unwrap_or(latest);
        if revision > latest || revision < 0 {
            return Err(AppError::not_found(format!("The release {release} has no revision {revision}.")));
        }
        if revision != latest {
            return Err(AppError::conflict(
                "stale_revision",
                format!(
                    "Revision {revision} is not the latest of {release} (that is {latest}): a vote is on the latest."
                ),
            )
            .with_details(json!({"latest": latest})));
        }
        let files = releases::revision_files(conn, &ctx, revision)?;
        let policy = super::checks::policy_of(&ctx)?;
        let hours = request.duration_hours.unwrap_or(policy.min_vote_hours).max(1);
        let opened_at = now_ms();
        let closes_at = opened_at + i64::from(hours) * HOUR_MS;
        let blockers = blockers(conn, &ctx, files.len(), closes_at)?;
        if !blockers.is_empty() {
            let total = blockers.len();
            return Err(AppError::conflict(
                "vote_blocked",
                format!("The vote on {release} cannot start: {}.", blockers[0]),
            )
            .with_details(json!({
                "blockers": blockers.into_iter().take(MAX_BLOCKERS_LISTED).collect::<Vec<_>>(),
                "total": total,
            })));
        }
        let expedited = if hours < policy.min_vote_hours {
            let reason = text::optional("expedited_reason", request.expedited_reason.as_deref(), text::MAX_NAME)?;
            Some(reason.ok_or_else(|| {
                AppError::unprocessable(
                    "invalid_request",
                    format!(
                        "A vote of {hours} hours is shorter than the policy's {}: give an expedited_reason (for \
                         example a security release).",
                        policy.min_vote_hours
                    ),
                )
                .with_details(json!({"field": "expedited_reason"}))
            })?)
        } else {
            None
        };
        let digest = manifest_digest(files.iter().map(|(p, b)| (p.as_str(), b)));
        let round = ctx.release.vote_round + 1;
        let snapshot = serde_json::to_string(&policy).map_err(AppError::internal)?;
        let started = q::start(
            conn,
            ctx.release.id,
            &q::VoteStart {
                revision,
                round,
                policy: &snapshot,
                manifest_digest: &digest,
                opened_at,
                closes_at,
                expedited_reason: expedited.as_deref(),
                stage: ctx.committee.podling.then_some(VoteStage::Podling.as_str()),
            },
        )?;
        if !started {
            return Err(AppError::conflict(
                "wrong_phase",
                format!("{release} changed while the vote was starting; try again."),
            ));
        }
        let ctx = releases::load(conn, release)?;
        let status = status_of(conn, &ctx)?;
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "vote.started",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({
                    "round": round,
                    "revision": revision,
                    "manifest_digest": digest,
                    "mode": policy.vote_mode,
                    "hours": hours,
                    "closes_at": status.vote.closes_at,
                    "binding_plus_required": policy.binding_plus_required,
                    "expedited_reason": expedited,
                    "stage": status.vote.stage,
                }),
            },
        )?;
        Ok(status)
    })
}

/// The policy a release's vote runs under (its snapshot).
pub fn snapshot(row: &ReleaseRow) -> AppResult<ProjectPolicy> {
    let policy = row.vote_policy.as_deref().ok_or_else(|| AppError::internal("a vote without its policy"))?;
    serde_json::from_str(policy).map_err(|e| AppError::internal(format!("the vote policy does not parse: {e}")))
}

/// The vote of a release's latest round, if one has started.
pub fn summary(row: &ReleaseRow) -> AppResult<Option<VoteSummary>> {
    if row.vote_round == 0 {
        return Ok(None);
    }
    let policy = snapshot(row)?;
    let missing = || AppError::internal("a vote without its revision, times or digest");
    Ok(Some(VoteSummary {
        round: row.vote_round,
        stage: row.vote_stage.as_deref().map(VoteStage::parse).transpose()?,
        revision: row.vote_revision.ok_or_else(missing)?,
        manifest_digest: row.manifest_digest.clone().ok_or_else(missing)?,
        mode: policy.vote_mode,
        min_vote_hours: policy.min_vote_hours,
        binding_plus_required: policy.binding_plus_required,
        opened_at: to_time(row.vote_started_at.ok_or_else(missing)?),
        closes_at: to_time(row.vote_closes_at.ok_or_else(missing)?),
        expedited_reason: row.vote_expedited_reason.clone(),
        outcome: row.vote_outcome.as_deref().map(VoteOutcome::parse).transpose()?,
        resolved_at: row.vote_resolved_at.map(to_time),
        resolution: row.vote_resolution.clone(),
    }))
}

/// The ballots that count: each voter's latest of the round, in the order they first voted.
pub fn counted(rows: &[VoteRow]) -> Vec<Ballot> {
    let mut by_voter: BTreeMap<&str, (usize, &VoteRow, u32)> = BTreeMap::new();
    for (order, row) in rows.iter().enumerate() {
        let entry = by_voter.entry(row.voter.as_str()).or_insert((order, row, 0));
        entry.1 = row;
        entry.2 += 1;
    }
    let mut ballots: Vec<(usize, Ballot)> = by_voter
        .into_values()
        .map(|(order, row, cast)| {
            (
                order,
                Ballot {
                    voter: row.voter.clone(),
                    value: row.value,
                    binding: row.binding,
                    comment: row.comment.clone(),
                    cast_at: to_time(row.created_at),
                    source: row.source.clone(),
                    ballots_cast: cast,
                    signed_by: row.signed_by.clone(),
                },
            )
        })
        .collect();
    ballots.sort_by_key(|(order, _)| *order);
    ballots.into_iter().map(|(_, ballot)| ballot).collect()
}

pub fn tally(ballots: &[Ballot]) -> Tally {
    let mut tally = Tally::default();
    for ballot in ballots {
        let count = match (ballot.binding, ballot.value) {
            (true, 1) => &mut tally.binding_plus,
            (true, 0) => &mut tally.binding_zero,
            (true, _) => &mut tally.binding_minus,
            (false, 1) => &mut tally.non_binding_plus,
            (false, 0) => &mut tally.non_binding_zero,
            (false, _) => &mut tally.non_binding_minus,
        };
        *count += 1;
    }
    tally
}

/// CHECKS.md V1: at least `required` binding +1, and more binding +1 than binding -1.
pub fn passes(tally: &Tally, required: u32) -> bool {
    tally.binding_plus >= required && tally.binding_plus > tally.binding_minus
}

fn status_of(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<VoteStatus> {
    let vote =
        summary(&ctx.release)?.ok_or_else(|| AppError::not_found(format!("No vote has started on {}.", ctx.key())))?;
    let rows = q::ballots(conn, ctx.release.id, vote.round)?;
    let votes = counted(&rows);
    let tally = tally(&votes);
    let passes = passes(&tally, vote.binding_plus_required);
    let left_ms = (vote.closes_at.timestamp_millis() - now_ms()).max(0);
    Ok(VoteStatus {
        vote,
        votes,
        tally,
        passes,
        closed: left_ms == 0,
        seconds_left: u64::try_from((left_ms + 999) / 1000).unwrap_or_default(),
    })
}

/// `GET …/votes`: the latest round's ballots that count, the tally and the time left.
pub fn status(conn: &mut DbConnection, viewer: Option<&Principal>, release: &ReleaseRef) -> AppResult<VoteStatus> {
    let ctx = releases::load_readable(conn, viewer, release)?;
    status_of(conn, &ctx)
}

/// `POST …/votes`: a ballot on a candidate, binding if the voter is on the committee's PMC now.
/// The text a signed ballot's signature covers: the release, the round, the digest of what is
/// voted on and the value, so that a signature made for one ballot serves no other
/// (`docs/LIFECYCLE.md`).
pub fn ballot_text(release: &str, round: i64, manifest_digest: &str, value: i32) -> String {
    let value = if value > 0 { format!("+{value}") } else { value.to_string() };
    format!(
        "Trusted Releases ballot\nrelease: {release}\nround: {round}\nmanifest: {manifest_digest}\nvalue: {value}\n"
    )
}

/// `GET …/votes/ballot-text?value=…`: the text to sign for a ballot in the open vote.
pub fn ballot_text_for(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    release: &ReleaseRef,
    value: i32,
) -> AppResult<String> {
    if !(-1..=1).contains(&value) {
        return Err(AppError::bad_request("invalid_query", "value is 1, 0 or -1."));
    }
    let ctx = releases::load_readable(conn, viewer, release)?;
    let vote = open_vote(&ctx, "Ballots are signed for an open vote")?;
    Ok(ballot_text(&ctx.key(), vote.round, &vote.manifest_digest, value))
}

/// The vote of a candidate (409 `wrong_phase` for any other phase, saying that `why`).
fn open_vote(ctx: &ReleaseContext, why: &str) -> AppResult<VoteSummary> {
    let phase = ctx.release.phase()?;
    if phase != Phase::Candidate {
        return Err(lifecycle::wrong_phase(
            phase,
            Phase::Candidate.as_str(),
            format!("{why}; {} is in phase {phase}.", ctx.key()),
        ));
    }
    summary(&ctx.release)?.ok_or_else(|| AppError::internal("a candidate without a vote"))
}

/// The fingerprint of the voter's key whose signature over `text` holds (422 if none does).
fn ballot_signer(conn: &mut DbConnection, principal: &Principal, text: &str, signature: &str) -> AppResult<String> {
    let refuse = |why: String| {
        AppError::unprocessable("invalid_signature", format!("The ballot's signature does not hold: {why}."))
            .with_details(json!({"field": "signature", "signed_text": text}))
    };
    let keys = crate::db::queries::keys::owned_by(conn, principal.user_id)?;
    if keys.is_empty() {
        return Err(refuse("you have no registered key to check it against (POST /api/v1/keys)".to_owned()));
    }
    let mut reasons = Vec::new();
    for row in keys {
        for cert in checks::openpgp::parse_keyring(row.armored.as_bytes()).certificates {
            match cert.signed(text.as_bytes(), signature.as_bytes()) {
                Ok(_) => return Ok(cert.fingerprint),
                Err(why) => reasons.push(why),
            }
        }
    }
    Err(refuse(reasons.join("; ")))
}

/// Anyone signed in may vote (others' ballots are counted as non-binding); a later ballot
/// replaces the earlier one in the tally, and both stay in the audit log. A ballot may be
/// signed with one of the voter's keys over [`ballot_text`]; a signature that does not hold is
/// refused, never stored as unsigned.
pub fn cast(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    request: &CastVoteRequest,
) -> AppResult<Ballot> {
    if !(-1..=1).contains(&request.value) {
        return Err(AppError::unprocessable("invalid_request", "A ballot is +1, 0 or -1.")
            .with_details(json!({"field": "value"})));
    }
    let comment = text::optional_comment("comment", request.comment.as_deref(), text::MAX_COMMENT)?;
    authz::authorize_ballot(principal)?;
    write_transaction(conn, |conn| {
        // A draft does not exist for those outside its committee (404, never 409).
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        let vote = open_vote(&ctx, "Ballots are cast on a candidate")?;
        if vote.mode != VoteMode::Platform {
            return Err(AppError::conflict(
                "wrong_vote_mode",
                format!(
                    "The vote on {release} is held in {} mode: {}.",
                    vote.mode,
                    match vote.mode {
                        VoteMode::Mail => "vote on the mailing list; the release manager tallies the thread",
                        _ => "the release manager records the outcome",
                    }
                ),
            ));
        }
        lock(conn, &ctx, vote.round)?;
        let binding = authz::ballot_is_binding(principal, binding_committee(&ctx, &vote));
        let signature = request.signature.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let signed_by = match signature {
            Some(signature) => {
                let text = ballot_text(&ctx.key(), vote.round, &vote.manifest_digest, request.value);
                Some(ballot_signer(conn, principal, &text, signature)?)
            }
            None => None,
        };
        let earlier =
            counted(&q::ballots(conn, ctx.release.id, vote.round)?).into_iter().find(|b| b.voter == principal.uid);
        let now = now_ms();
        q::insert_ballot(
            conn,
            &NewVote {
                release_id: ctx.release.id,
                revision_seq: vote.revision,
                voter_id: Some(principal.user_id),
                voter: principal.uid.clone(),
                value: request.value,
                binding,
                comment: comment.clone(),
                source: "platform".to_owned(),
                created_at: now,
                round: vote.round,
                signature: signature.map(str::to_owned),
                signed_by: signed_by.clone(),
            },
        )?;
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "vote.cast",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({
                    "round": vote.round,
                    "manifest_digest": vote.manifest_digest,
                    "value": request.value,
                    "binding": binding,
                    // A visitor may withdraw their consent, and the log is never rewritten: it
                    // holds the digest of their comment, not its text (ADR 0014).
                    "comment": comment.as_ref().filter(|_| !principal.visitor),
                    "comment_sha256": comment.as_ref().filter(|_| principal.visitor)
                        .map(|c| checks::digest::sha256_hex(c.as_bytes())),
                    "replaces": earlier.as_ref().map(|b| b.value),
                    // A key's fingerprint leads to a name: a visitor's is not kept in the log.
                    "signed_by": signed_by.as_ref().filter(|_| !principal.visitor),
                }),
            },
        )?;
        Ok(Ballot {
            voter: principal.uid.clone(),
            value: request.value,
            binding,
            comment,
            cast_at: to_time(now),
            source: "platform".to_owned(),
            ballots_cast: earlier.map_or(1, |b| b.ballots_cast + 1),
            signed_by,
        })
    })
}

/// Whether `principal` may tally the vote of `release` (404 for a draft outside its committee,
/// 403 below release manager), asked before the thread is read.
pub fn authorize_tally(conn: &mut DbConnection, principal: &Principal, release: &ReleaseRef) -> AppResult<()> {
    let ctx = releases::load_readable(conn, Some(principal), release)?;
    authz::authorize(principal, Action::ManageReleasePhase, &ctx.committee.name)
}

/// `POST …/vote/tally`: reads a vote thread (an mbox) and records its ballots in a `mail`
/// mode vote. Senders are matched to users by their registered address; a matched PMC
/// member's vote is binding, everyone else's is not. Tallying the same thread again records
/// nothing new; a later thread with changed votes records the changes.
pub fn tally_mail(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    mbox: &[u8],
) -> AppResult<MailTally> {
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize(principal, Action::ManageReleasePhase, &ctx.committee.name)?;
        let vote = open_mail_vote(&ctx)?;
        authz::authorize(principal, Action::ManageReleasePhase, binding_committee(&ctx, &vote))?;
        let root = vote_mail_id(conn, &ctx)?;
        let thread = super::mailtally::read_thread(mbox, root.as_deref()).map_err(|why| {
            AppError::unprocessable("invalid_mbox", format!("The vote thread cannot be read: {why}."))
        })?;
        record_thread(conn, principal.actor(), &ctx, &vote, thread)
    })
}

/// The vote of a candidate held on the list (409 otherwise).
fn open_mail_vote(ctx: &ReleaseContext) -> AppResult<VoteSummary> {
    let vote = open_vote(ctx, "Only a candidate's vote is tallied")?;
    if vote.mode != VoteMode::Mail {
        return Err(AppError::conflict(
            "wrong_vote_mode",
            format!("The vote on {} is held in {} mode; a thread is tallied in mail mode.", ctx.key(), vote.mode),
        ));
    }
    Ok(vote)
}

/// The Message-ID of the announcement the platform mailed for the open round, if it did: the
/// root of the thread whose replies count.
fn vote_mail_id(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<Option<String>> {
    let started_at = ctx.release.vote_started_at.unwrap_or(i64::MAX);
    let mails = crate::db::queries::outbound::deliveries_of_release(conn, ctx.release.id, "mail")?;
    // The vote mail of the open round: the last made for a vote start since the round opened.
    Ok(mails
        .into_iter()
        .rev()
        .find(|(d, _)| d.action == "vote.started" && d.created_at >= started_at)
        .map(|(d, _)| d.message_id))
}

/// `POST …/vote/fetch`: the release manager asks a runner to fetch the vote thread from the
/// list archive (`url`, or `DATASTORE_MAIL_ARCHIVE_URL` with the announcement's Message-ID)
/// and tally it, as `POST …/vote/tally` does. Returns the task's id.
pub fn fetch_thread(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    url: Option<&str>,
    archive_template: Option<&str>,
) -> AppResult<i64> {
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize(principal, Action::ManageReleasePhase, &ctx.committee.name)?;
        let vote = open_mail_vote(&ctx)?;
        authz::authorize(principal, Action::ManageReleasePhase, binding_committee(&ctx, &vote))?;
        let root = vote_mail_id(conn, &ctx)?;
        let url = match (url, archive_template, root.as_deref()) {
            (Some(url), _, _) => url.to_owned(),
            (None, Some(template), Some(root)) => {
                let id = root.trim_start_matches('<').trim_end_matches('>');
                template.replace("{message_id}", &crate::url::encode_query_value(id))
            }
            (None, None, _) => {
                return Err(AppError::unprocessable(
                    "invalid_request",
                    "Give the thread's url: this server has no DATASTORE_MAIL_ARCHIVE_URL.",
                )
                .with_details(json!({"field": "url"})));
            }
            (None, Some(_), None) => {
                return Err(AppError::unprocessable(
                    "invalid_request",
                    "Give the thread's url: the platform did not mail this vote's announcement, so its Message-ID \
                     is not known.",
                )
                .with_details(json!({"field": "url"})));
            }
        };
        super::webhooks::check_url(&url)?; // a webhook's rules: http(s), no credentials, no backslash
        let order = VoteThreadOrder { url, round: vote.round, root, requested_by: principal.uid.clone() };
        let args = serde_json::to_string(&order).map_err(AppError::internal)?;
        let key = format!("vote_thread:{}:{}", ctx.release.id, now_ms());
        let task = super::tasks::order_task(TaskKind::VoteThread, ctx.release.id, Some(vote.revision), &key, args, 5);
        Ok(crate::db::queries::tasks::enqueue(conn, &task)?)
    })
}

/// A runner fetched the thread a `vote_thread` task asked for: tally it, if the vote it was
/// asked for is still open (a vote resolved meanwhile is left alone).
pub fn tally_fetched(conn: &mut DbConnection, release_id: i64, order: &VoteThreadOrder, mbox: &[u8]) -> AppResult<()> {
    let ctx = rq::context_by_id(conn, release_id)?;
    let vote = match open_mail_vote(&ctx) {
        Ok(vote) if vote.round == order.round => vote,
        _ => {
            tracing::info!(release = %ctx.key(), round = order.round, "the fetched thread's vote is no longer open: not tallied");
            return Ok(());
        }
    };
    let thread = super::mailtally::read_thread(mbox, order.root.as_deref())
        .map_err(|why| AppError::unprocessable("invalid_mbox", format!("The fetched thread cannot be read: {why}.")))?;
    let tally = record_thread(conn, &order.requested_by, &ctx, &vote, thread)?;
    tracing::info!(release = %ctx.key(), recorded = tally.recorded, "fetched vote thread tallied");
    Ok(())
}

/// Records the ballots of a thread in a mail vote, as `actor`.
fn record_thread(
    conn: &mut DbConnection,
    actor: &str,
    ctx: &ReleaseContext,
    vote: &VoteSummary,
    thread: super::mailtally::Thread,
) -> AppResult<MailTally> {
    let ctx = ctx.clone();
    let vote = vote.clone();
    {
        lock(conn, &ctx, vote.round)?;
        let senders: Vec<String> = thread.votes.iter().map(|v| v.sender.clone()).collect();
        let mut users = BTreeMap::new();
        for user in auth_q::users_by_email(conn, &senders)? {
            let Some(email) = user.email.as_deref().map(str::to_ascii_lowercase) else { continue };
            let binding = authz::binding_for(&auth_q::memberships(conn, user.id)?, binding_committee(&ctx, &vote));
            users.insert(email, (user, binding));
        }
        let last_of: BTreeMap<&str, usize> =
            thread.votes.iter().enumerate().map(|(i, v)| (v.sender.as_str(), i)).collect();
        let current = counted(&q::ballots(conn, ctx.release.id, vote.round)?);
        let now = now_ms();
        let mut recorded = 0u32;
        let mut counted_mails = Vec::with_capacity(thread.votes.len());
        for (i, mail) in thread.votes.iter().enumerate() {
            let matched = users.get(&mail.sender);
            let voter = matched.map_or_else(|| mail.sender.clone(), |(user, _)| user.uid.clone());
            let binding = matched.is_some_and(|(_, binding)| *binding);
            let counts = last_of.get(mail.sender.as_str()) == Some(&i);
            counted_mails.push(CountedMail {
                message_id: mail.message_id.clone(),
                sender: mail.sender.clone(),
                uid: matched.map(|(user, _)| user.uid.clone()),
                value: mail.value,
                binding,
                line: mail.line.clone(),
                counts,
            });
            let unchanged = current.iter().any(|b| {
                b.voter == voter
                    && b.value == mail.value
                    && b.binding == binding
                    && b.comment.as_deref() == Some(&mail.line)
            });
            if !counts || unchanged {
                continue;
            }
            q::insert_ballot(
                conn,
                &NewVote {
                    release_id: ctx.release.id,
                    revision_seq: vote.revision,
                    voter_id: matched.map(|(user, _)| user.id),
                    voter: voter.clone(),
                    value: mail.value,
                    binding,
                    comment: Some(mail.line.clone()),
                    source: "mail".to_owned(),
                    created_at: now,
                    round: vote.round,
                    signature: None,
                    signed_by: None,
                },
            )?;
            recorded += 1;
        }
        let status = status_of(conn, &ctx)?;
        events::record(
            conn,
            NewEvent {
                actor,
                action: "vote.tallied",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({
                    "round": vote.round,
                    "manifest_digest": vote.manifest_digest,
                    "mails_with_votes": thread.votes.len(),
                    "mails_skipped": thread.skipped.len(),
                    "recorded": recorded,
                    "counted": counted_mails.iter().filter(|m| m.counts)
                        .map(|m| json!({"message_id": m.message_id, "sender": m.sender, "value": m.value, "binding": m.binding}))
                        .collect::<Vec<_>>(),
                    "tally": status.tally,
                }),
            },
        )?;
        Ok(MailTally {
            tally: status.tally,
            passes: status.passes,
            counted: counted_mails,
            skipped: thread
                .skipped
                .into_iter()
                .map(|s| SkippedMail { message_id: s.message_id, sender: s.sender, reason: s.reason })
                .collect(),
            recorded,
        })
    }
}

/// The 409 of a vote that was resolved while this request was deciding.
fn resolved_meanwhile(ctx: &ReleaseContext) -> AppError {
    AppError::conflict("wrong_phase", format!("The vote on {} was resolved meanwhile.", ctx.key()))
}

/// Takes the lock of round `round` of a candidate's vote (`q::lock_round`) for this transaction.
fn lock(conn: &mut DbConnection, ctx: &ReleaseContext, round: i64) -> AppResult<()> {
    if q::lock_round(conn, ctx.release.id, round)? { Ok(()) } else { Err(resolved_meanwhile(ctx)) }
}

/// Ends the vote `status` describes with `outcome`, moving the release to `phase`, and records
/// it; false if it was resolved meanwhile.
fn finish(
    conn: &mut DbConnection,
    actor: &str,
    ctx: &ReleaseContext,
    status: &VoteStatus,
    outcome: VoteOutcome,
    phase: Phase,
    reason: Option<&str>,
) -> AppResult<bool> {
    let vote = &status.vote;
    if !q::resolve(conn, ctx.release.id, vote.round, outcome.as_str(), phase.as_str(), reason)? {
        return Ok(false);
    }
    events::record(
        conn,
        NewEvent {
            actor,
            action: "vote.resolved",
            target: &ctx.key(),
            release_id: Some(ctx.release.id),
            details: json!({
                "round": vote.round,
                "revision": vote.revision,
                "outcome": outcome,
                "phase": phase,
                "manifest_digest": vote.manifest_digest,
                "tally": status.tally,
                "passes": status.passes,
                "reason": reason,
            }),
        },
    )?;
    Ok(true)
}

/// Whether a ballot `principal` casts in `vote` would be binding (what the page tells them
/// before they cast it).
pub fn would_bind(ctx: &ReleaseContext, vote: &VoteSummary, principal: &Principal) -> bool {
    authz::binding_for(&principal.memberships, binding_committee(ctx, vote))
}

/// The committee whose PMC casts the binding votes of a vote's stage: the Incubator's in a
/// podling's second stage, else the release's own.
fn binding_committee<'a>(ctx: &'a ReleaseContext, vote: &VoteSummary) -> &'a str {
    if vote.stage == Some(VoteStage::Incubator) { INCUBATOR } else { &ctx.committee.name }
}

/// Ends a vote that passed: the release goes to preview, except after a podling's own stage,
/// which opens the Incubator's. False if it was resolved meanwhile.
fn pass(
    conn: &mut DbConnection,
    actor: &str,
    ctx: &ReleaseContext,
    status: &VoteStatus,
    reason: Option<&str>,
) -> AppResult<bool> {
    if status.vote.stage != Some(VoteStage::Podling) {
        return finish(conn, actor, ctx, status, VoteOutcome::Passed, Phase::Preview, reason);
    }
    if !finish(conn, actor, ctx, status, VoteOutcome::Passed, Phase::Candidate, reason)? {
        return Ok(false);
    }
    open_incubator_stage(conn, actor, ctx, status)?;
    Ok(true)
}

/// The Incubator PMC's stage of a podling's vote: the next round, on the same revision and
/// policy, for the policy's minimum time. The ballots that Incubator PMC members cast in the
/// podling's stage carry over, binding (`source: "carried"`); their signatures, made for the
/// other round's text, do not.
fn open_incubator_stage(
    conn: &mut DbConnection,
    actor: &str,
    ctx: &ReleaseContext,
    status: &VoteStatus,
) -> AppResult<()> {
    // The Incubator's own policy (of its project, if it has one here; else the release policy's
    // defaults), never the podling's: the podling cannot set the quorum or the mode it is held
    // to by the Incubator. A vote recorded by hand is not one the Incubator holds.
    let mut policy = match crate::db::queries::directory::find_project(conn, INCUBATOR)? {
        Some((project, _)) => super::directory::policy(&project)?,
        None => ProjectPolicy::default(),
    };
    if policy.vote_mode == VoteMode::Manual {
        policy.vote_mode = VoteMode::Platform;
    }
    let round = status.vote.round;
    let opened = now_ms();
    let closes = opened + i64::from(policy.min_vote_hours.max(1)) * HOUR_MS;
    let snapshot_json = serde_json::to_string(&policy).map_err(AppError::internal)?;
    if !q::next_stage(conn, ctx.release.id, round, VoteStage::Incubator.as_str(), &snapshot_json, opened, closes)? {
        return Err(resolved_meanwhile(ctx));
    }
    let rows = q::ballots(conn, ctx.release.id, round)?;
    let mut latest: BTreeMap<&str, &VoteRow> = BTreeMap::new();
    for row in &rows {
        latest.insert(row.voter.as_str(), row);
    }
    let mut carried = Vec::new();
    for row in latest.into_values() {
        let Some(user_id) = row.voter_id else { continue };
        if !authz::binding_for(&auth_q::memberships(conn, user_id)?, INCUBATOR) {
            continue;
        }
        q::insert_ballot(
            conn,
            &NewVote {
                release_id: ctx.release.id,
                revision_seq: row.revision_seq,
                voter_id: Some(user_id),
                voter: row.voter.clone(),
                value: row.value,
                binding: true,
                comment: Some(format!("carried over from the podling's vote (round {round})")),
                source: "carried".to_owned(),
                created_at: opened,
                round: round + 1,
                signature: None,
                signed_by: None,
            },
        )?;
        carried.push(json!({"voter": row.voter, "value": row.value}));
    }
    let ctx = rq::context_by_id(conn, ctx.release.id)?;
    let next = status_of(conn, &ctx)?;
    events::record(
        conn,
        NewEvent {
            actor,
            action: "vote.started",
            target: &ctx.key(),
            release_id: Some(ctx.release.id),
            details: json!({
                "round": next.vote.round,
                "stage": VoteStage::Incubator,
                "revision": next.vote.revision,
                "manifest_digest": next.vote.manifest_digest,
                "mode": next.vote.mode,
                "hours": policy.min_vote_hours.max(1),
                "closes_at": next.vote.closes_at,
                "binding_plus_required": next.vote.binding_plus_required,
                "carried": carried,
            }),
        },
    )?;
    Ok(())
}

/// `POST …/resolve`: ends the vote. `passed` needs the minimum time to have passed and, except
/// in `manual` mode, V1; the release goes to `preview`. `failed` may be given at any time; the
/// release goes back to `draft`, where new revisions continue. `manual` mode needs a reason.
pub fn resolve(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    outcome: VoteOutcome,
    reason: Option<&str>,
) -> AppResult<ReleaseContext> {
    let reason = text::optional("reason", reason, text::MAX_NAME)?;
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize_release(principal, Action::ResolveVote, &ctx)?;
        let transition = match outcome {
            VoteOutcome::Passed => Transition::PassVote,
            VoteOutcome::Failed => Transition::FailVote,
        };
        let phase = lifecycle::next(ctx.release.phase()?, transition)?;
        lock(conn, &ctx, ctx.release.vote_round)?;
        let status = status_of(conn, &ctx)?;
        let vote = &status.vote;
        if vote.stage == Some(VoteStage::Incubator) && outcome == VoteOutcome::Passed {
            // The Incubator's stage is the Incubator's to pass (the podling may still withdraw).
            authz::authorize(principal, Action::ManageReleasePhase, INCUBATOR)?;
        }
        if vote.mode == VoteMode::Manual && reason.is_none() {
            return Err(AppError::unprocessable(
                "invalid_request",
                "This vote is in manual mode: give the reason for the outcome (where the vote was held, its result).",
            )
            .with_details(json!({"field": "reason"})));
        }
        if outcome == VoteOutcome::Passed {
            if !status.closed {
                return Err(AppError::conflict(
                    "vote_open",
                    format!(
                        "The vote on {release} is open until {} ({} s from now): it cannot pass before its minimum time.",
                        vote.closes_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        status.seconds_left
                    ),
                )
                .with_details(json!({"closes_at": vote.closes_at, "seconds_left": status.seconds_left})));
            }
            if vote.mode != VoteMode::Manual && !status.passes {
                let t = &status.tally;
                return Err(AppError::conflict(
                    "no_quorum",
                    format!(
                        "The vote on {release} has {} binding +1 and {} binding -1; it passes with at least {} binding \
                         +1 and more +1 than -1.",
                        t.binding_plus, t.binding_minus, vote.binding_plus_required
                    ),
                )
                .with_details(json!({"tally": t, "binding_plus_required": vote.binding_plus_required})));
            }
        }
        let done = match outcome {
            VoteOutcome::Passed => pass(conn, principal.actor(), &ctx, &status, reason.as_deref())?,
            VoteOutcome::Failed => finish(conn, principal.actor(), &ctx, &status, outcome, phase, reason.as_deref())?,
        };
        if !done {
            return Err(resolved_meanwhile(&ctx));
        }
        releases::load(conn, release)
    })
}

/// Resolves as passed every candidate whose policy asks for it (`auto_resolve`), whose minimum
/// time has passed and whose vote passes (V1); a vote that does not pass stays open for its
/// release manager. Returns the releases resolved.
pub fn auto_resolve(conn: &mut DbConnection) -> AppResult<Vec<String>> {
    let mut resolved = Vec::new();
    for id in q::closed_candidates(conn, now_ms())? {
        let done = write_transaction(conn, |conn| {
            let ctx = rq::context_by_id(conn, id)?;
            if ctx.release.phase()? != Phase::Candidate || !snapshot(&ctx.release)?.auto_resolve {
                return Ok::<_, AppError>(None);
            }
            if !q::lock_round(conn, id, ctx.release.vote_round)? {
                return Ok(None); // resolved meanwhile
            }
            let status = status_of(conn, &ctx)?;
            if !status.closed || !status.passes || status.vote.mode == VoteMode::Manual {
                return Ok(None);
            }
            let reason = Some("resolved automatically (auto_resolve)");
            let done = pass(conn, "system", &ctx, &status, reason)?;
            Ok(done.then(|| ctx.key()))
        })?;
        resolved.extend(done);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(size: i64, sha512: &str) -> BlobRow {
        BlobRow { sha256: "0".repeat(64), sha512: sha512.to_owned(), size, created_at: 0 }
    }

    #[test]
    fn the_manifest_digest_is_the_documented_text_hashed() {
        let (a, b) = (blob(3, &"a".repeat(128)), blob(10, &"b".repeat(128)));
        let digest = manifest_digest([("z.txt", &a), ("dir/x.tar.gz", &b)]);
        // sha256 of "dir/x.tar.gz\t10\tbbb…\nz.txt\t3\taaa…\n", as `sha256sum` computes it.
        let text = format!("dir/x.tar.gz\t10\t{}\nz.txt\t3\t{}\n", "b".repeat(128), "a".repeat(128));
        let mut hasher = Sha256::default();
        hasher.update(text.as_bytes());
        assert_eq!(digest, hasher.finish_hex());
        assert_eq!(digest, manifest_digest([("dir/x.tar.gz", &b), ("z.txt", &a)]), "order does not matter");
        assert_ne!(digest, manifest_digest([("y.txt", &a), ("dir/x.tar.gz", &b)]), "names matter");
        assert_ne!(digest, manifest_digest([("z.txt", &b), ("dir/x.tar.gz", &a)]), "contents matter");
    }

    fn row(id: i64, voter: &str, value: i32, binding: bool) -> VoteRow {
        VoteRow {
            id,
            release_id: 1,
            revision_seq: 1,
            voter_id: None,
            voter: voter.to_owned(),
            value,
            binding,
            comment: None,
            source: "platform".to_owned(),
            created_at: id,
            round: 1,
            signature: None,
            signed_by: None,
        }
    }

    #[test]
    fn the_ballot_text_names_release_round_digest_and_value() {
        let text = ballot_text("httpd/2.4.68", 2, "ab", 1);
        assert_eq!(text, "Trusted Releases ballot\nrelease: httpd/2.4.68\nround: 2\nmanifest: ab\nvalue: +1\n");
        assert!(ballot_text("httpd/2.4.68", 2, "ab", -1).ends_with("value: -1\n"));
        assert!(ballot_text("httpd/2.4.68", 2, "ab", 0).ends_with("value: 0\n"));
    }

    #[test]
    fn a_later_ballot_replaces_the_earlier_one() {
        let rows =
            [row(1, "pmc1", 1, true), row(2, "pmc2", -1, true), row(3, "dev", 1, false), row(4, "pmc2", 1, true)];
        let ballots = counted(&rows);
        let voters: Vec<(&str, i32, u32)> =
            ballots.iter().map(|b| (b.voter.as_str(), b.value, b.ballots_cast)).collect();
        assert_eq!(voters, [("pmc1", 1, 1), ("pmc2", 1, 2), ("dev", 1, 1)]);
        let t = tally(&ballots);
        assert_eq!((t.binding_plus, t.binding_minus, t.non_binding_plus), (2, 0, 1));
    }

    #[test]
    fn v1_needs_the_quorum_and_a_majority() {
        let t = |plus, minus| Tally { binding_plus: plus, binding_minus: minus, ..Tally::default() };
        assert!(passes(&t(3, 0), 3));
        assert!(passes(&t(3, 2), 3));
        assert!(!passes(&t(2, 0), 3), "no quorum");
        assert!(!passes(&t(3, 3), 3), "as many -1 as +1");
        assert!(!passes(&t(4, 5), 3));
        assert!(passes(&t(1, 0), 1), "a policy may ask for one");
    }
}
