//! A real datastore on a loopback port, on a fresh database (SQLite or PostgreSQL) and state
//! directory per test, driven over HTTP with reqwest.

#![allow(dead_code, reason = "each test binary uses a different part of the harness")]

use std::net::SocketAddr;

use datastore::config::Config;
use datastore::db::DbConnection;
use datastore::domain::{directory, tokens};
use datastore::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::Uid;
use shared_models::api::{CreateUserRequest, Role};
use testkit::{Backend, TestDatabase};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub state_dir: tempfile::TempDir,
    pub backend: Backend,
    server: actix_web::dev::ServerHandle,
    _db: TestDatabase,
}

impl TestApp {
    /// A datastore on `backend`, or `None` when PostgreSQL tests were explicitly skipped.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let db = TestDatabase::new(backend)?;
        let state_dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(state_dir.path().to_owned(), db.url.clone());
        adjust(&mut config);
        let state = AppState::initialise(config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let server = datastore::server::listen(state.clone(), &address.to_string(), 1, false).unwrap();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Some(Self {
            base: format!("http://{address}"),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            state,
            state_dir,
            backend,
            server: handle,
            _db: db,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs database work directly (setting up what the API cannot, e.g. a phase change).
    pub fn db<T>(&self, work: impl FnOnce(&mut DbConnection) -> T) -> T {
        let mut conn = self.state.db.conn().unwrap();
        work(&mut conn)
    }

    /// Creates a user with the given roles and returns a JWT for them.
    pub fn user(&self, uid: &str, admin: bool, roles: &[(&str, Role)]) -> String {
        self.user_with_email(uid, None, admin, roles)
    }

    /// Like [`TestApp::user`], with a registered email address.
    pub fn user_with_email(&self, uid: &str, email: Option<&str>, admin: bool, roles: &[(&str, Role)]) -> String {
        self.db(|c| {
            let request =
                CreateUserRequest { uid: Uid::parse(uid).unwrap(), name: None, email: email.map(str::to_owned), admin };
            directory::create_user(c, "test", &request).unwrap();
            let user = datastore::db::queries::auth::find_user(c, uid).unwrap().unwrap();
            for (committee, role) in roles {
                let committee = datastore::db::queries::directory::find_committee(c, committee).unwrap().unwrap();
                datastore::db::queries::auth::grant(c, user.id, committee.id, *role).unwrap();
            }
            let token = tokens::create_token(c, "test", uid, "tests").unwrap();
            self.jwt_for(uid, &token)
        })
    }

    /// A JWT for `uid`, as `POST /api/v1/jwt` would issue it for `token`.
    pub fn jwt_for(&self, uid: &str, token: &shared_models::api::TokenCreated) -> String {
        self.state.jwt.issue(uid, token.id, &datastore::auth::secrets::hash(&token.token)).unwrap().0
    }

    /// An admin's JWT (the user `root`, created on first use).
    pub fn admin(&self) -> String {
        let exists = self.db(|c| datastore::db::queries::auth::find_user(c, "root").unwrap().is_some());
        if exists {
            let token = self.db(|c| tokens::create_token(c, "test", "root", "tests").unwrap());
            return self.jwt_for("root", &token);
        }
        self.user("root", true, &[])
    }

    /// Creates a committee and a project of the same name through the admin API.
    pub async fn project(&self, name: &str, podling: bool) {
        let admin = self.admin();
        let (status, body) = self
            .send(self.client.post(self.url("/api/v1/admin/committees")).bearer_auth(&admin).json(&json!({
                "name": name, "display_name": format!("Apache {name}"), "podling": podling
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .send(self.client.post(self.url("/api/v1/admin/projects")).bearer_auth(&admin).json(&json!({
                "name": name, "committee": name, "display_name": format!("Apache {name}")
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Creates a draft release `project/version` as `jwt`.
    pub async fn release(&self, jwt: &str, project: &str, version: &str) -> Value {
        let (status, body) = self
            .send(self.client.post(self.url("/api/v1/releases")).bearer_auth(jwt).json(&json!({
                "project": project, "version": version
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// PUTs a file into a release.
    pub async fn upload(&self, jwt: &str, release: &str, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        self.send(
            self.client.put(self.url(&format!("/api/v1/releases/{release}/files/{path}"))).bearer_auth(jwt).body(bytes),
        )
        .await
    }

    /// `GET path`, with `jwt` as the bearer if given; the status and the JSON body.
    pub async fn get_as(&self, jwt: Option<&str>, path: &str) -> (StatusCode, Value) {
        let request = self.client.get(self.url(path));
        self.send(match jwt {
            Some(jwt) => request.bearer_auth(jwt),
            None => request,
        })
        .await
    }

    /// Sends a request; returns the status and the JSON body (or `null`).
    /// Registers a runner named `name` (as an admin) and returns its token.
    pub async fn runner(&self, name: &str) -> String {
        let request = self.client.post(self.url("/api/v1/admin/runners")).bearer_auth(self.admin());
        let (status, runner) = self.send(request.json(&json!({"name": name}))).await;
        assert_eq!(status, StatusCode::CREATED, "{runner}");
        runner["token"].as_str().unwrap().to_owned()
    }

    /// Claims, as the runner with `token`, up to 64 queued tasks of `kinds` without waiting;
    /// their orders (none on 204).
    pub async fn claim(&self, token: &str, kinds: &[&str]) -> Vec<Value> {
        let (status, claimed) = self
            .send(self.client.post(self.url("/api/runner/v1/claim")).bearer_auth(token).json(&json!({
                "runner": "test", "version": "0", "kinds": kinds, "capacity": 64, "wait_s": 0
            })))
            .await;
        if status == StatusCode::NO_CONTENT {
            return Vec::new();
        }
        assert_eq!(status, StatusCode::OK, "{claimed}");
        claimed["tasks"].as_array().unwrap().clone()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    /// Asserts an error response: the status, and the stable code of the JSON envelope.
    pub async fn expect_error(&self, request: reqwest::RequestBuilder, status: StatusCode, code: &str) -> Value {
        let (got, body) = self.send(request).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "every error explains itself: {body}");
        body
    }

    /// Moves a release to a phase directly in the database, past the vote (the lifecycle API
    /// is tested in `lifecycle.rs`).
    pub fn set_phase(&self, project: &str, version: &str, phase: &str) {
        self.db(|c| {
            let ctx = datastore::db::queries::releases::find_release(c, project, project, version).unwrap().unwrap();
            if phase == "revoked" {
                datastore::db::queries::releases::set_phase(c, ctx.release.id, "current").unwrap();
                assert!(datastore::db::queries::votes::revoke(c, ctx.release.id, "CVE-2099-0001: broken").unwrap());
            } else {
                datastore::db::queries::releases::set_phase(c, ctx.release.id, phase).unwrap();
            }
        });
    }

    /// Sends `GET <raw_path>` exactly as given (HTTP clients normalise `..` and `%2e%2e` away
    /// before sending, which would hide what a hostile client can send) and returns the status.
    pub fn raw_get_status(&self, raw_path: &str) -> u16 {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(stream, "GET {raw_path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// Every file under the state directory's `tmp/` and `blobs/`.
    pub fn stored_files(&self) -> (Vec<String>, Vec<String>) {
        let list = |dir: &str| -> Vec<String> {
            let mut out = Vec::new();
            let mut stack = vec![self.state_dir.path().join(dir)];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    if entry.file_type().unwrap().is_dir() {
                        stack.push(entry.path());
                    } else {
                        out.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            out.sort();
            out
        };
        (list("tmp"), list("blobs"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.server.clone();
        actix_web::rt::spawn(async move { handle.stop(false).await });
    }
}
