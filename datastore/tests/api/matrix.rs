//! The authorization matrix: every route the datastore has (the API's, from its OpenAPI document,
//! which is made from the routes; the pages', from `web::PAGES`, which makes the router) × every
//! kind of caller, with the expected outcome of each cell written down as data.
//!
//! The callers: anonymous, a visitor's account, a committer, a release manager and a PMC member
//! of the release's committee, a PMC member of another committee, an admin, and a runner's token.
//! A route's [`Policy`] names who may use it; [`allowed`] is the whole table of policy × caller.
//!
//! Every refused cell runs first, against a world no one has changed yet, and must be refused
//! (401, 403, 404, or for a page the way to the login); afterwards the audit log must not have
//! grown by a single event. Then every allowed cell runs, and must not be refused: a read
//! answers 2xx, a write anything but 401, 403 or 404 (a write that finds the release in another
//! phase, or its target already gone, is a 409 or a 404 the table names). A route missing from
//! the table, or a table entry for a route that does not exist, fails the test.

use std::collections::BTreeSet;

use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;
use crate::lifecycle::{finish_checks, upload_all};
use crate::web::{PASSWORD, csrf_of, password_for};

on_both_backends!(every_route_refuses_exactly_the_callers_its_policy_refuses);

/// The kinds of caller, least trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Anonymous,
    Visitor,
    Committer,
    ReleaseManager,
    PmcMember,
    OtherPmc,
    Admin,
    Runner,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::Visitor,
    Caller::Committer,
    Caller::ReleaseManager,
    Caller::PmcMember,
    Caller::OtherPmc,
    Caller::Admin,
    Caller::Runner,
];

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Everyone, a runner's token too (the route reads no credentials).
    Public,
    /// Everyone but a runner's token, which is not a person's credential (401).
    PublicToPeople,
    /// Any person logged in, or with a person's token.
    Person,
    /// Only a visitor's own account (withdrawing it).
    VisitorOnly,
    /// The committee's committers, release managers and PMC members, and admins (a draft's
    /// readers and composers).
    Committer,
    /// The committee's release managers and PMC members, and admins.
    ReleaseManager,
    /// The committee's PMC members, and admins.
    Pmc,
    /// Admins, and the release manager whose thing it is (their own token).
    TheReleaseManager,
    /// Admins.
    Admin,
    /// Only the person who made it (an upload session: the release manager's), admins neither.
    Owner,
    /// Runner tokens only.
    Runner,
}

use Caller::*;

/// The table: whether `caller` may use a route of `policy`. (The release's committee is httpd;
/// the other PMC member is tomcat's.)
fn allowed(policy: Policy, caller: Caller) -> bool {
    match policy {
        Policy::Public => true,
        Policy::PublicToPeople => caller != Runner,
        Policy::Person => !matches!(caller, Anonymous | Runner),
        Policy::VisitorOnly => caller == Visitor,
        Policy::Committer => matches!(caller, Committer | ReleaseManager | PmcMember | Admin),
        Policy::ReleaseManager => matches!(caller, ReleaseManager | PmcMember | Admin),
        Policy::Pmc => matches!(caller, PmcMember | Admin),
        Policy::TheReleaseManager => matches!(caller, ReleaseManager | Admin),
        Policy::Admin => caller == Admin,
        Policy::Owner => caller == ReleaseManager,
        Policy::Runner => caller == Runner,
    }
}

/// What a request carries.
#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Text(&'static [u8]),
    Mbox(&'static [u8]),
    Bytes(&'static [u8]),
    /// Bytes of an upload session, from offset 0.
    Upload(&'static [u8]),
    /// A page's form (its CSRF token is added).
    Form(Vec<(&'static str, String)>),
    Multipart,
}

/// One route of the table, with a request that reaches its authorization.
struct Cell {
    method: &'static str,
    /// The route's pattern, as the route table spells it.
    pattern: &'static str,
    /// The concrete path requested.
    path: String,
    policy: Policy,
    body: Body,
    /// Statuses besides 2xx (and 3xx for pages) that an allowed caller may get: the release is
    /// in another phase (409), the target is gone after an earlier allowed cell (404), a
    /// refusal on grounds other than the caller's rights (422).
    also_fine: &'static [u16],
    /// Runs after every other allowed cell (it ends the caller's session).
    last: bool,
}

/// A cell that allowed callers answer with 2xx (or a page's redirect onwards).
fn cell(method: &'static str, pattern: &'static str, path: String, policy: Policy, body: Body) -> Cell {
    Cell { method, pattern, path, policy, body, also_fine: &[], last: false }
}

/// The world the matrix runs in.
struct World {
    app: TestApp,
    /// Bearer credentials per caller (None: anonymous).
    jwt: Vec<(Caller, Option<String>)>,
    /// Session cookie and CSRF token per person.
    sessions: Vec<(Caller, String, String)>,
    task: i64,
    /// A task the runner holds a lease on, its lease token, and the blob it reads.
    leased: (i64, String, String),
    /// A spare personal access token of the release manager (uid, secret) and its id.
    spare_token: (String, i64),
    waiver: i64,
    webhook: i64,
    trusted_publisher: i64,
    /// A distribution record of the candidate (made in the database: a candidate takes none).
    distribution: i64,
    fingerprint: String,
    sha512: String,
    invitation: String,
    asset: String,
    /// The release manager's upload sessions: to read, to send bytes to, complete (to commit),
    /// and to delete.
    uploads: [String; 4],
}

impl World {
    fn jwt(&self, caller: Caller) -> Option<&str> {
        self.jwt.iter().find(|(c, _)| *c == caller).and_then(|(_, j)| j.as_deref())
    }

    fn session(&self, caller: Caller) -> Option<(&str, &str)> {
        self.sessions.iter().find(|(c, _, _)| *c == caller).map(|(_, cookie, csrf)| (cookie.as_str(), csrf.as_str()))
    }
}

const DRAFT: &str = "/releases/httpd/2.4.68";
const CANDIDATE: &str = "/releases/httpd/docs/1.0";

async fn world(backend: Backend) -> Option<World> {
    let app = TestApp::start(backend).await?;
    // The schedule, as the server configures it when it starts.
    let config = app.state.config.clone();
    app.db(|c| datastore::domain::schedules::configure(c, &config).unwrap());
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let admin = app.admin();
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    let other = app.user("other", false, &[("tomcat", Role::PmcMember)]);
    app.user("bystander", false, &[]);
    let visitor = app.db(|c| {
        let hash = datastore::auth::session::hash_password(PASSWORD).unwrap();
        let request = datastore::domain::people::SignUp {
            uid: "vera".into(),
            name: "Vera".into(),
            email: "vera@example.org".into(),
            password_hash: hash,
            consent: true,
        };
        datastore::domain::people::sign_up(c, &request).unwrap();
        let token = datastore::domain::tokens::create_token(c, "test", "vera", "tests").unwrap();
        app.jwt_for("vera", &token)
    });
    let runner = app.runner("runner-matrix").await;
    // The runner the admin routes disable and re-key (not the one whose token the cells use).
    app.runner("runner-spare").await;

    // The draft, and a candidate of another product with its vote open.
    let (status, body) = post_as(&app, &admin, "/api/v1/admin/projects/httpd/products", json!({"name": "docs"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    let docs = json!({"project": "httpd", "product": "docs", "version": "1.0"});
    let (status, body) = post_as(&app, &rm, "/api/v1/releases", docs).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.upload(&rm, "httpd/docs/1.0", "docs-1.0.tar.gz", b"the docs".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(finish_checks(&app, "success").await >= 4);
    let (status, body) = post_as(&app, &rm, &format!("/api/v1{CANDIDATE}/vote/start"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A task that failed, on the draft (retry and cancel have something to act on).
    let task = app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        let id = task::table.select(task::id).order(task::id).first::<i64>(c).unwrap();
        diesel::update(task::table.find(id)).set(task::status.eq("failed")).execute(c).unwrap();
        id
    });

    let keys = std::fs::read(testkit::httpd("KEYS")).unwrap();
    let (status, _) =
        app.send(app.client.post(app.url("/api/v1/committees/httpd/keys/import")).bearer_auth(&admin).body(keys)).await;
    assert_eq!(status, StatusCode::OK);
    let waiver = json!({"checker": "license", "path_glob": "*", "reason": "the matrix", "scope": "release"});
    let (_, waiver) = post_as(&app, &rm, &format!("/api/v1{DRAFT}/waivers"), waiver).await;
    let waiver = waiver["id"].as_i64().unwrap_or_else(|| panic!("{waiver}"));
    let hook = json!({"url": "http://127.0.0.1:9/hook"});
    let (_, webhook) = post_as(&app, &pmc, "/api/v1/projects/httpd/webhooks", hook).await;
    let webhook = webhook["id"].as_i64().unwrap_or_else(|| panic!("{webhook}"));
    let (_, trust) = post_as(&app, &pmc, "/api/v1/projects/httpd/trusted-publishers", trust_body()).await;
    let trusted_publisher = trust["id"].as_i64().unwrap_or_else(|| panic!("{trust}"));
    let cve = json!({"id": "CVE-2026-0100", "title": "the matrix", "published": "2026-01-01T00:00:00Z"});
    let (status, body) = post_as(&app, &pmc, "/api/v1/projects/httpd/cves", cve).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let distribution = app.db(|c| {
        let ctx = datastore::db::queries::releases::find_release(c, "httpd", "docs", "1.0").unwrap().unwrap();
        datastore::db::queries::distributions::insert(c, ctx.release.id, "npm", "https://registry.npmjs.org/x", "pmc")
            .unwrap()
            .unwrap()
            .id
    });
    let fingerprint = "65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA".to_owned();
    let sha512 = checks::digest::sha512_of(&b"the docs"[..]).unwrap().0;
    // A task the runner is working on (its blob, its lease), and a signed audit checkpoint.
    let (status, _) = app.upload(&rm, "httpd/2.4.68", "claimed.txt", b"claimed".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let kinds = ["paths", "hashing", "signature", "archive", "license", "rat"];
    let order = app
        .claim(&runner, &kinds)
        .await
        .into_iter()
        .find(|o| o["inputs"].as_array().is_some_and(|i| !i.is_empty()))
        .expect("a task that reads a blob");
    let leased = (
        order["id"].as_i64().unwrap(),
        order["lease_token"].as_str().unwrap().to_owned(),
        order["inputs"][0]["sha256"].as_str().unwrap().to_owned(),
    );
    let key = datastore::domain::audit::signing_key(app.state_dir.path()).unwrap();
    app.db(|c| datastore::domain::audit::checkpoint(c, &key).unwrap());
    let spare = app.db(|c| datastore::domain::tokens::create_token(c, "test", "rm", "spare").unwrap());
    let spare_token = (spare.token.clone(), spare.id);
    let invitation = app.db(|c| {
        let root = app_principal(c, "root");
        datastore::domain::people::invite(c, &root, "bystander").unwrap()
    });

    let mut uploads = Vec::new();
    for (path, size) in [("up-show", 1), ("up-patch", 4), ("up-commit", 4), ("up-delete", 1)] {
        let url = app.url("/api/v1/releases/httpd/2.4.68/uploads");
        let request = app.client.post(url).bearer_auth(&rm).json(&json!({"path": path, "size": size}));
        let (status, session) = app.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        uploads.push(session["id"].as_str().unwrap().to_owned());
    }
    let complete = app
        .client
        .patch(app.url(&format!("/api/v1/uploads/{}", uploads[2])))
        .bearer_auth(&rm)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body("four");
    assert_eq!(complete.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let uploads: [String; 4] = uploads.try_into().unwrap();

    let mut jwt = vec![(Anonymous, None), (Runner, Some(runner))];
    for (caller, token) in [
        (Visitor, visitor),
        (Committer, committer),
        (ReleaseManager, rm),
        (PmcMember, pmc),
        (OtherPmc, other),
        (Admin, admin),
    ] {
        jwt.push((caller, Some(token)));
    }
    let mut sessions = Vec::new();
    for caller in CALLERS {
        let Some(uid) = uid_of(caller) else { continue };
        if uid != "vera" {
            password_for(&app, uid);
        }
        let browser = log_in(&app, uid).await;
        sessions.push((caller, browser.0, browser.1));
    }
    let front = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let asset = front.split(r#"<link rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    Some(World {
        app,
        jwt,
        sessions,
        task,
        leased,
        spare_token,
        waiver,
        webhook,
        trusted_publisher,
        distribution,
        fingerprint,
        sha512,
        invitation,
        asset,
        uploads,
    })
}

/// A trust of a CI identity (the issuer is one `Config::for_tests` allows).
fn trust_body() -> Value {
    json!({"issuer": "https://ci.datastore.test", "audience": "trusted-releases", "actions": ["compose"],
           "claims": {"repository": "apache/httpd"}})
}

async fn post_as(app: &TestApp, jwt: &str, path: &str, body: Value) -> (StatusCode, Value) {
    app.send(app.client.post(app.url(path)).bearer_auth(jwt).json(&body)).await
}

fn app_principal(c: &mut datastore::db::DbConnection, uid: &str) -> datastore::auth::Principal {
    let user = datastore::db::queries::auth::find_user(c, uid).unwrap().unwrap();
    let memberships = datastore::db::queries::auth::memberships(c, user.id).unwrap();
    datastore::auth::Principal::of_user(user, memberships, None, None)
}

/// Logs `uid` in at the login page; returns the session cookie and the CSRF token of its pages.
async fn log_in(app: &TestApp, uid: &str) -> (String, String) {
    let response = crate::web::post_login(app, uid, PASSWORD, "/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{uid} logs in");
    let cookie = crate::web::set_cookie(&response, "trl_session").unwrap().split(';').next().unwrap().to_owned();
    let html = app.client.get(app.url("/")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    (cookie.clone(), csrf_of(&html))
}

const MBOX: &[u8] = b"From a@example.org Mon Jan  1 00:00:00 2026\nFrom: a@example.org\nSubject: Re: [VOTE] x\n\n+1\n";

/// The API's routes, each with its policy and a request that reaches its authorization. Both
/// spellings of a release path are covered: the draft's (`{project}/{version}`) and the open
/// candidate's (`{project}/{product}/{version}`), whose policies differ where a phase matters.
fn api_cells(w: &World) -> Vec<Cell> {
    use Policy::*;
    let mut cells = vec![
        cell(
            "GET",
            "/api/runner/v1/blobs/{sha256}",
            format!("/api/runner/v1/blobs/{}", w.leased.2),
            Runner,
            Body::None,
        ),
        cell(
            "POST",
            "/api/runner/v1/claim",
            "/api/runner/v1/claim".into(),
            Runner,
            Body::Json(json!({"runner": "m", "version": "0", "kinds": ["paths"], "capacity": 1, "wait_s": 0})),
        ),
        cell(
            "GET",
            "/api/runner/v1/committees/{committee}/KEYS",
            "/api/runner/v1/committees/httpd/KEYS".into(),
            Runner,
            Body::None,
        ),
        // Only a runner gets past the token; the leased task is a check, which uploads nothing,
        // and no lease token is sent: 409 `lease_lost` for the runner.
        Cell {
            also_fine: &[409],
            ..cell(
                "POST",
                "/api/runner/v1/tasks/{id}/blobs",
                format!("/api/runner/v1/tasks/{}/blobs", w.leased.0),
                Runner,
                Body::Bytes(b"matrix"),
            )
        },
        cell(
            "POST",
            "/api/runner/v1/tasks/{id}/lease",
            format!("/api/runner/v1/tasks/{}/lease", w.leased.0),
            Runner,
            Body::Json(json!({"lease_token": w.leased.1})),
        ),
        cell(
            "POST",
            "/api/runner/v1/tasks/{id}/log",
            format!("/api/runner/v1/tasks/{}/log", w.leased.0),
            Runner,
            Body::Json(json!({"lease_token": w.leased.1, "seq": 0, "text": "x"})),
        ),
        cell(
            "POST",
            "/api/runner/v1/tasks/{id}/result",
            format!("/api/runner/v1/tasks/{}/result", w.leased.0),
            Runner,
            Body::Json(json!({"lease_token": w.leased.1, "status": "failed", "error": "the matrix", "results": []})),
        ),
        cell(
            "POST",
            "/api/v1/admin/committees",
            "/api/v1/admin/committees".into(),
            Admin,
            Body::Json(json!({"name": "newc", "display_name": "New", "podling": false})),
        ),
        cell("POST", "/api/v1/admin/import/asf", "/api/v1/admin/import/asf".into(), Admin, Body::Json(json!({}))),
        cell(
            "PUT",
            "/api/v1/admin/memberships",
            "/api/v1/admin/memberships".into(),
            Admin,
            Body::Json(json!({"uid": "bystander", "committee": "tomcat", "role": "committer"})),
        ),
        cell(
            "POST",
            "/api/v1/admin/projects",
            "/api/v1/admin/projects".into(),
            Admin,
            Body::Json(json!({"name": "newp", "committee": "httpd", "display_name": "New"})),
        ),
        cell(
            "POST",
            "/api/v1/admin/projects/{project}/products",
            "/api/v1/admin/projects/httpd/products".into(),
            Admin,
            Body::Json(json!({"name": "extra"})),
        ),
        cell("GET", "/api/v1/admin/runners", "/api/v1/admin/runners".into(), Admin, Body::None),
        cell(
            "POST",
            "/api/v1/admin/runners",
            "/api/v1/admin/runners".into(),
            Admin,
            Body::Json(json!({"name": "r-new"})),
        ),
        cell(
            "PATCH",
            "/api/v1/admin/runners/{name}",
            "/api/v1/admin/runners/runner-spare".into(),
            Admin,
            Body::Json(json!({"disabled": true})),
        ),
        cell(
            "POST",
            "/api/v1/admin/runners/{name}/token",
            "/api/v1/admin/runners/runner-spare/token".into(),
            Admin,
            Body::None,
        ),
        cell("GET", "/api/v1/admin/users", "/api/v1/admin/users".into(), Admin, Body::None),
        cell("POST", "/api/v1/admin/users", "/api/v1/admin/users".into(), Admin, Body::Json(json!({"uid": "made"}))),
        cell(
            "PATCH",
            "/api/v1/admin/users/{uid}",
            "/api/v1/admin/users/bystander".into(),
            Admin,
            Body::Json(json!({"foundation_member": true})),
        ),
        cell(
            "POST",
            "/api/v1/admin/users/{uid}/invitations",
            "/api/v1/admin/users/bystander/invitations".into(),
            Admin,
            Body::None,
        ),
        cell("GET", "/api/v1/uploads/{id}", format!("/api/v1/uploads/{}", w.uploads[0]), Owner, Body::None),
        cell(
            "PATCH",
            "/api/v1/uploads/{id}",
            format!("/api/v1/uploads/{}", w.uploads[1]),
            Owner,
            Body::Upload(b"four"),
        ),
        cell(
            "POST",
            "/api/v1/uploads/{id}/commit",
            format!("/api/v1/uploads/{}/commit", w.uploads[2]),
            Owner,
            Body::None,
        ),
        cell("DELETE", "/api/v1/uploads/{id}", format!("/api/v1/uploads/{}", w.uploads[3]), Owner, Body::None),
        cell("GET", "/api/v1/audit/checkpoint", "/api/v1/audit/checkpoint".into(), Public, Body::None),
        cell("GET", "/api/v1/committees", "/api/v1/committees".into(), Public, Body::None),
        cell("GET", "/api/v1/catalog", "/api/v1/catalog".into(), Public, Body::None),
        cell("GET", "/current/catalog.json", "/current/catalog.json".into(), Public, Body::None),
        cell(
            "GET",
            "/api/v1/projects/{project}/cves/{id}",
            "/api/v1/projects/httpd/cves/CVE-2026-0100".into(),
            PublicToPeople,
            Body::None,
        ),
        cell(
            "PUT",
            "/api/v1/projects/{project}/cves/{id}",
            "/api/v1/projects/httpd/cves/CVE-2026-0100".into(),
            Pmc,
            Body::Json(
                json!({"id": "CVE-2026-0100", "title": "the matrix, again", "published": "2026-01-01T00:00:00Z"}),
            ),
        ),
        cell(
            "GET",
            "/api/v1/projects/{project}/cves",
            "/api/v1/projects/httpd/cves".into(),
            PublicToPeople,
            Body::None,
        ),
        // The PMC member makes it; the admin, after, finds it made.
        Cell {
            also_fine: &[409],
            ..cell(
                "POST",
                "/api/v1/projects/{project}/cves",
                "/api/v1/projects/httpd/cves".into(),
                Pmc,
                Body::Json(json!({"id": "CVE-2026-0101", "title": "the matrix"})),
            )
        },
        cell("GET", "/api/v1/projects/{project}/osv", "/api/v1/projects/httpd/osv".into(), Public, Body::None),
        cell("GET", "/api/v1/committees/{committee}", "/api/v1/committees/httpd".into(), Public, Body::None),
        cell("GET", "/api/v1/committees/{committee}/KEYS", "/api/v1/committees/httpd/KEYS".into(), Public, Body::None),
        cell("GET", "/api/v1/committees/{committee}/keys", "/api/v1/committees/httpd/keys".into(), Public, Body::None),
        cell(
            "GET",
            "/api/v1/committees/{committee}/keys/lint",
            "/api/v1/committees/httpd/keys/lint".into(),
            Committer,
            Body::None,
        ),
        cell(
            "POST",
            "/api/v1/committees/{committee}/keys/import",
            "/api/v1/committees/httpd/keys/import".into(),
            ReleaseManager,
            Body::Text(KEYS),
        ),
        cell("GET", "/api/v1/events", "/api/v1/events".into(), PublicToPeople, Body::None),
        cell(
            "GET",
            "/api/v1/keys/ownership-statement",
            format!("/api/v1/keys/ownership-statement?fingerprint={}", w.fingerprint),
            Person,
            Body::None,
        ),
        cell("GET", "/api/v1/me", "/api/v1/me".into(), Person, Body::None),
        cell("GET", "/api/v1/projects", "/api/v1/projects".into(), Public, Body::None),
        cell("GET", "/api/v1/projects/{project}", "/api/v1/projects/httpd".into(), Public, Body::None),
        cell(
            "GET",
            "/api/v1/projects/{project}/mail-templates",
            "/api/v1/projects/httpd/mail-templates".into(),
            Public,
            Body::None,
        ),
        cell(
            "PUT",
            "/api/v1/projects/{project}/mail-templates/{kind}",
            "/api/v1/projects/httpd/mail-templates/vote".into(),
            Pmc,
            Body::Json(json!({"subject": "[VOTE] {{ project }}", "body": "Please vote."})),
        ),
        cell("GET", "/api/v1/projects/{project}/policy", "/api/v1/projects/httpd/policy".into(), Public, Body::None),
        cell(
            "PUT",
            "/api/v1/projects/{project}/policy",
            "/api/v1/projects/httpd/policy".into(),
            Pmc,
            Body::Json(json!({"min_vote_hours": 72, "binding_plus_required": 3})),
        ),
        cell(
            "GET",
            "/api/v1/projects/{project}/products/{product}/policy",
            "/api/v1/projects/httpd/products/docs/policy".into(),
            Public,
            Body::None,
        ),
        cell(
            "PUT",
            "/api/v1/projects/{project}/products/{product}/policy",
            "/api/v1/projects/httpd/products/docs/policy".into(),
            Pmc,
            Body::Json(json!({})),
        ),
        cell(
            "GET",
            "/api/v1/projects/{project}/releases",
            "/api/v1/projects/httpd/releases".into(),
            PublicToPeople,
            Body::None,
        ),
        cell("GET", "/api/v1/projects/{project}/webhooks", "/api/v1/projects/httpd/webhooks".into(), Pmc, Body::None),
        cell(
            "GET",
            "/api/v1/projects/{project}/trusted-publishers",
            "/api/v1/projects/httpd/trusted-publishers".into(),
            Pmc,
            Body::None,
        ),
        cell(
            "POST",
            "/api/v1/projects/{project}/trusted-publishers",
            "/api/v1/projects/httpd/trusted-publishers".into(),
            Pmc,
            Body::Json(trust_body()),
        ),
        // The ID token is the credential, whoever sends it: a forged one is 401 for everyone.
        Cell {
            also_fine: &[401],
            ..cell(
                "POST",
                "/api/v1/trusted-publishing/exchange",
                "/api/v1/trusted-publishing/exchange".into(),
                Public,
                Body::Json(json!({"project": "httpd", "token": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"})),
            )
        },
        cell(
            "POST",
            "/api/v1/projects/{project}/webhooks",
            "/api/v1/projects/httpd/webhooks".into(),
            Pmc,
            Body::Json(json!({"url": "http://127.0.0.1:9/other"})),
        ),
        cell(
            "GET",
            "/api/v1/projects/{project}/webhooks/{id}/deliveries",
            format!("/api/v1/projects/httpd/webhooks/{}/deliveries", w.webhook),
            Pmc,
            Body::None,
        ),
        Cell {
            also_fine: &[409],
            ..cell(
                "POST",
                "/api/v1/releases",
                "/api/v1/releases".into(),
                Committer,
                Body::Json(json!({"project": "httpd", "version": "9.9.9"})),
            )
        },
        cell("GET", "/api/v1/tasks", "/api/v1/tasks".into(), PublicToPeople, Body::None),
        cell("GET", "/api/v1/schedules", "/api/v1/schedules".into(), Admin, Body::None),
        cell(
            "POST",
            "/api/v1/schedules/{name}/run",
            "/api/v1/schedules/distribution_recheck/run".into(),
            Admin,
            Body::None,
        ),
        cell("GET", "/api/v1/tasks/{id}", format!("/api/v1/tasks/{}", w.task), Committer, Body::None),
        // The task failed: cancelling it is a 409 (the admin gets that far), retrying queues it.
        Cell {
            also_fine: &[409],
            ..cell("POST", "/api/v1/tasks/{id}/cancel", format!("/api/v1/tasks/{}/cancel", w.task), Admin, Body::None)
        },
        cell("POST", "/api/v1/tasks/{id}/retry", format!("/api/v1/tasks/{}/retry", w.task), Admin, Body::None),
        cell("GET", "/api/v1/tokens", "/api/v1/tokens".into(), Person, Body::None),
        cell("POST", "/api/v1/tokens", "/api/v1/tokens".into(), Person, Body::Json(json!({"label": "matrix"}))),
        cell(
            "GET",
            "/api/v1/verify/sha512/{hex}",
            format!("/api/v1/verify/sha512/{}", w.sha512),
            PublicToPeople,
            Body::None,
        ),
        cell(
            "GET",
            "/{stage}/{project}/{version}/{path}",
            "/candidate/httpd/docs/1.0/docs-1.0.tar.gz".into(),
            Public,
            Body::None,
        ),
    ];
    // Routes whose target an earlier allowed caller may already have removed or changed.
    let gone: &'static [u16] = &[404, 409];
    cells.extend([
        cell(
            "POST",
            "/api/v1/jwt",
            "/api/v1/jwt".into(),
            Public,
            Body::Json(json!({"uid": "rm", "token": w.spare_token.0})),
        ),
        // The key names none of them: each gets as far as `ownership_unproven` (422).
        Cell {
            also_fine: &[422],
            ..cell("POST", "/api/v1/keys", "/api/v1/keys".into(), Person, Body::Json(json!({"armored": OWN_KEY})))
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/keys/{fingerprint}",
                format!("/api/v1/keys/{}", w.fingerprint),
                ReleaseManager,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/projects/{project}/mail-templates/{kind}",
                "/api/v1/projects/httpd/mail-templates/result".into(),
                Pmc,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/projects/{project}/trusted-publishers/{id}",
                format!("/api/v1/projects/httpd/trusted-publishers/{}", w.trusted_publisher),
                Pmc,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/projects/{project}/webhooks/{id}",
                format!("/api/v1/projects/httpd/webhooks/{}", w.webhook),
                Pmc,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/tokens/{id}",
                format!("/api/v1/tokens/{}", w.spare_token.1),
                TheReleaseManager,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/projects/{project}/cves/{id}",
                "/api/v1/projects/httpd/cves/CVE-2026-0101".into(),
                Pmc,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "POST",
                "/api/v1/distributions/{id}/verify",
                format!("/api/v1/distributions/{}/verify", w.distribution),
                Pmc,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/distributions/{id}",
                format!("/api/v1/distributions/{}", w.distribution),
                Pmc,
                Body::None,
            )
        },
        Cell {
            also_fine: gone,
            ..cell(
                "DELETE",
                "/api/v1/waivers/{id}",
                format!("/api/v1/waivers/{}", w.waiver),
                ReleaseManager,
                Body::None,
            )
        },
    ]);
    for (release, phase) in [(DRAFT, "draft"), (CANDIDATE, "candidate")] {
        let draft = phase == "draft";
        let pattern = |tail: &'static str| -> &'static str {
            let base = if draft {
                "/api/v1/releases/{project}/{version}"
            } else {
                "/api/v1/releases/{project}/{product}/{version}"
            };
            Box::leak(format!("{base}{tail}").into_boxed_str())
        };
        let path = |tail: &str| format!("/api/v1{release}{tail}");
        // Reads: a draft is its committee's; a candidate is everyone's.
        let read = if draft { Committer } else { PublicToPeople };
        for tail in
            ["", "/checks", "/distributions", "/events", "/files", "/mails", "/policy", "/revisions", "/waivers"]
        {
            cells.push(cell("GET", pattern(tail), path(tail), read, Body::None));
        }
        // A draft has had no vote: its readers are told so (a 404 that is not "no release").
        cells.push(Cell {
            also_fine: if draft { &[404] } else { &[] },
            ..cell("GET", pattern("/votes"), path("/votes"), read, Body::None)
        });
        cells.push(cell("GET", pattern("/revisions/{revision}"), path("/revisions/1"), read, Body::None));
        // Neither release has an SBOM: its readers are told so (a 404 that names the release).
        cells.push(Cell { also_fine: &[404], ..cell("GET", pattern("/sbom"), path("/sbom"), read, Body::None) });
        let in_phase: &'static [u16] = &[409, 422];
        let write = |method, tail: &'static str, policy, body| Cell {
            also_fine: in_phase,
            ..cell(method, pattern(tail), path(tail), policy, body)
        };
        cells.extend([
            Cell {
                also_fine: if draft { &[409] } else { &[] },
                ..cell("GET", pattern("/votes/ballot-text"), path("/votes/ballot-text?value=1"), read, Body::None)
            },
            Cell { last: true, ..write("POST", "/archive", ReleaseManager, Body::None) },
            // A draft's composers rename its files; past the draft, those who manage its phases.
            Cell {
                also_fine: &[404, 409],
                ..write("POST", "/files/move", if draft { Committer } else { ReleaseManager }, Body::None)
            },
            write("PUT", "/files/{path}", Committer, Body::Bytes(b"matrix")),
            // A draft's composers ask for an SBOM of an archive; the matrix's release has none (422).
            Cell {
                also_fine: &[404, 409, 422],
                ..write("POST", "/sbom/generate", Committer, Body::Json(json!({"file": "httpd-2.4.68.tar.gz"})))
            },
            // A draft's composers ask for an import; past the draft it is refused for its phase.
            Cell {
                also_fine: &[409],
                ..write("POST", "/import/svn", Committer, Body::Json(json!({"folder": "dev/httpd/matrix-rc1"})))
            },
            write("POST", "/uploads", Committer, Body::Json(json!({"path": "matrix-upload.txt", "size": 1}))),
            Cell { also_fine: &[404, 409], ..write("DELETE", "/files/{path}", Committer, Body::None) },
            write("PUT", "/policy", Pmc, Body::Json(json!({}))),
            // Neither a draft nor a candidate is distributed yet: 409 for the PMC.
            write("POST", "/distributions", Pmc, Body::Json(json!({"channel": "pypi", "url": "https://pypi.org/x"}))),
            // The phase changes run after the other cells: a failed vote takes the candidate
            // back to draft, which would hide it from the cells that read it as public.
            Cell { last: true, ..write("POST", "/release", ReleaseManager, Body::None) },
            Cell {
                last: true,
                ..write(
                    "POST",
                    "/resolve",
                    ReleaseManager,
                    Body::Json(json!({"outcome": "failed", "reason": "the matrix"})),
                )
            },
            write("POST", "/revisions", Committer, Body::Multipart),
            Cell {
                last: true,
                ..write("POST", "/revoke", ReleaseManager, Body::Json(json!({"reason": "the matrix"})))
            },
            write("POST", "/vote/fetch", ReleaseManager, Body::Json(json!({"url": "http://127.0.0.1:9/thread"}))),
            Cell { last: true, ..write("POST", "/vote/start", ReleaseManager, Body::Json(json!({}))) },
            write("POST", "/vote/tally", ReleaseManager, Body::Mbox(MBOX)),
            // Ballots: on a draft there is no vote (409 for its readers); a candidate's vote
            // takes every person's ballot.
            write("POST", "/votes", if draft { Committer } else { Person }, Body::Json(json!({"value": 1}))),
            write(
                "POST",
                "/waivers",
                ReleaseManager,
                Body::Json(json!({"checker": "rat", "path_glob": "*", "reason": "the matrix", "scope": "release"})),
            ),
        ]);
    }
    // Fix the cells whose path carries a file name.
    for cell in &mut cells {
        if cell.pattern.ends_with("/files/{path}") {
            cell.path = format!("{}/matrix.txt", cell.path.trim_end_matches("/{path}"));
        }
        if cell.pattern.ends_with("/files/move") && matches!(cell.body, Body::None) {
            cell.body = Body::Json(json!({"from": "matrix.txt", "to": "matrix-moved.txt"}));
        }
    }
    cells
}

/// The pages, each with its policy. A page for people only sends others to the login; the
/// forms posted before there is a session (login, sign-up, accepting an invitation) check
/// credentials rather than rights, and their refusals are tested in `web.rs` and `people.rs`.
fn page_cells(w: &World) -> Vec<Cell> {
    use Policy::*;
    let form =
        |fields: &[(&'static str, &str)]| Body::Form(fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
    vec![
        cell("GET", "/", "/".into(), PublicToPeople, Body::None),
        cell("GET", "/login", "/login".into(), PublicToPeople, Body::None),
        Cell {
            also_fine: &[401, 403],
            ..cell("POST", "/login", "/login".into(), Public, form(&[("uid", "rm"), ("password", "wrong")]))
        },
        // The tests' server has no single sign-on: both answer 404 to everyone, saying so.
        Cell { also_fine: &[404], ..cell("GET", "/login/oidc", "/login/oidc".into(), Public, Body::None) },
        Cell {
            also_fine: &[404],
            ..cell("GET", "/login/oidc/callback", "/login/oidc/callback?code=x&state=y".into(), Public, Body::None)
        },
        Cell { last: true, ..cell("POST", "/logout", "/logout".into(), Person, form(&[])) },
        cell("GET", "/signup", "/signup".into(), PublicToPeople, Body::None),
        Cell {
            also_fine: &[403],
            ..cell(
                "POST",
                "/signup",
                "/signup".into(),
                Public,
                form(&[
                    ("uid", "x"),
                    ("name", "X"),
                    ("email", "x@example.org"),
                    ("password", PASSWORD),
                    ("password2", PASSWORD),
                ]),
            )
        },
        cell("GET", "/account", "/account".into(), Person, Body::None),
        Cell {
            last: true,
            ..cell(
                "POST",
                "/account",
                "/account".into(),
                VisitorOnly,
                form(&[("action", "withdraw"), ("confirm", "yes")]),
            )
        },
        cell("GET", "/invitations/{secret}", format!("/invitations/{}", w.invitation), Public, Body::None),
        Cell {
            also_fine: &[403],
            ..cell(
                "POST",
                "/invitations/{secret}",
                format!("/invitations/{}", w.invitation),
                Public,
                form(&[("password", PASSWORD), ("password2", PASSWORD)]),
            )
        },
        cell("GET", "/admin", "/admin".into(), Admin, Body::None),
        cell(
            "POST",
            "/admin",
            "/admin".into(),
            Admin,
            form(&[("action", "member"), ("uid", "bystander"), ("member", "true")]),
        ),
        cell("GET", "/projects/{project}", "/projects/httpd".into(), PublicToPeople, Body::None),
        Cell {
            also_fine: &[409],
            ..cell(
                "POST",
                "/projects/{project}",
                "/projects/httpd".into(),
                Committer,
                form(&[("action", "start"), ("version", "7.7.7")]),
            )
        },
        cell("GET", "/committees/{committee}", "/committees/httpd".into(), PublicToPeople, Body::None),
        cell("GET", "/releases/{project}/{version}", DRAFT.into(), Committer, Body::None),
        Cell {
            also_fine: &[409, 422],
            ..cell(
                "POST",
                "/releases/{project}/{version}",
                DRAFT.into(),
                Committer,
                form(&[("action", "vote"), ("value", "1")]),
            )
        },
        cell("GET", "/releases/{project}/{product}/{version}", CANDIDATE.into(), PublicToPeople, Body::None),
        Cell {
            also_fine: &[409],
            ..cell(
                "POST",
                "/releases/{project}/{product}/{version}",
                CANDIDATE.into(),
                Person,
                form(&[("action", "vote"), ("value", "1")]),
            )
        },
        cell("GET", "/keys", "/keys".into(), Person, Body::None),
        Cell { also_fine: &[409, 422], ..cell("POST", "/keys", "/keys".into(), Person, form(&[("armored", OWN_KEY)])) },
        cell("GET", "/tokens", "/tokens".into(), Person, Body::None),
        cell("POST", "/tokens", "/tokens".into(), Person, form(&[("action", "create"), ("label", "matrix")])),
        cell("GET", "/audit", "/audit".into(), PublicToPeople, Body::None),
        cell("GET", "/runners", "/runners".into(), Admin, Body::None),
        cell("GET", "/static/{name}", w.asset.clone(), Public, Body::None),
    ]
}

const KEYS: &[u8] = include_bytes!("../../../tests/fixtures/real/httpd-2.4.68/KEYS");
const OWN_KEY: &str =
    include_str!("../../../tests/fixtures/atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc");

/// Sends one cell's request as `caller`: the API with its bearer credentials, a page with the
/// caller's session cookie and CSRF token (a runner's token goes in `Authorization` there too).
async fn send(w: &World, cell: &Cell, caller: Caller, page: bool) -> (StatusCode, String) {
    send_as(w, cell, caller, page, None).await
}

/// The uid of each person the matrix logs in.
fn uid_of(caller: Caller) -> Option<&'static str> {
    Some(match caller {
        Visitor => "vera",
        Committer => "dev",
        ReleaseManager => "rm",
        PmcMember => "pmc",
        OtherPmc => "other",
        Admin => "root",
        Anonymous | Runner => return None,
    })
}

/// Like [`send`], with the page session `fresh` instead of the caller's usual one.
async fn send_as(
    w: &World,
    cell: &Cell,
    caller: Caller,
    page: bool,
    fresh: Option<&(String, String)>,
) -> (StatusCode, String) {
    let app = &w.app;
    let method = Method::from_bytes(cell.method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(&cell.path));
    let session = match fresh {
        Some((cookie, csrf)) if page => Some((cookie.as_str(), csrf.as_str())),
        _ if page => w.session(caller),
        _ => None,
    };
    match (page, session) {
        (true, Some((cookie, _))) => request = request.header(COOKIE, cookie).header("Accept", "text/html"),
        _ => {
            if let Some(jwt) = w.jwt(caller) {
                request = request.bearer_auth(jwt);
            }
        }
    }
    request = match &cell.body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Text(text) => request.header("Content-Type", "text/plain").body(*text),
        Body::Mbox(text) => request.header("Content-Type", "application/mbox").body(*text),
        Body::Bytes(bytes) => request.body(*bytes),
        Body::Upload(bytes) => {
            request.header("Upload-Offset", "0").header("Content-Type", "application/offset+octet-stream").body(*bytes)
        }
        Body::Form(fields) => {
            let mut fields = fields.clone();
            if let Some((_, csrf)) = session {
                fields.push(("csrf", csrf.to_owned()));
            }
            request.form(&fields)
        }
        Body::Multipart => request.multipart(
            reqwest::multipart::Form::new().part("matrix-2.txt", reqwest::multipart::Part::bytes(b"two".to_vec())),
        ),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("").to_owned();
    let body = response.text().await.unwrap_or_default();
    (status, if location.is_empty() { body.chars().take(300).collect() } else { format!("→ {location}") })
}

fn refused(status: StatusCode, detail: &str) -> bool {
    matches!(status.as_u16(), 401 | 403 | 404) || (status == StatusCode::SEE_OTHER && detail.starts_with("→ /login?"))
}

async fn every_route_refuses_exactly_the_callers_its_policy_refuses(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let api = api_cells(&w);
    let pages = page_cells(&w);

    // The table covers the route table, and nothing else.
    let spec = serde_json::to_value(datastore::api::openapi::openapi()).unwrap();
    let mut routes = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    for (path, methods) in datastore::web::PAGES {
        for method in *methods {
            routes.insert(((*method).to_owned(), (*path).to_owned()));
        }
    }
    let covered: BTreeSet<(String, String)> =
        api.iter().chain(&pages).map(|c| (c.method.to_owned(), c.pattern.to_owned())).collect();
    let missing: Vec<_> = routes.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&routes).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "routes without a policy: {missing:?}; policies without a route: {unknown:?}"
    );

    let cells: Vec<(&Cell, bool)> = api.iter().map(|c| (c, false)).chain(pages.iter().map(|c| (c, true))).collect();
    let mut violations = Vec::new();
    let events_before = w.app.db(|c| datastore::db::queries::events::head_seq(c).unwrap());
    let mut denied = 0;
    for (cell, page) in &cells {
        for caller in CALLERS.into_iter().filter(|caller| !allowed(cell.policy, *caller)) {
            denied += 1;
            let before = w.app.db(|c| datastore::db::queries::events::head_seq(c).unwrap());
            let (status, detail) = send(&w, cell, caller, *page).await;
            if !refused(status, &detail) {
                violations.push(format!("{caller:?} {} {} was not refused: {status} {detail}", cell.method, cell.path));
            }
            let after = w.app.db(|c| datastore::db::queries::events::head_seq(c).unwrap());
            if after != before {
                violations.push(format!(
                    "{caller:?} {} {}, refused, still wrote {} events",
                    cell.method,
                    cell.path,
                    after - before
                ));
            }
        }
    }
    let events_after = w.app.db(|c| datastore::db::queries::events::head_seq(c).unwrap());
    if events_after != events_before {
        violations.push(format!("the refused cells wrote {} events in all", events_after - events_before));
    }

    let mut allowed_cells = 0;
    // The cells that change a release's phase, then those that end a session, come last.
    let ends_session = |c: &Cell| c.pattern == "/logout" || c.pattern == "/account";
    let ordered = cells
        .iter()
        .filter(|(c, _)| !c.last)
        .chain(cells.iter().filter(|(c, _)| c.last && !ends_session(c)))
        .chain(cells.iter().filter(|(c, _)| c.pattern == "/logout"))
        .chain(cells.iter().filter(|(c, _)| c.pattern == "/account" && c.last));
    for (cell, page) in ordered {
        for caller in CALLERS.into_iter().filter(|caller| allowed(cell.policy, *caller)) {
            allowed_cells += 1;
            // A cell that ends its session gets a session of its own, so the others keep theirs.
            let fresh = match (ends_session(cell), uid_of(caller)) {
                (true, Some(uid)) => Some(log_in(&w.app, uid).await),
                _ => None,
            };
            let (status, detail) = send_as(&w, cell, caller, *page, fresh.as_ref()).await;
            // A page may send someone on (a logged-in person at the login page goes home).
            let onwards = *page && status.is_redirection() && !detail.starts_with("→ /login?");
            let fine = status.is_success() || onwards || (cell.method != "GET" && status.is_redirection());
            let hidden = status == StatusCode::NOT_FOUND && detail.contains("There is no release");
            if !fine && (!cell.also_fine.contains(&status.as_u16()) || hidden) {
                violations.push(format!("{caller:?} {} {} was refused: {status} {detail}", cell.method, cell.path));
            }
        }
    }
    // Every template was rendered on the way (with the pages' real contexts), besides the
    // download listing and the API reference, which are read here.
    for path in ["/current/", "/api/docs"] {
        let response = w.app.client.get(w.app.url(path)).header("Accept", "text/html").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let rendered = datastore::web::rendered_templates();
    let unrendered: Vec<_> = datastore::web::page_templates().into_iter().filter(|t| !rendered.contains(*t)).collect();
    assert!(unrendered.is_empty(), "templates no cell rendered: {unrendered:?}");
    assert!(
        violations.is_empty(),
        "{} violations of {} cells:\n{}",
        violations.len(),
        denied + allowed_cells,
        violations.join("\n")
    );
    eprintln!(
        "authorization matrix: {} routes, {denied} refused and {allowed_cells} allowed cells, 0 violations",
        cells.len()
    );
}
