//! Trusted publishing: a project's PMC trusts CI identities (an OpenID Connect issuer the
//! operator allows, an audience, globs on the ID token's claims) with some of a release
//! manager's work on the project's releases ([`PublisherAction`]). A CI job exchanges its ID
//! token (checked by `auth::oidc`) for a short-lived token of the project's CI user
//! (`ci:<project>`, which no person's uid can be: a uid has no `:`), scoped by
//! `authz::allowed_on_project`. Each ID token is exchanged once; each exchange is an event
//! naming the workflow run; deleting a trust ends the tokens it granted.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared_models::publishing::{NewTrustedPublisher, PublisherAction, TrustedPublisher, TrustedPublisherList};

use crate::auth::jwt::PublisherClaims;
use crate::auth::oidc::IdToken;
use crate::auth::{Action, Principal, PublisherScope, authz};
use crate::db::models::{ProjectRow, TrustedPublisherRow};
use crate::db::queries::{auth as users, events, publishers as q};
use crate::db::{DbConnection, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// The uid of a project's CI user starts with this; no person's uid can (a uid has no `:`).
pub const CI_UID_PREFIX: &str = "ci:";
/// Most live trusts per project.
const MAX_TRUSTS: usize = 20;
const MAX_CLAIMS: usize = 16;
const MAX_VALUE: usize = 500;
/// Claims that say nothing of who the job is (the exchange checks them anyway).
const RESERVED_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];
/// The claims an exchange event copies, where the token has them: what names the CI run
/// (GitHub Actions and GitLab CI spell them so).
const RUN_CLAIMS: [&str; 16] = [
    "sub",
    "repository",
    "repository_owner",
    "workflow",
    "workflow_ref",
    "job_workflow_ref",
    "ref",
    "sha",
    "environment",
    "run_id",
    "run_attempt",
    "actor",
    "event_name",
    "project_path",
    "pipeline_id",
    "job_id",
];

/// The uid a project's CI acts as.
pub fn ci_uid(project: &str) -> String {
    format!("{CI_UID_PREFIX}{project}")
}

fn invalid(field: &str, message: String) -> AppError {
    AppError::unprocessable("invalid_request", message).with_details(json!({"field": field}))
}

fn view(project: &str, row: &TrustedPublisherRow) -> AppResult<TrustedPublisher> {
    Ok(TrustedPublisher {
        id: row.id,
        project: project.to_owned(),
        issuer: row.issuer.clone(),
        audience: row.audience.clone(),
        claims: serde_json::from_str(&row.claims).map_err(AppError::internal)?,
        actions: actions_of(row)?,
        created_by: row.created_by.clone(),
        created_at: to_time(row.created_at),
    })
}

/// The actions a trust grants, as stored.
fn actions_of(row: &TrustedPublisherRow) -> AppResult<Vec<PublisherAction>> {
    serde_json::from_str(&row.actions).map_err(AppError::internal)
}

/// `actions` sorted, each once.
fn distinct(mut actions: Vec<PublisherAction>) -> Vec<PublisherAction> {
    actions.sort_unstable();
    actions.dedup();
    actions
}

/// The project, after checking that `principal` may manage its trusts (its PMC).
fn managed(conn: &mut DbConnection, principal: &Principal, project: &str) -> AppResult<ProjectRow> {
    let (row, committee) = super::directory::find_project(conn, project)?;
    authz::authorize(principal, Action::EditPolicy, &committee.name)?;
    Ok(row)
}

fn printable(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

/// Whether `value` matches `pattern`: as a glob, or, where `pattern` is not a well-formed
/// glob (`a[b`), as the same text.
fn glob_matches(pattern: &str, value: &str) -> bool {
    match globset::GlobBuilder::new(pattern).backslash_escape(true).build() {
        Ok(glob) => glob.compile_matcher().is_match(value),
        Err(_) => pattern == value,
    }
}

/// Checks a new trust; its claims and actions, as stored.
fn checked(request: &NewTrustedPublisher, allowed_issuers: &[String]) -> AppResult<(String, String)> {
    if !allowed_issuers.contains(&request.issuer) {
        // The operator's policy, not the request's form: refused as a right this server withholds.
        return Err(AppError::forbidden(format!(
            "This server accepts ID tokens of these issuers only (DATASTORE_TRUSTED_ISSUERS): {}.",
            if allowed_issuers.is_empty() { "none".to_owned() } else { allowed_issuers.join(", ") }
        )));
    }
    if request.audience.is_empty() || request.audience.chars().count() > 200 || !printable(&request.audience) {
        return Err(invalid("audience", "The audience is 1 to 200 printable characters.".to_owned()));
    }
    if request.claims.is_empty() || request.claims.len() > MAX_CLAIMS {
        return Err(invalid(
            "claims",
            format!(
                "Name 1 to {MAX_CLAIMS} claims the ID token must carry (e.g. repository), or any job of the issuer \
                 would be trusted."
            ),
        ));
    }
    for (name, value) in &request.claims {
        let name_ok = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
            && !RESERVED_CLAIMS.contains(&name.as_str());
        if !name_ok {
            return Err(invalid(
                "claims",
                format!(
                    "The claim {name:?} cannot be a constraint: a claim name is 1 to 64 of A-Z a-z 0-9 _ . : - and \
                     none of {}.",
                    RESERVED_CLAIMS.join(", ")
                ),
            ));
        }
        if value.is_empty() || value.chars().count() > MAX_VALUE || !printable(value) {
            return Err(invalid("claims", format!("The value of {name} is 1 to {MAX_VALUE} printable characters.")));
        }
        if value.chars().all(|c| c == '*') {
            return Err(invalid("claims", format!("The value of {name} matches everything; leave the claim out.")));
        }
    }
    let actions = distinct(request.actions.clone());
    if actions.is_empty() {
        return Err(invalid("actions", "Name at least one action: compose, vote_start or release.".to_owned()));
    }
    let claims = serde_json::to_string(&request.claims).map_err(AppError::internal)?;
    let actions = serde_json::to_string(&actions).map_err(AppError::internal)?;
    Ok((claims, actions))
}

/// `POST /api/v1/projects/{p}/trusted-publishers` (PMC)
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &str,
    request: &NewTrustedPublisher,
    allowed_issuers: &[String],
) -> AppResult<TrustedPublisher> {
    let (claims, actions) = checked(request, allowed_issuers)?;
    write_transaction(conn, |c| {
        let project_row = managed(c, principal, project)?;
        if q::live(c, project_row.id)?.len() >= MAX_TRUSTS {
            return Err(AppError::conflict(
                "too_many_trusted_publishers",
                format!("The project {project} trusts {MAX_TRUSTS} publishers; delete one first."),
            ));
        }
        let row =
            q::insert(c, project_row.id, &request.issuer, &request.audience, &claims, &actions, principal.actor())?;
        let trust = view(project, &row)?;
        events::record_unscoped(
            c,
            principal.actor(),
            "trusted_publisher.created",
            project,
            json!({"trusted_publisher": row.id, "issuer": trust.issuer, "audience": trust.audience,
                   "claims": trust.claims, "actions": trust.actions}),
        )?;
        Ok(trust)
    })
}

/// `GET /api/v1/projects/{p}/trusted-publishers` (PMC)
pub fn list(conn: &mut DbConnection, principal: &Principal, project: &str) -> AppResult<TrustedPublisherList> {
    let row = managed(conn, principal, project)?;
    let trusted_publishers = q::live(conn, row.id)?.iter().map(|t| view(project, t)).collect::<AppResult<_>>()?;
    Ok(TrustedPublisherList { trusted_publishers, acts_as: ci_uid(project) })
}

/// `DELETE /api/v1/projects/{p}/trusted-publishers/{id}` (PMC): the tokens it granted end.
pub fn delete(conn: &mut DbConnection, principal: &Principal, project: &str, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let project_row = managed(c, principal, project)?;
        if !q::delete(c, project_row.id, id)? {
            return Err(AppError::not_found(format!("The project {project} has no trusted publisher {id}.")));
        }
        events::record_unscoped(
            c,
            principal.actor(),
            "trusted_publisher.deleted",
            project,
            json!({"trusted_publisher": id}),
        )?;
        Ok(())
    })
}

/// A claim's value as the text a glob is matched against: strings as they are, numbers and
/// booleans as JSON writes them; anything else matches nothing.
fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether the verified `token` satisfies `trust`: its issuer, one of its audiences, and every
/// claim constraint.
fn matches(trust: &TrustedPublisherRow, token: &IdToken) -> AppResult<bool> {
    if trust.issuer != token.issuer || !token.audiences.contains(&trust.audience) {
        return Ok(false);
    }
    let claims: BTreeMap<String, String> = serde_json::from_str(&trust.claims).map_err(AppError::internal)?;
    for (name, pattern) in &claims {
        let Some(value) = token.claims.get(name).and_then(claim_text) else { return Ok(false) };
        if !glob_matches(pattern, &value) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What an exchange grants.
#[derive(Debug)]
pub struct Granted {
    pub uid: String,
    pub trusts: Vec<i64>,
    pub actions: Vec<PublisherAction>,
}

/// `POST /api/v1/trusted-publishing/exchange`, after the token's signature and times were
/// checked: the project's trusts it matches (403 if none), noted as used (401 if it was
/// exchanged before), and the event naming the run.
pub fn exchange(conn: &mut DbConnection, project: &str, token: &IdToken, token_sha256: &str) -> AppResult<Granted> {
    write_transaction(conn, |c| {
        let (project_row, _) = super::directory::find_project(c, project)?;
        let trusts = q::live(c, project_row.id)?;
        let mut matched = Vec::new();
        let mut actions = Vec::new();
        for trust in &trusts {
            if matches(trust, token)? {
                matched.push(trust.id);
                actions.extend(actions_of(trust)?);
            }
        }
        if matched.is_empty() {
            let why = if trusts.iter().any(|t| t.issuer == token.issuer) {
                "none of its trusts of this issuer matches the token's audience and claims"
            } else {
                "it trusts no publisher of this issuer"
            };
            return Err(AppError::forbidden(format!(
                "The project {project} does not trust this ID token: {why}. Its PMC sets trusts at \
                 /api/v1/projects/{project}/trusted-publishers."
            )));
        }
        let actions = distinct(actions);
        // Kept until the token could no longer pass the time checks.
        if !q::use_token(c, token_sha256, (token.expires_at + 60) * 1000)? {
            return Err(AppError::unauthorized("This ID token was exchanged already; each is exchanged once."));
        }
        let uid = ci_uid(project);
        users::ensure_user(c, &uid, Some(&format!("CI of {project} (trusted publishing)")))?;
        let run: serde_json::Map<String, Value> =
            RUN_CLAIMS.iter().filter_map(|name| Some(((*name).to_owned(), token.claims.get(*name)?.clone()))).collect();
        events::record_unscoped(
            c,
            &uid,
            "trusted_publishing.exchanged",
            project,
            json!({"issuer": token.issuer, "trusted_publishers": matched, "actions": actions, "run": run}),
        )?;
        Ok(Granted { uid, trusts: matched, actions })
    })
}

/// The principal of a trusted publisher's JWT: its CI user, with what the trusts it was issued
/// under still grant (`None` if they were all deleted).
pub fn principal(conn: &mut DbConnection, claims: &PublisherClaims) -> AppResult<Option<Principal>> {
    if claims.sub != ci_uid(&claims.prj) {
        return Ok(None);
    }
    let Some(user) = users::find_user(conn, &claims.sub)? else { return Ok(None) };
    let mut still = Vec::new();
    let mut trusts = Vec::new();
    for trust in q::live_of(conn, &claims.prj, &claims.pubs)? {
        trusts.push(trust.id);
        still.extend(actions_of(&trust)?);
    }
    let actions = distinct(claims.act.iter().copied().filter(|a| still.contains(a)).collect());
    if actions.is_empty() {
        return Ok(None);
    }
    let mut principal = Principal::of_user(user, Vec::new(), None, None);
    principal.is_admin = false;
    principal.foundation_member = false;
    principal.publisher = Some(PublisherScope { project: claims.prj.clone(), actions, trusts });
    Ok(Some(principal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: Value) -> IdToken {
        IdToken {
            issuer: "https://ci.example".into(),
            audiences: vec!["trusted-releases".into()],
            expires_at: 0,
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    fn trust(claims: Value) -> TrustedPublisherRow {
        TrustedPublisherRow {
            id: 1,
            project_id: 1,
            issuer: "https://ci.example".into(),
            audience: "trusted-releases".into(),
            claims: claims.to_string(),
            actions: r#"["compose"]"#.into(),
            created_by: "pmc".into(),
            created_at: 0,
            deleted_at: None,
        }
    }

    #[test]
    fn claims_match_by_glob_and_every_one_must() {
        let job = token(json!({"repository": "apache/httpd", "ref": "refs/tags/v2.4.70", "run_id": 42, "ok": true}));
        let yes = |c: Value| matches(&trust(c), &job).unwrap();
        assert!(yes(json!({"repository": "apache/httpd"})));
        assert!(yes(json!({"repository": "apache/httpd", "ref": "refs/tags/v*"})), "a glob across a /");
        assert!(yes(json!({"run_id": "42", "ok": "true"})), "numbers and booleans as JSON writes them");
        assert!(!yes(json!({"repository": "apache/httpd", "ref": "refs/heads/*"})), "every constraint must hold");
        assert!(!yes(json!({"repository": "apache/httpd-evil"})), "equal, not a prefix");
        assert!(!yes(json!({"repository": "apache/*", "environment": "release"})), "a claim it lacks");
        let mut other_audience = trust(json!({"repository": "apache/httpd"}));
        other_audience.audience = "someone-else".into();
        assert!(!matches(&other_audience, &job).unwrap());
        let mut other_issuer = trust(json!({"repository": "apache/httpd"}));
        other_issuer.issuer = "https://other.example".into();
        assert!(!matches(&other_issuer, &job).unwrap());
    }

    #[test]
    fn trusts_that_would_trust_anyone_are_refused() {
        let allowed = vec!["https://ci.example".to_owned()];
        let request = |issuer: &str, claims: Value| NewTrustedPublisher {
            issuer: issuer.into(),
            audience: "trusted-releases".into(),
            claims: serde_json::from_value(claims).unwrap(),
            actions: vec![PublisherAction::Compose, PublisherAction::Compose],
        };
        let (_, actions) = checked(&request("https://ci.example", json!({"repository": "a/b"})), &allowed).unwrap();
        assert_eq!(actions, r#"["compose"]"#);
        for (issuer, claims) in [
            ("https://ci.example", json!({})),
            ("https://ci.example", json!({"repository": "*"})),
            ("https://ci.example", json!({"aud": "x"})),
            ("https://ci.example", json!({"bad name": "x"})),
            ("https://ci.example", json!({"repository": "a\nb"})),
        ] {
            let refused = checked(&request(issuer, claims.clone()), &allowed).unwrap_err();
            assert_eq!(refused.status.as_u16(), 422, "{issuer} {claims}");
        }
        let foreign = checked(&request("https://evil.example", json!({"repository": "a/b"})), &allowed).unwrap_err();
        assert_eq!(foreign.status.as_u16(), 403, "an issuer the operator does not allow");
        assert!(checked(&request("https://ci.example", json!({"repository": "a[b"})), &allowed).is_ok());
        assert!(glob_matches("a[b", "a[b") && !glob_matches("a[b", "ab"), "a malformed glob is literal text");
    }
}
