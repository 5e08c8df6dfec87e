//! CVE records (`docs/CVES.md`): a project's PMC records each vulnerability once, with the
//! releases it affects and those that fix it. A record is embargoed until its `published`
//! time: until then only the PMC and the admins know it exists (anyone else gets 404, as for
//! a draft), and no export holds it. Public records are shown on the release and project, in
//! the catalog, and exported as OSV JSON.

use std::collections::HashMap;

use super::releases::ReleaseRef;
use serde_json::json;
pub use shared_models::advisories::is_cve_id;
use shared_models::advisories::{
    Cve, CveList, CveRequest, MAX_LINKED, OsvAffected, OsvExport, OsvRecord, OsvReference, OsvSeverity, Severity,
};

use super::page::Page;
use super::text;
use crate::auth::{Action, Principal, authz};
use crate::db::models::{CommitteeRow, CveRow, ProjectRow};
use crate::db::queries::advisories::{self as q, CveFields};
use crate::db::queries::directory as dq;
use crate::db::queries::events;
use crate::db::queries::releases as rq;
use crate::db::{DbConnection, now_ms, read_transaction, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// The OSV schema version the export follows.
const OSV_SCHEMA_VERSION: &str = "1.6.0";

fn invalid(field: &str, message: String) -> AppError {
    AppError::unprocessable("invalid_request", message).with_details(json!({"field": field}))
}

fn unknown(name: &str) -> AppError {
    AppError::not_found(format!("There is no CVE record {name}."))
}

/// What a request says, checked: its fields, and the ids of the releases it names (each a
/// release of `project`).
struct Checked {
    title: String,
    description: Option<String>,
    cvss_vector: Option<String>,
    advisory_url: Option<String>,
    published_at: Option<i64>,
    affected: Vec<i64>,
    fixed: Vec<i64>,
}

impl Checked {
    fn fields<'a>(&'a self, severity: Option<Severity>) -> CveFields<'a> {
        CveFields {
            title: &self.title,
            description: self.description.as_deref(),
            severity: severity.map(Severity::as_str),
            cvss_vector: self.cvss_vector.as_deref(),
            advisory_url: self.advisory_url.as_deref(),
            published_at: self.published_at,
        }
    }
}

fn check(conn: &mut DbConnection, project: &ProjectRow, request: &CveRequest) -> AppResult<Checked> {
    if !is_cve_id(&request.id) {
        return Err(invalid("id", format!("{:?} is not a CVE id (such as CVE-2026-12345).", request.id)));
    }
    let title = text::required("title", &request.title, text::MAX_NAME)?;
    let description = text::optional_comment("description", request.description.as_deref(), 20_000)?;
    let cvss_vector = request.cvss_vector.clone();
    if let Some(vector) = &cvss_vector
        && !shared_models::advisories::is_cvss_vector(vector)
    {
        return Err(invalid(
            "cvss_vector",
            format!(
                "{vector:?} is not a CVSS v3.x or v4.0 base vector with every base metric in order, such as \
                 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H."
            ),
        ));
    }
    let advisory_url = request.advisory_url.clone();
    if let Some(url) = &advisory_url {
        let well_formed = url.len() > "https://".len()
            && url.starts_with("https://")
            && url.chars().count() <= 2000
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(invalid("advisory_url", "advisory_url is an https URL of at most 2000 characters.".to_owned()));
        }
    }
    let mut links = |field: &str, keys: &[String]| -> AppResult<Vec<i64>> {
        if keys.len() > MAX_LINKED {
            return Err(invalid(field, format!("{field} names {} releases; at most {MAX_LINKED}.", keys.len())));
        }
        let mut ids = Vec::new();
        for key in keys {
            let Ok(named) = ReleaseRef::parse_key(key) else {
                return Err(invalid(field, format!("{key:?} does not name a release (project/version).")));
            };
            let missing = || AppError::not_found(format!("The project {} has no release {key}.", project.name));
            if named.project.as_str() != project.name {
                return Err(missing());
            }
            let id = q::release_id(conn, project.id, named.product_name(), &named.version)?.ok_or_else(missing)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    };
    let affected = links("affected", &request.affected)?;
    let fixed = links("fixed", &request.fixed)?;
    if let Some(both) = affected.iter().find(|id| fixed.contains(id)) {
        let key = rq::context_by_id(conn, *both)?.key();
        return Err(invalid("fixed", format!("{key} cannot both be affected by {} and fix it.", request.id)));
    }
    let published_at = request.published.map(|at| at.timestamp_millis());
    Ok(Checked { title, description, cvss_vector, advisory_url, published_at, affected, fixed })
}

fn embargoed(row: &CveRow, now: i64) -> bool {
    row.published_at.is_none_or(|at| at > now)
}

/// Whether `viewer` may read records of `committee` that are still embargoed.
fn sees_embargoed(viewer: Option<&Principal>, committee: &CommitteeRow) -> bool {
    viewer.is_some_and(|p| authz::allowed(p, Action::ManageAdvisories, &committee.name))
}

/// The records `rows` of one project as `viewer` sees them: each with the releases it names
/// that `viewer` may read.
fn views(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    project: &ProjectRow,
    committee: &CommitteeRow,
    rows: Vec<CveRow>,
) -> AppResult<Vec<Cve>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut contexts = HashMap::new();
    let mut linked: HashMap<(i64, String), Vec<String>> = HashMap::new();
    for (cve_id, relation, release_id) in q::links(conn, &ids)? {
        let ctx = match contexts.get(&release_id) {
            Some(ctx) => ctx,
            None => contexts.entry(release_id).or_insert(rq::context_by_id(conn, release_id)?),
        };
        if authz::may_read_release(viewer, &committee.name, &project.name, ctx.release.phase()?) {
            linked.entry((cve_id, relation)).or_default().push(ctx.key());
        }
    }
    let now = now_ms();
    rows.into_iter()
        .map(|row| {
            Ok(Cve {
                affected: linked.remove(&(row.id, "affected".to_owned())).unwrap_or_default(),
                fixed: linked.remove(&(row.id, "fixed".to_owned())).unwrap_or_default(),
                embargoed: embargoed(&row, now),
                id: row.name,
                project: project.name.clone(),
                title: row.title,
                description: row.description,
                severity: row.severity.as_deref().map(Severity::parse).transpose()?,
                cvss_vector: row.cvss_vector,
                advisory_url: row.advisory_url,
                published: row.published_at.map(to_time),
                created_by: row.created_by,
                created_at: to_time(row.created_at),
                updated_at: to_time(row.updated_at),
            })
        })
        .collect()
}

fn project_of(conn: &mut DbConnection, name: &str) -> AppResult<(ProjectRow, CommitteeRow)> {
    dq::find_project(conn, name)?.ok_or_else(|| AppError::not_found(format!("There is no project {name}.")))
}

/// The record `name` of `project`, if `viewer` may know of it (404 otherwise, embargoed or
/// not: the id of an embargoed CVE is itself a secret).
fn load(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    project: &str,
    name: &str,
) -> AppResult<(CveRow, ProjectRow, CommitteeRow)> {
    let (project, committee) = project_of(conn, project)?;
    let row = q::find(conn, project.id, name)?.ok_or_else(|| unknown(name))?;
    if embargoed(&row, now_ms()) && !sees_embargoed(viewer, &committee) {
        return Err(unknown(name));
    }
    Ok((row, project, committee))
}

fn one(conn: &mut DbConnection, viewer: Option<&Principal>, project: &str, name: &str) -> AppResult<Cve> {
    let (row, project, committee) = load(conn, viewer, project, name)?;
    views(conn, viewer, &project, &committee, vec![row])?.pop().ok_or_else(|| unknown(name))
}

/// What the audit log says of a change to the record `id`. Foundation members read every
/// event, so while the record is embargoed the event names only its row, not the CVE, its
/// title or the versions; the event of its publication says all of it.
fn event_details(id: i64, request: &CveRequest, embargoed: bool) -> serde_json::Value {
    if embargoed {
        return json!({"cve_record": id, "embargoed": true});
    }
    json!({"cve_record": id, "cve": request.id, "title": request.title, "severity": request.severity,
           "published": request.published, "affected": request.affected, "fixed": request.fixed})
}

/// Whether the request leaves the record embargoed at `now`.
fn embargoed_by(request: &CveRequest, now: i64) -> bool {
    request.published.is_none_or(|at| at.timestamp_millis() > now)
}

/// `POST /api/v1/projects/{p}/cves` (the project's PMC).
pub fn create(conn: &mut DbConnection, principal: &Principal, project: &str, request: &CveRequest) -> AppResult<Cve> {
    write_transaction(conn, |c| {
        let (project, committee) = project_of(c, project)?;
        authz::authorize(principal, Action::ManageAdvisories, &committee.name)?;
        let checked = check(c, &project, request)?;
        let id = q::insert(c, &request.id, project.id, &checked.fields(request.severity), principal.actor())?
            .ok_or_else(|| {
                AppError::conflict("duplicate", format!("{} is recorded already; change it with PUT.", request.id))
            })?;
        q::set_links(c, id, "affected", &checked.affected)?;
        q::set_links(c, id, "fixed", &checked.fixed)?;
        let details = event_details(id, request, embargoed_by(request, now_ms()));
        events::record_unscoped(c, principal.actor(), "cve.created", &project.name, details)?;
        one(c, Some(principal), &project.name, &request.id)
    })
}

/// `PUT /api/v1/projects/{p}/cves/{id}`: the whole record again (the project's PMC). A public
/// record stays public: it cannot be embargoed again (409 `already_public`).
pub fn update(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &str,
    name: &str,
    request: &CveRequest,
) -> AppResult<Cve> {
    write_transaction(conn, |c| {
        let (row, project, committee) = load(c, Some(principal), project, name)?;
        authz::authorize(principal, Action::ManageAdvisories, &committee.name)?;
        if !q::lock(c, row.id)? {
            return Err(unknown(name));
        }
        if request.id != name {
            return Err(AppError::conflict(
                "id_mismatch",
                format!("The record is {name}; its id cannot change to {}: record that one anew.", request.id),
            ));
        }
        let now = now_ms();
        if !embargoed(&row, now) && embargoed_by(request, now) {
            return Err(AppError::conflict(
                "already_public",
                format!(
                    "{name} is public since {}; it cannot be embargoed again.",
                    to_time(row.published_at.unwrap_or(now))
                ),
            ));
        }
        let checked = check(c, &project, request)?;
        q::update(c, row.id, &checked.fields(request.severity))?;
        q::set_links(c, row.id, "affected", &checked.affected)?;
        q::set_links(c, row.id, "fixed", &checked.fixed)?;
        let details = event_details(row.id, request, embargoed_by(request, now));
        events::record_unscoped(c, principal.actor(), "cve.updated", &project.name, details)?;
        one(c, Some(principal), &project.name, name)
    })
}

/// `DELETE /api/v1/projects/{p}/cves/{id}` (the project's PMC): a record made by mistake. The
/// audit log keeps what it said (of an embargoed one, that it was there).
pub fn delete(conn: &mut DbConnection, principal: &Principal, project: &str, name: &str) -> AppResult<()> {
    write_transaction(conn, |c| {
        let (row, project, committee) = load(c, Some(principal), project, name)?;
        authz::authorize(principal, Action::ManageAdvisories, &committee.name)?;
        if !q::lock(c, row.id)? {
            return Err(unknown(name));
        }
        q::delete(c, row.id)?;
        let details = if embargoed(&row, now_ms()) {
            json!({"cve_record": row.id, "embargoed": true})
        } else {
            json!({"cve_record": row.id, "cve": name, "title": row.title, "published": row.published_at.map(to_time)})
        };
        events::record_unscoped(c, principal.actor(), "cve.deleted", &project.name, details)?;
        Ok(())
    })
}

/// `GET /api/v1/projects/{p}/cves/{id}`.
pub fn show(conn: &mut DbConnection, viewer: Option<&Principal>, project: &str, name: &str) -> AppResult<Cve> {
    read_transaction(conn, |c| one(c, viewer, project, name))
}

/// `GET /api/v1/projects/{p}/cves`: the latest recorded first; embargoed ones for the PMC only.
pub fn list(conn: &mut DbConnection, viewer: Option<&Principal>, project: &str, page: Page) -> AppResult<CveList> {
    read_transaction(conn, |c| {
        let (project, committee) = project_of(c, project)?;
        let all = sees_embargoed(viewer, &committee);
        let (rows, total) = q::of_project(c, project.id, all, now_ms(), page.sql())?;
        Ok(CveList { cves: views(c, viewer, &project, &committee, rows)?, page: page.info(total, "") })
    })
}

/// The records that name the release `ctx` (affected or fixed), as `viewer` sees them: the
/// embargoed ones for the PMC only.
pub fn naming_release(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    ctx: &crate::db::queries::releases::ReleaseContext,
) -> AppResult<Vec<Cve>> {
    let now = now_ms();
    let all = sees_embargoed(viewer, &ctx.committee);
    let rows = q::naming_release(conn, ctx.release.id)?.into_iter().filter(|row| all || !embargoed(row, now)).collect();
    views(conn, viewer, &ctx.project, &ctx.committee, rows)
}

/// The most records one export holds (a project with more is a project to ask about).
const MAX_EXPORTED: i64 = 10_000;

/// `GET /api/v1/projects/{p}/osv`: the public records as OSV documents.
pub fn osv(conn: &mut DbConnection, project: &str, public_url: &str) -> AppResult<OsvExport> {
    read_transaction(conn, |c| {
        let (project, committee) = project_of(c, project)?;
        let (rows, _) = q::of_project(c, project.id, false, now_ms(), (MAX_EXPORTED, 0))?;
        let mut vulns = Vec::new();
        for cve in views(c, None, &project, &committee, rows)? {
            vulns.push(osv_record(c, &cve, public_url)?);
        }
        Ok(OsvExport { vulns })
    })
}

/// One public record as an OSV document: an `affected` entry per product, with the versions
/// it affects and those that fix it.
fn osv_record(conn: &mut DbConnection, cve: &Cve, public_url: &str) -> AppResult<OsvRecord> {
    let mut products: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut references = Vec::new();
    if let Some(url) = &cve.advisory_url {
        references.push(OsvReference { kind: "ADVISORY".to_owned(), url: url.clone() });
    }
    for (relation, keys) in [("affected", &cve.affected), ("fixed", &cve.fixed)] {
        for key in keys {
            let Ok(release) = ReleaseRef::parse_key(key) else { continue };
            let (product, version) = (release.product_name().to_owned(), release.version.to_string());
            let index = match products.iter().position(|(p, _, _)| *p == product) {
                Some(index) => index,
                None => {
                    products.push((product.clone(), Vec::new(), Vec::new()));
                    products.len() - 1
                }
            };
            if relation == "affected" {
                products[index].1.push(version);
            } else {
                let ctx = rq::find_release(conn, &cve.project, &product, &version)?;
                products[index].2.push(version);
                // (A draft has no download folder.)
                if let Some(dir) = ctx.as_ref().and_then(super::releases::download_path) {
                    references.push(OsvReference { kind: "PACKAGE".to_owned(), url: format!("{public_url}{dir}") });
                }
            }
        }
    }
    let severity = cve
        .cvss_vector
        .iter()
        .map(|vector| OsvSeverity {
            kind: if vector.starts_with("CVSS:4.") { "CVSS_V4" } else { "CVSS_V3" }.to_owned(),
            score: vector.clone(),
        })
        .collect();
    Ok(OsvRecord {
        schema_version: OSV_SCHEMA_VERSION.to_owned(),
        id: cve.id.clone(),
        // A record published after its last change is new to a reader syncing by `modified`.
        modified: cve.published.map_or(cve.updated_at, |at| at.max(cve.updated_at)),
        published: cve.published.unwrap_or(cve.created_at),
        summary: cve.title.clone(),
        details: cve.description.clone(),
        severity,
        affected: products
            .into_iter()
            .map(|(product, versions, fixed)| OsvAffected {
                versions,
                database_specific: json!({"project": cve.project, "product": product, "fixed": fixed}),
            })
            .collect(),
        references,
        database_specific: json!({"project": cve.project, "severity": cve.severity}),
    })
}

/// The public CVE records that name one release.
#[derive(Debug, Default)]
pub struct Named {
    pub fixed: Vec<String>,
    pub affecting: Vec<String>,
}

/// The public records naming each of `release_ids`, by release id.
pub fn of_releases(conn: &mut DbConnection, release_ids: &[i64]) -> AppResult<HashMap<i64, Named>> {
    let mut named: HashMap<i64, Named> = HashMap::new();
    for (release_id, relation, cve) in q::public_of_releases(conn, release_ids, now_ms())? {
        let entry = named.entry(release_id).or_default();
        if relation == "fixed" { entry.fixed.push(cve) } else { entry.affecting.push(cve) }
    }
    Ok(named)
}
