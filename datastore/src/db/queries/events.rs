//! The append-only audit log.

use diesel::prelude::*;

use crate::db::models::EventRow;
use crate::db::schema::event;
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

pub fn record(conn: &mut DbConnection, new: NewEvent<'_>) -> QueryResult<()> {
    tracing::info!(actor = new.actor, action = new.action, target = new.target, "event");
    diesel::insert_into(event::table)
        .values((
            event::at.eq(now_ms()),
            event::actor.eq(new.actor),
            event::action.eq(new.action),
            event::target.eq(new.target),
            event::release_id.eq(new.release_id),
            event::details.eq(new.details.to_string()),
        ))
        .execute(conn)?;
    Ok(())
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
