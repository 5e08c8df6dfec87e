//! Verify by hash: "were these exact bytes voted on and published, and by whom?" From a
//! SHA-512, every release revision that holds the bytes, with its phase, its vote, the keys
//! that signed the file and where it is downloaded, as far as the asker may read.

use shared_models::api::{Phase, Verification, VerifiedFile, VoteOutcome};

use super::releases;
use crate::auth::{Principal, authz};
use crate::db::queries::releases as rq;
use crate::db::{DbConnection, read_transaction};
use crate::error::{AppError, AppResult};
use crate::url;

/// Most revisions listed for one blob.
const MAX_FOUND: i64 = 1000;

/// `GET /api/v1/verify/sha512/{hex}`.
pub fn verify(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    sha512: &str,
    public_url: &str,
) -> AppResult<Verification> {
    let sha512 = sha512.to_ascii_lowercase();
    if sha512.len() != 128 || !sha512.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::bad_request("invalid_digest", "A SHA-512 is 128 hex digits."));
    }
    read_transaction(conn, |c| {
        let Some(blob) = rq::blob_by_sha512(c, &sha512)? else {
            return Ok(Verification {
                sha512: sha512.clone(),
                known: false,
                size: None,
                sha256: None,
                found: Vec::new(),
            });
        };
        let mut found = Vec::new();
        for (release_id, seq, path) in rq::holders_of(c, &blob.sha256, MAX_FOUND)? {
            let ctx = rq::context_by_id(c, release_id)?;
            let phase = ctx.release.phase()?;
            if !authz::may_read_release(viewer, &ctx.committee.name, &ctx.project.name, phase) {
                continue;
            }
            let voted = ctx.release.vote_revision == Some(seq) && ctx.release.vote_round > 0;
            let published = ctx.release.published_revision == Some(seq) && phase != Phase::Draft;
            let signers = crate::db::queries::keys::signers_of(c, release_id, &path)?;
            // Only the latest revision is what the release's URLs serve.
            let url = (seq == ctx.release.revision).then(|| releases::download_path(&ctx)).flatten().map(|dir| {
                format!(
                    "{public_url}{dir}{}",
                    url::path(&path.split('/').collect::<Vec<_>>(), false).trim_start_matches('/')
                )
            });
            found.push(VerifiedFile {
                release: ctx.key(),
                phase,
                revision: seq,
                path,
                voted,
                vote_outcome: if voted {
                    ctx.release.vote_outcome.as_deref().map(VoteOutcome::parse).transpose()?
                } else {
                    None
                },
                manifest_digest: if voted { ctx.release.manifest_digest.clone() } else { None },
                published,
                signers,
                url,
            });
        }
        Ok(Verification {
            sha512: sha512.clone(),
            known: !found.is_empty(),
            size: (!found.is_empty()).then(|| u64::try_from(blob.size).unwrap_or_default()),
            sha256: (!found.is_empty()).then(|| blob.sha256.clone()),
            found,
        })
    })
}
