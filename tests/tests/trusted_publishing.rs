//! Trusted publishing through the real stack and a real OpenID provider (`oidc-provider` on
//! loopback, real RSA-signed ID tokens from its code flow): a project's PMC trusts two CI
//! workflows, one to compose and open the vote, one to resolve and publish; their jobs
//! exchange ID tokens and take a real signed release from upload to `/current/`, each only
//! as far as its trust goes. Refused: a replayed token, a wrong audience, a claim that does not
//! match, an expired token, `alg: none`, an issuer the operator does not allow, the old key
//! after a rotation (the new one is fetched), and every route outside the project's releases.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use e2e::oidc::{Client, Provider, claims_of};
use e2e::{Stack, StackOptions};
use serde_json::{Value, json};
use testkit::{Backend, on_both_backends};

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    ci_jobs_release_within_their_trusts
);

const AUDIENCE: &str = "trusted-releases";
const RELEASE: &str = "/api/v1/releases/tooling/0.2";
const FILES: [&str; 3] = ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc", "apache-test-0.2.tar.gz.sha512"];

fn accounts() -> Value {
    let job = |workflow: &str, environment: Option<&str>, git_ref: &str, run: u64| {
        let mut claims = json!({
            "repository": "apache/tooling", "repository_owner": "apache", "ref": git_ref, "run_id": run,
            "workflow_ref": format!("apache/tooling/.github/workflows/{workflow}@{git_ref}"),
        });
        if let Some(environment) = environment {
            claims["environment"] = json!(environment);
        }
        claims
    };
    json!({
        "compose-job": job("rc.yml", None, "refs/tags/v0.2-rc1", 101),
        "release-job": job("release.yml", Some("release"), "refs/tags/v0.2", 102),
        "branch-job": job("rc.yml", None, "refs/heads/main", 103),
        "fork-job": {"repository": "mallory/tooling", "ref": "refs/tags/v0.2-rc1", "run_id": 104,
                     "workflow_ref": "mallory/tooling/.github/workflows/rc.yml@refs/tags/v0.2-rc1"},
    })
}

async fn send(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    jwt: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = stack.client.request(method, stack.url(path));
    if let Some(jwt) = jwt {
        request = request.bearer_auth(jwt);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn exchange(stack: &Stack, token: &str, project: &str) -> (u16, Value) {
    let body = json!({"token": token, "project": project});
    send(stack, reqwest::Method::POST, "/api/v1/trusted-publishing/exchange", None, Some(body)).await
}

async fn ci_jobs_release_within_their_trusts(backend: Backend) {
    let ci = Client::new(AUDIENCE, "http://127.0.0.1:9/callback");
    let other = Client::new("another-service", "http://127.0.0.1:9/callback");
    let short = Client { id_token_ttl: 1, ..Client::new("short-lived", "http://127.0.0.1:9/callback") };
    let mut provider = Provider::start("key-1", &[ci.clone(), other.clone(), short.clone()], accounts());
    let stranger = Provider::start("stranger-key", std::slice::from_ref(&ci), accounts());
    let options = StackOptions {
        datastore_env: vec![
            ("DATASTORE_TRUSTED_ISSUERS".into(), provider.issuer()),
            ("DATASTORE_OIDC_KEYS_REFRESH_SECS".into(), "0".into()),
        ],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start(backend, options).await else { return };
    stack.release("tooling", "0.1", false).await;
    stack.release("other", "1.0", false).await;
    let rm = stack.person_with_email("rm", Some("apache-tooling@example.invalid"), "tooling", "release_manager").await;
    let pmc: Vec<String> =
        futures_util::future::join_all(["alice", "bob", "carol"].map(|uid| stack.person(uid, "tooling", "pmc_member")))
            .await;
    let outsider = stack.person("mallory", "other", "pmc_member").await;
    let key = std::fs::read(testkit::fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
    let (status, body) = send(
        &stack,
        reqwest::Method::POST,
        "/api/v1/keys",
        Some(&rm),
        Some(json!({"armored": String::from_utf8(key).unwrap(), "committees": ["tooling"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The PMC trusts two workflows of its repository; nobody else may.
    let trusts = "/api/v1/projects/tooling/trusted-publishers";
    let compose = json!({"issuer": provider.issuer(), "audience": AUDIENCE, "actions": ["compose", "vote_start"],
        "claims": {"repository": "apache/tooling", "ref": "refs/tags/v*-rc*"}});
    let release = json!({"issuer": provider.issuer(), "audience": AUDIENCE, "actions": ["release"],
        "claims": {"repository": "apache/tooling", "environment": "release",
                   "workflow_ref": "apache/tooling/.github/workflows/release.yml@refs/tags/v*"}});
    for (who, expected) in [(&rm, 403), (&outsider, 403)] {
        let (status, body) = send(&stack, reqwest::Method::POST, trusts, Some(who), Some(compose.clone())).await;
        assert_eq!(status, expected, "a release manager, another committee's PMC: {body}");
    }
    let (status, body) = send(&stack, reqwest::Method::POST, trusts, None, Some(compose.clone())).await;
    assert_eq!(status, 401, "{body}");
    let mut elsewhere = compose.clone();
    elsewhere["issuer"] = json!(stranger.issuer());
    let (status, body) = send(&stack, reqwest::Method::POST, trusts, Some(&pmc[0]), Some(elsewhere)).await;
    assert_eq!(status, 403, "an issuer the operator does not allow: {body}");
    assert!(body["message"].as_str().unwrap().contains(&provider.issuer()), "{body}");
    let mut anyone = compose.clone();
    anyone["claims"] = json!({});
    let (status, body) = send(&stack, reqwest::Method::POST, trusts, Some(&pmc[0]), Some(anyone)).await;
    assert_eq!(status, 422, "a trust of every job of the issuer: {body}");
    let (status, compose_trust) = send(&stack, reqwest::Method::POST, trusts, Some(&pmc[0]), Some(compose)).await;
    assert_eq!(status, 201, "{compose_trust}");
    let (status, release_trust) = send(&stack, reqwest::Method::POST, trusts, Some(&pmc[1]), Some(release)).await;
    assert_eq!(status, 201, "{release_trust}");
    let (status, listed) = send(&stack, reqwest::Method::GET, trusts, Some(&pmc[2]), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["trusted_publishers"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["acts_as"], "ci:tooling");

    // Tokens that are refused.
    let expiring = provider.id_token("short-lived", "compose-job").await;
    let before_rotation = provider.id_token(AUDIENCE, "compose-job").await;
    for (what, token, status, says) in [
        ("a fork", provider.id_token(AUDIENCE, "fork-job").await, 403, "does not trust this ID token"),
        ("a branch build", provider.id_token(AUDIENCE, "branch-job").await, 403, "does not trust this ID token"),
        ("another audience", provider.id_token("another-service", "compose-job").await, 403, "does not trust"),
        ("another issuer", stranger.id_token(AUDIENCE, "compose-job").await, 401, "is not one this server trusts"),
        ("not a JWT", "not.a.jwt".to_owned(), 401, "not a signed JWT"),
    ] {
        let (got, body) = exchange(&stack, &token, "tooling").await;
        assert_eq!(got, status, "{what}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{what}: {body}");
    }
    let unsigned = {
        let encode = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let mut claims = claims_of(&before_rotation);
        claims["repository"] = json!("apache/tooling");
        format!("{}.{}.", encode(json!({"alg": "none", "typ": "JWT"})), encode(claims))
    };
    let (status, body) = exchange(&stack, &unsigned, "tooling").await;
    assert_eq!(status, 401, "alg none: {body}");
    let (status, body) = exchange(&stack, &before_rotation, "other").await;
    assert_eq!(status, 403, "a project that does not trust it: {body}");

    // The compose job, with `trel` as a CI job runs it: exchanges its ID token once, creates
    // the release, uploads, waits for the checks, opens the vote.
    let home = tempfile::tempdir().unwrap();
    let trel = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(e2e::binary("trel"));
        command
            .args(args)
            .env("TREL_SERVER", &stack.base)
            .env("HOME", home.path())
            .env_remove("TREL_TOKEN")
            .env_remove("TREL_UID")
            .env_remove("TREL_JWT")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let out = command.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), String::from_utf8_lossy(&out.stdout).trim().to_owned(), text)
    };
    let token = provider.id_token(AUDIENCE, "compose-job").await;
    let (code, answer, text) = trel(&[("TREL_ID_TOKEN", &token)], &["exchange", "tooling", "--json"]);
    assert_eq!(code, Some(0), "{text}");
    let granted: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(granted["uid"], "ci:tooling");
    assert_eq!(granted["actions"], json!(["compose", "vote_start"]));
    assert_eq!(granted["trusted_publishers"], json!([compose_trust["id"]]));
    let (status, body) = exchange(&stack, &token, "tooling").await;
    assert_eq!(status, 401, "each ID token is exchanged once: {body}");
    assert!(body["message"].as_str().unwrap().contains("exchanged already"), "{body}");
    let (code, _, text) = trel(&[("TREL_ID_TOKEN", &token)], &["exchange", "tooling"]);
    assert_eq!(code, Some(3), "once: {text}");
    let composer = granted["jwt"].as_str().unwrap().to_owned();
    let as_composer = [("TREL_JWT", composer.as_str())];
    let (code, _, text) = trel(&as_composer, &["release", "create", "tooling", "0.2"]);
    assert_eq!(code, Some(0), "{text}");
    let (_, release_row) = send(&stack, reqwest::Method::GET, RELEASE, Some(&composer), None).await;
    assert_eq!(release_row["created_by"], "ci:tooling", "{release_row}");
    let dist = testkit::fixture("atr-playwright/apache-test-0.2");
    let (code, _, text) = trel(&as_composer, &["upload", "tooling/0.2", dist.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let (code, _, text) = trel(&as_composer, &["status", "tooling/0.2", "--wait", "--timeout", "120"]);
    assert_eq!(code, Some(0), "no check fails: {text}");
    let (status, body) = send(&stack, reqwest::Method::GET, &format!("{RELEASE}/files"), Some(&composer), None).await;
    assert_eq!(status, 200, "the draft is its to read: {body}");
    for (method, path, body, what) in [
        (reqwest::Method::POST, format!("{RELEASE}/release"), None, "publish"),
        (
            reqwest::Method::POST,
            "/api/v1/releases".to_owned(),
            Some(json!({"project": "other", "version": "2.0"})),
            "create another project's release",
        ),
        (reqwest::Method::PUT, "/api/v1/releases/other/1.0/files/x.txt".to_owned(), None, "upload to another project"),
        (reqwest::Method::POST, "/api/v1/tokens".to_owned(), Some(json!({"label": "forever"})), "make a token"),
        (reqwest::Method::POST, "/api/v1/keys".to_owned(), Some(json!({"armored": "x"})), "add a key"),
        (
            reqwest::Method::POST,
            trusts.to_owned(),
            Some(json!({"issuer": provider.issuer(), "audience": AUDIENCE,
            "actions": ["release"], "claims": {"repository": "apache/tooling"}})),
            "trust itself",
        ),
        (reqwest::Method::PUT, "/api/v1/projects/tooling/policy".to_owned(), Some(json!({})), "change the policy"),
    ] {
        let (status, answer) = send(&stack, method, &path, Some(&composer), body).await;
        assert!(status == 403 || status == 404, "{what}: {status} {answer}");
    }
    let (status, body) =
        send(&stack, reqwest::Method::POST, &format!("{RELEASE}/vote/start"), Some(&composer), Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        send(&stack, reqwest::Method::POST, &format!("{RELEASE}/votes"), Some(&composer), Some(json!({"value": 1})))
            .await;
    assert_eq!(status, 403, "ballots are people's: {body}");
    for jwt in &pmc {
        let (status, body) =
            send(&stack, reqwest::Method::POST, &format!("{RELEASE}/votes"), Some(jwt), Some(json!({"value": 1})))
                .await;
        assert_eq!(status, 201, "{body}");
    }
    e2e::run_sql(stack.database_url(), "UPDATE release SET vote_closes_at = 0 WHERE version = '0.2'");
    let resolve = json!({"outcome": "passed"});
    let (status, body) =
        send(&stack, reqwest::Method::POST, &format!("{RELEASE}/resolve"), Some(&composer), Some(resolve.clone()))
            .await;
    assert_eq!(status, 403, "the compose trust does not resolve: {body}");

    tokio::time::sleep(Duration::from_secs(7)).await; // past the 1 s token's life and the 5 s leeway
    let (status, body) = exchange(&stack, &expiring, "tooling").await;
    assert_eq!(status, 401, "{body}");
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");

    // A key rotation: a token of the new key fetches the issuer's keys again; then the old
    // key, no longer published, is refused.
    provider.rotate("key-2");
    let (status, granted) = exchange(&stack, &provider.id_token(AUDIENCE, "release-job").await, "tooling").await;
    assert_eq!(status, 200, "signed by the new key: {granted}");
    let (status, body) = exchange(&stack, &before_rotation, "tooling").await;
    assert_eq!(status, 401, "a key the issuer no longer publishes: {body}");
    assert!(body["message"].as_str().unwrap().contains("key-1"), "{body}");

    // The release job: resolves and publishes, and composes nothing.
    assert_eq!(granted["actions"], json!(["release"]));
    let releaser = granted["jwt"].as_str().unwrap().to_owned();
    let (status, body) =
        send(&stack, reqwest::Method::PUT, &format!("{RELEASE}/files/NOTES.txt"), Some(&releaser), None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) =
        send(&stack, reqwest::Method::POST, &format!("{RELEASE}/resolve"), Some(&releaser), Some(resolve)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        send(&stack, reqwest::Method::POST, &format!("{RELEASE}/release"), Some(&releaser), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phase"], "current", "{body}");
    let published = stack.client.get(stack.url("/current/tooling/0.2/apache-test-0.2.tar.gz")).send().await.unwrap();
    assert_eq!(published.status(), 200);
    assert_eq!(published.bytes().await.unwrap(), std::fs::read(dist.join(FILES[0])).unwrap(), "the voted bytes");

    // The audit log names the CI user and each run; deleting a trust ends its tokens.
    let events = stack.get("/api/v1/events?limit=1000").await;
    let exchanges: Vec<&Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["action"] == "trusted_publishing.exchanged").collect();
    let runs: Vec<&Value> = exchanges.iter().map(|e| &e["details"]["run"]["run_id"]).collect();
    assert_eq!(runs, [&json!(101), &json!(102)], "{exchanges:#?}");
    assert!(exchanges.iter().all(|e| e["actor"] == "ci:tooling"), "{exchanges:#?}");
    let (status, body) =
        send(&stack, reqwest::Method::DELETE, &format!("{trusts}/{}", compose_trust["id"]), Some(&pmc[0]), None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = send(&stack, reqwest::Method::GET, &format!("{RELEASE}/files"), Some(&composer), None).await;
    assert_eq!(status, 401, "its trust was deleted: {body}");
    let (status, _) = send(&stack, reqwest::Method::GET, &format!("{RELEASE}/files"), Some(&releaser), None).await;
    assert_eq!(status, 200, "the other trust stands");
}
