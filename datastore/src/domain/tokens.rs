//! Personal access tokens, their exchange for JWTs, and runner registration.

use serde_json::json;
use shared_models::api::{TokenCreated, TokenInfo};

use crate::auth::secrets::{self, PERSONAL_TOKEN_PREFIX, RUNNER_TOKEN_PREFIX};
use crate::auth::{Principal, authz};
use crate::db::queries::auth as q;
use crate::db::queries::events;
use crate::db::{DbConnection, to_time};
use crate::error::{AppError, AppResult};

/// A new personal access token for `uid`; the secret is returned once and stored hashed.
pub fn create_token(conn: &mut DbConnection, actor: &str, uid: &str, label: &str) -> AppResult<TokenCreated> {
    let label = super::text::required("label", label, super::text::MAX_NAME).map_err(|e| {
        AppError::unprocessable("invalid_label", format!("A token label has 1 to 200 characters: {}", e.message))
    })?;
    let label = label.as_str();
    crate::db::write_transaction(conn, |conn| {
        let user = q::find_user(conn, uid)?.ok_or_else(|| AppError::not_found(format!("There is no user {uid}.")))?;
        let token = secrets::generate(PERSONAL_TOKEN_PREFIX);
        let id = q::insert_api_token(conn, user.id, label, &secrets::hash(&token))?;
        events::record_unscoped(conn, actor, "token.created", uid, json!({"id": id, "label": label}))?;
        Ok(TokenCreated { id, token })
    })
}

/// The id and hash of the token behind a valid (uid, token) pair: the first step of
/// `POST /api/v1/jwt`.
pub fn check_token(conn: &mut DbConnection, uid: &str, token: &str) -> AppResult<(i64, String)> {
    let refused = || AppError::unauthorized("The user id and token do not match a valid personal access token.");
    if !token.starts_with(PERSONAL_TOKEN_PREFIX) {
        return Err(refused());
    }
    q::use_api_token(conn, uid, &secrets::hash(token))?.map(|t| (t.id, t.token_hash)).ok_or_else(refused)
}

pub fn list_tokens(conn: &mut DbConnection, principal: &Principal) -> AppResult<Vec<TokenInfo>> {
    Ok(q::list_api_tokens(conn, principal.user_id)?
        .into_iter()
        .map(|t| TokenInfo {
            id: t.id,
            label: t.label,
            created_at: to_time(t.created_at),
            last_used_at: t.last_used_at.map(to_time),
        })
        .collect())
}

/// Deletes one of the caller's tokens (admins: anyone's). Someone else's token is reported as
/// missing, so token ids reveal nothing.
pub fn delete_token(conn: &mut DbConnection, principal: &Principal, id: i64) -> AppResult<()> {
    crate::db::write_transaction(conn, |conn| {
        let token = q::find_api_token(conn, id)?
            .filter(|t| t.user_id == principal.user_id || principal.is_admin)
            .ok_or_else(|| AppError::not_found(format!("You have no token {id}.")))?;
        q::delete_api_token(conn, token.id)?;
        events::record_unscoped(
            conn,
            principal.actor(),
            "token.deleted",
            &principal.uid,
            json!({"id": id, "label": token.label}),
        )?;
        Ok(())
    })
}

/// Every runner with what it reported and what it runs now; for admins.
pub fn runners(conn: &mut DbConnection, principal: &Principal) -> AppResult<shared_models::api::RunnerList> {
    use shared_models::api::{QueueInfo, RunnerInfo, RunningTask};
    authz::authorize_admin(principal)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut release_keys: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    let mut runners = Vec::new();
    for (r, work) in q::runners_with_work(conn)? {
        let mut current = Vec::with_capacity(work.leased.len());
        for (id, kind, release_id, path) in work.leased {
            let release = release_id
                .map(|id| crate::db::queries::releases::key_by_id(conn, &mut release_keys, id))
                .transpose()?;
            current.push(RunningTask { id, kind, release, path });
        }
        runners.push(RunnerInfo {
            id: r.id,
            name: r.name,
            version: r.version,
            kinds: serde_json::from_str(&r.capabilities).unwrap_or_default(),
            created_at: to_time(r.created_at),
            last_seen_at: r.last_seen_at.map(to_time),
            disabled: r.disabled,
            running: u64::try_from(current.len()).unwrap_or(0),
            capacity: r.capacity.and_then(|c| u32::try_from(c).ok()),
            completed: count(work.completed),
            failed: count(work.failed),
            current,
        });
    }
    let (queued, oldest, finished) = q::queue_overview(conn, crate::db::now_ms(), 24)?;
    let queue = QueueInfo {
        queued: count(queued),
        oldest_queued_at: oldest.map(to_time),
        finished_per_hour: finished.into_iter().map(count).collect(),
    };
    Ok(shared_models::api::RunnerList { runners, queue })
}

/// Registers a runner; returns its id and its token (shown once).
pub fn register_runner(conn: &mut DbConnection, actor: &str, name: &str) -> AppResult<(i64, String)> {
    crate::db::write_transaction(conn, |conn| {
        let token = secrets::generate(RUNNER_TOKEN_PREFIX);
        let id = q::insert_runner(conn, name, &secrets::hash(&token))?.ok_or_else(|| {
            AppError::conflict("runner_exists", format!("A runner named {name} is already registered."))
        })?;
        events::record_unscoped(conn, actor, "runner.registered", name, json!({"id": id}))?;
        Ok((id, token))
    })
}

/// Admin check for runner registration through the API.
pub fn register_runner_as(conn: &mut DbConnection, principal: &Principal, name: &str) -> AppResult<(i64, String)> {
    authz::authorize_admin(principal)?;
    register_runner(conn, principal.actor(), name)
}

/// Disables a runner (its token stops working at once; the tasks it held are queued again when
/// their leases run out) or enables it again (admins only).
pub fn set_runner_disabled(
    conn: &mut DbConnection,
    principal: &Principal,
    name: &str,
    disabled: bool,
) -> AppResult<()> {
    authz::authorize_admin(principal)?;
    crate::db::write_transaction(conn, |conn| {
        let changed = q::set_runner_disabled(conn, name, disabled)?
            .ok_or_else(|| AppError::not_found(format!("There is no runner {name}.")))?;
        if changed {
            let action = if disabled { "runner.disabled" } else { "runner.enabled" };
            events::record_unscoped(conn, principal.actor(), action, name, json!({}))?;
        }
        Ok(())
    })
}

/// A new token for a runner (shown once), replacing its old one, which stops working (admins
/// only): for a token that leaked, or a runner moved to another machine.
pub fn replace_runner_token(conn: &mut DbConnection, principal: &Principal, name: &str) -> AppResult<String> {
    authz::authorize_admin(principal)?;
    crate::db::write_transaction(conn, |conn| {
        let token = secrets::generate(RUNNER_TOKEN_PREFIX);
        if !q::replace_runner_token(conn, name, &secrets::hash(&token))? {
            return Err(AppError::not_found(format!("There is no runner {name}.")));
        }
        events::record_unscoped(conn, principal.actor(), "runner.token_replaced", name, json!({}))?;
        Ok(token)
    })
}
