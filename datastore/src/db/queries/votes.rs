//! The vote and the phase moves after it. Every move is one guarded `UPDATE … WHERE phase = …`:
//! of two concurrent moves from one phase, exactly one matches; the other changes nothing and
//! its caller reports the conflict.

use diesel::prelude::*;

use crate::db::models::{NewVote, VoteRow};
use crate::db::schema::{release, vote};
use crate::db::{DbConnection, now_ms};

/// What a vote start writes into the release.
#[derive(Debug, Clone)]
pub struct VoteStart<'a> {
    pub revision: i64,
    pub round: i64,
    pub policy: &'a str,
    pub manifest_digest: &'a str,
    pub opened_at: i64,
    pub closes_at: i64,
    pub expedited_reason: Option<&'a str>,
    pub stage: Option<&'a str>,
}

/// Moves a draft whose latest revision is still `start.revision` to `candidate`; false if the
/// release moved or gained a revision meanwhile.
pub fn start(conn: &mut DbConnection, release_id: i64, start: &VoteStart<'_>) -> QueryResult<bool> {
    let changed = diesel::update(
        release::table.find(release_id).filter(release::phase.eq("draft")).filter(release::revision.eq(start.revision)),
    )
    .set((
        release::phase.eq("candidate"),
        release::vote_policy.eq(start.policy),
        release::vote_revision.eq(start.revision),
        release::vote_started_at.eq(start.opened_at),
        release::vote_closes_at.eq(start.closes_at),
        release::manifest_digest.eq(start.manifest_digest),
        release::vote_round.eq(start.round),
        release::vote_expedited_reason.eq(start.expedited_reason),
        release::vote_stage.eq(start.stage),
        release::vote_outcome.eq(None::<String>),
        release::vote_resolved_at.eq(None::<i64>),
        release::vote_resolution.eq(None::<String>),
        release::updated_at.eq(start.opened_at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Locks a candidate's release row for round `round` of its vote until the transaction ends
/// (a guarded no-op update): ballots, tallies and resolutions of one vote happen one at a time,
/// so a ballot cannot land after the vote was resolved, nor a resolution count a tally that
/// changes under it. False if the release is no longer that round's candidate.
pub fn lock_round(conn: &mut DbConnection, release_id: i64, round: i64) -> QueryResult<bool> {
    let changed = diesel::update(
        release::table.find(release_id).filter(release::phase.eq("candidate")).filter(release::vote_round.eq(round)),
    )
    .set(release::updated_at.eq(release::updated_at))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn insert_ballot(conn: &mut DbConnection, ballot: &NewVote) -> QueryResult<()> {
    diesel::insert_into(vote::table).values(ballot).execute(conn)?;
    Ok(())
}

/// Every ballot of a round, oldest first.
pub fn ballots(conn: &mut DbConnection, release_id: i64, round: i64) -> QueryResult<Vec<VoteRow>> {
    vote::table
        .filter(vote::release_id.eq(release_id))
        .filter(vote::round.eq(round))
        .order(vote::id)
        .select(VoteRow::as_select())
        .load(conn)
}

/// Ends round `round` of a candidate's vote with `outcome`, moving it to `phase`; false if the
/// release is no longer that round's candidate.
pub fn resolve(
    conn: &mut DbConnection,
    release_id: i64,
    round: i64,
    outcome: &str,
    phase: &str,
    resolution: Option<&str>,
) -> QueryResult<bool> {
    let now = now_ms();
    let changed = diesel::update(
        release::table.find(release_id).filter(release::phase.eq("candidate")).filter(release::vote_round.eq(round)),
    )
    .set((
        release::phase.eq(phase),
        release::vote_outcome.eq(outcome),
        release::vote_resolved_at.eq(now),
        release::vote_resolution.eq(resolution),
        release::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Opens the next stage of a podling's vote on a candidate whose round `round` just passed:
/// round `round + 1` on the same revision, under `policy`; false if it moved meanwhile.
pub fn next_stage(
    conn: &mut DbConnection,
    release_id: i64,
    round: i64,
    stage: &str,
    policy: &str,
    opened_at: i64,
    closes_at: i64,
) -> QueryResult<bool> {
    let changed = diesel::update(
        release::table.find(release_id).filter(release::phase.eq("candidate")).filter(release::vote_round.eq(round)),
    )
    .set((
        release::vote_round.eq(round + 1),
        release::vote_stage.eq(stage),
        release::vote_policy.eq(policy),
        release::vote_started_at.eq(opened_at),
        release::vote_closes_at.eq(closes_at),
        release::vote_outcome.eq(None::<String>),
        release::vote_resolved_at.eq(None::<i64>),
        release::vote_resolution.eq(None::<String>),
        release::updated_at.eq(opened_at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Publishes a preview's revision `revision`: phase `current`; false if it moved or changed.
pub fn publish(conn: &mut DbConnection, release_id: i64, revision: i64, digest: &str) -> QueryResult<bool> {
    let now = now_ms();
    let changed = diesel::update(
        release::table.find(release_id).filter(release::phase.eq("preview")).filter(release::revision.eq(revision)),
    )
    .set((
        release::phase.eq("current"),
        release::released_at.eq(now),
        release::published_revision.eq(revision),
        release::published_digest.eq(digest),
        release::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// `current` → `archived`; false if the release was not current.
pub fn archive(conn: &mut DbConnection, release_id: i64) -> QueryResult<bool> {
    let now = now_ms();
    let changed = diesel::update(release::table.find(release_id).filter(release::phase.eq("current")))
        .set((release::phase.eq("archived"), release::archived_at.eq(now), release::updated_at.eq(now)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// A released (`current` or `archived`) release → `revoked`, with the reason; false otherwise.
pub fn revoke(conn: &mut DbConnection, release_id: i64, reason: &str) -> QueryResult<bool> {
    let now = now_ms();
    let changed =
        diesel::update(release::table.find(release_id).filter(release::phase.eq_any(["current", "archived"])))
            .set((
                release::phase.eq("revoked"),
                release::revoked_at.eq(now),
                release::revoked_reason.eq(reason),
                release::updated_at.eq(now),
            ))
            .execute(conn)?;
    Ok(changed == 1)
}

/// Candidates whose vote's minimum time has passed, by id.
pub fn closed_candidates(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<i64>> {
    release::table
        .filter(release::phase.eq("candidate"))
        .filter(release::vote_closes_at.le(now))
        .select(release::id)
        .load(conn)
}
