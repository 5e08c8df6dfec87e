//! A typed client of the datastore's `/api/v1`, with the request and response types of
//! `shared-models`: a personal access token is exchanged for a JWT, which is exchanged again
//! when it expires (one retry on 401). `trel` is built on it, and the end-to-end tests use it
//! for the steps they take as users do (their hostile requests are built by hand).

use std::sync::Mutex;

use anyhow::{Context, anyhow};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared_models::ErrorBody;
use shared_models::api::{
    AddKeysRequest, Ballot, CastVoteRequest, Committee, CreateCommitteeRequest, CreateProjectRequest,
    CreateReleaseRequest, CreateUploadRequest, CreateUserRequest, FileList, FileUploaded, JwtRequest, JwtResponse,
    KeyImportReport, KeyList, MailTally, Project, Release, ResolveRequest, RevokeRequest, SetMembershipRequest,
    StartVoteRequest, UploadSession, User, Verification, VoteStatus,
};
use shared_models::checks::ChecksReport;

/// What went wrong, with the exit code the CLI reports for it.
#[derive(Debug)]
pub enum Failure {
    /// The server refused the credentials (401) or the action (403).
    Auth(String),
    /// The server answered with an error.
    Api { status: StatusCode, body: ErrorBody },
    /// The server could not be reached, or answered what no client understands.
    Network(String),
    /// The command line names something that cannot be (a malformed name, a missing file).
    Usage(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth(message) | Self::Network(message) | Self::Usage(message) => f.write_str(message),
            Self::Api { status, body } => write!(f, "{} ({}, {})", body.message, status.as_u16(), body.error),
        }
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// The status of an error the datastore answered (other than 401 and 403), if `error` is one.
    pub fn status_of(error: &anyhow::Error) -> Option<StatusCode> {
        match error.downcast_ref::<Failure>() {
            Some(Failure::Api { status, .. }) => Some(*status),
            _ => None,
        }
    }
}

/// Who the client is.
#[derive(Clone)]
pub struct Credentials {
    pub uid: String,
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("uid", &self.uid).field("token", &"…").finish()
    }
}

/// `project/version` or `project/product/version`, checked before it goes into a URL.
pub fn release_path(release: &str) -> Result<&str, Failure> {
    let parts: Vec<&str> = release.split('/').collect();
    let names_ok = match parts.as_slice() {
        [project, version] => {
            shared_models::Name::parse(project).is_ok() && shared_models::Version::parse(version).is_ok()
        }
        [project, product, version] => {
            shared_models::Name::parse(project).is_ok()
                && shared_models::Name::parse(product).is_ok()
                && shared_models::Version::parse(version).is_ok()
        }
        _ => false,
    };
    if names_ok {
        Ok(release)
    } else {
        Err(Failure::Usage(format!("{release:?} is not a release: write project/version or project/product/version")))
    }
}

/// A committee's name, checked before it goes into a URL.
fn committee_name(committee: &str) -> anyhow::Result<shared_models::Name> {
    shared_models::Name::parse(committee)
        .map_err(|e| anyhow!(Failure::Usage(format!("{committee:?} is not a committee's name: {e}"))))
}

/// `/api/v1/uploads/{id}`, for an id as the datastore makes them (read back from a file of
/// trel's, so checked before it goes into a URL).
fn session_path(id: &str) -> Result<String, Failure> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(format!("/api/v1/uploads/{id}"))
    } else {
        Err(Failure::Usage(format!("{id:?} is not an upload session's id")))
    }
}

/// A client of one datastore.
pub struct Client {
    base: String,
    http: reqwest::Client,
    credentials: Option<Credentials>,
    jwt: Mutex<Option<String>>,
}

fn network(e: reqwest::Error) -> anyhow::Error {
    anyhow!(Failure::Network(format!("the datastore did not answer: {e}")))
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(base: &str, credentials: Option<Credentials>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("trel/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            // A server or middlebox that goes silent fails the request instead of hanging it.
            .read_timeout(std::time::Duration::from_secs(120))
            .build()
            .context("cannot make an HTTP client")?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http, credentials, jwt: Mutex::new(None) })
    }

    /// A client that sends `jwt` (already issued, as a web session or a test has one), and has
    /// no token to exchange for another when it expires.
    pub fn with_jwt(base: &str, jwt: &str) -> anyhow::Result<Self> {
        let client = Self::new(base, None)?;
        *client.jwt.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(jwt.to_owned());
        Ok(client)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn cached_jwt(&self) -> Option<String> {
        self.jwt.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// A fresh JWT for the credentials (none without credentials).
    async fn refresh(&self) -> anyhow::Result<Option<String>> {
        let Some(credentials) = &self.credentials else { return Ok(None) };
        let request = JwtRequest { uid: credentials.uid.clone(), token: credentials.token.clone() };
        let response = self.http.post(self.url("/api/v1/jwt")).json(&request).send().await.map_err(network)?;
        let answer: JwtResponse = decode(response).await?;
        *self.jwt.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(answer.jwt.clone());
        Ok(Some(answer.jwt))
    }

    /// Sends the request `build` makes, authenticated; once more with a new JWT on a 401.
    pub async fn send(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> anyhow::Result<Response> {
        let jwt = match self.cached_jwt() {
            Some(jwt) => Some(jwt),
            None => self.refresh().await?,
        };
        let with = |jwt: &Option<String>| {
            let request = build(&self.http);
            match jwt {
                Some(jwt) => request.bearer_auth(jwt),
                None => request,
            }
        };
        let response = with(&jwt).send().await.map_err(network)?;
        if response.status() == StatusCode::UNAUTHORIZED && self.credentials.is_some() {
            let jwt = self.refresh().await?;
            return with(&jwt).send().await.map_err(network);
        }
        Ok(response)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<T> {
        let url = self.url(path);
        let response = self
            .send(|http| {
                let request = http.request(method.clone(), &url);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        decode(response).await
    }

    /// Checks the credentials: a JWT is issued for them.
    pub async fn login(&self) -> anyhow::Result<()> {
        self.refresh().await?.ok_or_else(|| anyhow!("no credentials to log in with")).map(drop)
    }

    pub async fn create_release(&self, request: &CreateReleaseRequest) -> anyhow::Result<Release> {
        self.json(Method::POST, "/api/v1/releases", Some(request)).await
    }

    pub async fn release(&self, release: &str) -> anyhow::Result<Release> {
        let release = release_path(release)?;
        self.json(Method::GET, &format!("/api/v1/releases/{release}"), None::<&()>).await
    }

    pub async fn checks(&self, release: &str) -> anyhow::Result<ChecksReport> {
        let release = release_path(release)?;
        self.json(Method::GET, &format!("/api/v1/releases/{release}/checks"), None::<&()>).await
    }

    pub async fn verify(&self, sha512: &str) -> anyhow::Result<Verification> {
        self.json(Method::GET, &format!("/api/v1/verify/sha512/{sha512}"), None::<&()>).await
    }

    pub async fn start_vote(&self, release: &str, request: &StartVoteRequest) -> anyhow::Result<VoteStatus> {
        let release = release_path(release)?;
        self.json(Method::POST, &format!("/api/v1/releases/{release}/vote/start"), Some(request)).await
    }

    pub async fn cast_vote(&self, release: &str, request: &CastVoteRequest) -> anyhow::Result<Ballot> {
        let release = release_path(release)?;
        self.json(Method::POST, &format!("/api/v1/releases/{release}/votes"), Some(request)).await
    }

    /// The text a ballot's detached signature covers.
    pub async fn ballot_text(&self, release: &str, value: i32) -> anyhow::Result<String> {
        let url = self.url(&format!("/api/v1/releases/{}/votes/ballot-text?value={value}", release_path(release)?));
        let response = self.send(|http| http.get(&url)).await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        response.text().await.map_err(network)
    }

    pub async fn votes(&self, release: &str) -> anyhow::Result<VoteStatus> {
        let release = release_path(release)?;
        self.json(Method::GET, &format!("/api/v1/releases/{release}/votes"), None::<&()>).await
    }

    /// Records the ballots of a vote thread (an mbox) and answers the tally they make.
    pub async fn tally_mail(&self, release: &str, mbox: Vec<u8>) -> anyhow::Result<MailTally> {
        let url = self.url(&format!("/api/v1/releases/{}/vote/tally", release_path(release)?));
        let response =
            self.send(|http| http.post(&url).header("Content-Type", "application/mbox").body(mbox.clone())).await?;
        decode(response).await
    }

    pub async fn resolve(&self, release: &str, request: &ResolveRequest) -> anyhow::Result<Release> {
        let release = release_path(release)?;
        self.json(Method::POST, &format!("/api/v1/releases/{release}/resolve"), Some(request)).await
    }

    pub async fn publish(&self, release: &str) -> anyhow::Result<Release> {
        let release = release_path(release)?;
        self.json(Method::POST, &format!("/api/v1/releases/{release}/release"), None::<&()>).await
    }

    pub async fn revoke(&self, release: &str, request: &RevokeRequest) -> anyhow::Result<Release> {
        let release = release_path(release)?;
        self.json(Method::POST, &format!("/api/v1/releases/{release}/revoke"), Some(request)).await
    }

    pub async fn add_keys(&self, request: &AddKeysRequest) -> anyhow::Result<KeyImportReport> {
        self.json(Method::POST, "/api/v1/keys", Some(request)).await
    }

    pub async fn committee_keys(&self, committee: &str) -> anyhow::Result<KeyList> {
        let committee = committee_name(committee)?;
        self.json(Method::GET, &format!("/api/v1/committees/{committee}/keys"), None::<&()>).await
    }

    pub async fn files(&self, release: &str) -> anyhow::Result<FileList> {
        let release = release_path(release)?;
        self.json(Method::GET, &format!("/api/v1/releases/{release}/files"), None::<&()>).await
    }

    /// Stores `bytes` as the file `path` of a draft, in one request: a new revision. Each of the
    /// path's segments is percent-encoded (a release path may hold `?` or `#`).
    pub async fn put_file(&self, release: &str, path: &str, bytes: bytes::Bytes) -> anyhow::Result<FileUploaded> {
        let path = shared_models::ReleasePath::normalise(path)
            .map_err(|e| anyhow!(Failure::Usage(format!("{path:?} is not a release path: {e}"))))?;
        let files = self.url(&format!("/api/v1/releases/{}/files", release_path(release)?));
        let mut url = reqwest::Url::parse(&files).map_err(|e| anyhow!(Failure::Usage(format!("{files}: {e}"))))?;
        url.path_segments_mut()
            .map_err(|()| anyhow!(Failure::Usage(format!("{files} cannot hold a path"))))?
            .extend(path.as_str().split('/'));
        let response = self.send(|http| http.put(url.clone()).body(bytes.clone())).await?;
        decode(response).await
    }

    /// Imports a KEYS file into a committee's keys.
    pub async fn import_keys(&self, committee: &str, keys: bytes::Bytes) -> anyhow::Result<KeyImportReport> {
        let committee = committee_name(committee)?;
        let url = self.url(&format!("/api/v1/committees/{committee}/keys/import"));
        let response = self.send(|http| http.post(&url).body(keys.clone())).await?;
        decode(response).await
    }

    pub async fn create_committee(&self, request: &CreateCommitteeRequest) -> anyhow::Result<Committee> {
        self.json(Method::POST, "/api/v1/admin/committees", Some(request)).await
    }

    pub async fn create_project(&self, request: &CreateProjectRequest) -> anyhow::Result<Project> {
        self.json(Method::POST, "/api/v1/admin/projects", Some(request)).await
    }

    pub async fn create_user(&self, request: &CreateUserRequest) -> anyhow::Result<User> {
        self.json(Method::POST, "/api/v1/admin/users", Some(request)).await
    }

    pub async fn set_membership(&self, request: &SetMembershipRequest) -> anyhow::Result<User> {
        self.json(Method::PUT, "/api/v1/admin/memberships", Some(request)).await
    }

    /// A JWT for `uid`'s personal access `token`.
    pub async fn jwt_for(&self, uid: &str, token: &str) -> anyhow::Result<String> {
        let request = JwtRequest { uid: uid.to_owned(), token: token.to_owned() };
        let response = self.http.post(self.url("/api/v1/jwt")).json(&request).send().await.map_err(network)?;
        decode::<JwtResponse>(response).await.map(|answer| answer.jwt)
    }

    /// Exchanges a CI job's OpenID Connect ID token for a trusted publisher's token of `project`
    /// (`POST /api/v1/trusted-publishing/exchange`); each ID token is exchanged once.
    pub async fn exchange_id_token(
        &self,
        token: &str,
        project: &str,
    ) -> anyhow::Result<shared_models::publishing::ExchangeResponse> {
        let request =
            shared_models::publishing::ExchangeRequest { token: token.to_owned(), project: project.to_owned() };
        let url = self.url("/api/v1/trusted-publishing/exchange");
        let response = self.http.post(url).json(&request).send().await.map_err(network)?;
        decode(response).await
    }

    pub async fn open_upload(&self, release: &str, request: &CreateUploadRequest) -> anyhow::Result<UploadSession> {
        let release = release_path(release)?;
        self.json(Method::POST, &format!("/api/v1/releases/{release}/uploads"), Some(request)).await
    }

    /// The session `id`, or `None` if the server no longer has it (committed, deleted, expired).
    pub async fn upload(&self, id: &str) -> anyhow::Result<Option<UploadSession>> {
        let url = self.url(&session_path(id)?);
        let response = self.send(|http| http.get(&url)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(response).await.map(Some)
    }

    /// Sends `bytes` from `offset` on; the new offset.
    pub async fn append(&self, id: &str, offset: u64, bytes: bytes::Bytes) -> anyhow::Result<u64> {
        let url = self.url(&session_path(id)?);
        let response = self
            .send(|http| {
                http.patch(&url)
                    .header("Upload-Offset", offset.to_string())
                    .header("Content-Type", "application/offset+octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        let reached = response.headers().get("upload-offset").and_then(|v| v.to_str().ok()?.parse().ok());
        reached.ok_or_else(|| anyhow!(Failure::Network("the datastore's answer names no Upload-Offset".into())))
    }

    pub async fn commit_upload(&self, id: &str) -> anyhow::Result<FileUploaded> {
        self.json(Method::POST, &format!("{}/commit", session_path(id)?), None::<&()>).await
    }
}

/// The body of a successful answer, or the error it names.
async fn decode<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
    if !response.status().is_success() {
        return Err(error_of(response).await);
    }
    let url = response.url().clone();
    response.json().await.map_err(|e| anyhow!(Failure::Network(format!("{url} answered what trel cannot read: {e}"))))
}

async fn error_of(response: Response) -> anyhow::Error {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|_| ErrorBody {
        error: "unexpected".into(),
        message: format!("the datastore answered {status}: {}", text.chars().take(200).collect::<String>()),
        details: None,
    });
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return anyhow!(Failure::Auth(format!("{} ({})", body.message, status.as_u16())));
    }
    anyhow!(Failure::Api { status, body })
}
