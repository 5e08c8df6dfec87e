//! Committees, projects, products, users and memberships: the directory, its administration
//! and the import of Apache's public committee and project data.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared_models::api::{
    self as wire, AsfImportCounts, AsfImportRequest, EffectivePolicy, Phase, PolicyOverride, ProjectPolicy, Role,
};
use shared_models::{Name, Uid};

use super::page::Page;
use super::text;
use crate::auth::{Action, Principal, authz};
use crate::db::DbConnection;
use crate::db::models::{CommitteeRow, ProjectRow, UserRow};
use crate::db::queries::events;
use crate::db::queries::{auth as users, directory as q, releases as rq};
use crate::error::{AppError, AppResult};

/// What the header's search finds besides projects: committees by name, releases out of
/// draft by version, and signing keys by fingerprint or user id.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Found {
    pub committees: Vec<wire::Committee>,
    pub releases: Vec<wire::ReleaseSummary>,
    pub keys: Vec<wire::KeyInfo>,
}

/// Results of each kind shown, at most.
const FOUND_PER_KIND: i64 = 20;

pub fn search(conn: &mut DbConnection, term: &str) -> AppResult<Found> {
    let term = term.trim();
    // `LIKE` wildcards are taken out of the pattern: a term of nothing else finds nothing.
    let meaningful = term.chars().any(|c| !matches!(c, '%' | '_' | '\\') && !c.is_whitespace());
    if !meaningful || term.chars().count() > 100 {
        return Ok(Found::default());
    }
    let rows = q::search_committees(conn, term, FOUND_PER_KIND)?;
    let committees = committees(conn, rows)?;
    let releases = q::search_releases(conn, term, FOUND_PER_KIND)?
        .into_iter()
        .map(|(release, project, product)| {
            Ok(wire::ReleaseSummary {
                project: Name::parse(&project)?,
                product: Name::parse(&product)?,
                version: shared_models::Version::parse(&release.version)?,
                phase: release.phase()?,
                revision: release.revision,
                created_at: crate::db::to_time(release.created_at),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let keys = super::keys::search(conn, term, FOUND_PER_KIND)?;
    Ok(Found { committees, releases, keys })
}

pub fn committees(conn: &mut DbConnection, rows: Vec<CommitteeRow>) -> AppResult<Vec<wire::Committee>> {
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let projects = q::project_names_of(conn, &ids)?;
    rows.into_iter()
        .map(|c| {
            Ok(wire::Committee {
                projects: projects.iter().filter(|(id, _)| *id == c.id).map(|(_, n)| n.clone()).collect(),
                name: Name::parse(&c.name)?,
                display_name: c.display_name,
                podling: c.podling,
            })
        })
        .collect()
}

pub fn projects(conn: &mut DbConnection, rows: Vec<(ProjectRow, CommitteeRow)>) -> AppResult<Vec<wire::Project>> {
    let ids: Vec<i64> = rows.iter().map(|(p, _)| p.id).collect();
    let products = q::product_names_of(conn, &ids)?;
    rows.into_iter()
        .map(|(p, c)| {
            Ok(wire::Project {
                products: products.iter().filter(|(id, _)| *id == p.id).map(|(_, n)| n.clone()).collect(),
                name: Name::parse(&p.name)?,
                committee: Name::parse(&c.name)?,
                display_name: p.display_name,
                podling: c.podling,
            })
        })
        .collect()
}

/// `GET /api/v1/committees`: a page of committees, by name.
pub fn list_committees(conn: &mut DbConnection, page: Page) -> AppResult<wire::CommitteeList> {
    let (limit, offset) = page.sql();
    let (rows, total) = q::list_committees(conn, limit, offset)?;
    Ok(wire::CommitteeList { committees: committees(conn, rows)?, page: page.info(total, "") })
}

pub fn committee(conn: &mut DbConnection, name: &str) -> AppResult<wire::Committee> {
    let row =
        q::find_committee(conn, name)?.ok_or_else(|| AppError::not_found(format!("There is no committee {name}.")))?;
    one(committees(conn, vec![row])?)
}

/// `GET /api/v1/projects`: a page of projects by name, those matching `search` if given.
pub fn list_projects(conn: &mut DbConnection, search: Option<&str>, page: Page) -> AppResult<wire::ProjectList> {
    let (limit, offset) = page.sql();
    let (rows, total) = q::list_projects(conn, search, limit, offset)?;
    let extra = search.map(|t| format!("q={}&", crate::url::encode_query_value(t))).unwrap_or_default();
    Ok(wire::ProjectList { projects: projects(conn, rows)?, page: page.info(total, &extra) })
}

pub fn project(conn: &mut DbConnection, name: &str) -> AppResult<wire::Project> {
    let row = find_project(conn, name)?;
    one(projects(conn, vec![row])?)
}

fn one<T>(mut list: Vec<T>) -> AppResult<T> {
    list.pop().ok_or_else(|| AppError::internal("a lookup of one row gave none"))
}

/// `GET /api/v1/projects/{p}/releases`: a page of a project's releases, newest first; drafts
/// only for those who may read them.
pub fn project_releases(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    name: &Name,
    page: Page,
) -> AppResult<wire::ReleaseList> {
    let (project, committee) = find_project(conn, name)?;
    let with_drafts = authz::may_read_release(viewer, &committee.name, &project.name, Phase::Draft);
    let (limit, offset) = page.sql();
    let (rows, total) = rq::list_releases(conn, project.id, with_drafts, limit, offset)?;
    let releases = rows
        .into_iter()
        .map(|(release, product)| {
            Ok(wire::ReleaseSummary {
                project: name.clone(),
                product: Name::parse(&product.name)?,
                version: shared_models::Version::parse(&release.version)?,
                phase: release.phase()?,
                revision: release.revision,
                created_at: crate::db::to_time(release.created_at),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(wire::ReleaseList { releases, page: page.info(total, "") })
}

pub fn find_project(conn: &mut DbConnection, name: &str) -> AppResult<(ProjectRow, CommitteeRow)> {
    q::find_project(conn, name)?.ok_or_else(|| AppError::not_found(format!("There is no project {name}.")))
}

/// A project's stored policy (fields it does not set take their defaults). A policy that does
/// not parse is an error, never read as the default.
pub fn policy(project: &ProjectRow) -> AppResult<ProjectPolicy> {
    serde_json::from_str(&project.policy)
        .map_err(|e| AppError::internal(format!("the policy of the project {} does not parse: {e}", project.name)))
}

fn check_vote_fields(min_vote_hours: u32, binding_plus_required: u32) -> AppResult<()> {
    if !(1..=100).contains(&binding_plus_required) {
        return Err(AppError::unprocessable("invalid_policy", "binding_plus_required must be between 1 and 100."));
    }
    if min_vote_hours > 8760 {
        return Err(AppError::unprocessable("invalid_policy", "min_vote_hours can be at most 8760 (a year)."));
    }
    Ok(())
}

fn mailing_list(list: Option<&str>) -> AppResult<Option<String>> {
    text::optional_email("mailing_list", list).map_err(|e| AppError::unprocessable("invalid_policy", e.message))
}

/// A stored override (`None`: none). One that does not parse is an error, never read as none.
pub fn policy_override(stored: Option<&str>) -> AppResult<PolicyOverride> {
    stored.map_or_else(
        || Ok(PolicyOverride::default()),
        |json| {
            serde_json::from_str(json).map_err(|e| AppError::internal(format!("a policy override does not parse: {e}")))
        },
    )
}

/// Checks an override's fields as the project's are checked; `""` stays `""` (no list here).
fn checked_override(over: &PolicyOverride) -> AppResult<PolicyOverride> {
    check_vote_fields(over.min_vote_hours.unwrap_or(0), over.binding_plus_required.unwrap_or(1))?;
    let mut over = over.clone();
    over.mailing_list = match over.mailing_list.as_deref() {
        None => None,
        Some(list) if list.trim().is_empty() => Some(String::new()),
        Some(list) => mailing_list(Some(list))?,
    };
    Ok(over)
}

/// The stored form of an override: `None` when it sets nothing.
fn stored_override(over: &PolicyOverride) -> Option<String> {
    (over != &PolicyOverride::default()).then(|| json!(over).to_string())
}

/// `GET /api/v1/projects/{p}/products/{product}/policy` (public).
pub fn product_policy(conn: &mut DbConnection, project: &str, product: &str) -> AppResult<EffectivePolicy> {
    let (row, _) = find_project(conn, project)?;
    let product_row = q::find_product(conn, row.id, product)?
        .ok_or_else(|| AppError::not_found(format!("The project {project} has no product {product}.")))?;
    let overrides = policy_override(product_row.policy_override.as_deref())?;
    Ok(EffectivePolicy { effective: policy(&row)?.overridden(&overrides), overrides })
}

/// `PUT /api/v1/projects/{p}/products/{product}/policy` (PMC members): the product's vote
/// fields, in place of what it set before (an empty object clears them).
pub fn set_product_policy(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &str,
    product: &str,
    over: &PolicyOverride,
) -> AppResult<EffectivePolicy> {
    let over = checked_override(over)?;
    crate::db::write_transaction(conn, |c| {
        let (row, committee) = find_project(c, project)?;
        authz::authorize(principal, Action::EditPolicy, &committee.name)?;
        let product_row = q::find_product(c, row.id, product)?
            .ok_or_else(|| AppError::not_found(format!("The project {project} has no product {product}.")))?;
        let before = policy_override(product_row.policy_override.as_deref())?;
        q::set_product_override(c, product_row.id, stored_override(&over).as_deref())?;
        events::record_unscoped(
            c,
            principal.actor(),
            "policy.changed",
            &format!("{project}/{product}"),
            json!({"before": before, "after": over}),
        )?;
        Ok::<_, AppError>(())
    })?;
    product_policy(conn, project, product)
}

/// `GET /api/v1/releases/{p}/{v}/policy`: what the release sets and the policy its vote would
/// run under (once a vote has started, `vote` on the release shows the snapshot it runs under).
pub fn release_policy(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    release: &super::releases::ReleaseRef,
) -> AppResult<EffectivePolicy> {
    let ctx = super::releases::load_readable(conn, viewer, release)?;
    Ok(EffectivePolicy {
        overrides: policy_override(ctx.release.policy_override.as_deref())?,
        effective: super::checks::policy_of(&ctx)?,
    })
}

/// `PUT /api/v1/releases/{p}/{v}/policy` (PMC members, drafts only: a vote runs under the
/// policy it started with).
pub fn set_release_policy(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &super::releases::ReleaseRef,
    over: &PolicyOverride,
) -> AppResult<EffectivePolicy> {
    let over = checked_override(over)?;
    crate::db::write_transaction(conn, |c| {
        let ctx = super::releases::load_readable(c, Some(principal), release)?;
        authz::authorize(principal, Action::EditPolicy, &ctx.committee.name)?;
        let phase = ctx.release.phase()?;
        let before = policy_override(ctx.release.policy_override.as_deref())?;
        if phase != Phase::Draft || !q::set_release_override(c, ctx.release.id, stored_override(&over).as_deref())? {
            return Err(super::lifecycle::wrong_phase(
                phase,
                "draft",
                format!(
                    "{} is {phase}: a release's policy changes only while it is a draft (a vote runs under the \
                     policy it started with).",
                    ctx.key()
                ),
            ));
        }
        events::record(
            c,
            events::NewEvent {
                actor: principal.actor(),
                action: "policy.changed",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({"before": before, "after": over}),
            },
        )?;
        Ok::<_, AppError>(())
    })?;
    release_policy(conn, Some(principal), release)
}

/// T2's fields: an `https://` repository without credentials (the policy is public), a tag that
/// git cannot take for an option, and at most 100 valid globs of generated files.
fn check_source_fields(policy: &mut ProjectPolicy) -> AppResult<()> {
    let invalid = |message: String| Err(AppError::unprocessable("invalid_policy", message));
    let printable = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    policy.source_repository = policy.source_repository.take().filter(|r| !r.is_empty());
    if let Some(repository) = &policy.source_repository {
        let authority = repository.strip_prefix("https://").and_then(|rest| rest.split('/').next()).unwrap_or("");
        if repository.chars().count() > 500
            || !printable(repository)
            || authority.is_empty()
            || repository.contains('@')
        {
            return invalid(
                "source_repository is an https:// URL of at most 500 characters, without white space or credentials."
                    .to_owned(),
            );
        }
    }
    if policy.source_tag.chars().count() > 200
        || !printable(&policy.source_tag)
        || !checks::trees::is_tag_name(&policy.source_tag.replace("{version}", "1.0"))
    {
        return invalid(
            "source_tag is a git tag name of 1 to 200 characters ({version} stands for the version): no white \
             space, no leading '-', '/' or '.', no '..', '@{', '~', '^', ':', '?', '*', '[' or '\\', no trailing \
             '/', '.' or '.lock'."
                .to_owned(),
        );
    }
    if policy.generated_files.len() > 100 {
        return invalid("generated_files holds at most 100 globs.".to_owned());
    }
    for glob in &policy.generated_files {
        if glob.is_empty() || glob.chars().count() > 200 || glob.chars().any(char::is_control) {
            return invalid(format!("generated_files: {glob:?} is not a glob of 1 to 200 printable characters."));
        }
        if let Err(e) = globset::Glob::new(glob) {
            return invalid(format!("generated_files: {glob:?} is not a valid glob ({e})."));
        }
    }
    Ok(())
}

/// PMC members change their project's release policy; releases snapshot it when a vote starts.
pub fn set_policy(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &Name,
    policy: &ProjectPolicy,
) -> AppResult<ProjectPolicy> {
    if !matches!(policy.unknown_header_severity.as_str(), "warning" | "failure") {
        return Err(AppError::unprocessable(
            "invalid_policy",
            "unknown_header_severity must be \"warning\" or \"failure\" (CHECKS.md R1).",
        ));
    }
    check_vote_fields(policy.min_vote_hours, policy.binding_plus_required)?;
    let mut policy = policy.clone();
    policy.mailing_list = mailing_list(policy.mailing_list.as_deref())?;
    check_source_fields(&mut policy)?;
    let policy = &policy;
    crate::db::write_transaction(conn, |conn| {
        let (row, committee) = find_project(conn, project)?;
        authz::authorize(principal, Action::EditPolicy, &committee.name)?;
        let before = self::policy(&row)?;
        q::set_policy(conn, row.id, &json!(policy).to_string())?;
        super::checks::refresh(conn, committee.id, Some(row.id))?;
        events::record_unscoped(
            conn,
            principal.actor(),
            "policy.changed",
            project,
            json!({"before": before, "after": policy}),
        )?;
        Ok(policy.clone())
    })
}

pub fn create_committee(
    conn: &mut DbConnection,
    principal: &Principal,
    req: &wire::CreateCommitteeRequest,
) -> AppResult<wire::Committee> {
    authz::authorize_admin(principal)?;
    crate::db::write_transaction(conn, |conn| {
        let display_name = text::required("display_name", &req.display_name, text::MAX_NAME)?;
        let row = q::insert_committee(conn, &req.name, &display_name, req.podling)?.ok_or_else(|| {
            AppError::conflict("committee_exists", format!("The committee {} already exists.", req.name))
        })?;
        events::record_unscoped(
            conn,
            principal.actor(),
            "committee.created",
            &req.name,
            json!({"podling": req.podling}),
        )?;
        one(committees(conn, vec![row])?)
    })
}

pub fn create_project(
    conn: &mut DbConnection,
    principal: &Principal,
    req: &wire::CreateProjectRequest,
) -> AppResult<wire::Project> {
    authz::authorize_admin(principal)?;
    crate::db::write_transaction(conn, |conn| {
        let committee = q::find_committee(conn, &req.committee)?
            .ok_or_else(|| AppError::not_found(format!("There is no committee {}.", req.committee)))?;
        let display_name = text::required("display_name", &req.display_name, text::MAX_NAME)?;
        let row = q::insert_project(conn, &req.name, committee.id, &display_name)?
            .ok_or_else(|| AppError::conflict("project_exists", format!("The project {} already exists.", req.name)))?;
        events::record_unscoped(
            conn,
            principal.actor(),
            "project.created",
            &req.name,
            json!({"committee": req.committee}),
        )?;
        one(projects(conn, vec![(row, committee)])?)
    })
}

pub fn create_product(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &Name,
    req: &wire::CreateProductRequest,
) -> AppResult<wire::Project> {
    authz::authorize_admin(principal)?;
    if shared_models::names::RESERVED_PRODUCT_NAMES.contains(&req.name.as_str()) {
        return Err(AppError::unprocessable("invalid_name", format!("{} is reserved in download URLs.", req.name)));
    }
    crate::db::write_transaction(conn, |conn| {
        let (row, committee) = find_project(conn, project)?;
        let display = text::optional("display_name", req.display_name.as_deref(), text::MAX_NAME)?
            .unwrap_or_else(|| format!("{} {}", row.display_name, req.name));
        q::insert_product(conn, row.id, &req.name, &display)?.ok_or_else(|| {
            AppError::conflict("product_exists", format!("The project {project} already has a product {}.", req.name))
        })?;
        events::record_unscoped(
            conn,
            principal.actor(),
            "product.created",
            &format!("{project}/{}", req.name),
            json!({}),
        )?;
        one(projects(conn, vec![(row, committee)])?)
    })
}

pub fn user(conn: &mut DbConnection, row: UserRow) -> AppResult<wire::User> {
    let memberships = users::memberships(conn, row.id)?
        .into_iter()
        .map(|(committee, role)| Ok(wire::Membership { committee: Name::parse(&committee)?, role }))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(wire::User {
        uid: Uid::parse(&row.uid)?,
        name: row.name,
        email: row.email,
        admin: row.is_admin,
        foundation_member: row.foundation_member,
        visitor: row.visitor,
        memberships,
    })
}

/// `GET /api/v1/me`: the caller's user record and memberships.
pub fn me(conn: &mut DbConnection, principal: &Principal) -> AppResult<wire::User> {
    let row =
        users::find_user(conn, &principal.uid)?.ok_or_else(|| AppError::unauthorized("Your user no longer exists."))?;
    user(conn, row)
}

/// Creates a user. `actor` is the admin doing it, or `system` for the command line.
pub fn create_user(conn: &mut DbConnection, actor: &str, req: &wire::CreateUserRequest) -> AppResult<wire::User> {
    crate::db::write_transaction(conn, |conn| {
        let name = text::optional("name", req.name.as_deref(), text::MAX_NAME)?;
        let email = text::optional_email("email", req.email.as_deref())?;
        let row = users::insert_user(conn, &req.uid, name.as_deref(), email.as_deref(), req.admin)?
            .ok_or_else(|| AppError::conflict("user_exists", format!("The user {} already exists.", req.uid)))?;
        events::record_unscoped(conn, actor, "user.created", &req.uid, json!({"admin": req.admin}))?;
        user(conn, row)
    })
}

pub fn set_membership(
    conn: &mut DbConnection,
    principal: &Principal,
    req: &wire::SetMembershipRequest,
) -> AppResult<wire::User> {
    authz::authorize_admin(principal)?;
    crate::db::write_transaction(conn, |conn| {
        let row = users::find_user(conn, &req.uid)?
            .ok_or_else(|| AppError::not_found(format!("There is no user {}.", req.uid)))?;
        let committee = q::find_committee(conn, &req.committee)?
            .ok_or_else(|| AppError::not_found(format!("There is no committee {}.", req.committee)))?;
        if row.visitor {
            return Err(AppError::conflict(
                "visitor_account",
                format!(
                    "{} is a visitor's own account (anyone may make one under a free uid): it gets no role. \
                     Invite the person under their own uid.",
                    req.uid
                ),
            ));
        }
        if users::grant(conn, row.id, committee.id, req.role)? {
            events::record_unscoped(
                conn,
                principal.actor(),
                "membership.granted",
                &req.uid,
                json!({"committee": req.committee, "role": req.role}),
            )?;
        }
        user(conn, row)
    })
}

/// Imports Apache's public data: committees (committee-info), podlings, retired committees,
/// projects and LDAP rosters. Idempotent: running it again updates and adds, never duplicates.
pub fn import_asf(
    conn: &mut DbConnection,
    principal: &Principal,
    req: &AsfImportRequest,
) -> AppResult<AsfImportCounts> {
    authz::authorize_admin(principal)?;
    import_asf_as(conn, principal.actor(), req)
}

/// [`import_asf`] for `actor` without asking who it is (the schedule's `system`); all of it, or
/// nothing if a part cannot be read.
pub fn import_asf_as(conn: &mut DbConnection, actor: &str, req: &AsfImportRequest) -> AppResult<AsfImportCounts> {
    crate::db::write_transaction(conn, |conn| {
        let mut counts = AsfImportCounts::default();
        let mut importer = AsfImporter { conn, counts: &mut counts };
        importer.run(req)?;
        events::record_unscoped(conn, actor, "asf.imported", "asf", json!(counts))?;
        Ok(counts)
    })
}

struct AsfImporter<'a> {
    conn: &'a mut DbConnection,
    counts: &'a mut AsfImportCounts,
}

impl AsfImporter<'_> {
    fn run(&mut self, req: &AsfImportRequest) -> AppResult<()> {
        // Each part is Whimsy's whole document (`{"committees": {…}}`) or the map inside it.
        let object = |v: &Option<serde_json::Map<String, Value>>, inner: &str| -> BTreeMap<String, Value> {
            let Some(map) = v else { return BTreeMap::new() };
            let map = map.get(inner).and_then(Value::as_object).unwrap_or(map);
            map.clone().into_iter().collect()
        };
        for (name, c) in object(&req.committees, "committees") {
            let display = c.get("display_name").and_then(Value::as_str).unwrap_or(&name).to_owned();
            let Some(committee) = self.committee(&name, &display, false, false)? else { continue };
            for (uid, person) in c.get("roster").and_then(Value::as_object).into_iter().flatten() {
                let person_name = person.get("name").and_then(Value::as_str);
                self.member(uid, person_name, committee.id, Role::PmcMember)?;
            }
        }
        for (name, c) in object(&req.retired_committees, "retired") {
            let display = c.get("display_name").and_then(Value::as_str).unwrap_or(&name).to_owned();
            self.committee(&name, &display, false, true)?;
        }
        for (name, p) in object(&req.podlings, "podlings") {
            // Whimsy lists graduated and retired podlings too: they are not podlings now.
            let status = p.get("status").and_then(Value::as_str);
            if status.is_some_and(|s| s != "current") || p.get("podling").and_then(Value::as_bool) == Some(false) {
                self.counts.skipped.push(format!("podling {name}: {}, not a podling now", status.unwrap_or("not one")));
                continue;
            }
            let display = p.get("name").and_then(Value::as_str).unwrap_or(&name).to_owned();
            if let Some(committee) = self.committee(&name, &display, true, false)? {
                self.project(&name, committee.id, &display)?;
            }
        }
        for (name, p) in object(&req.projects, "projects") {
            let committee_name = p.get("pmc").and_then(Value::as_str).unwrap_or(&name).to_owned();
            let display = p.get("name").and_then(Value::as_str).unwrap_or(&name).to_owned();
            match q::find_committee(self.conn, &committee_name)? {
                Some(committee) => self.project(&name, committee.id, &display)?,
                None => self.counts.skipped.push(format!("project {name}: its committee {committee_name} is unknown")),
            }
        }
        for (name, p) in object(&req.ldap_projects, "projects") {
            let Some(committee) = q::find_committee(self.conn, &name)? else {
                self.counts.skipped.push(format!("LDAP group {name}: no such committee"));
                continue;
            };
            for (field, role) in [("members", Role::Committer), ("owners", Role::PmcMember)] {
                for uid in p.get(field).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    self.member(uid, None, committee.id, role)?;
                }
            }
        }
        for (group, members) in object(&req.groups, "groups") {
            let (name, role) = match group.strip_suffix("-pmc") {
                Some(name) => (name.to_owned(), Role::PmcMember),
                None => (group.clone(), Role::Committer),
            };
            let Some(committee) = q::find_committee(self.conn, &name)? else {
                self.counts.skipped.push(format!("group {group}: no such committee"));
                continue;
            };
            for uid in members.as_array().into_iter().flatten().filter_map(Value::as_str) {
                self.member(uid, None, committee.id, role)?;
            }
        }
        Ok(())
    }

    fn committee(
        &mut self,
        name: &str,
        display: &str,
        podling: bool,
        retired: bool,
    ) -> AppResult<Option<CommitteeRow>> {
        if Name::parse(name).is_err() {
            self.counts.skipped.push(format!("committee {name:?}: not a valid name"));
            return Ok(None);
        }
        let Some(display) = self.display_name(&format!("committee {name}"), display) else { return Ok(None) };
        let display = display.as_str();
        let (row, created) = q::upsert_committee(self.conn, name, display, podling, retired)?;
        self.counts.committees += u64::from(created);
        Ok(Some(row))
    }

    /// A display name from the imported files, if it is one people can read.
    fn display_name(&mut self, what: &str, display: &str) -> Option<String> {
        match text::required("display_name", display, text::MAX_NAME) {
            Ok(display) => Some(display),
            Err(e) => {
                self.counts.skipped.push(format!("{what}: {}", e.message));
                None
            }
        }
    }

    fn project(&mut self, name: &str, committee_id: i64, display: &str) -> AppResult<()> {
        if Name::parse(name).is_err() {
            self.counts.skipped.push(format!("project {name:?}: not a valid name"));
            return Ok(());
        }
        let Some(display) = self.display_name(&format!("project {name}"), display) else { return Ok(()) };
        let display = display.as_str();
        if q::find_project(self.conn, name)?.is_none() {
            q::insert_project(self.conn, name, committee_id, display)?;
            self.counts.projects += 1;
        }
        Ok(())
    }

    fn member(&mut self, uid: &str, name: Option<&str>, committee_id: i64, role: Role) -> AppResult<()> {
        if Uid::parse(uid).is_err() {
            self.counts.skipped.push(format!("user {uid:?}: not a valid user id"));
            return Ok(());
        }
        let name = match text::optional("name", name, text::MAX_NAME) {
            Ok(name) => name,
            Err(e) => {
                self.counts.skipped.push(format!("the name of user {uid}: {}", e.message));
                None
            }
        };
        let name = name.as_deref();
        let (user, created) = users::ensure_user(self.conn, uid, name)?;
        if user.visitor {
            // Anyone may make a visitor's account under any free uid: it never gets a role.
            self.counts.skipped.push(format!(
                "user {uid}: the uid is a visitor's own account, which gets no role; an admin resolves it"
            ));
            return Ok(());
        }
        self.counts.users += u64::from(created);
        self.counts.memberships += u64::from(users::grant(self.conn, user.id, committee_id, role)?);
        Ok(())
    }
}
