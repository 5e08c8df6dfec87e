//! Server-rendered HTML (tera templates compiled into the binary): error pages, download
//! listings and the API reference.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use serde::Serialize;

use crate::error::{AppError, AppResult};

mod api_docs;

pub use api_docs::render_api_docs;

static TEMPLATES: LazyLock<tera::Tera> = LazyLock::new(|| {
    let mut tera = tera::Tera::default();
    let templates = [
        ("base.html", include_str!("../../templates/base.html")),
        ("error.html", include_str!("../../templates/error.html")),
        ("listing.html", include_str!("../../templates/listing.html")),
        ("api_docs.html", include_str!("../../templates/api_docs.html")),
        ("index.html", include_str!("../../templates/index.html")),
    ];
    // The templates are part of the binary and covered by tests: a broken one is a build defect.
    #[expect(clippy::expect_used, reason = "templates are compiled in and tested")]
    tera.add_raw_templates(templates).expect("the built-in templates parse");
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
    let context = tera::Context::from_serialize(context).map_err(AppError::internal)?;
    TEMPLATES.render(template, &context).map_err(|e| AppError::internal(format!("rendering {template}: {e:?}")))
}

/// The HTML page of an error. Never fails: a page that cannot be rendered degrades to text.
pub fn error_page(status: StatusCode, code: &str, message: &str, location: Option<&str>) -> String {
    let context = serde_json::json!({
        "status": status.as_u16(),
        "reason": status.canonical_reason().unwrap_or(""),
        "code": code,
        "message": message,
        "location": location,
    });
    tera::Context::from_value(context)
        .ok()
        .and_then(|c| TEMPLATES.render("error.html", &c).ok())
        .unwrap_or_else(|| format!("{} {code}: {message}", status.as_u16()))
}

#[derive(Debug, serde::Deserialize)]
pub struct IndexQuery {
    q: Option<String>,
    offset: Option<u64>,
}

/// `/`: the project directory, with search.
pub async fn index(
    state: actix_web::web::Data<crate::state::AppState>,
    query: actix_web::web::Query<IndexQuery>,
) -> AppResult<actix_web::HttpResponse> {
    let IndexQuery { q, offset } = query.into_inner();
    let page = crate::domain::page::Page { limit: Some(100), offset };
    let term = q.clone();
    let list = state
        .db
        .run(move |c| crate::domain::directory::list_projects(c, term.as_deref(), page))
        .await
        .map_err(AppError::as_html)?;
    let html = render(
        "index.html",
        &serde_json::json!({"projects": list.projects, "q": q.unwrap_or_default(), "next": list.page.next}),
    )
    .map_err(AppError::as_html)?;
    Ok(actix_web::HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
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
pub fn wants_html(req: &actix_web::HttpRequest) -> bool {
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("text/html")
}

/// Whether a request asks for JSON.
pub fn wants_json(req: &actix_web::HttpRequest) -> bool {
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
}
