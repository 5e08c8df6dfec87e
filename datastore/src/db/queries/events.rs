//! The append-only audit log.

use diesel::prelude::*;

use crate::db::models::{CheckpointRow, EventRow};
use crate::db::schema::{audit_checkpoint, audit_head, event};
use crate::db::{DbConnection, now_ms};

/// One state change, written in the same transaction as the change itself.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub release_id: Option<i64>,
    pub details: serde_json::Value,
}

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an event's hash covers: every column but its row id (`docs/AUDIT.md`).
#[derive(Debug, serde::Serialize)]
pub struct Chained<'a> {
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub release_id: Option<i64>,
    /// As stored (JSON text).
    pub details: &'a str,
}

impl<'a> Chained<'a> {
    pub fn of(row: &'a EventRow, seq: i64) -> Self {
        Chained {
            seq,
            at: row.at,
            actor: &row.actor,
            action: &row.action,
            target: &row.target,
            release_id: row.release_id,
            details: &row.details,
        }
    }
}

/// `sha256(prev_hash LF json)`, where `json` is the event as the JSON object of [`Chained`]
/// (fields in that order, no white space), in lower-case hex.
pub fn event_hash(prev_hash: &str, event: &Chained<'_>) -> String {
    let mut hasher = checks::digest::Sha256::default();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::to_string(event).unwrap_or_default().as_bytes());
    hasher.finish_hex()
}

/// Takes the chain's next place and the hash before it from `audit_head` (the update locks it
/// until the transaction ends, so events are chained one at a time), and moves the head to the
/// hash of the event that `hash_of` describes there. Returns the place, the previous hash and
/// the new one.
fn append(conn: &mut DbConnection, hash_of: impl FnOnce(i64, &str) -> String) -> QueryResult<(i64, String, String)> {
    let (seq, prev_hash): (i64, String) = diesel::update(audit_head::table.find(1i64))
        .set(audit_head::seq.eq(audit_head::seq + 1))
        .returning((audit_head::seq, audit_head::hash))
        .get_result(conn)?;
    let hash = hash_of(seq, &prev_hash);
    diesel::update(audit_head::table.find(1i64)).set(audit_head::hash.eq(&hash)).execute(conn)?;
    Ok((seq, prev_hash, hash))
}

/// The place of the last event in the chain (in a transaction that recorded one: that one's).
pub fn head_seq(conn: &mut DbConnection) -> QueryResult<i64> {
    audit_head::table.find(1i64).select(audit_head::seq).first(conn)
}

/// Appends an event to the audit chain, in the caller's transaction (or one of its own).
pub fn record(conn: &mut DbConnection, new: NewEvent<'_>) -> QueryResult<()> {
    tracing::info!(actor = new.actor, action = new.action, target = new.target, "event");
    let details = new.details.to_string();
    let at = now_ms();
    conn.transaction(|conn| {
        let (seq, prev_hash, hash) = append(conn, |seq, prev| {
            let chained = Chained {
                seq,
                at,
                actor: new.actor,
                action: new.action,
                target: new.target,
                release_id: new.release_id,
                details: &details,
            };
            event_hash(prev, &chained)
        })?;
        diesel::insert_into(event::table)
            .values((
                event::at.eq(at),
                event::actor.eq(new.actor),
                event::action.eq(new.action),
                event::target.eq(new.target),
                event::release_id.eq(new.release_id),
                event::details.eq(&details),
                event::seq.eq(seq),
                event::prev_hash.eq(&prev_hash),
                event::hash.eq(&hash),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Events not yet in the chain (written before it existed), oldest first.
pub fn unchained(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<EventRow>> {
    event::table.filter(event::seq.is_null()).order(event::id).limit(limit).select(EventRow::as_select()).load(conn)
}

/// Puts an event written before the chain existed into it, as [`record`] would have.
pub fn chain_existing(conn: &mut DbConnection, row: &EventRow) -> QueryResult<()> {
    conn.transaction(|conn| {
        let (seq, prev_hash, hash) = append(conn, |seq, prev| event_hash(prev, &Chained::of(row, seq)))?;
        diesel::update(event::table.find(row.id))
            .set((event::seq.eq(seq), event::prev_hash.eq(&prev_hash), event::hash.eq(&hash)))
            .execute(conn)?;
        Ok(())
    })
}

/// The chain's length and the hash of its last event.
pub fn head(conn: &mut DbConnection) -> QueryResult<(i64, String)> {
    audit_head::table.find(1i64).select((audit_head::seq, audit_head::hash)).first(conn)
}

/// Chained events from place `from` on, in chain order, at most `limit`.
pub fn chain_from(conn: &mut DbConnection, from: i64, limit: i64) -> QueryResult<Vec<EventRow>> {
    event::table.filter(event::seq.ge(from)).order(event::seq).limit(limit).select(EventRow::as_select()).load(conn)
}

/// How many events the log holds (chained or not).
pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    event::table.count().get_result(conn)
}

/// How many events are outside the chain (no place in it).
pub fn count_unchained(conn: &mut DbConnection) -> QueryResult<i64> {
    event::table.filter(event::seq.is_null()).count().get_result(conn)
}

pub fn insert_checkpoint(
    conn: &mut DbConnection,
    seq: i64,
    hash: &str,
    public_key: &str,
    signature: &str,
) -> QueryResult<CheckpointRow> {
    diesel::insert_into(audit_checkpoint::table)
        .values((
            audit_checkpoint::seq.eq(seq),
            audit_checkpoint::hash.eq(hash),
            audit_checkpoint::signed_at.eq(now_ms()),
            audit_checkpoint::public_key.eq(public_key),
            audit_checkpoint::signature.eq(signature),
        ))
        .returning(audit_checkpoint::id)
        .get_result::<i64>(conn)
        .and_then(|id| audit_checkpoint::table.find(id).select(CheckpointRow::as_select()).first(conn))
}

pub fn latest_checkpoint(conn: &mut DbConnection) -> QueryResult<Option<CheckpointRow>> {
    audit_checkpoint::table.order(audit_checkpoint::id.desc()).select(CheckpointRow::as_select()).first(conn).optional()
}

pub fn checkpoints(conn: &mut DbConnection) -> QueryResult<Vec<CheckpointRow>> {
    audit_checkpoint::table.order(audit_checkpoint::id).select(CheckpointRow::as_select()).load(conn)
}

/// Records a change that concerns no single release (users, tokens, committees, projects).
pub fn record_unscoped(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> QueryResult<()> {
    record(conn, NewEvent { actor, action, target, release_id: None, details })
}

/// A page of a release's events, oldest first, and how many there are.
pub fn of_release(
    conn: &mut DbConnection,
    release_id: i64,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<EventRow>, i64)> {
    let total = event::table.filter(event::release_id.eq(release_id)).count().get_result(conn)?;
    let rows = event::table
        .filter(event::release_id.eq(release_id))
        .order(event::id)
        .limit(limit)
        .offset(offset)
        .select(EventRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// What `GET /api/v1/events` asks for.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub committee: Option<String>,
    pub project: Option<String>,
    /// Project, product and version.
    pub release: Option<(String, String, String)>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Newest first (the audit page), instead of oldest first (the API).
    pub newest_first: bool,
}

/// Whose events a caller may read.
#[derive(Debug, Clone)]
pub enum EventsVisible {
    /// Admins: every event.
    All,
    /// Others: events of public releases, and of the drafts of these committees.
    Releases { draft_committees: Vec<String> },
}

/// A page of the audit log, oldest first, and how many events match.
pub fn list(
    conn: &mut DbConnection,
    filter: &EventFilter,
    visible: &EventsVisible,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<EventRow>, i64)> {
    use crate::db::schema::{committee, product, project, release};
    let query = || {
        let mut query = event::table
            .left_join(
                release::table.inner_join(product::table.inner_join(project::table.inner_join(committee::table))),
            )
            .into_boxed();
        if let Some(name) = &filter.committee {
            query = query.filter(committee::name.nullable().eq(name.clone()));
        }
        if let Some(name) = &filter.project {
            query = query.filter(project::name.nullable().eq(name.clone()));
        }
        if let Some((p, product_name, version)) = &filter.release {
            query = query
                .filter(project::name.nullable().eq(p.clone()))
                .filter(product::name.nullable().eq(product_name.clone()))
                .filter(release::version.nullable().eq(version.clone()));
        }
        if let Some(actor) = &filter.actor {
            query = query.filter(event::actor.eq(actor.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(event::at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(event::at.lt(until));
        }
        if let EventsVisible::Releases { draft_committees } = visible {
            // An event of no release (users, tokens, committees) is the admins' to read.
            query = query.filter(
                release::phase.nullable().ne("draft").or(committee::name.nullable().eq_any(draft_committees.clone())),
            );
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let ordered = if filter.newest_first { query().order(event::id.desc()) } else { query().order(event::id) };
    let rows = ordered.limit(limit).offset(offset).select(EventRow::as_select()).load(conn)?;
    Ok((rows, total))
}

/// Up to `limit` events after place `seq` of the audit chain, in chain order.
pub fn after(conn: &mut DbConnection, seq: i64, limit: i64) -> QueryResult<Vec<EventRow>> {
    event::table.filter(event::seq.gt(seq)).order(event::seq).limit(limit).select(EventRow::as_select()).load(conn)
}

/// Whether a release has an event `action` about revision `revision` (`details.revision`).
pub fn has_revision_event(conn: &mut DbConnection, release_id: i64, action: &str, revision: i64) -> QueryResult<bool> {
    let details: Vec<String> = event::table
        .filter(event::release_id.eq(release_id))
        .filter(event::action.eq(action))
        .select(event::details)
        .load(conn)?;
    Ok(details.iter().any(|d| {
        serde_json::from_str::<serde_json::Value>(d)
            .is_ok_and(|v| v.get("revision").and_then(|r| r.as_i64()) == Some(revision))
    }))
}

/// The latest event `action` of a release.
pub fn latest_of_release(conn: &mut DbConnection, release_id: i64, action: &str) -> QueryResult<Option<EventRow>> {
    event::table
        .filter(event::release_id.eq(release_id))
        .filter(event::action.eq(action))
        .order(event::id.desc())
        .select(EventRow::as_select())
        .first(conn)
        .optional()
}
