//! A release's SBOM as data: its components, the diff against the previous release's SBOM, and
//! the known vulnerabilities of its components (`docs/SBOM.md`).

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use shared_models::sbom::ReleaseSbom;
use utoipa::IntoParams;

use crate::auth::Viewer;
use crate::blob;
use crate::domain::releases::ReleaseRef;
use crate::domain::sbom::{self, Located};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SbomQuery {
    /// The SBOM file, when the release has several (default: the first `*.cdx.json` or
    /// `bom.json` of its latest revision, in path order).
    #[param(max_length = 1024)]
    pub file: Option<String>,
}

/// The release's CycloneDX SBOM as data: its components; what was added, removed, or changed
/// version or licence since the SBOM of the newest earlier release of the product whose vote
/// passed; and the known vulnerabilities of its components in the operator's OSV data. As
/// public as the release.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_sbom", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path), SbomQuery),
    responses((status = 200, body = ReleaseSbom),
        (status = 404, description = "no such release, or it has no SBOM", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_sbom`: the SBOM is not CycloneDX JSON, or too large", body = shared_models::ErrorBody),
        (status = 503, description = "the blob store cannot be reached, or too many SBOMs are being read (`Retry-After`)", body = shared_models::ErrorBody)))]
#[get("/sbom")]
pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
    query: web::Query<SbomQuery>,
) -> AppResult<web::Json<ReleaseSbom>> {
    let file = query.into_inner().file;
    let _slot = state.sbom_reads.clone().try_acquire_owned().map_err(|_| {
        AppError::unavailable(format!(
            "{} SBOMs are being read now, the most this server reads at once; try again in a moment.",
            crate::state::MAX_SBOM_READS
        ))
    })?;
    let (current, previous) =
        state.db.run(move |c| sbom::locate(c, viewer.principal(), &release, file.as_deref())).await?;
    sbom::require_readable(&current)?;
    let bytes = read(&state, &current).await?;
    let previous = match previous {
        Some(located) if sbom::require_readable(&located).is_ok() => {
            let bytes = read(&state, &located).await?;
            Some((located, bytes))
        }
        _ => None,
    };
    let osv = state.osv.clone();
    let described = web::block(move || sbom::describe(&current, &bytes, previous, &osv))
        .await
        .map_err(|e| AppError::internal(format!("the SBOM work stopped: {e}")))??;
    Ok(web::Json(described))
}

async fn read(state: &AppState, located: &Located) -> AppResult<bytes::Bytes> {
    let reader = state.blobs.open_blob(&located.file.sha256).await.map_err(|e| blob::failure("reading an SBOM", &e))?;
    reader.read_all().await.map_err(|e| blob::failure("reading an SBOM", &e))
}

/// Have a runner make a CycloneDX SBOM of one of the draft's source archives from the
/// dependency manifests it holds (Cargo.lock, package-lock.json, pom.xml, requirements.txt,
/// poetry.lock, pyproject.toml, go.sum), each dependency with its package URL. 202 with the
/// task; the SBOM becomes `<archive name>.cdx.json` in a new revision, by you (event
/// `sbom.generated`, or `sbom.generate_failed` with why).
#[utoipa::path(operation_id = "generate_sbom", tag = "releases", request_body = shared_models::sbom::GenerateSbomRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 202, body = shared_models::api::TaskQueued),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, description = "no such release, or no such file in its latest revision", body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase` (not a draft), `generation_running`", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`: the file is not a source archive", body = shared_models::ErrorBody)))]
#[post("/sbom/generate")]
pub async fn generate(
    state: web::Data<AppState>,
    principal: crate::auth::Principal,
    release: ReleaseRef,
    body: web::Json<shared_models::sbom::GenerateSbomRequest>,
) -> AppResult<HttpResponse> {
    let max_bytes = state.config.max_upload_bytes;
    let task = state
        .db
        .run(move |c| crate::domain::sbom_generate::request(c, &principal, &release, &body.file, max_bytes))
        .await?;
    state.wake_runners();
    Ok(HttpResponse::Accepted().json(shared_models::api::TaskQueued { task }))
}
