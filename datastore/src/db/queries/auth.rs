//! Users, memberships, personal access tokens, runner tokens and server secrets.

use base64::Engine;
use diesel::prelude::*;
use shared_models::api::Role;

use super::insert_or_ignore;
use crate::db::models::{ApiTokenRow, UserRow};
use crate::db::schema::{api_token, committee, membership, runner, server_secret, users};
use crate::db::{DbConnection, now_ms};

const JWT_SECRET: &str = "jwt_hs256";

/// The JWT signing secret, created on first use. Concurrent first starts agree on one value.
pub fn jwt_secret(conn: &mut DbConnection) -> QueryResult<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let fresh = b64.encode(crate::auth::secrets::random_bytes::<64>());
    insert_or_ignore!(
        conn,
        server_secret::table,
        (server_secret::name.eq(JWT_SECRET), server_secret::value.eq(&fresh), server_secret::created_at.eq(now_ms()))
    )?;
    let stored: String =
        server_secret::table.filter(server_secret::name.eq(JWT_SECRET)).select(server_secret::value).first(conn)?;
    b64.decode(stored.as_bytes()).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
}

pub fn find_user(conn: &mut DbConnection, uid: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::uid.eq(uid)).select(UserRow::as_select()).first(conn).optional()
}

diesel::define_sql_function! {
    /// SQL's `LOWER`, on both backends.
    fn lower(value: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// The users whose registered address is one of `addresses` (given in lower case), compared
/// without regard to case. Visitors are left out: nobody checked the address they typed.
pub fn users_by_email(conn: &mut DbConnection, addresses: &[String]) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(lower(users::email).eq_any(addresses))
        .filter(users::visitor.eq(false))
        .select(UserRow::as_select())
        .load(conn)
}

/// Creates a user, or returns `None` when the uid is taken.
pub fn insert_user(
    conn: &mut DbConnection,
    uid: &str,
    name: Option<&str>,
    email: Option<&str>,
    is_admin: bool,
) -> QueryResult<Option<UserRow>> {
    let inserted = insert_or_ignore!(
        conn,
        users::table,
        (
            users::uid.eq(uid),
            users::name.eq(name),
            users::email.eq(email),
            users::is_admin.eq(is_admin),
            users::created_at.eq(now_ms()),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    find_user(conn, uid)
}

/// Creates the user if missing (name and email are filled in only where unknown); returns it
/// and whether it was created.
pub fn ensure_user(conn: &mut DbConnection, uid: &str, name: Option<&str>) -> QueryResult<(UserRow, bool)> {
    if let Some(user) = find_user(conn, uid)? {
        if user.name.is_none() && name.is_some() {
            diesel::update(users::table.find(user.id)).set(users::name.eq(name)).execute(conn)?;
        }
        return Ok((user, false));
    }
    match insert_user(conn, uid, name, None, false)? {
        Some(user) => Ok((user, true)),
        None => find_user(conn, uid)?.map(|u| (u, false)).ok_or(diesel::result::Error::NotFound),
    }
}

pub fn memberships(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<(String, Role)>> {
    let rows: Vec<(String, String)> = membership::table
        .inner_join(committee::table)
        .filter(membership::user_id.eq(user_id))
        .select((committee::name, membership::role))
        .order((committee::name, membership::role))
        .load(conn)?;
    rows.into_iter()
        .map(|(c, r)| {
            let role = Role::parse(&r).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
            Ok((c, role))
        })
        .collect()
}

/// Grants `role` in a committee; returns whether it was new.
pub fn grant(conn: &mut DbConnection, user_id: i64, committee_id: i64, role: Role) -> QueryResult<bool> {
    let inserted = insert_or_ignore!(
        conn,
        membership::table,
        (
            membership::user_id.eq(user_id),
            membership::committee_id.eq(committee_id),
            membership::role.eq(role.as_str()),
            membership::created_at.eq(now_ms()),
        )
    )?;
    Ok(inserted > 0)
}

/// The user `uid` and the hash of its token `token_id`, if both still exist.
pub fn jwt_subject(conn: &mut DbConnection, uid: &str, token_id: i64) -> QueryResult<Option<(UserRow, String)>> {
    users::table
        .inner_join(api_token::table)
        .filter(users::uid.eq(uid))
        .filter(api_token::id.eq(token_id))
        // A withdrawn account's tokens are deleted with it; this holds even for a request racing that.
        .filter(users::withdrawn_at.is_null())
        .select((UserRow::as_select(), api_token::token_hash))
        .first(conn)
        .optional()
}

pub fn insert_api_token(conn: &mut DbConnection, user_id: i64, label: &str, token_hash: &str) -> QueryResult<i64> {
    diesel::insert_into(api_token::table)
        .values((
            api_token::user_id.eq(user_id),
            api_token::label.eq(label),
            api_token::token_hash.eq(token_hash),
            api_token::created_at.eq(now_ms()),
        ))
        .returning(api_token::id)
        .get_result(conn)
}

/// The token with this hash if it belongs to `uid` and has not expired; records its use.
pub fn use_api_token(conn: &mut DbConnection, uid: &str, token_hash: &str) -> QueryResult<Option<ApiTokenRow>> {
    let now = now_ms();
    let token: Option<ApiTokenRow> = api_token::table
        .inner_join(users::table)
        .filter(users::uid.eq(uid))
        .filter(api_token::token_hash.eq(token_hash))
        .filter(api_token::expires_at.is_null().or(api_token::expires_at.gt(now)))
        .select(ApiTokenRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(token) = &token {
        diesel::update(api_token::table.find(token.id)).set(api_token::last_used_at.eq(now)).execute(conn)?;
    }
    Ok(token)
}

pub fn list_api_tokens(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<ApiTokenRow>> {
    api_token::table
        .filter(api_token::user_id.eq(user_id))
        .order(api_token::id)
        .select(ApiTokenRow::as_select())
        .load(conn)
}

pub fn find_api_token(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ApiTokenRow>> {
    api_token::table.find(id).select(ApiTokenRow::as_select()).first(conn).optional()
}

pub fn delete_api_token(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(api_token::table.find(id)).execute(conn)? > 0)
}

/// Registers a runner; `None` when the name is taken.
pub fn insert_runner(conn: &mut DbConnection, name: &str, token_hash: &str) -> QueryResult<Option<i64>> {
    let inserted = insert_or_ignore!(
        conn,
        runner::table,
        (runner::name.eq(name), runner::token_hash.eq(token_hash), runner::created_at.eq(now_ms()))
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    runner::table.filter(runner::name.eq(name)).select(runner::id).first(conn).optional()
}

/// Every runner, by name, with how many tasks each holds a lease on now.
/// A leased task as the overview lists it: runner, task id, kind, release id, path.
type LeasedTask = (Option<i64>, i64, String, Option<i64>, String);

/// What the runners overview shows of one runner besides its row.
#[derive(Debug, Default)]
pub struct RunnerWork {
    /// The tasks it holds a lease on: id, kind, release id, path.
    pub leased: Vec<(i64, String, Option<i64>, String)>,
    pub completed: i64,
    pub failed: i64,
}

/// Every runner, by name, with its leased tasks and how many tasks it completed and failed.
pub fn runners_with_work(conn: &mut DbConnection) -> QueryResult<Vec<(crate::db::models::RunnerRow, RunnerWork)>> {
    use crate::db::schema::task;
    let runners: Vec<crate::db::models::RunnerRow> =
        runner::table.order(runner::name).select(crate::db::models::RunnerRow::as_select()).load(conn)?;
    let leased: Vec<LeasedTask> = task::table
        .filter(task::status.eq("leased"))
        .order(task::id)
        .select((task::runner_id, task::id, task::kind, task::release_id, task::path))
        .load(conn)?;
    let totals: Vec<(Option<i64>, String, i64)> = task::table
        .filter(task::status.eq_any(["completed", "failed"]))
        .filter(task::runner_id.is_not_null())
        .group_by((task::runner_id, task::status))
        .select((task::runner_id, task::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(runners
        .into_iter()
        .map(|r| {
            let mine = Some(r.id);
            let total =
                |status: &str| totals.iter().find(|(id, s, _)| *id == mine && s == status).map_or(0, |(_, _, n)| *n);
            let work = RunnerWork {
                leased: leased
                    .iter()
                    .filter(|t| t.0 == mine)
                    .map(|(_, id, kind, release, path)| (*id, kind.clone(), *release, path.clone()))
                    .collect(),
                completed: total("completed"),
                failed: total("failed"),
            };
            (r, work)
        })
        .collect())
}

/// The queue as operators watch it: tasks waiting, the oldest one's creation, and how many
/// tasks finished in each of the `hours` hours before `now` (oldest first).
pub fn queue_overview(conn: &mut DbConnection, now: i64, hours: i64) -> QueryResult<(i64, Option<i64>, Vec<i64>)> {
    use crate::db::schema::task;
    let queued = task::table.filter(task::status.eq("queued"));
    let depth = queued.count().get_result(conn)?;
    let oldest = queued.select(diesel::dsl::min(task::created_at)).first::<Option<i64>>(conn)?;
    let mut finished = Vec::new();
    for hour in (0..hours).rev() {
        let (from, to) = (now - (hour + 1) * 3_600_000, now - hour * 3_600_000);
        finished.push(
            task::table.filter(task::finished_at.ge(from)).filter(task::finished_at.lt(to)).count().get_result(conn)?,
        );
    }
    Ok((depth, oldest, finished))
}

/// Disables or enables the runner `name`; `None` when there is none, else whether it changed.
pub fn set_runner_disabled(conn: &mut DbConnection, name: &str, disabled: bool) -> QueryResult<Option<bool>> {
    let Some(id) = runner::table.filter(runner::name.eq(name)).select(runner::id).first::<i64>(conn).optional()? else {
        return Ok(None);
    };
    let changed = diesel::update(runner::table.find(id).filter(runner::disabled.ne(disabled)))
        .set(runner::disabled.eq(disabled))
        .execute(conn)?;
    Ok(Some(changed > 0))
}

/// Gives the runner `name` a new token (by its hash); the old one stops working. `false` when
/// there is no such runner.
pub fn replace_runner_token(conn: &mut DbConnection, name: &str, token_hash: &str) -> QueryResult<bool> {
    Ok(diesel::update(runner::table.filter(runner::name.eq(name)))
        .set(runner::token_hash.eq(token_hash))
        .execute(conn)?
        > 0)
}

/// The runner holding this token, unless disabled.
pub fn runner_by_token(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<crate::db::models::RunnerRow>> {
    runner::table
        .filter(runner::token_hash.eq(token_hash))
        .filter(runner::disabled.eq(false))
        .select(crate::db::models::RunnerRow::as_select())
        .first(conn)
        .optional()
}

/// Records a runner's contact: when, and which version and task kinds it runs.
pub fn touch_runner(
    conn: &mut DbConnection,
    id: i64,
    version: &str,
    kinds: &[&String],
    capacity: u32,
) -> QueryResult<()> {
    diesel::update(runner::table.find(id))
        .set((
            runner::last_seen_at.eq(now_ms()),
            runner::version.eq(version),
            runner::capabilities.eq(serde_json::json!(kinds).to_string()),
            runner::capacity.eq(i64::from(capacity)),
        ))
        .execute(conn)?;
    Ok(())
}
