//! The S3 blob store against a real S3-compatible server (Garage on loopback): a real release
//! goes into the bucket, the runner checks it from there, it is downloaded whole and by range,
//! identical bytes are stored once, and a bucket that stops answering makes the datastore
//! unready and fails uploads cleanly; a 1 GiB file goes up in parts and comes back by range.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::garage::Garage;
use e2e::{BIG, Big, Stack, StackOptions, files_in, lines_with, set_phase};
use shared_models::ReleasePath;
use shared_models::api::CreateUploadRequest;
use testkit::{Backend, httpd};

/// The datastore's multipart part size (`datastore::blob::s3::PART`).
const PART: usize = 16 << 20;

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_release_lives_in_the_bucket
);

/// How many objects the bucket holds, as Garage counts them.
fn objects(garage: &Garage) -> u64 {
    let info = garage.run(&["bucket", "info", &garage.bucket]);
    let line = info.lines().find(|l| l.trim_start().starts_with("Objects")).unwrap_or_else(|| panic!("{info}"));
    line.split(':').nth(1).and_then(|n| n.split_whitespace().next()).unwrap().parse().unwrap()
}

async fn a_release_lives_in_the_bucket(backend: Backend) {
    let Some(mut garage) = Garage::start("releases") else { return };
    let options = StackOptions { datastore_env: garage.datastore_env("trusted-releases/blobs"), ..Default::default() };
    let Some(stack) = Stack::start(backend, options).await else { return };
    let ready: serde_json::Value = stack.client.get(stack.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["blob_store"], "ok", "{ready}");

    stack.release("httpd", "2.4.68", false).await;
    stack.import_keys("httpd", std::fs::read(httpd("KEYS")).unwrap()).await;
    let files = ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"];
    for file in files {
        stack.upload("httpd/2.4.68", file, std::fs::read(httpd(file)).unwrap()).await;
    }
    assert_eq!(objects(&garage), 3, "each file is an object");
    assert!(files_in(&stack.state.path().join("blobs")).is_empty(), "no blob is a local file");
    let report = stack.checks_done("httpd/2.4.68", Duration::from_secs(120)).await;
    let bad = lines_with(&report, &["failure", "error"]);
    assert!(bad.is_empty(), "the runner read the release from the bucket:\n{}", bad.join("\n"));
    assert!(report.results.iter().any(|r| r.checker.as_str() == "signature" && r.status.as_str() == "success"));

    // Identical bytes under another name: no new object.
    let tarball = std::fs::read(httpd("httpd-2.4.68.tar.gz")).unwrap();
    stack.upload("httpd/2.4.68", "copy/httpd-2.4.68.tar.gz", tarball.clone()).await;
    assert_eq!(objects(&garage), 3, "identical bytes are stored once");

    // Downloads, whole and by range, come from the bucket.
    set_phase(stack.database_url(), "httpd", "2.4.68", "candidate", None);
    let url = stack.url("/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz");
    let whole = stack.client.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap(), tarball);
    let (from, to) = (tarball.len() / 3, tarball.len() / 3 + 70_000);
    let part = stack.client.get(&url).header("Range", format!("bytes={from}-{to}")).send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes {from}-{to}/{}", tarball.len()).as_str());
    assert_eq!(part.bytes().await.unwrap(), &tarball[from..=to]);
    let small = stack.client.get(stack.url("/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz.sha512")).send().await;
    assert_eq!(small.unwrap().bytes().await.unwrap(), std::fs::read(httpd("httpd-2.4.68.tar.gz.sha512")).unwrap());

    // The bucket stops answering: the datastore says it is not ready, and an upload fails with
    // the reason and leaves no staging file behind; a resumable upload keeps its bytes, and is
    // committed once the bucket is back.
    set_phase(stack.database_url(), "httpd", "2.4.68", "draft", None);
    let api = stack.api();
    let late = b"a resumable upload whose commit meets an outage".to_vec();
    let request =
        CreateUploadRequest { path: ReleasePath::parse("LATE.txt").unwrap(), size: late.len() as u64, sha512: None };
    let session = api.open_upload("httpd/2.4.68", &request).await.unwrap();
    assert_eq!(api.append(&session.id, 0, late.clone().into()).await.unwrap(), late.len() as u64);
    garage.stop();
    let unready = stack.client.get(stack.url("/readyz")).send().await.unwrap();
    assert_eq!(unready.status(), 503);
    let unready: serde_json::Value = unready.json().await.unwrap();
    assert_ne!(unready["blob_store"], "ok", "{unready}");
    assert_eq!(unready["database"], "ok", "{unready}");
    // A download says to come back later, and names neither the bucket nor its address.
    set_phase(stack.database_url(), "httpd", "2.4.68", "candidate", None);
    let away = stack.client.get(&url).send().await.unwrap();
    assert_eq!(away.status(), 503);
    assert_eq!(away.headers()["retry-after"], "30");
    let page = away.text().await.unwrap();
    assert!(page.contains("does not answer now"), "{page}");
    let endpoint = garage.datastore_env("").into_iter().find(|(name, _)| name == "AWS_ENDPOINT_URL").unwrap().1;
    assert!(!page.contains("trusted-releases/blobs") && !page.contains(&endpoint), "no internals: {page}");
    set_phase(stack.database_url(), "httpd", "2.4.68", "draft", None);
    let failed = stack.api().put_file("httpd/2.4.68", "NEW.txt", b"new bytes, nowhere to go".to_vec().into()).await;
    let failure = failed.expect_err("no bucket, no upload");
    assert_eq!(
        trel_client::Failure::status_of(&failure),
        Some(reqwest::StatusCode::SERVICE_UNAVAILABLE),
        "{failure:#}"
    );
    let staged: Vec<_> =
        files_in(&stack.state.path().join("tmp")).into_iter().filter(|(name, _)| name.contains("upload-")).collect();
    assert!(staged.is_empty(), "nothing is left staged: {staged:?}");
    let failure = api.commit_upload(&session.id).await.expect_err("no bucket, no commit");
    assert_eq!(
        trel_client::Failure::status_of(&failure),
        Some(reqwest::StatusCode::SERVICE_UNAVAILABLE),
        "{failure:#}"
    );
    let kept = api.upload(&session.id).await.unwrap().expect("the session outlives a failed commit");
    assert_eq!(kept.offset, late.len() as u64, "with all its bytes");
    let listed = api.files("httpd/2.4.68").await.unwrap();
    assert!(
        listed.files.iter().all(|f| !["NEW.txt", "LATE.txt"].contains(&f.path.as_str())),
        "no row without its bytes"
    );

    garage.resume();
    let committed = api.commit_upload(&session.id).await.unwrap();
    assert_eq!(committed.size, late.len() as u64);
    assert_eq!(objects(&garage), 4, "the late file is in the bucket");
    let staged: Vec<_> = files_in(&stack.state.path().join("uploads")).into_iter().collect();
    assert!(staged.is_empty(), "the session's file is gone once its blob is stored: {staged:?}");
    let ready = stack.client.get(stack.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "ready again");
}

/// 1 GiB goes up as a multipart upload and comes back, by ranges across part boundaries and
/// whole, byte for byte (SQLite only: the database does nothing different here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_goes_up_in_parts_and_comes_back_by_range() {
    let Some(garage) = Garage::start("big") else { return };
    let options = StackOptions { runners: 0, datastore_env: garage.datastore_env(""), ..Default::default() };
    let Some(stack) = Stack::start(Backend::Sqlite, options).await else { return };
    stack.release("big", "1.0", false).await;
    let big = Big::generate();
    let (_, took) = big.put(&stack.client, &stack.url("/api/v1/releases/big/1.0/files/big-1.0.bin"), &stack.jwt).await;
    eprintln!("1 GiB into the datastore and on into Garage in {took:.1?}: {:.0} MiB/s", 1024.0 / took.as_secs_f64());
    assert_eq!(objects(&garage), 1);

    set_phase(stack.database_url(), "big", "1.0", "candidate", None);
    let url = stack.url("/candidate/big/1.0/big-1.0.bin");
    let part = PART;
    for (from, len) in [(0, 4096), (part - 100, 200), (3 * part + 1, part + 7), (BIG - 1000, 1000)] {
        let range = format!("bytes={from}-{}", from + len - 1);
        let response = stack.client.get(&url).header("Range", &range).send().await.unwrap();
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(response.bytes().await.unwrap(), big.bytes(from, len), "{range}");
    }
    let mut whole = stack.client.get(&url).send().await.unwrap();
    assert_eq!(whole.headers()["content-length"], BIG.to_string().as_str());
    let mut hasher = openssl::sha::Sha512::new();
    let mut got = 0;
    while let Some(chunk) = whole.chunk().await.unwrap() {
        got += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(got, BIG);
    assert_eq!(hex::encode(hasher.finish()), big.sha512, "the whole file comes back as it went up");
}
