//! OpenID Connect login for people, in a real headless Chromium against a real OpenID provider
//! (`oidc-provider` on loopback): the login page offers the provider, the person signs in there
//! and comes back logged in where they were going (the code flow with PKCE, state and nonce);
//! someone the provider knows but this server does not gets no session, nor does a visitor's
//! self-made account; the uid comes from the configured claim, not from an editable one; and an
//! answer that is not for the login this browser started is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use e2e::oidc::{Client, Provider};
use e2e::webdriver::Browser;
use e2e::{Stack, StackOptions, free_port};
use serde_json::json;
use testkit::Backend;

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    people_log_in_at_the_deployment_s_openid_provider
);

async fn people_log_in_at_the_deployment_s_openid_provider(backend: Backend) {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let options = StackOptions {
        datastore_env: vec![
            ("DATASTORE_OIDC_ISSUER".into(), issuer.clone()),
            ("DATASTORE_OIDC_CLIENT_ID".into(), "trusted-releases-web".into()),
            ("DATASTORE_OIDC_CLIENT_SECRET".into(), "trusted-releases-web-secret".into()),
            ("DATASTORE_OIDC_NAME".into(), "Apache SSO".into()),
            // A directory claim the provider sets; its editable `preferred_username` names
            // someone else, and must not be what logs anyone in.
            ("DATASTORE_OIDC_UID_CLAIM".into(), "uid".into()),
        ],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start(backend, options).await else { return };
    let web = Client::new("trusted-releases-web", &stack.url("/login/oidc/callback"));
    let accounts = json!({
        "rjung": {"uid": "rjung", "preferred_username": "vera", "email": "rjung@example.org"},
        "stranger": {"uid": "nobody-here", "preferred_username": "rjung"},
        "vera": {"uid": "vera"},
    });
    let _provider = Provider::start_on(port, "web-key", &[web], accounts);
    stack.release("tooling", "0.1", false).await;
    stack.person("rjung", "tooling", "committer").await;
    let Some(browser) = Browser::start().await else { return };

    // Nothing started here: an answer from anywhere is refused.
    let (status, page) = {
        let response = stack.client.get(stack.url("/login/oidc/callback?code=x&state=y")).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("started no login"), "{page}");

    // The login page offers the provider; the person signs in there and is back at the draft.
    let draft = stack.url("/releases/tooling/0.1");
    browser.goto(&stack.url("/login?next=/releases/tooling/0.1")).await;
    assert_eq!(browser.text("#sso").await, "Log in with Apache SSO");
    browser.submit("#sso").await;
    assert!(browser.url().await.starts_with(&format!("{issuer}/interaction/")), "{}", browser.url().await);
    browser.type_into("#login", "rjung").await;
    browser.submit("#sign-in").await;
    assert_eq!(browser.url().await, draft, "{}", browser.source().await);
    assert_eq!(browser.text(".who").await, "rjung");
    assert_eq!(browser.text("#phase").await, "draft", "a committer reads the draft");
    browser.submit("#logout").await;

    // An answer that is not for the login this browser started (a forged state).
    let started = stack.client.get(stack.url("/login/oidc")).send().await.unwrap();
    assert_eq!(started.status(), 303);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{issuer}/auth?")), "{location}");
    assert!(location.contains("code_challenge_method=S256") && location.contains("nonce="), "{location}");
    let pending = started.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let forged = stack
        .client
        .get(stack.url("/login/oidc/callback?code=forged&state=forged"))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.text().await.unwrap().contains("not for the login this browser started"));

    // Someone the provider knows and this server does not (signed out at the provider first:
    // its session would sign rjung in again).
    browser.delete_cookies().await;
    browser.goto(&stack.url("/login")).await;
    browser.submit("#sso").await;
    browser.type_into("#login", "stranger").await;
    browser.submit("#sign-in").await;
    let page = browser.source().await;
    assert!(page.contains("this server has no account nobody-here"), "{page}");
    browser.goto(&stack.url("/")).await;
    assert!(browser.try_find(".who").await.is_none(), "no session: {}", browser.source().await);

    // A visitor's account: whoever signed up chose the uid, so the provider's vera is not
    // necessarily them. Single sign-on refuses it; its password still works.
    browser.delete_cookies().await;
    browser.goto(&stack.url("/signup")).await;
    browser.sign_up("vera", "Vera Visitor", "vera@example.org", "a visitor's password").await;
    assert_eq!(browser.text(".who").await, "vera", "{}", browser.source().await);
    browser.submit("#logout").await;
    browser.goto(&stack.url("/login")).await;
    browser.submit("#sso").await;
    browser.type_into("#login", "vera").await;
    browser.submit("#sign-in").await;
    let page = browser.source().await;
    assert!(page.contains("single sign-on opens only accounts an admin made"), "{page}");
    browser.goto(&stack.url("/")).await;
    assert!(browser.try_find(".who").await.is_none(), "no session for a visitor's account: {}", browser.source().await);
}
