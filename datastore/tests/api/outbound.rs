//! Mail templates, webhooks, the outbox that turns events into deliveries, and policy
//! overrides, through the API as the PMC and a runner use them; and every refusal on the way.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use shared_models::runner::{MailOrder, WebhookOrder};
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;
use crate::lifecycle::{RELEASE, close_vote, finish_checks, post, upload_all, vote};

on_both_backends!(
    mail_templates_are_the_pmcs_and_must_render,
    a_vote_mails_the_list_and_calls_each_webhook_once,
    policy_overrides_apply_per_product_and_release,
);

const TEMPLATES: &str = "/api/v1/projects/httpd/mail-templates";
const WEBHOOKS: &str = "/api/v1/projects/httpd/webhooks";

fn put(app: &TestApp, jwt: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
    app.client.put(app.url(path)).bearer_auth(jwt).json(&body)
}

async fn mail_templates_are_the_pmcs_and_must_render(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let tomcat_pmc = app.user("cat", false, &[("tomcat", Role::PmcMember)]);

    let (status, listed) = app.send(app.client.get(app.url(TEMPLATES))).await;
    assert_eq!(status, StatusCode::OK, "templates are public");
    let kinds: Vec<&str> =
        listed["templates"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["vote", "result", "announce"]);
    assert_eq!(listed["templates"][0]["subject"], "[VOTE] Release {{ project.display_name }} {{ version }}");
    assert_eq!(listed["templates"][0]["custom"], false);

    let mine =
        json!({"subject": "[VOTE] {{ project.display_name }} {{ version }} RC", "body": "{{ files | length }} files"});
    let url = format!("{TEMPLATES}/vote");
    app.expect_error(put(&app, &rm, &url, mine.clone()), StatusCode::FORBIDDEN, "forbidden").await;
    // Authorization comes before rendering: nobody but the PMC has a template rendered.
    let broken = json!({"subject": "x", "body": "{{ unclosed"});
    app.expect_error(put(&app, &rm, &url, broken), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(put(&app, &tomcat_pmc, &url, mine.clone()), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(app.client.put(app.url(&url)).json(&mine), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(put(&app, &pmc, &format!("{TEMPLATES}/other"), mine.clone()), StatusCode::NOT_FOUND, "not_found")
        .await;
    for (subject, body, says) in [
        ("x", "{{ get_env(name=\"DATABASE_URL\") }}", "get_env is not available"),
        ("x", "{% include \"subject\" %}", "cannot use {% include %}"),
        ("x", "{{ unclosed", "body:"),
        ("x", "{{ secret_field }}", "secret_field"),
        ("two\nlines", "b", "one line"),
        ("", "b", "1 to 400"),
    ] {
        let refused = app
            .expect_error(
                put(&app, &pmc, &url, json!({"subject": subject, "body": body})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_template",
            )
            .await;
        assert!(refused["message"].as_str().unwrap().contains(says), "{says}: {refused}");
    }
    let (status, saved) = app.send(put(&app, &pmc, &url, mine)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (saved["templates"][0]["custom"].as_bool(), saved["templates"][0]["updated_by"].as_str()),
        (Some(true), Some("pmc"))
    );
    assert_eq!(saved["templates"][1]["custom"], false, "the other templates stay the default");

    let delete = |jwt: &str| app.client.delete(app.url(&url)).bearer_auth(jwt.to_owned());
    app.expect_error(delete(&rm), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, _) = app.send(delete(&pmc)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.expect_error(delete(&pmc), StatusCode::NOT_FOUND, "not_found").await;
    let (_, listed) = app.send(app.client.get(app.url(TEMPLATES))).await;
    assert_eq!(listed["templates"][0]["custom"], false);
}

/// The outbox's pass, as the datastore's background loop runs it every second.
fn dispatch(app: &TestApp) -> datastore::domain::outbox::Dispatched {
    let settings = app.state.outbound.clone();
    app.db(|c| datastore::domain::outbox::dispatch(c, &settings).unwrap())
}

async fn report(app: &TestApp, token: &str, order: &Value, outcome: Value) {
    let mut body = outcome;
    body["lease_token"] = order["lease_token"].clone();
    let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
    let (status, answer) = app.send(app.client.post(url).bearer_auth(token).json(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

fn hmac(secret: &str, body: &str) -> String {
    let key = PKey::hmac(secret.as_bytes()).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    format!("sha256={}", hex::encode(signer.sign_oneshot_to_vec(body.as_bytes()).unwrap()))
}

async fn a_vote_mails_the_list_and_calls_each_webhook_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc: Vec<String> =
        (1..=3).map(|n| app.user(&format!("pmc{n}"), false, &[("httpd", Role::PmcMember)])).collect();
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let tomcat_pmc = app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    let (status, policy) = app.send(app.client.get(app.url("/api/v1/projects/httpd/policy"))).await;
    assert_eq!(status, StatusCode::OK);
    let mut policy = policy;
    policy["mailing_list"] = json!("dev@httpd.apache.org");
    let (status, body) = app.send(put(&app, &pmc[0], "/api/v1/projects/httpd/policy", policy)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Webhooks are the PMC's: others cannot register, list or read their deliveries.
    let hook = json!({"url": "https://ci.httpd.example/hook", "events": ["checks.completed", "vote.started", "vote.resolved"]});
    let create = |jwt: &str, body: &Value| app.client.post(app.url(WEBHOOKS)).bearer_auth(jwt.to_owned()).json(body);
    app.expect_error(create(&committer, &hook), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(create(&rm, &hook), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(create(&tomcat_pmc, &hook), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(app.client.post(app.url(WEBHOOKS)).json(&hook), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(app.client.get(app.url(WEBHOOKS)).bearer_auth(&committer), StatusCode::FORBIDDEN, "forbidden")
        .await;
    for bad in [
        json!({"url": "ftp://ci.httpd.example/"}),
        json!({"url": "https://"}),
        json!({"url": "https://ci.httpd.example/", "events": ["vote.exploded"]}),
        json!({"url": "https://ci.httpd.example/", "events": []}),
        json!({"url": "https://ci.httpd.example/", "secret": "mine"}),
    ] {
        app.expect_error(create(&pmc[0], &bad), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let (status, created) = app.send(create(&pmc[0], &hook)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let hook_id = created["id"].as_i64().unwrap();
    let (_, listed) = app.send(app.client.get(app.url(WEBHOOKS)).bearer_auth(&pmc[1])).await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once only");
    // One that gets everything hears nothing of what happened before it was registered (a
    // release created while the dispatcher had not reached it yet), and is deleted.
    app.release(&rm, "httpd", "2.4.67").await;
    let (_, all) = app.send(create(&pmc[0], &json!({"url": "https://other.example/"}))).await;
    assert_eq!(all["events"].as_array().unwrap().len(), 9);
    assert_eq!(dispatch(&app).webhooks, 0, "release.created came before the webhook");
    let delete = app.client.delete(app.url(&format!("{WEBHOOKS}/{}", all["id"]))).bearer_auth(&pmc[0]);
    assert_eq!(app.send(delete).await.0, StatusCode::NO_CONTENT);
    let tomcat_delete =
        app.client.delete(app.url(&format!("/api/v1/projects/tomcat/webhooks/{hook_id}"))).bearer_auth(&tomcat_pmc);
    app.expect_error(tomcat_delete, StatusCode::NOT_FOUND, "not_found").await;

    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    assert!(finish_checks(&app, "success").await >= 3);
    let (status, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let digest = started["manifest_digest"].as_str().unwrap().to_owned();

    let made = dispatch(&app);
    assert_eq!((made.mails, made.webhooks), (1, 2), "the vote mail; checks.completed and vote.started: {made:?}");
    assert_eq!(dispatch(&app), Default::default(), "an event is dispatched once");

    // A runner without SMTP claims no mail; the delivery runner gets the mail and both calls.
    let token = app.runner("postman").await;
    assert!(app.claim(&token, &["paths", "hashing", "signature", "archive", "license", "rat"]).await.is_empty());
    let orders = app.claim(&token, &["mail", "webhook"]).await;
    assert_eq!(orders.len(), 3, "{orders:#?}");
    let mail = orders.iter().find(|o| o["kind"] == "mail").unwrap();
    let message: MailOrder = serde_json::from_value(mail["args"].clone()).unwrap();
    assert_eq!(message.to, ["dev@httpd.apache.org"]);
    assert_eq!(message.from, "Trusted Releases <releases@datastore.test>");
    assert_eq!(message.subject, "[VOTE] Release Apache httpd 2.4.68");
    assert!(message.body.contains(&digest), "{}", message.body);
    assert!(
        message.body.contains("http://datastore.test/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz"),
        "{}",
        message.body
    );
    assert!(message.message_id.ends_with("@datastore.test>"), "{}", message.message_id);
    let hooks: Vec<WebhookOrder> = orders
        .iter()
        .filter(|o| o["kind"] == "webhook")
        .map(|o| serde_json::from_value(o["args"].clone()).unwrap())
        .collect();
    let events: Vec<&str> = hooks.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(events, ["checks.completed", "vote.started"]);
    for hook in &hooks {
        assert_eq!(hook.signature, hmac(&secret, &hook.body), "the receiver can check the signature");
        let body: Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(
            (body["release"].as_str(), body["event"].as_str()),
            (Some("httpd/2.4.68"), Some(hook.event.as_str()))
        );
        assert_eq!(body["delivery"].as_str(), Some(hook.delivery_id.as_str()));
    }

    // The mail is sent; one webhook call fails and waits for its retry; the other is delivered.
    report(&app, &token, mail, json!({"status": "completed"})).await;
    let failing = orders.iter().find(|o| o["args"]["event"] == "vote.started").unwrap();
    report(&app, &token, failing, json!({"status": "failed", "error": "HTTP 500 from https://ci.httpd.example/hook"}))
        .await;
    let delivered = orders.iter().find(|o| o["args"]["event"] == "checks.completed").unwrap();
    report(&app, &token, delivered, json!({"status": "completed"})).await;
    // The tasks are listed for everyone who may read the candidate, without where they go or
    // what the receiver said: that is the PMC's delivery history.
    let (_, tasks) = app.send(app.client.get(app.url("/api/v1/tasks?release=httpd/2.4.68"))).await;
    assert!(tasks["tasks"].as_array().unwrap().iter().any(|t| t["kind"] == "webhook"), "{tasks}");
    assert!(!tasks.to_string().contains("ci.httpd.example") && !tasks.to_string().contains("HTTP 500"), "{tasks}");
    let history = format!("{WEBHOOKS}/{hook_id}/deliveries");
    app.expect_error(app.client.get(app.url(&history)).bearer_auth(&rm), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, deliveries) = app.send(app.client.get(app.url(&history)).bearer_auth(&pmc[2])).await;
    assert_eq!(status, StatusCode::OK, "{deliveries}");
    let list = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["event"].as_str(), list[0]["status"].as_str()), (Some("vote.started"), Some("pending")));
    assert_eq!(list[0]["attempts"], 1);
    assert!(list[0]["last_error"].as_str().unwrap().contains("HTTP 500"), "{deliveries}");
    assert!(list[0]["next_attempt_at"].is_string(), "{deliveries}");
    assert_eq!((list[1]["event"].as_str(), list[1]["status"].as_str()), (Some("checks.completed"), Some("delivered")));
    let (_, mails) = app.send(app.client.get(app.url(&format!("{RELEASE}/mails")))).await;
    assert_eq!(mails["mails"][0]["kind"], "vote", "the candidate's mails are public: {mails}");
    assert_eq!(mails["mails"][0]["delivery"]["status"], "delivered", "{mails}");

    // The result answers the announcement, in its thread.
    for jwt in &pmc {
        vote(&app, jwt, 1).await;
    }
    close_vote(&app);
    let (status, body) = app.send(post(&app, &rm, "/resolve", json!({"outcome": "passed"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let made = dispatch(&app);
    assert_eq!((made.mails, made.webhooks), (1, 1), "{made:?}");
    let orders = app.claim(&token, &["mail"]).await;
    let result: MailOrder = serde_json::from_value(orders[0]["args"].clone()).unwrap();
    assert_eq!(result.subject, "[RESULT] [VOTE] Release Apache httpd 2.4.68");
    assert_eq!(result.in_reply_to.as_deref(), Some(message.message_id.as_str()));
    assert!(result.body.contains("Binding votes: 3 +1, 0 0, 0 -1."), "{}", result.body);
}

async fn policy_overrides_apply_per_product_and_release(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let product = "/api/v1/projects/httpd/products/httpd/policy";
    app.expect_error(put(&app, &rm, product, json!({"min_vote_hours": 96})), StatusCode::FORBIDDEN, "forbidden").await;
    for bad in [json!({"binding_plus_required": 0}), json!({"min_vote_hours": 9000}), json!({"mailing_list": "nobody"})]
    {
        app.expect_error(put(&app, &pmc, product, bad), StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy").await;
    }
    app.expect_error(
        put(&app, &pmc, product, json!({"require_incubating_name": true})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let (status, set) =
        app.send(put(&app, &pmc, product, json!({"min_vote_hours": 96, "mailing_list": "dev@httpd.apache.org"}))).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        (set["override"]["min_vote_hours"].as_u64(), set["effective"]["min_vote_hours"].as_u64()),
        (Some(96), Some(96))
    );
    let (_, public) = app.send(app.client.get(app.url(product))).await;
    assert_eq!(public["effective"]["mailing_list"], "dev@httpd.apache.org");
    app.expect_error(
        app.client.get(app.url("/api/v1/projects/httpd/products/nope/policy")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    app.release(&rm, "httpd", "2.4.68").await;
    let release_policy = format!("{RELEASE}/policy");
    app.expect_error(
        put(&app, &rm, &release_policy, json!({"binding_plus_required": 5})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (status, set) =
        app.send(put(&app, &pmc, &release_policy, json!({"binding_plus_required": 5, "mailing_list": ""}))).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["effective"]["binding_plus_required"], 5);
    assert_eq!(set["effective"]["min_vote_hours"], 96, "the product's field stands under the release's");
    assert!(set["effective"]["mailing_list"].is_null(), "\"\" is no list for this release: {set}");

    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (status, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!((started["min_vote_hours"].as_u64(), started["binding_plus_required"].as_u64()), (Some(96), Some(5)));
    app.expect_error(put(&app, &pmc, &release_policy, json!({})), StatusCode::CONFLICT, "wrong_phase").await;
    // The vote runs under its snapshot: a product change now does not move it.
    let (status, _) = app.send(put(&app, &pmc, product, json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes"))).bearer_auth(&rm)).await;
    assert_eq!(votes["min_vote_hours"], 96, "{votes}");
    assert_eq!(dispatch(&app).mails, 0, "no list for this release: no mail");
}
