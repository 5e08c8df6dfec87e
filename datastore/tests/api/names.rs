//! File names are decoded once, in Unicode NFC, and encoded once, the same way everywhere:
//! whatever a name holds (`+`, `%`, `#`, `?`, spaces, UTF-8), the file an upload stored is the
//! one every listing links to and every download and redirect serves.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    odd_names_round_trip_through_every_door,
    escapes_decode_once_and_slashes_stay_separators,
    multipart_names_are_read_exactly,
    multipart_revisions_are_bounded,
    redirects_encode_what_they_point_at,
);

/// Characters a name may hold, the awkward ones many times over.
const ALPHABET: &[&str] = &[
    "a", "b", "z", "0", "9", "-", "_", ".", "~", " ", "+", "%", "#", "?", "&", "=", ";", "'", "(", ")", "[", "]", "!",
    "$", "*", ",", "@", ":", "%2F", "%25", "%2B", "ü", "é", "日本", "📦", "e\u{301}",
];

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Names(u64);

impl Names {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound as u64).unwrap()
    }

    fn segment(&mut self) -> String {
        let mut segment = String::from("n"); // never a leading dot
        for _ in 0..1 + self.next(8) {
            segment.push_str(ALPHABET[self.next(ALPHABET.len())]);
        }
        segment
    }

    /// A path of one or two segments.
    fn path(&mut self) -> String {
        if self.next(3) == 0 { format!("{}/{}", self.segment(), self.segment()) } else { self.segment() }
    }
}

fn nfc(name: &str) -> String {
    shared_models::ReleasePath::normalise(name).unwrap().to_string()
}

/// Each segment percent-encoded, as a client builds the URL.
fn encoded(path: &str) -> String {
    path.split('/').map(datastore::url::encode_segment).collect::<Vec<_>>().join("/")
}

async fn setup(app: &TestApp) -> String {
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "1.0").await;
    rm
}

async fn odd_names_round_trip_through_every_door(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let rm = setup(&app).await;
    let mut generator = Names(0x5EED_1234_ABCD);
    let mut names = std::collections::BTreeMap::new();
    while names.len() < 40 {
        let path = generator.path();
        // A name can't be a file and a folder at once; keep the first of such pairs.
        let stored = nfc(&path);
        if names.keys().any(|k: &String| k.starts_with(&format!("{stored}/")) || stored.starts_with(&format!("{k}/"))) {
            continue;
        }
        names.insert(stored, path);
    }
    for (stored, typed) in &names {
        let url = app.url(&format!("/api/v1/releases/httpd/1.0/files/{}", encoded(typed)));
        let (status, body) = app.send(app.client.put(url).bearer_auth(&rm).body(stored.clone().into_bytes())).await;
        assert_eq!(status, StatusCode::CREATED, "{typed:?}: {body}");
        assert_eq!(body["path"].as_str(), Some(stored.as_str()), "{typed:?} is stored decoded once, in NFC");
    }
    let (_, files) = app.send(app.client.get(app.url("/api/v1/releases/httpd/1.0/files")).bearer_auth(&rm)).await;
    let listed: Vec<&str> = files["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(listed, names.keys().map(String::as_str).collect::<Vec<_>>());

    // Public now: follow every link of the HTML listings, folder by folder, to its bytes.
    app.set_phase("httpd", "1.0", "candidate");
    let mut reached = Vec::new();
    let mut folders = vec![(app.url("/candidate/httpd/1.0/"), String::new())];
    while let Some((folder, prefix)) = folders.pop() {
        let html = app.client.get(&folder).header("Accept", "text/html").send().await.unwrap().text().await.unwrap();
        let json: Value =
            app.client.get(&folder).header("Accept", "application/json").send().await.unwrap().json().await.unwrap();
        let entries = json["entries"].as_array().unwrap();
        for href in html.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()) {
            if href == "../" || href.starts_with('/') || href.contains("://") {
                continue; // the way up, and the page's own navigation
            }
            let target = reqwest::Url::parse(&folder).unwrap().join(&href.replace("&amp;", "&")).unwrap();
            let name = entries
                .iter()
                .find(|e| datastore::url::encode_segment(e["name"].as_str().unwrap()) == href.trim_end_matches('/'))
                .unwrap_or_else(|| panic!("the link {href} of {folder} names no entry of {json}"))["name"]
                .as_str()
                .unwrap()
                .to_owned();
            if href.ends_with('/') {
                folders.push((target.to_string(), format!("{prefix}{name}/")));
                continue;
            }
            let response = app.client.get(target.clone()).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{target}");
            let path = format!("{prefix}{name}");
            assert_eq!(response.text().await.unwrap(), path, "{target} serves the bytes of {path:?}");
            reached.push(path);
        }
    }
    reached.sort();
    assert_eq!(reached, names.keys().cloned().collect::<Vec<_>>(), "every file is reached by its link, once");
}

async fn escapes_decode_once_and_slashes_stay_separators(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let rm = setup(&app).await;
    let put = |raw: &str| app.client.put(app.url(&format!("/api/v1/releases/httpd/1.0/files/{raw}"))).bearer_auth(&rm);
    let (_, body) = app.send(put("plus%2Bsign.txt").body("1")).await;
    assert_eq!(body["path"], "plus+sign.txt");
    let (_, body) = app.send(put("100%25.txt").body("2")).await;
    assert_eq!(body["path"], "100%.txt");
    let (_, body) = app.send(put("a%252Fb").body("3")).await;
    assert_eq!(body["path"], "a%2Fb", "one decoding, not two");
    app.expect_error(put("a%2Fb").body("4"), StatusCode::BAD_REQUEST, "invalid_path").await;
    // The same name through the multipart door is the same file (replaced, not added).
    let form = reqwest::multipart::Form::new()
        .percent_encode_noop()
        .part("plus+sign.txt", reqwest::multipart::Part::bytes(b"5".to_vec()));
    let (status, body) = app
        .send(app.client.post(app.url("/api/v1/releases/httpd/1.0/revisions")).bearer_auth(&rm).multipart(form))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, files) = app.send(app.client.get(app.url("/api/v1/releases/httpd/1.0/files")).bearer_auth(&rm)).await;
    let paths: Vec<&str> = files["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["100%.txt", "a%2Fb", "plus+sign.txt"]);
    // Deceptive names are refused at the door.
    app.expect_error(put("invoice%E2%80%AEgpj.exe").body("x"), StatusCode::BAD_REQUEST, "invalid_path").await;
    app.expect_error(put("a%E2%80%8Bb.txt").body("x"), StatusCode::BAD_REQUEST, "invalid_path").await;
    // A version with `+` is found however the URL spells it.
    app.release(&rm, "httpd", "3+build.5").await;
    for spelling in ["3+build.5", "3%2Bbuild.5"] {
        let (status, body) =
            app.send(app.client.get(app.url(&format!("/api/v1/releases/httpd/{spelling}"))).bearer_auth(&rm)).await;
        assert_eq!((status, body["version"].as_str()), (StatusCode::OK, Some("3+build.5")), "{spelling}");
    }
}

/// Sends a hand-made multipart body whose one part has this `Content-Disposition`.
async fn raw_multipart(app: &TestApp, jwt: &str, disposition: &str) -> (StatusCode, Value) {
    let body = format!("--XyZ\r\nContent-Disposition: {disposition}\r\n\r\nbytes\r\n--XyZ--\r\n");
    app.send(
        app.client
            .post(app.url("/api/v1/releases/httpd/1.0/revisions"))
            .bearer_auth(jwt)
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(body),
    )
    .await
}

async fn multipart_names_are_read_exactly(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let rm = setup(&app).await;
    for bad in [
        r#"form-data; name="a"b.txt""#,
        r#"form-data; name="a\"b.txt""#,
        r#"form-data; name="a.txt"x"#,
        r#"form-data; name*=UTF-8''a.txt"#,
        r#"form-data; filename="a.txt""#,
    ] {
        let (status, body) = raw_multipart(&app, &rm, bad).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_multipart")),
            "{bad}: {body}"
        );
    }
    let (status, body) = raw_multipart(&app, &rm, r#"form-data; name="dir/ok.txt"; filename="ok.txt""#).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, files) = app.send(app.client.get(app.url("/api/v1/releases/httpd/1.0/files")).bearer_auth(&rm)).await;
    assert_eq!(files["files"].as_array().unwrap().len(), 1, "only the good part was stored: {files}");
    assert_eq!(files["files"][0]["path"], "dir/ok.txt");
}

async fn multipart_revisions_are_bounded(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| {
        c.max_upload_bytes = 1 << 20;
        c.max_revision_bytes = 3 << 20;
        c.max_revision_files = 5;
    })
    .await
    else {
        return;
    };
    let rm = setup(&app).await;
    let post = |form: reqwest::multipart::Form| {
        app.client.post(app.url("/api/v1/releases/httpd/1.0/revisions")).bearer_auth(&rm).multipart(form)
    };
    let form = |parts: usize, size: usize| {
        (0..parts).fold(reqwest::multipart::Form::new(), |form, i| {
            form.part(format!("f{i}.bin"), reqwest::multipart::Part::bytes(vec![1u8; size]))
        })
    };
    // Four parts of the per-file maximum: each is allowed, together they are not.
    app.expect_error(post(form(4, 1 << 20)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Six empty parts: more files than one revision may add.
    app.expect_error(post(form(6, 0)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let (status, body) = app.send(post(form(5, 1000))).await;
    assert_eq!(status, StatusCode::CREATED, "within both bounds: {body}");
    let (_, revisions) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/1.0/revisions")).bearer_auth(&rm)).await;
    assert_eq!(revisions["revisions"].as_array().unwrap().len(), 2, "the refused requests made no revision");
    let (tmp, _) = app.stored_files();
    assert!(tmp.is_empty(), "{tmp:?}");
}

async fn redirects_encode_what_they_point_at(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let rm = setup(&app).await;
    let folder = "we?ird #dir ü";
    let (status, _) = app.upload(&rm, "httpd/1.0", &format!("{}/f.txt", encoded(folder)), b"x".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    app.set_phase("httpd", "1.0", "candidate");
    let response = app.client.get(app.url(&format!("/candidate/httpd/1.0/{}", encoded(folder)))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()[LOCATION], format!("/candidate/httpd/1.0/{}/", encoded(folder)));
    // Released: its candidate URLs follow it, whatever the rest of the path holds.
    app.set_phase("httpd", "1.0", "current");
    for (tail, location) in [
        (encoded(folder) + "/f.txt", format!("/current/httpd/1.0/{}/f.txt", encoded(folder))),
        ("a%0D%0Ab".to_owned(), "/current/httpd/1.0/a%0D%0Ab".to_owned()),
        ("tab%09x%3F".to_owned(), "/current/httpd/1.0/tab%09x%3F".to_owned()),
    ] {
        let response = app.client.get(app.url(&format!("/candidate/httpd/1.0/{tail}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY, "{tail}");
        assert_eq!(response.headers()[LOCATION], location.as_str(), "{tail}");
    }
}
