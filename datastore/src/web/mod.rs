//! Server-rendered HTML (tera templates compiled into the binary): the pages people use
//! (`docs/WEB.md`), error pages, download listings and the API reference.
//!
//! Handlers stay thin: each page calls the same domain functions as the API and hands their
//! results to its template in a context struct of its own. Errors of every page are rendered
//! as HTML by the scope's error handler ([`crate::server::html_errors`]), never by a handler.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::auth::Principal;
use crate::error::{AppError, AppResult};

mod account;
mod admin;
mod api_docs;
mod audit;
mod keys;
mod people;
mod project;
mod release;
mod runners;
pub mod sso;
mod tokens;

pub use api_docs::render_api_docs;

/// The stylesheet and the little JavaScript there is (a copy button), each served under a name
/// that changes with its content, so browsers may keep them for a year.
struct Asset {
    path: String,
    content_type: &'static str,
    body: &'static str,
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    let hashed = |stem: &str, ext: &str, body: &'static str, content_type| Asset {
        path: format!("/static/{stem}.{}.{ext}", &checks::digest::sha256_hex(body.as_bytes())[..16]),
        content_type,
        body,
    };
    [
        hashed("app", "css", include_str!("../../static/app.css"), "text/css; charset=utf-8"),
        hashed("app", "js", include_str!("../../static/app.js"), "text/javascript; charset=utf-8"),
    ]
});

/// Largest form the pages accept (a pasted KEYS file of a big committee fits).
pub const FORM_LIMIT: usize = 2 << 20;

/// The page routes: each path with the handler of each method it answers. One table makes both
/// the router ([`configure`]) and [`PAGES`], which the authorization matrix test walks, so a new
/// page cannot be left out of it.
macro_rules! pages {
    ($($path:literal => { $($method:ident: $handler:path),+ $(,)? }),+ $(,)?) => {
        /// Every page route: its path pattern and the methods it answers.
        pub const PAGES: &[(&str, &[&str])] = &[$(($path, &[$(pages!(@upper $method)),+])),+];

        /// The pages, each wrapped so that its errors are pages too.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            use crate::server::html_errors as html;
            $(cfg.service(web::resource($path).wrap(html())$(.route(web::$method().to($handler)))+);)+
        }
    };
    (@upper get) => { "GET" };
    (@upper post) => { "POST" };
}

pages! {
    "/" => { get: index },
    "/login" => { get: account::login_form, post: account::login },
    "/login/oidc" => { get: sso::start },
    "/login/oidc/callback" => { get: sso::callback },
    "/logout" => { post: account::logout },
    "/signup" => { get: people::signup_form, post: people::signup },
    "/account" => { get: people::account, post: people::account_act },
    "/invitations/{secret}" => { get: people::invitation, post: people::accept_invitation },
    "/admin" => { get: admin::show, post: admin::act },
    "/projects/{project}" => { get: project::show, post: project::act },
    "/committees/{committee}" => { get: keys::committee },
    "/releases/{project}/{version}" => { get: release::show, post: release::act },
    "/releases/{project}/{product}/{version}" => { get: release::show, post: release::act },
    "/keys" => { get: keys::show, post: keys::add },
    "/tokens" => { get: tokens::show, post: tokens::act },
    "/audit" => { get: audit::show },
    "/runners" => { get: runners::show },
    "/static/{name}" => { get: asset },
}

/// `GET /static/{name}`: an asset, by its hashed name only.
async fn asset(name: web::Path<String>) -> AppResult<HttpResponse> {
    let path = format!("/static/{name}");
    let asset = ASSETS
        .iter()
        .find(|a| a.path == path)
        .ok_or_else(|| AppError::not_found("There is no such file; the page that linked it may be out of date."))?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(asset.body))
}

/// Who is at the page, as the header shows them: their uid, and the CSRF token their forms carry.
#[derive(Debug, Clone, Serialize)]
pub struct Visitor {
    pub uid: String,
    pub admin: bool,
    pub csrf: String,
}

impl Visitor {
    pub fn of(principal: Option<&Principal>) -> Option<Self> {
        let principal = principal?;
        let csrf = principal.session.as_ref()?.csrf.clone();
        Some(Self { uid: principal.uid.clone(), admin: principal.is_admin, csrf })
    }
}

/// A page: HTML that browsers and proxies must not keep (it shows what its viewer may see).
pub fn page(template: &str, context: &impl Serialize) -> AppResult<HttpResponse> {
    let html = render(template, context)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .body(html))
}

/// The person at a page that needs a login, if they are logged in (see [`to_login`]).
pub fn logged_in(viewer: crate::auth::Viewer) -> Option<Principal> {
    viewer.0.filter(|principal| principal.session.is_some())
}

/// The login page, which comes back to `here` after the login.
pub fn login_url(here: &str) -> String {
    format!("/login?next={}", crate::url::encode_query_value(here))
}

/// The way to the login page, and back to `here` after it.
pub fn to_login(here: &str) -> HttpResponse {
    see_other(&login_url(here))
}

/// A form whose `action` the page does not have.
pub fn no_such_action(action: &str) -> AppError {
    AppError::bad_request(
        "invalid_form",
        format!("This page has no action {:?}.", action.chars().take(40).collect::<String>()),
    )
}

/// `303 See Other` to a page of this site (the answer to a form that did its work).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Whether `next` (from `?next=` of the login page) is a path on this site: a single leading
/// `/`, no backslash, no control character, so a login can never send someone elsewhere.
pub fn local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048
}

/// The templates compiled in, by name.
const TEMPLATE_SOURCES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("listing.html", include_str!("../../templates/listing.html")),
    ("api_docs.html", include_str!("../../templates/api_docs.html")),
    ("index.html", include_str!("../../templates/index.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("project.html", include_str!("../../templates/project.html")),
    ("release.html", include_str!("../../templates/release.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    ("keys.html", include_str!("../../templates/keys.html")),
    ("committee.html", include_str!("../../templates/committee.html")),
    ("audit.html", include_str!("../../templates/audit.html")),
    ("runners.html", include_str!("../../templates/runners.html")),
    ("signup.html", include_str!("../../templates/signup.html")),
    ("account.html", include_str!("../../templates/account.html")),
    ("invitation.html", include_str!("../../templates/invitation.html")),
    ("admin.html", include_str!("../../templates/admin.html")),
];

/// The names of the templates that are pages of their own (not included by others), which the
/// tests render each at least once.
pub fn page_templates() -> Vec<&'static str> {
    TEMPLATE_SOURCES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !matches!(*name, "base.html" | "macros.html"))
        .collect()
}

/// The templates rendered so far by this process (the tests check that every one was).
/// One flag per template, set at its first render (a store without a lock on every page).
static RENDERED: [std::sync::atomic::AtomicBool; TEMPLATE_SOURCES.len()] =
    [const { std::sync::atomic::AtomicBool::new(false) }; TEMPLATE_SOURCES.len()];

pub fn rendered_templates() -> std::collections::BTreeSet<String> {
    TEMPLATE_SOURCES
        .iter()
        .zip(&RENDERED)
        .filter(|(_, flag)| flag.load(std::sync::atomic::Ordering::Relaxed))
        .map(|((name, _), _)| (*name).to_owned())
        .collect()
}

fn rendered(template: &str) {
    if let Some(index) = TEMPLATE_SOURCES.iter().position(|(name, _)| *name == template) {
        RENDERED[index].store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

static TEMPLATES: LazyLock<tera::Tera> = LazyLock::new(|| {
    let mut tera = tera::Tera::default();
    // The templates are part of the binary and covered by tests: a broken one is a build defect.
    #[expect(clippy::expect_used, reason = "templates are compiled in and tested")]
    tera.add_raw_templates(TEMPLATE_SOURCES.iter().copied()).expect("the built-in templates parse");
    tera.autoescape_on(vec![".html"]);
    tera.set_escape_fn(escape_html);
    tera
});

/// HTML escaping for text and quoted attribute values. Unlike tera's default it leaves `/`
/// alone, so paths read as paths in the page source too.
fn escape_html(input: &str) -> String {
    html_escape::encode_quoted_attribute(input).into_owned()
}

pub fn render(template: &str, context: &impl Serialize) -> AppResult<String> {
    let mut context = tera::Context::from_serialize(context).map_err(AppError::internal)?;
    context.insert("css", ASSETS[0].path.as_str());
    context.insert("js", ASSETS[1].path.as_str());
    let html =
        TEMPLATES.render(template, &context).map_err(|e| AppError::internal(format!("rendering {template}: {e:?}")))?;
    rendered(template);
    Ok(html)
}

/// What an error page knows of its request.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ErrorContext {
    /// The request id of the log lines about it (shown for server errors).
    pub request_id: Option<String>,
    /// The page that failed, to come back to after logging in.
    pub path: Option<String>,
}

/// The HTML page of an error. Never fails: a page that cannot be rendered degrades to text.
pub fn error_page(status: StatusCode, code: &str, message: &str, location: Option<&str>) -> String {
    error_page_for(status, code, message, location, &ErrorContext::default())
}

pub fn error_page_for(
    status: StatusCode,
    code: &str,
    message: &str,
    location: Option<&str>,
    request: &ErrorContext,
) -> String {
    let login = request.path.as_deref().filter(|p| status == StatusCode::UNAUTHORIZED && local_path(p)).map(login_url);
    let context = serde_json::json!({
        "status": status.as_u16(),
        "reason": status.canonical_reason().unwrap_or(""),
        "code": code,
        "message": message,
        "location": location,
        "request_id": request.request_id,
        "login": login,
        "css": ASSETS[0].path.as_str(),
        "js": ASSETS[1].path.as_str(),
    });
    tera::Context::from_value(context)
        .ok()
        .and_then(|c| TEMPLATES.render("error.html", &c).ok())
        .inspect(|_| rendered("error.html"))
        .unwrap_or_else(|| format!("{} {code}: {message}", status.as_u16()))
}

#[derive(Debug, serde::Deserialize)]
pub struct IndexQuery {
    q: Option<String>,
    offset: Option<u64>,
    done: Option<String>,
}

#[derive(Serialize)]
struct FoundRelease {
    #[serde(flatten)]
    release: shared_models::api::ReleaseSummary,
    url: String,
}

#[derive(Serialize)]
struct IndexPage {
    user: Option<Visitor>,
    projects: Vec<shared_models::api::Project>,
    committees: Vec<shared_models::api::Committee>,
    releases: Vec<FoundRelease>,
    keys: Vec<shared_models::api::KeyInfo>,
    q: String,
    next: Option<String>,
    notice: Option<&'static str>,
}

/// `/`: the project directory, with search.
async fn index(
    state: web::Data<crate::state::AppState>,
    viewer: crate::auth::Viewer,
    query: web::Query<IndexQuery>,
) -> AppResult<HttpResponse> {
    let IndexQuery { q, offset, done } = query.into_inner();
    let notice = (done.as_deref() == Some("withdrawn"))
        .then_some("Your consent is withdrawn: your personal data are removed, and your ballots are anonymous.");
    let limit = crate::domain::page::Page { limit: Some(100), offset };
    let term = q.clone();
    let (list, found) = state
        .db
        .run(move |c| -> AppResult<_> {
            let list = crate::domain::directory::list_projects(c, term.as_deref(), limit)?;
            let found = match term.as_deref() {
                Some(term) => crate::domain::directory::search(c, term)?,
                None => crate::domain::directory::Found::default(),
            };
            Ok((list, found))
        })
        .await?;
    let releases = found
        .releases
        .into_iter()
        .map(|release| FoundRelease {
            url: release::url(&release.project, &release.product, &release.version),
            release,
        })
        .collect();
    // The API's `next` link, as the page's.
    let next = list.page.next.map(|_| {
        let offset = list.page.offset + u64::from(list.page.limit);
        match q.as_deref() {
            Some(q) => format!("/?q={}&offset={offset}", crate::url::encode_query_value(q)),
            None => format!("/?offset={offset}"),
        }
    });
    page(
        "index.html",
        &IndexPage {
            user: Visitor::of(viewer.principal()),
            projects: list.projects,
            committees: found.committees,
            releases,
            keys: found.keys,
            q: q.unwrap_or_default(),
            next,
            notice,
        },
    )
}

/// Sizes as people read them: `10.1 MB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Whether a request prefers HTML (a browser) over JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("text/html")
}

/// Whether a request asks for JSON.
pub fn wants_json(req: &HttpRequest) -> bool {
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(10_065_436), "10.1 MB");
    }

    #[test]
    fn error_pages_escape_what_they_show() {
        let page = error_page(StatusCode::NOT_FOUND, "not_found", "<script>x</script>", None);
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>x"), "{page}");
        assert!(page.contains("404 Not Found"));
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for good in ["/", "/releases/tooling/1.0", "/projects/a?x=1"] {
            assert!(local_path(good), "{good}");
        }
        for bad in ["", "https://evil.example", "//evil.example", "/\\evil.example", "relative", "/a\nb", "/\tx"] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }
}
