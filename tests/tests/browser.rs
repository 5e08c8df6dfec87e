//! The pages people read, loaded in a real headless Chromium: the project directory, download
//! listings, the page of a revoked release, the API reference, errors, and a runner's status.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::webdriver::Browser;
use e2e::{Stack, StackOptions, browser_dom, set_phase};
use serde_json::json;
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

    // The front page, as a desktop and a phone show it: on the phone, the menu folds away
    // behind its button and opens when tapped.
    let Some(browser) = Browser::start().await else { return };
    browser.goto(&stack.url("/")).await;
    browser.screenshot("front-page").await;
    browser.resize(390, 900).await;
    let hidden = "return getComputedStyle(document.querySelector('header .menu')).display === 'none';";
    assert_eq!(browser.script(hidden).await, true, "a phone shows the menu button, not the menu");
    browser.click("label.hamburger").await;
    assert_eq!(browser.script(hidden).await, false, "the button opens the menu");
    browser.resize(1280, 1600).await;
    assert_eq!(browser.script(hidden).await, false, "a desktop shows the menu");
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
    // Over a slow uplink (2 MB/s), the page shows each file's progress while it goes up.
    browser.throttle_uploads(Some(2_000_000)).await;
    browser.mark_page().await;
    browser.click("#upload").await;
    let midway = "const t = document.querySelector('#upload-total'); return !!t && t.value > 0 && t.value < t.max;";
    browser.wait_for("the upload to be under way", Duration::from_secs(30), midway).await;
    let bars = browser.script("return document.querySelectorAll('#upload-progress li progress').length;").await;
    assert_eq!(bars, 3, "a progress bar per file");
    browser.screenshot("compose-mid-upload").await;
    browser.throttle_uploads(None).await;
    browser.wait_for_new_page("#upload", Duration::from_secs(120)).await;
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

/// Logs `uid` in at the login page of `stack`, coming back to `next`.
async fn log_in(browser: &Browser, stack: &Stack, uid: &str, password: &str, next: &str) {
    browser.goto(&stack.url(&format!("/login?next={next}"))).await;
    browser.type_into("#uid", uid).await;
    browser.type_into("#password", password).await;
    browser.submit("#login").await;
    assert_eq!(browser.text(".who").await, uid, "{uid} is logged in: {}", browser.source().await);
}

/// A file of the ATR's browser fixtures: its key, or a file of its release `apache-test-0.2`.
fn fixture_path(name: &str) -> String {
    let relative = if name.ends_with(".asc") && !name.starts_with("apache-test") {
        format!("atr-playwright/{name}")
    } else {
        format!("atr-playwright/apache-test-0.2/{name}")
    };
    testkit::fixture(&relative).canonicalize().unwrap().display().to_string()
}

/// The scenario of the existing ATR's own browser suite, with its fixtures: a release manager
/// logs in, starts a release on the project page, adds their OpenPGP key, uploads the files and
/// sees hashing, licence, headers, paths and signature succeed; starts the vote; three PMC
/// members cast +1; the release manager resolves it and releases; the release is found in the
/// directory and a file downloaded.
async fn a_release_goes_from_login_to_download_in_a_browser(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    for (path, body) in [
        ("/api/v1/admin/committees", json!({"name": "tooling", "display_name": "Apache Tooling", "podling": false})),
        (
            "/api/v1/admin/projects",
            json!({"name": "apache-test", "committee": "tooling", "display_name": "Apache Test"}),
        ),
    ] {
        let (status, body) = stack.post(path, body).await;
        assert_eq!(status, 201, "{body}");
    }
    stack.person_with_email("rm", Some("apache-tooling@example.invalid"), "tooling", "release_manager").await;
    let mut pmc_jwt = String::new();
    for pmc in ["pmc1", "pmc2", "pmc3"] {
        pmc_jwt = stack.person(pmc, "tooling", "pmc_member").await;
        stack.password(pmc, "a PMC member's password");
    }
    stack.password("rm", "the release manager's password");
    let Some(browser) = Browser::start().await else { return };

    // The release manager starts the release on the project page.
    log_in(&browser, &stack, "rm", "the release manager's password", "/projects/apache-test").await;
    browser.type_into("#version", "0.2").await;
    browser.submit("#start-release").await;
    let page = stack.url("/releases/apache-test/0.2");
    assert_eq!(browser.url().await, page);
    assert_eq!(browser.text("#phase").await, "draft");

    // Their key, pasted on the keys page, into the committee's KEYS.
    browser.goto(&stack.url("/keys")).await;
    let armored = std::fs::read_to_string(fixture_path("68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
    browser.script(&format!("document.querySelector('#armored').value = {};", json!(armored))).await;
    browser.click(r#"#committee option[value="tooling"]"#).await;
    browser.submit("#add-key").await;
    assert!(browser.text("#key-report").await.starts_with("1 added"), "{}", browser.source().await);
    assert!(browser.text("table.keys").await.contains("68FF2E20F02B070D73D416188DE8CC167FE2663A"));

    // The files, all at once; then the checks.
    browser.goto(&page).await;
    let files = ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc", "apache-test-0.2.tar.gz.sha512"];
    let chosen: Vec<String> = files.iter().map(|f| fixture_path(f)).collect();
    browser.type_into("#upload-files", &chosen.join("\n")).await;
    browser.submit("#upload").await;
    assert_eq!(browser.text("#notice").await, "The files are uploaded; their checks are running.");
    let report = stack.checks_done("apache-test/0.2", Duration::from_secs(120)).await;
    for checker in ["hashing", "signature", "license", "rat", "paths"] {
        let theirs: Vec<_> = report.results.iter().filter(|r| r.checker.as_str() == checker).collect();
        assert!(!theirs.is_empty(), "{checker} ran");
        // The fixture's NOTICE has one real flaw (a relative link), a warning that blocks nothing.
        assert!(theirs.iter().any(|r| r.status.as_str() == "success"), "{checker} succeeds: {theirs:?}");
        assert!(
            theirs.iter().all(|r| matches!(r.status.as_str(), "success" | "warning")),
            "{checker} finds nothing that blocks: {theirs:?}"
        );
    }
    // The keys page lists what the key signed, as the signature check verified it.
    browser.goto(&stack.url("/keys")).await;
    let signed = browser.text("#signed").await;
    assert!(signed.contains("apache-test/0.2") && signed.contains("apache-test-0.2.tar.gz"), "{signed}");
    browser.goto(&page).await;
    assert!(browser.text("#checks-summary").await.starts_with("Complete"));
    let failing =
        browser.script("return document.querySelectorAll('details.result[data-status=failure]').length;").await;
    assert_eq!(failing, 0, "{}", browser.source().await);
    browser.submit("#start-vote").await;
    assert_eq!(browser.text("#phase").await, "candidate");
    browser.submit("#logout").await;

    // Three PMC members vote +1.
    for pmc in ["pmc1", "pmc2", "pmc3"] {
        log_in(&browser, &stack, pmc, "a PMC member's password", "/releases/apache-test/0.2").await;
        assert_eq!(browser.text("#binding").await, "binding");
        browser.click(r#"input[name="value"][value="1"]"#).await;
        browser.type_into("#comment", &format!("+1 from {pmc}: checked the signature and the sums.")).await;
        browser.submit("#cast").await;
        assert_eq!(browser.text("#notice").await, "Your vote is recorded.");
        browser.submit("#logout").await;
    }

    // The vote's 72 hours pass; the release manager resolves it, and releases.
    e2e::run_sql(stack.database_url(), "UPDATE release SET vote_closes_at = 1 WHERE version = '0.2'");
    log_in(&browser, &stack, "rm", "the release manager's password", "/releases/apache-test/0.2").await;
    assert_eq!(browser.text("#binding-plus").await, "3");
    browser.screenshot("vote-passing").await;
    browser.click(r#"#outcome option[value="passed"]"#).await;
    browser.submit("#resolve").await;
    assert_eq!(browser.text("#phase").await, "preview", "{}", browser.source().await);
    assert!(browser.try_find("#announcement-subject").await.is_some(), "the announcement is previewed");
    browser.submit("#release").await;
    assert_eq!(browser.text("#phase").await, "current");

    // The PMC records a CVE this release fixes and where else it went: the catalog has both,
    // and the key whose signature over the tarball the check verified.
    for (path, body) in [
        (
            "/api/v1/projects/apache-test/cves",
            json!({"id": "CVE-2026-31337", "title": "A test vulnerability", "severity": "low",
                   "published": "2026-11-01T00:00:00Z", "fixed": ["apache-test/0.2"]}),
        ),
        (
            "/api/v1/releases/apache-test/0.2/distributions",
            json!({"channel": "maven_central", "url": "org.apache.test:apache-test:0.2"}),
        ),
    ] {
        let response = stack.client.post(stack.url(path)).bearer_auth(&pmc_jwt).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201, "{path}: {}", response.text().await.unwrap());
    }
    let catalog: serde_json::Value =
        stack.client.get(stack.url("/api/v1/catalog")).send().await.unwrap().json().await.unwrap();
    let entry = &catalog["releases"][0];
    assert_eq!(entry["release"], "apache-test/0.2", "{catalog}");
    assert_eq!(entry["vote_outcome"], "passed");
    assert_eq!(entry["cves_fixed"], json!(["CVE-2026-31337"]));
    assert_eq!(entry["distributions"][0]["url"], "org.apache.test:apache-test:0.2");
    let tarball = entry["files"].as_array().unwrap().iter().find(|f| f["path"] == "apache-test-0.2.tar.gz").unwrap();
    assert_eq!(tarball["signers"], json!(["68FF2E20F02B070D73D416188DE8CC167FE2663A"]), "{entry}");

    // Anyone finds it in the directory and downloads a file.
    browser.submit("#logout").await;
    browser.goto(&stack.url("/?q=0.2")).await;
    let found = browser.text("#found-releases").await;
    assert!(found.contains("apache-test") && found.contains("0.2"), "{found}");
    // The project and release pages say what the release fixes, and where else it is.
    browser.goto(&stack.url("/projects/apache-test")).await;
    let cves = browser.text("#cves").await;
    assert!(cves.contains("CVE-2026-31337") && cves.contains("A test vulnerability"), "{cves}");
    assert!(cves.contains("apache-test/0.2"), "{cves}");
    browser.goto(&stack.url("/releases/apache-test/0.2")).await;
    assert!(browser.text("#release-cves").await.contains("fixes it"), "{}", browser.source().await);
    assert!(browser.text("#distributions").await.contains("org.apache.test:apache-test:0.2"));
    browser.goto(&stack.url("/current/apache-test/0.2/")).await;
    browser.submit(r#"a[href="apache-test-0.2.tar.gz.sha512"]"#).await;
    let expected = std::fs::read_to_string(fixture_path("apache-test-0.2.tar.gz.sha512")).unwrap();
    let digest = expected.split_whitespace().next().unwrap();
    assert!(browser.text("body").await.contains(digest), "the downloaded file is the uploaded one");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_release_goes_from_login_to_download_in_a_browser
);

/// A 1 GiB file chosen on the release page goes up in a resumable session, its progress shown.
/// The datastore is killed (SIGKILL) a quarter of the way and started again: the page goes on
/// from the last confirmed byte (the restarted datastore receives less than the whole file)
/// and the revision holds the file with the size and SHA-512 of the file on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_file_uploads_from_the_release_page_through_a_crash() {
    const SIZE: u64 = 1 << 30;
    let options = StackOptions { runners: 0, ..StackOptions::default() };
    let Some(mut stack) = Stack::start(Backend::Sqlite, options).await else { return };
    stack.release("big", "1.0", false).await;
    stack.person("rm", "big", "release_manager").await;
    stack.password("rm", "the release manager's password");
    // A file of 1 GiB that is not all zeros: a 1 MiB pattern, written 1,024 times.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-1.0.bin");
    {
        use std::io::Write;
        let block: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for n in 0..SIZE >> 20 {
            file.write_all(&n.to_le_bytes()).unwrap();
            file.write_all(&block[8..]).unwrap();
        }
        file.flush().unwrap();
    }
    let (sha512, size) = checks::digest::sha512_of(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(size, SIZE);
    let Some(browser) = Browser::start().await else { return };

    log_in(&browser, &stack, "rm", "the release manager's password", "/releases/big/1.0").await;
    browser.type_into("#upload-files", path.to_str().unwrap()).await;
    browser.mark_page().await;
    let started = std::time::Instant::now();
    browser.click("#upload").await;
    browser
        .wait_for(
            "the upload's progress bar",
            Duration::from_secs(30),
            "const bar = document.querySelector('#upload-total'); return !!bar && bar.max === 1073741824;",
        )
        .await;
    browser
        .wait_for(
            "a quarter of the file sent",
            Duration::from_secs(120),
            "const bar = document.querySelector('#upload-total'); return bar.value >= bar.max / 4;",
        )
        .await;
    stack.crash_and_restart_datastore().await;
    browser.wait_for_new_page("#upload", Duration::from_secs(600)).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(browser.text("#notice").await, "The files are uploaded; their checks are running.");
    eprintln!("1 GiB uploaded from Chromium through a crash in {seconds:.1} s ({:.0} MiB/s)", 1024.0 / seconds);
    let metrics = stack.client.get(stack.url("/metrics")).bearer_auth(&stack.jwt).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let received: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("datastore_upload_bytes_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map(|n| n as u64)
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        received > 0 && received <= SIZE * 3 / 4 + (8 << 20),
        "after the restart it received {received} bytes: the rest"
    );

    let listing = stack.get("/api/v1/releases/big/1.0/files").await;
    let file = listing["files"].as_array().unwrap().iter().find(|f| f["path"] == "big-1.0.bin");
    let file = file.unwrap_or_else(|| panic!("{listing}"));
    assert_eq!(file["size"].as_u64(), Some(SIZE), "{file}");
    assert_eq!(file["sha512"].as_str(), Some(sha512.as_str()), "the bytes arrived unchanged");
    let row = browser.text("#files").await;
    assert!(row.contains("big-1.0.bin"), "{row}");
}

/// What the pages refuse, in the browser: a visitor's account sees no draft and no action, and
/// gets the admin page's 403; a committer sees no "start vote"; a form without its CSRF token
/// is refused with a page that says why. Also a release manager waiving a failure on the page,
/// and an admin at the runners overview.
async fn the_pages_refuse_in_a_browser_and_waivers_show_who_and_why(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("tooling", "0.3", false).await;
    stack.person("dev", "tooling", "committer").await;
    stack.person("rm", "tooling", "release_manager").await;
    stack.password("dev", "a committer's password");
    stack.password("rm", "the release manager's password");
    stack.password("root", "the admin's password");
    // A signed tarball whose key is in no KEYS: the signature check fails.
    for file in ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc", "apache-test-0.2.tar.gz.sha512"] {
        stack.upload("tooling/0.3", file, std::fs::read(fixture_path(file)).unwrap()).await;
    }
    stack.checks_done("tooling/0.3", Duration::from_secs(120)).await;
    let Some(browser) = Browser::start().await else { return };
    let draft = stack.url("/releases/tooling/0.3");

    // A visitor makes an account, with consent.
    browser.goto(&stack.url("/signup")).await;
    assert!(browser.text("#consent-text").await.contains("audit log"));
    browser.sign_up("vera", "Vera Visitor", "vera@example.org", "a visitor's password").await;
    assert_eq!(browser.text("#kind").await, "visitor (your ballots are non-binding)");
    browser.goto(&draft).await;
    assert!(browser.text("h1").await.contains("404"), "a draft does not exist for a visitor");
    browser.goto(&stack.url("/admin")).await;
    assert!(browser.text("h1").await.contains("403"), "{}", browser.source().await);
    assert!(browser.text("main").await.contains("an administrator"));
    browser.goto(&stack.url("/projects/tooling")).await;
    assert!(browser.try_find("#start-release-form").await.is_none(), "no action for a visitor");
    browser.submit("#logout").await;

    // A committer sees the draft and its failure, and no "start vote".
    log_in(&browser, &stack, "dev", "a committer's password", "/releases/tooling/0.3").await;
    assert!(browser.try_find("#upload-form").await.is_some(), "a committer composes");
    assert!(browser.try_find("#start-vote").await.is_none() && browser.try_find("#waive-form").await.is_none());
    // A form whose token was taken out is refused, and the page says why.
    browser.script("document.querySelectorAll('form input[name=csrf]').forEach((i) => i.remove());").await;
    browser.submit(r#"form[action="/logout"] button"#).await;
    assert!(browser.text("h1").await.contains("403"), "{}", browser.source().await);
    assert!(browser.text("main").await.contains("security token"), "{}", browser.source().await);
    browser.goto(&draft).await;
    assert_eq!(browser.text(".who").await, "dev", "the refused form changed nothing");
    browser.submit("#logout").await;

    // The release manager waives the signature failure, saying why; the page shows it.
    log_in(&browser, &stack, "rm", "the release manager's password", "/releases/tooling/0.3").await;
    let failing = "return document.querySelectorAll('details.result[data-status=failure]').length;";
    assert!(browser.script(failing).await.as_u64().unwrap() > 0, "the unknown key's signature fails");
    browser.click("details:has(#waive-form) > summary").await;
    browser.click(r#"#waive-checker option[value="signature"]"#).await;
    browser.type_into("#waive-reason", "Signed out of band for this test release.").await;
    browser.submit("#waive").await;
    assert_eq!(browser.text("#notice").await, "The waiver is made: the failures it covers no longer block the vote.");
    assert!(browser.text("#waiver-list").await.contains("Signed out of band for this test release."));
    let waived = "return document.querySelectorAll('details.result[data-status=waived]').length;";
    assert!(browser.script(waived).await.as_u64().unwrap() > 0, "the signature's failure shows as waived");
    assert_eq!(browser.script(failing).await, 0, "{}", browser.source().await);
    browser.screenshot("release-failures-and-waivers").await;
    browser.submit("#logout").await;

    // The admin watches the runners.
    log_in(&browser, &stack, "root", "the admin's password", "/runners").await;
    assert!(browser.text("#runners").await.contains("runner-0"));
    assert!(browser.try_find("svg#throughput").await.is_some());
    browser.screenshot("runners").await;
    browser.goto(&stack.url("/admin")).await;
    assert!(browser.text("#user-list").await.contains("vera"));
    browser.screenshot("admin").await;
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_pages_refuse_in_a_browser_and_waivers_show_who_and_why
);
