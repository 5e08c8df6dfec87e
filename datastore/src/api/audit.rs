//! The audit log's signed checkpoint (`docs/AUDIT.md`).

use actix_web::{get, web};
use shared_models::api::AuditCheckpoint;

use crate::domain::audit;
use crate::error::AppResult;
use crate::state::AppState;

/// The latest signed checkpoint of the audit chain: its length, head hash, and an Ed25519
/// signature anyone can check. Public.
#[utoipa::path(operation_id = "show_audit_checkpoint", tag = "audit",
    responses((status = 200, body = AuditCheckpoint),
        (status = 404, description = "none signed yet", body = shared_models::ErrorBody)))]
#[get("/audit/checkpoint")]
pub async fn checkpoint(state: web::Data<AppState>) -> AppResult<web::Json<AuditCheckpoint>> {
    Ok(web::Json(state.db.run(audit::latest).await?))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(checkpoint);
}
