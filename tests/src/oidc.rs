//! The tests' OpenID provider: the certified npm package `oidc-provider` (`tests/oidc/`), run on
//! loopback by Node.js with its own RSA key, clients and accounts, and ID tokens got from it
//! the way a relying party gets them: the authorization code flow with PKCE, the provider's
//! redirects and cookies followed by hand, the code redeemed at its token endpoint.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

use crate::{Process, free_port};

/// `tests/oidc`, with its `node_modules` installed (`npm ci`, once, saying so) on a machine
/// that does not have them yet, so that `cargo test` on a fresh clone runs these tests.
fn package_dir() -> PathBuf {
    static READY: std::sync::Once = std::sync::Once::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc");
    READY.call_once(|| {
        if dir.join("node_modules/oidc-provider/package.json").exists() {
            return;
        }
        eprintln!("oidc-provider (the tests' OpenID provider) is missing: npm ci --prefix {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("npm runs (Node.js and npm are needed for the OpenID Connect tests)");
        assert!(status.success(), "cannot install oidc-provider: run `npm ci --prefix {}`", dir.display());
    });
    dir
}

/// A client of the provider.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
    pub redirect_uri: String,
    /// Lifetime of its ID tokens, in seconds.
    pub id_token_ttl: u64,
}

impl Client {
    pub fn new(id: &str, redirect_uri: &str) -> Self {
        Self {
            id: id.to_owned(),
            secret: format!("{id}-secret"),
            redirect_uri: redirect_uri.to_owned(),
            id_token_ttl: 300,
        }
    }
}

/// A running provider.
#[derive(Debug)]
pub struct Provider {
    process: Process,
    pub port: u16,
    config: PathBuf,
    _dir: tempfile::TempDir,
    clients: Vec<Client>,
}

impl Provider {
    /// Starts a provider signing with a new key named `kid`, with `clients`, and `accounts`
    /// (account id → the claims of its ID tokens).
    pub fn start(kid: &str, clients: &[Client], accounts: Value) -> Self {
        Self::start_on(free_port(), kid, clients, accounts)
    }

    /// Like [`Provider::start`], on `port` (its issuer known before it starts).
    pub fn start_on(port: u16, kid: &str, clients: &[Client], accounts: Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("provider.json");
        let process = Self::spawn(port, &config, kid, clients, &accounts);
        Self { process, port, config, _dir: dir, clients: clients.to_vec() }
    }

    fn spawn(port: u16, config: &Path, kid: &str, clients: &[Client], accounts: &Value) -> Process {
        let clients: Vec<Value> = clients
            .iter()
            .map(|c| {
                json!({"client_id": c.id, "client_secret": c.secret, "redirect_uris": [c.redirect_uri],
                       "id_token_ttl": c.id_token_ttl})
            })
            .collect();
        std::fs::write(config, json!({"kid": kid, "clients": clients, "accounts": accounts}).to_string()).unwrap();
        let package = package_dir();
        let mut child = Command::new("node")
            .arg(package.join("provider.js"))
            .arg(port.to_string())
            .arg(config)
            .current_dir(&package)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()) // it warns that it prefers Node.js 22
            .spawn()
            .expect("node runs (Node.js is needed for the OpenID Connect tests)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the OpenID provider did not start");
        // It prints notices as it goes: a closed pipe would end it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Process { child, name: "oidc-provider".to_owned() }
    }

    /// Stops the provider and starts it again on the same port with a new key `kid`: a key
    /// rotation (the old key is no longer published).
    pub fn rotate(&mut self, kid: &str) {
        self.process.kill();
        let accounts: Value =
            serde_json::from_str::<Value>(&std::fs::read_to_string(&self.config).unwrap()).unwrap()["accounts"].clone();
        self.process = Self::spawn(self.port, &self.config, kid, &self.clients, &accounts);
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The authorization URL of `client` for `account` (`None`: the provider asks for it),
    /// with a PKCE challenge of `verifier`.
    pub fn authorize_url(&self, client: &Client, account: Option<&str>, verifier: &str, state: &str) -> String {
        let challenge = pkce_challenge(verifier);
        let nonce = format!("n-{state}");
        let mut query = vec![
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", state),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        query.extend(account.map(|account| ("login_hint", account)));
        reqwest::Url::parse_with_params(&format!("{}/auth", self.issuer()), &query).unwrap().to_string()
    }

    /// An ID token of `client` for `account`, through the whole code flow.
    pub async fn id_token(&self, client_id: &str, account: &str) -> String {
        let client = self.clients.iter().find(|c| c.id == client_id).expect("a client of this provider").clone();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let verifier = format!("verifier-{}-{}", account, crate::free_port()).repeat(2);
        let mut url = self.authorize_url(&client, Some(account), &verifier, "s");
        // As a browser keeps them: by name and path, sent where their path covers the request's.
        let mut cookies: Vec<(String, String, String)> = Vec::new();
        let code = loop {
            if let Some(query) = url.strip_prefix(&format!("{}?", client.redirect_uri)) {
                break query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("code="))
                    .unwrap_or_else(|| panic!("no code in {url}"))
                    .to_owned();
            }
            let path = url.strip_prefix(&self.issuer()).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
            let cookie = cookies
                .iter()
                .filter(|(_, _, scope)| path.starts_with(scope.as_str()))
                .map(|(k, v, _)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let response = http.get(&url).header("cookie", cookie).send().await.unwrap();
            for set in response.headers().get_all("set-cookie") {
                let set = set.to_str().unwrap();
                let mut parts = set.split(';').map(str::trim);
                let (name, value) = parts.next().unwrap().split_once('=').unwrap();
                let attributes: Vec<&str> = parts.collect();
                let scope = attributes.iter().find_map(|a| a.strip_prefix("path=")).unwrap_or("/").to_owned();
                cookies.retain(|(k, _, p)| !(k == name && *p == scope));
                if !value.is_empty() && !attributes.iter().any(|a| a.contains("1970")) {
                    cookies.push((name.to_owned(), value.to_owned(), scope));
                }
            }
            assert!(
                response.status().is_redirection(),
                "{url}: {} {}",
                response.status(),
                response.text().await.unwrap()
            );
            let next = response.headers()["location"].to_str().unwrap().to_owned();
            url = if next.starts_with('/') { format!("{}{next}", self.issuer()) } else { next };
        };
        let tokens: Value = http
            .post(format!("{}/token", self.issuer()))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens["id_token"].as_str().unwrap_or_else(|| panic!("no ID token: {tokens}")).to_owned()
    }
}

/// The S256 PKCE challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    use openssl::sha::sha256;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// The claims of a JWT, unverified (for the tests to look at).
pub fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
