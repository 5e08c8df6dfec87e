//! The pages people read, loaded in a real headless Chromium: the project directory, download
//! listings, the page of a revoked release, the API reference, errors, and a runner's status.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::webdriver::Browser;
use e2e::{Stack, StackOptions, browser_dom, set_phase};
use testkit::{Backend, httpd};

async fn pages_render_in_a_browser(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    stack.import_keys("httpd", std::fs::read(httpd("KEYS")).unwrap()).await;
    for file in ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"] {
        stack.upload("httpd/2.4.68", file, std::fs::read(httpd(file)).unwrap()).await;
    }
    stack.checks_done("httpd/2.4.68", Duration::from_secs(120)).await;
    let Some(home) = browser_dom(&stack.url("/")) else { return };
    assert!(home.contains("<h1>Projects</h1>") && home.contains("httpd"), "{home}");
    let none = browser_dom(&stack.url("/?q=zzz")).unwrap();
    assert!(none.contains("No project matches"), "{none}");

    set_phase(stack.database_url(), "httpd", "2.4.68", "current", None);
    let listing = browser_dom(&stack.url("/current/httpd/2.4.68/")).unwrap();
    assert!(listing.contains("Index of /current/httpd/2.4.68/"), "{listing}");
    assert!(listing.contains("href=\"httpd-2.4.68.tar.gz\"") && listing.contains("10.1 MB"), "{listing}");
    let versions = browser_dom(&stack.url("/current/httpd/")).unwrap();
    assert!(versions.contains("href=\"latest/\"") && versions.contains("href=\"2.4.68/\""), "{versions}");

    set_phase(stack.database_url(), "httpd", "2.4.68", "revoked", Some("CVE-2099-0001: remote code execution"));
    let gone = browser_dom(&stack.url("/current/httpd/2.4.68/httpd-2.4.68.tar.gz")).unwrap();
    assert!(gone.contains("410 Gone") && gone.contains("CVE-2099-0001"), "{gone}");
    assert!(gone.contains("href=\"/revoked/httpd/2.4.68/httpd-2.4.68.tar.gz\""), "{gone}");

    let docs = browser_dom(&stack.url("/api/docs")).unwrap();
    assert!(
        docs.contains("/api/v1/releases/{project}/{version}/files/{path}") && docs.contains("schema-ChecksReport"),
        "the API reference"
    );
    let missing = browser_dom(&stack.url("/no/such/page")).unwrap();
    assert!(missing.contains("404 Not Found"), "{missing}");

    let status = browser_dom(&format!("{}/status", stack.runner_status[0])).unwrap();
    assert!(status.contains("Runner runner-0") && status.contains("Completed"), "{status}");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pages_render_in_a_browser
);

/// A release manager and a PMC member at the pages, in Chromium, as they would do it: log in,
/// read the draft and its checks, start the vote, log out; log in, cast a +1, see the tally.
async fn people_log_in_start_a_vote_and_cast_ballots_in_a_browser(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    stack.import_keys("httpd", std::fs::read(httpd("KEYS")).unwrap()).await;
    stack.person("rm", "httpd", "release_manager").await;
    stack.person("pmc1", "httpd", "pmc_member").await;
    stack.password("rm", "release manager's password");
    stack.password("pmc1", "pmc member's password");
    let Some(browser) = Browser::start().await else { return };
    let page = stack.url("/releases/httpd/2.4.68");

    // A visitor: the draft does not exist for them.
    browser.goto(&page).await;
    assert!(browser.text("h1").await.contains("404"), "{}", browser.source().await);

    // A wrong password keeps them on the form, saying so.
    browser.goto(&stack.url("/login?next=/releases/httpd/2.4.68")).await;
    browser.type_into("#uid", "rm").await;
    browser.type_into("#password", "not the password").await;
    browser.submit("#login").await;
    assert_eq!(browser.text("#login-error").await, "The user id or the password is wrong.");

    // The release manager logs in and comes back to the release.
    browser.type_into("#password", "release manager's password").await;
    browser.submit("#login").await;
    assert_eq!(browser.url().await, page, "{}", browser.source().await);
    assert_eq!(browser.text("#phase").await, "draft");
    assert_eq!(browser.text(".who").await, "rm");

    // They choose the three files at once; each goes up in its own streamed PUT with its own
    // progress bar, and the page comes back with the new revisions.
    let chosen: Vec<String> = ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"]
        .iter()
        .map(|f| httpd(f).canonicalize().unwrap().display().to_string())
        .collect();
    browser.type_into("#upload-files", &chosen.join("\n")).await;
    browser.submit("#upload").await;
    assert_eq!(browser.text("#notice").await, "The files are uploaded; their checks are running.");
    assert!(browser.text("#files").await.contains("httpd-2.4.68.tar.gz.asc"));
    assert!(browser.text("#revisions").await.contains("+ httpd-2.4.68.tar.gz"));
    stack.checks_done("httpd/2.4.68", Duration::from_secs(120)).await;
    browser.goto(&page).await;
    let session = browser.cookies().await.into_iter().find(|c| c["name"] == "trl_session").expect("a session cookie");
    assert_eq!((session["httpOnly"].as_bool(), session["sameSite"].as_str()), (Some(true), Some("Lax")), "{session}");
    assert!(browser.text("#checks-summary").await.starts_with("Complete"));
    // httpd's hundreds of header results are one closed group, not hundreds of rows.
    let largest = browser
        .script(
            "const groups = [...document.querySelectorAll('details.result')];
             groups.sort((a, b) => b.dataset.count - a.dataset.count);
             return {count: Number(groups[0].dataset.count), open: groups[0].open, groups: groups.length};",
        )
        .await;
    assert!(largest["count"].as_u64().unwrap() > 100 && largest["open"] == false, "{largest}");

    browser.screenshot("release-draft").await;
    browser.submit("#start-vote").await;
    assert_eq!(browser.text("#notice").await, "The vote has started.");
    assert_eq!(browser.text("#phase").await, "candidate");
    browser.submit("#logout").await;
    assert!(browser.try_find(".who").await.is_none(), "logged out");

    // A PMC member casts a binding +1 with a comment.
    browser.goto(&stack.url("/login?next=/releases/httpd/2.4.68")).await;
    browser.type_into("#uid", "pmc1").await;
    browser.type_into("#password", "pmc member's password").await;
    browser.submit("#login").await;
    browser.click(r#"input[name="value"][value="1"]"#).await;
    browser.type_into("#comment", "Signatures and hashes check out.").await;
    browser.submit("#cast").await;
    assert_eq!(browser.text("#notice").await, "Your vote is recorded.");
    assert_eq!(browser.text("#binding-plus").await, "1");
    browser.screenshot("release-vote").await;
    assert!(browser.text(".ballots").await.contains("Signatures and hashes check out."));
    let votes = stack.get("/api/v1/releases/httpd/2.4.68/votes").await;
    assert_eq!(
        (votes["votes"][0]["voter"].as_str(), votes["votes"][0]["binding"].as_bool()),
        (Some("pmc1"), Some(true))
    );
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    people_log_in_start_a_vote_and_cast_ballots_in_a_browser
);
