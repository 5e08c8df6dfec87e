//! The OpenAPI document, generated from the handlers' annotations and the wire types, and a
//! browsable page rendered from it on the server (no script, nothing fetched from elsewhere).

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    paths(
        super::tokens::create, super::tokens::list, super::tokens::delete, super::tokens::jwt, super::tokens::me,
        super::directory::committees, super::directory::committee, super::directory::projects, super::directory::project,
        super::directory::policy, super::directory::set_policy, super::directory::releases,
        super::releases::create, super::releases::show, super::releases::revisions, super::releases::revision,
        super::releases::events, super::releases::checks,
        super::tasks::list, super::tasks::show, super::tasks::cancel, super::tasks::retry,
        super::files::put, super::files::post_revision, super::files::delete, super::files::list,
        super::keys::add, super::keys::ownership_statement, super::keys::import, super::keys::list, super::keys::keys_file, super::keys::delete,
        super::admin::create_committee, super::admin::create_project, super::admin::create_product,
        super::admin::create_user, super::admin::set_membership, super::admin::import_asf, super::admin::create_runner,
        crate::download::download,
    ),
    components(schemas(shared_models::ErrorBody, shared_models::checks::CheckResult, shared_models::checks::ChecksReport)),
    modifiers(&BearerAuth),
    tags(
        (name = "authentication", description = "Personal access tokens and JWTs"),
        (name = "directory", description = "Committees, projects and their releases (public)"),
        (name = "releases", description = "Composing releases: files and revisions"),
        (name = "keys", description = "OpenPGP signing keys and KEYS files"),
        (name = "tasks", description = "Work queued for the runners"),
        (name = "admin", description = "Administration (admins only)"),
        (name = "downloads", description = "The public download tree"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// `GET /api/openapi.json`
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(ApiDoc::openapi())
}

/// `GET /api/docs`: every operation with its parameters, body and responses.
pub async fn page(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let spec = serde_json::to_value(ApiDoc::openapi()).map_err(AppError::internal)?;
    let html = crate::web::render_api_docs(&spec, &state.config.public_url())?;
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}
