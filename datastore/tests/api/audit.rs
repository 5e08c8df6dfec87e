//! The audit log you can verify: a chain of hashes over every event, signed checkpoints, and
//! `datastore audit verify` finding an edited, a deleted and a consistently rewritten history.

use diesel::prelude::*;
use reqwest::StatusCode;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;
use datastore::db::schema::{audit_head, event};
use datastore::domain::audit;

on_both_backends!(
    the_chain_and_its_checkpoints_catch_a_rewritten_history,
    the_whole_log_is_filtered_and_shown_by_role,
    the_audit_page_checks_the_chain_as_it_is_shown
);

/// `datastore audit verify` against the test's database: its exit status and what it said.
fn verify_command(app: &TestApp) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_datastore"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", app.state.config.database_url())
        .env("DATASTORE_STATE_DIR", app.state_dir.path())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

async fn the_chain_and_its_checkpoints_catch_a_rewritten_history(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", shared_models::api::Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    app.upload(&rm, "httpd/2.4.68", "README", b"read me".to_vec()).await;

    // No checkpoint yet; then one, signed with the key in the state directory, that anyone can check.
    app.expect_error(app.client.get(app.url("/api/v1/audit/checkpoint")), StatusCode::NOT_FOUND, "not_found").await;
    let key = audit::signing_key(app.state_dir.path()).unwrap();
    app.db(|c| audit::checkpoint(c, &key).unwrap());
    let (status, checkpoint) = app.send(app.client.get(app.url("/api/v1/audit/checkpoint"))).await;
    assert_eq!(status, StatusCode::OK, "{checkpoint}");
    let events = checkpoint["events"].as_i64().unwrap();
    assert!(events >= 5, "{checkpoint}");
    let public = hex::decode(checkpoint["public_key"].as_str().unwrap()).unwrap();
    let public = openssl::pkey::PKey::public_key_from_raw_bytes(&public, openssl::pkey::Id::ED25519).unwrap();
    let signature = hex::decode(checkpoint["signature"].as_str().unwrap()).unwrap();
    let statement = checkpoint["statement"].as_str().unwrap();
    assert_eq!(
        statement,
        format!("trusted-releases audit checkpoint\n{events}\n{}\n", checkpoint["head"].as_str().unwrap())
    );
    let mut verifier = openssl::sign::Verifier::new_without_digest(&public).unwrap();
    assert!(verifier.verify_oneshot(&signature, statement.as_bytes()).unwrap(), "the signature checks out");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(app.state_dir.path().join("audit-ed25519.pem")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the signing key is private");

    // More events after the checkpoint; the whole log verifies.
    app.upload(&rm, "httpd/2.4.68", "NOTICE", b"notice".to_vec()).await;
    let verified = app.db(|c| audit::verify(c, None)).unwrap();
    assert!(verified.events > events && verified.checkpoints == 1, "{verified:?}");
    let (ok, said) = verify_command(&app);
    assert!(ok && said.contains("checkpoints verified"), "{said}");

    // One edited row is found, by its place in the chain.
    let (id, original): (i64, String) =
        app.db(|c| event::table.filter(event::seq.eq(3i64)).select((event::id, event::details)).first(c).unwrap());
    app.db(|c| diesel::update(event::table.find(id)).set(event::details.eq("{\"forged\":true}")).execute(c).unwrap());
    let (ok, said) = verify_command(&app);
    assert!(!ok && said.contains("event 3") && said.contains("was changed"), "{said}");
    app.db(|c| diesel::update(event::table.find(id)).set(event::details.eq(&original)).execute(c).unwrap());
    assert!(app.db(|c| audit::verify(c, None)).is_ok());

    // A deleted row leaves a gap.
    let last = verified.events;
    let removed: datastore::db::models::EventRow = app.db(|c| {
        event::table.filter(event::seq.eq(2i64)).select(datastore::db::models::EventRow::as_select()).first(c).unwrap()
    });
    app.db(|c| diesel::delete(event::table.find(removed.id)).execute(c).unwrap());
    let error = app.db(|c| audit::verify(c, None)).unwrap_err();
    assert!(error.contains("event 2 of the chain is missing"), "{error}");

    // History rewritten consistently (every later hash recomputed, the head too) contradicts the checkpoint.
    app.db(|c| {
        let rows: Vec<datastore::db::models::EventRow> = event::table
            .filter(event::seq.gt(2i64))
            .order(event::seq)
            .select(datastore::db::models::EventRow::as_select())
            .load(c)
            .unwrap();
        let mut prev: String =
            event::table.filter(event::seq.eq(1i64)).select(event::hash).first::<Option<String>>(c).unwrap().unwrap();
        for (n, row) in rows.iter().enumerate() {
            let seq = 2 + i64::try_from(n).unwrap();
            let hash = audit::event_hash(&prev, &audit::Chained::of(row, seq));
            diesel::update(event::table.find(row.id))
                .set((event::seq.eq(seq), event::prev_hash.eq(&prev), event::hash.eq(&hash)))
                .execute(c)
                .unwrap();
            prev = hash;
        }
        diesel::update(audit_head::table.find(1i64))
            .set((audit_head::seq.eq(last - 1), audit_head::hash.eq(&prev)))
            .execute(c)
            .unwrap();
    });
    let (ok, said) = verify_command(&app);
    assert!(!ok && said.contains("history was rewritten"), "{said}");

    // Re-signed by whoever rewrote it: the checkpoint no longer carries this datastore's key.
    let forger = openssl::pkey::PKey::generate_ed25519().unwrap();
    app.db(|c| {
        diesel::delete(datastore::db::schema::audit_checkpoint::table).execute(c).unwrap();
        audit::checkpoint(c, &forger).unwrap();
    });
    assert!(app.db(|c| audit::verify(c, None)).is_ok(), "on its own the forged checkpoint is consistent");
    let (ok, said) = verify_command(&app);
    assert!(!ok && said.contains("not by this datastore's key"), "{said}");

    // And without any checkpoint, nothing vouches for the history.
    app.db(|c| diesel::delete(datastore::db::schema::audit_checkpoint::table).execute(c).unwrap());
    let (ok, said) = verify_command(&app);
    assert!(!ok && said.contains("no checkpoint vouches"), "{said}");
}

/// The chain status paragraph of the audit page `path`, as `cookie` sees it.
async fn chain_status(app: &TestApp, cookie: Option<&str>, path: &str) -> String {
    let (status, html) = crate::web::get_page(app, cookie, path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let start = html.find(r#"id="chain-status""#).unwrap_or_else(|| panic!("no chain status: {html}"));
    html[start..html[start..].find("</p>").map_or(html.len(), |end| start + end)].to_owned()
}

async fn the_audit_page_checks_the_chain_as_it_is_shown(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", shared_models::api::Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    app.upload(&rm, "httpd/2.4.68", "README", b"read me".to_vec()).await;
    app.admin();
    crate::web::password_for(&app, "root");
    let root = crate::web::login(&app, "root").await;
    let root = Some(root.cookie.as_str());

    // Before any checkpoint only a whole recomputation checks anything (and only for those who
    // read every event); then every view checks what follows the latest checkpoint.
    let said = chain_status(&app, None, "/audit").await;
    assert!(said.contains("No checkpoint has been signed yet"), "{said}");
    let said = chain_status(&app, root, "/audit?verify=whole").await;
    assert!(said.contains("does not verify") && said.contains("no checkpoint vouches"), "{said}");
    let key = audit::signing_key(app.state_dir.path()).unwrap();
    let signed = app.db(|c| audit::checkpoint(c, &key).unwrap()).seq;
    app.upload(&rm, "httpd/2.4.68", "NOTICE", b"notice".to_vec()).await;
    let said = chain_status(&app, None, "/audit").await;
    let head = app.db(|c| audit_head::table.select(audit_head::seq).first::<i64>(c).unwrap());
    assert!(head > signed, "the upload was chained after the checkpoint");
    assert!(said.contains(&format!("the {} events from it to the head ({head} in all)", head - signed + 1)), "{said}");

    let edit = |seq: i64| {
        app.db(|c| {
            let (id, original): (i64, String) =
                event::table.filter(event::seq.eq(seq)).select((event::id, event::details)).first(c).unwrap();
            diesel::update(event::table.find(id)).set(event::details.eq("{\"forged\":true}")).execute(c).unwrap();
            (id, original)
        })
    };
    let restore = |(id, original): (i64, String)| {
        app.db(|c| diesel::update(event::table.find(id)).set(event::details.eq(original)).execute(c).unwrap());
    };
    // An event edited after the checkpoint: every reader's page says the chain does not hold;
    // only those who read every event are told which event (it may be one others cannot see).
    let edited = edit(head);
    let said = chain_status(&app, None, "/audit").await;
    assert!(said.contains("does not verify") && !said.contains(&format!("event {head} ")), "{said}");
    let said = chain_status(&app, root, "/audit").await;
    assert!(said.contains("does not verify") && said.contains(&format!("event {head} ")), "{said}");
    restore(edited);

    // One edited before it is past what the page recomputes for everyone; an administrator
    // has the whole chain recomputed, and that finds it. Others asking for that get the tail.
    let edited = edit(2);
    let said = chain_status(&app, None, "/audit?verify=whole").await;
    assert!(said.contains("The chain holds") && !said.contains("all "), "the tail only: {said}");
    let (_, html) = crate::web::get_page(&app, None, "/audit").await;
    assert!(!html.contains(r#"id="verify-whole""#), "{html}");
    let (_, html) = crate::web::get_page(&app, root, "/audit").await;
    assert!(html.contains(r#"id="verify-whole""#), "{html}");
    let said = chain_status(&app, root, "/audit?verify=whole").await;
    assert!(said.contains("does not verify") && said.contains("event 2 ") && said.contains("was changed"), "{said}");
    restore(edited);
    let said = chain_status(&app, root, "/audit?verify=whole").await;
    assert!(said.contains(&format!("all {head} events recomputed")), "{said}");
}

/// `GET /api/v1/events{query}` as `jwt` (or anonymously): the events' targets, and the body.
async fn events(app: &TestApp, jwt: Option<&str>, query: &str) -> (Vec<String>, serde_json::Value) {
    let request = app.client.get(app.url(&format!("/api/v1/events{query}")));
    let request = match jwt {
        Some(jwt) => request.bearer_auth(jwt),
        None => request,
    };
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let targets = body["events"].as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap().to_owned()).collect();
    (targets, body)
}

async fn the_whole_log_is_filtered_and_shown_by_role(backend: Backend) {
    use shared_models::api::Role;
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let cat = app.user("cat", false, &[("tomcat", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await; // a draft
    app.release(&cat, "tomcat", "1.0").await;
    app.set_phase("tomcat", "1.0", "candidate"); // public
    app.release(&cat, "tomcat", "2.0").await; // a draft
    let (anonymous, _) = events(&app, None, "").await;
    assert_eq!(anonymous, ["tomcat/1.0"], "only the public release's events");
    let (mine, _) = events(&app, Some(&rm), "").await;
    assert_eq!(mine, ["httpd/2.4.68", "tomcat/1.0"], "a member also reads the committee's drafts");
    let (theirs, _) = events(&app, Some(&cat), "").await;
    assert_eq!(theirs, ["tomcat/1.0", "tomcat/2.0"]);
    let admin = app.admin();
    let (all, body) = events(&app, Some(&admin), "").await;
    assert!(all.len() > 3 && all.iter().any(|t| t == "httpd"), "admins read everything, committees too: {all:?}");
    let total = body["page"]["total"].as_u64().unwrap();

    // Filters, paging, and malformed queries.
    let (only, _) = events(&app, Some(&admin), "?release=tomcat/2.0").await;
    assert_eq!(only, ["tomcat/2.0"]);
    let (by_committee, _) = events(&app, Some(&admin), "?committee=httpd").await;
    assert_eq!(by_committee, ["httpd/2.4.68"]);
    let (by_actor, _) = events(&app, Some(&admin), "?actor=cat").await;
    assert_eq!(by_actor, ["tomcat/1.0", "tomcat/2.0"]);
    let (future, _) = events(&app, Some(&admin), "?since=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let (past, _) = events(&app, Some(&admin), "?until=2000-01-01T00:00:00Z").await;
    assert!(past.is_empty());
    let (page, body) = events(&app, Some(&admin), "?actor=cat&limit=1").await;
    assert_eq!((page.len(), body["page"]["next"].as_str()), (1, Some("?actor=cat&offset=1&limit=1")));
    assert!(total >= all.len() as u64);
    app.expect_error(
        app.client.get(app.url("/api/v1/events?since=yesterday")),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    app.expect_error(
        app.client.get(app.url("/api/v1/events?release=nope")),
        StatusCode::BAD_REQUEST,
        "invalid_release",
    )
    .await;
}
