//! The OpenAPI document, generated from the handlers' annotations and the wire types, and a
//! browsable page rendered from it on the server (no script, nothing fetched from elsewhere).

use std::sync::LazyLock;

use actix_web::dev::ResourceDef;
use actix_web::{HttpResponse, web};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Trusted Releases",
        description = "Stage release candidates, check every artifact, vote, and publish exactly the voted bytes.\n\n\
            Authenticate with `Authorization: Bearer <jwt>`; get a JWT from `POST /api/v1/jwt` with a personal access token. \
            Errors are `{\"error\": \"<code>\", \"message\": \"...\"}` with the status code saying what kind of error it is.",
        license(name = "Apache-2.0")
    ),
    // The API's own paths are collected from its routes (see `collect`); the download tree is
    // served by guarded routes outside `/api`, described here.
    paths(crate::download::download, crate::api::catalog::whole),
    components(schemas(shared_models::ErrorBody, shared_models::checks::CheckResult, shared_models::checks::ChecksReport)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "authentication", description = "Personal access tokens and JWTs"),
        (name = "directory", description = "Committees, projects and their releases (public)"),
        (name = "releases", description = "Composing releases: files and revisions"),
        (name = "vote", description = "The vote and what follows it: resolve, release, archive, revoke (docs/LIFECYCLE.md)"),
        (name = "keys", description = "OpenPGP signing keys and KEYS files"),
        (name = "tasks", description = "Work queued for the runners"),
        (name = "audit", description = "The audit log's signed checkpoints (docs/AUDIT.md)"),
        (name = "advisories", description = "A project's CVE records and their OSV export (docs/CVES.md)"),
        (name = "admin", description = "Administration (admins only)"),
        (name = "downloads", description = "The public download tree"),
        (name = "runner", description = "The runner protocol (RUNNER-PROTOCOL.md): runner tokens only"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "runner",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A runner token (`POST /api/v1/admin/runners`)"))
                    .build(),
            ),
        );
    }
}

/// The document and the route table, collected once from the routes.
static COLLECTED: LazyLock<Collected> = LazyLock::new(collect);

struct Collected {
    document: OpenApiDocument,
    routes: Vec<Route>,
}

/// One URL pattern of the API as the router has it, and the methods it answers.
struct Route {
    pattern: ResourceDef,
    /// Segments without a parameter: where two patterns match, the more literal one is meant.
    literals: usize,
    methods: Vec<&'static str>,
}

/// The OpenAPI document of what [`super::routes`] registers, completed by [`complete`].
pub fn openapi() -> &'static OpenApiDocument {
    &COLLECTED.document
}

fn collect() -> Collected {
    let (_, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(utoipa_actix_web::scope("/api").configure(super::routes))
        .split_for_parts();
    let routes = document
        .paths
        .paths
        .iter_mut()
        .filter(|(pattern, _)| pattern.starts_with("/api/"))
        .map(|(pattern, item)| {
            // The handler's own part comes without its regular expression; a release path
            // parameter takes the rest of the URL.
            let pattern =
                pattern.strip_suffix("/{path}").map_or_else(|| pattern.clone(), |p| format!("{p}/{{path:.+}}"));
            let literals = pattern.split('/').filter(|s| !s.is_empty() && !s.starts_with('{')).count();
            let methods = operations_mut(item).into_iter().map(|(method, _)| method).collect();
            Route { pattern: ResourceDef::new(pattern), literals, methods }
        })
        .collect();
    complete(&mut document);
    Collected { document, routes }
}

/// What the handlers' annotations leave implicit, made explicit the same way everywhere:
/// URL templates without the router's regular expressions, the product spelling of release
/// URLs as operations of their own, and the errors every operation of a kind can answer.
fn complete(document: &mut OpenApiDocument) {
    let paths = std::mem::take(&mut document.paths.paths);
    for (pattern, mut item) in paths {
        let template = template_of(&pattern);
        if template.starts_with("/api/v1/releases/{project}/{product}/") {
            for (_, operation) in operations_mut(&mut item) {
                for_product(operation);
            }
        }
        for (_, operation) in operations_mut(&mut item) {
            describe_path_parameters(operation);
            add_common_responses(operation);
        }
        document.paths.paths.insert(template, item);
    }
}

/// `/releases/{project:[a-z][a-z0-9-]*}/x` → `/releases/{project}/x`.
fn template_of(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '{' {
            continue;
        }
        // The name, then skip a `:regex` up to the brace that closes this one.
        let mut depth = 1;
        let mut in_regex = false;
        for c in chars.by_ref() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ':' if depth == 1 => in_regex = true,
                _ => {}
            }
            if depth == 0 {
                out.push('}');
                break;
            }
            if !in_regex {
                out.push(c);
            }
        }
    }
    out
}

fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
    .collect()
}

/// The operation under `/releases/{project}/{product}/{version}…`: its own id, and the
/// `product` parameter.
fn for_product(operation: &mut Operation) {
    if let Some(id) = operation.operation_id.as_mut() {
        id.push_str("_of_product");
    }
    let product = ParameterBuilder::new()
        .name("product")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("A product of the project (the main product's releases omit this segment)"))
        .schema(Some(Ref::from_schema_name("Name")))
        .build();
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let at = parameters.iter().position(|p| p.name == "project").map_or(0, |i| i + 1);
    parameters.insert(at, product);
}

/// Path parameters by name have one grammar everywhere: names, versions, release paths.
fn describe_path_parameters(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if !matches!(parameter.parameter_in, ParameterIn::Path) {
            continue;
        }
        let schema: Option<RefOr<Schema>> = match parameter.name.as_str() {
            "project" | "product" | "committee" => Some(Ref::from_schema_name("Name").into()),
            "version" => Some(Ref::from_schema_name("Version").into()),
            // One segment per parameter, as OpenAPI has it; folders are plain `/` in the URL.
            "path" => Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(shared_models::RELEASE_PATH_SEGMENT_PATTERN))
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .into(),
            ),
            "fingerprint" => {
                Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[0-9A-Fa-f]{32,64}$")).into())
            }
            _ => None,
        };
        if let Some(schema) = schema {
            parameter.schema = Some(schema);
        }
    }
}

/// The errors that come from the request's shape or its credentials rather than from the
/// operation: a malformed name in the URL (400) or one that names nothing (404), a body that
/// is not JSON (400), too large (413), of another type (415) or not valid (422), and a missing
/// or refused credential (401, 403).
fn add_common_responses(operation: &mut Operation) {
    let has_path_parameters =
        operation.parameters.iter().flatten().any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_query = operation.parameters.iter().flatten().any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.keys().any(|media| media.starts_with("application/json")));
    // Which schemes the operation names; an empty requirement means "anonymous works too".
    let requirements: Vec<usize> = operation
        .security
        .iter()
        .flatten()
        .map(|requirement| {
            serde_json::to_value(requirement).ok().and_then(|v| v.as_object().map(|o| o.len())).unwrap_or(0)
        })
        .collect();
    let secured = requirements.iter().any(|schemes| *schemes > 0);
    let optional = requirements.contains(&0);
    let mut add = |status: &str, description: &str| {
        if !operation.responses.responses.contains_key(status) {
            let response =
                ResponseBuilder::new().description(description).content("application/json", error_body()).build();
            operation.responses.responses.insert(status.to_owned(), RefOr::T(response));
        }
    };
    if has_path_parameters || has_query || json_body {
        add(
            "400",
            "The URL or the body is malformed (`invalid_name`, `invalid_path`, `invalid_query`, `invalid_json`, …)",
        );
    }
    if has_path_parameters {
        add("404", "Nothing is there, or it is not visible to you");
    }
    if json_body {
        add("413", "The body is larger than the limit");
        add("415", "The body is not `application/json`");
        add("422", "The body is JSON but not a valid request (`invalid_request`, …)");
    }
    if secured {
        add("401", "No credential (where one is required), or one that is expired or revoked");
        if !optional {
            add("403", "The credential does not allow this");
        }
    }
}

fn error_body() -> Content {
    Content::new(Some(Ref::from_schema_name("ErrorBody")))
}

/// The methods the API answers at `path` (a request path, as the router sees it): what a
/// 405's `Allow` header lists. Empty when no route's pattern matches.
pub fn methods_at(path: &str) -> Vec<&'static str> {
    let matching: Vec<&Route> = COLLECTED.routes.iter().filter(|route| route.pattern.is_match(path)).collect();
    let most_literal = matching.iter().map(|route| route.literals).max().unwrap_or(0);
    let mut methods: Vec<&'static str> = matching
        .into_iter()
        .filter(|route| route.literals == most_literal)
        .flat_map(|route| route.methods.iter().copied())
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// `GET /api/openapi.json`
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(openapi())
}

/// `GET /api/docs`: every operation with its parameters, body and responses.
pub async fn page(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let spec = serde_json::to_value(openapi()).map_err(AppError::internal)?;
    let html = crate::web::render_api_docs(&spec, &state.config.public_url())?;
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}
