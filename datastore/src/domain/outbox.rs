//! The outbox: what the platform tells the world is made from the event log, after the fact,
//! by one dispatcher. Each event, in audit-chain order, becomes the mails its template kinds
//! call for (the vote announcement, the result, the release announcement), one delivery per
//! webhook of its project that subscribes to it, and (with `DATASTORE_SVN_DIST`) the commit of
//! a release to the dist repository or its move to the archive; each of those is a task that
//! runners do.
//!
//! The domain functions that change a release only record their event; they neither know nor
//! wait for mail and webhooks. The dispatcher's place in the log (`outbox_cursor`) moves in the
//! same transaction as the deliveries it makes, and every delivery has a dedupe key (the event
//! and its destination) that the database keeps unique: an event is never dispatched twice,
//! whatever crashes, and a crash loses none. Appends to the chain are serialised by its head
//! row, so events become visible in `seq` order and the cursor never skips one.

use chrono::SecondsFormat;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sha::sha256;
use openssl::sign::Signer;
use serde_json::{Value, json};
use shared_models::api::{ProjectPolicy, Tally};
use shared_models::outbound::{DeliveryState, DeliveryStatus, MailKind, WebhookEvent};
use shared_models::runner::{MailOrder, TaskKind, TaskStatus, WebhookOrder};

use super::mail::{self, MailContext, MailFile, MailResult, MailUrls, MailVote, Named};
use super::releases;
use super::tasks::order_task;
use crate::auth::Principal;
use crate::db::models::{EventRow, NewDelivery, TaskRow, WebhookRow};
use crate::db::queries::releases::ReleaseContext;
use crate::db::queries::{auth as users, events, outbound as q, releases as rq, tasks};
use crate::db::{DbConnection, now_ms, to_time, write_transaction};
use crate::error::{AppError, AppResult};
use crate::url;

/// Events handled per transaction.
const BATCH: i64 = 200;
/// Attempts at a mail or a webhook delivery (with the queue's backoff, 10 s doubling to 10 min:
/// about an hour in all).
const MAX_ATTEMPTS: i32 = 10;

/// What the dispatcher needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public URL, for links in mails and webhook bodies.
    pub public_url: String,
    /// The sender of mails (`DATASTORE_MAIL_FROM`); without it no mail is made.
    pub mail_from: Option<String>,
    /// Whether releases go to the dist repository over SVN (`DATASTORE_SVN_DIST`).
    pub svn_dist: bool,
}

impl Settings {
    /// Checks the sender: `Name <address>` or `address`, one line, with a domain.
    pub fn new(public_url: String, mail_from: Option<String>) -> Result<Self, String> {
        if let Some(from) = mail_from.as_deref() {
            let address = from.rsplit_once('<').map_or(from, |(_, a)| a.trim_end_matches('>')).trim();
            let valid =
                address.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if !valid || from.contains(['\r', '\n']) {
                return Err(format!(
                    "{from:?} is not a mail address (`Name <releases@example.org>` or `releases@example.org`)"
                ));
            }
        }
        Ok(Self { public_url, mail_from, svn_dist: false })
    }

    /// The domain of Message-IDs: the public URL's host.
    fn message_domain(&self) -> &str {
        let rest = self.public_url.split("://").nth(1).unwrap_or(&self.public_url);
        let host = rest.split(['/', ':']).next().unwrap_or("");
        if host.is_empty() { "trusted-releases.invalid" } else { host }
    }
}

/// What one pass made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dispatched {
    pub events: usize,
    pub mails: usize,
    pub webhooks: usize,
}

/// Dispatches the events recorded since the last pass (at most [`BATCH`] of them).
pub fn dispatch(conn: &mut DbConnection, settings: &Settings) -> AppResult<Dispatched> {
    // Most passes find nothing new: two reads, and no write lock taken every second for that.
    if events::head_seq(conn)? <= q::cursor(conn)? {
        return Ok(Dispatched::default());
    }
    write_transaction(conn, |c| {
        let last = q::lock_cursor(c)?;
        let batch = events::after(c, last, BATCH)?;
        let mut made = Dispatched { events: batch.len(), ..Dispatched::default() };
        for event in &batch {
            let (mails, hooks) = dispatch_event(c, settings, event)?;
            made.mails += mails;
            made.webhooks += hooks;
        }
        if let Some(seq) = batch.last().and_then(|e| e.seq) {
            q::set_cursor(c, seq)?;
        }
        Ok(made)
    })
}

fn dispatch_event(conn: &mut DbConnection, settings: &Settings, event: &EventRow) -> AppResult<(usize, usize)> {
    let Some(release_id) = event.release_id else { return Ok((0, 0)) };
    let seq = event.seq.ok_or_else(|| AppError::internal("an event after the cursor has no place in the chain"))?;
    let mail_kind = MailKind::ALL.into_iter().find(|k| k.event() == event.action);
    let hook_event = WebhookEvent::parse(&event.action).ok();
    let svn = settings.svn_dist
        && matches!(event.action.as_str(), "release.published" | "release.archived" | "release.revoked");
    if mail_kind.is_none() && hook_event.is_none() && !svn {
        return Ok((0, 0));
    }
    let ctx = rq::context_by_id(conn, release_id)?;
    if svn {
        super::svn::dispatch(conn, event, seq, &ctx)?;
    }
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let mut mails = 0;
    if let Some(kind) = mail_kind {
        mails += usize::from(queue_mail(conn, settings, event, seq, &ctx, &details, kind)?);
    }
    let mut hooks = 0;
    if let Some(hook_event) = hook_event {
        for hook in q::webhooks(conn, ctx.project.id)? {
            // A webhook hears of what happens after it was registered, not of what the
            // dispatcher had not reached yet when it was.
            if hook.created_seq < seq && subscribed(&hook, hook_event) {
                hooks += usize::from(queue_webhook(conn, settings, event, seq, &ctx, &details, &hook)?);
            }
        }
    }
    Ok((mails, hooks))
}

fn subscribed(hook: &WebhookRow, event: WebhookEvent) -> bool {
    serde_json::from_str::<Vec<WebhookEvent>>(&hook.events).is_ok_and(|events| events.contains(&event))
}

/// Queues the mail of `kind` for `event`, unless the release's vote has no list, the server no
/// sender, or the mail was made before. True if it was queued.
fn queue_mail(
    conn: &mut DbConnection,
    settings: &Settings,
    event: &EventRow,
    seq: i64,
    ctx: &ReleaseContext,
    details: &Value,
    kind: MailKind,
) -> AppResult<bool> {
    let dedupe = format!("mail:{seq}");
    if q::delivery_exists(conn, &dedupe)? {
        return Ok(false);
    }
    // A vote's mails go where its snapshot says (a podling's second stage: the Incubator's list).
    let policy = match (kind, &ctx.release.vote_policy) {
        (MailKind::Vote | MailKind::Result, Some(_)) => super::votes::snapshot(&ctx.release)?,
        _ => super::checks::policy_of(ctx)?,
    };
    let Some(list) = policy.mailing_list.clone() else {
        tracing::info!(release = %ctx.key(), mail = %kind, "no mailing list in the policy: no mail");
        return Ok(false);
    };
    let Some(from) = settings.mail_from.clone() else {
        tracing::warn!(release = %ctx.key(), mail = %kind, "DATASTORE_MAIL_FROM is not set: no mail");
        return Ok(false);
    };
    let context = mail_context(conn, settings, &event.actor, ctx, details, kind, &policy)?;
    let (subject, body) = mail::effective(conn, ctx.project.id, kind)?;
    let rendered = match mail::render(&subject, &body, &context) {
        Ok(rendered) => rendered,
        Err(e) => {
            // Saved templates render against a sample; one that fails on a real release is
            // the platform's to fix, and the default stands in so the list still hears of it.
            tracing::error!(release = %ctx.key(), mail = %kind, error = %e, "the project's template failed: the default is used");
            let (subject, body) = mail::default_template(kind);
            mail::render(subject, body, &context).map_err(AppError::internal)?
        }
    };
    let message_id = format!("<trl.{seq}.{kind}@{}>", settings.message_domain());
    let in_reply_to = match kind {
        MailKind::Result => q::deliveries_of_release(conn, ctx.release.id, "mail")?
            .into_iter()
            .rev()
            .find(|(d, _)| d.action == MailKind::Vote.event() && d.event_seq < seq)
            .map(|(d, _)| d.message_id),
        MailKind::Vote | MailKind::Announce => None,
    };
    let order = MailOrder {
        from,
        to: vec![list.clone()],
        subject: rendered.subject.clone(),
        body: rendered.body,
        message_id: message_id.clone(),
        in_reply_to,
    };
    let args = serde_json::to_string(&order).map_err(AppError::internal)?;
    let task_id = tasks::enqueue(
        conn,
        &order_task(TaskKind::Mail, ctx.release.id, Some(context.revision), &dedupe, args, MAX_ATTEMPTS),
    )?;
    let delivery = NewDelivery {
        dedupe,
        kind: "mail".to_owned(),
        event_seq: seq,
        action: event.action.clone(),
        webhook_id: None,
        release_id: Some(ctx.release.id),
        task_id,
        recipient: list,
        subject: rendered.subject,
        message_id,
        created_at: now_ms(),
    };
    if !q::insert_delivery(conn, &delivery)? {
        return Err(AppError::internal("a mail delivery appeared under the dispatcher's lock"));
    }
    tracing::info!(release = %ctx.key(), mail = %kind, task.id = task_id, "mail queued");
    Ok(true)
}

/// The announcement a preview's release would send, as `principal` releasing it now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AnnouncementPreview {
    pub subject: String,
    pub body: String,
    /// The list it goes to; `None` when no mail is made (no list in the policy, or no
    /// `DATASTORE_MAIL_FROM`), and `why_not` says which.
    pub to: Option<String>,
    pub why_not: Option<&'static str>,
    /// The project's template does not render, so the default stands in (as when it is sent).
    pub template_error: Option<String>,
}

/// What the release page shows before its Release button: the project's template (or, when it
/// fails, the default, as [`queue_mail`] does) over the latest revision's files at their
/// `/current/` URLs, and where it would go.
pub fn announcement_preview(
    conn: &mut DbConnection,
    settings: &Settings,
    ctx: &ReleaseContext,
    principal: &Principal,
) -> AppResult<AnnouncementPreview> {
    let policy = super::checks::policy_of(ctx)?;
    let details = serde_json::json!({"revision": ctx.release.revision});
    let context = mail_context(conn, settings, principal.actor(), ctx, &details, MailKind::Announce, &policy)?;
    let (subject, body) = mail::effective(conn, ctx.project.id, MailKind::Announce)?;
    let (rendered, template_error) = match mail::render(&subject, &body, &context) {
        Ok(rendered) => (rendered, None),
        Err(e) => {
            let (subject, body) = mail::default_template(MailKind::Announce);
            (mail::render(subject, body, &context).map_err(AppError::internal)?, Some(e))
        }
    };
    let why_not = match (&policy.mailing_list, &settings.mail_from) {
        (None, _) => Some("the project's policy names no mailing list"),
        (_, None) => Some("this server has no DATASTORE_MAIL_FROM"),
        _ => None,
    };
    Ok(AnnouncementPreview {
        subject: rendered.subject,
        body: rendered.body,
        to: policy.mailing_list.clone().filter(|_| why_not.is_none()),
        why_not,
        template_error,
    })
}

/// The person an event names, as mails sign it.
fn actor(conn: &mut DbConnection, uid: &str) -> AppResult<Named> {
    if uid == "system" {
        return Ok(Named { name: "system".to_owned(), display_name: "The Trusted Releases platform".to_owned() });
    }
    let name = users::find_user(conn, uid)?.and_then(|u| u.name).unwrap_or_else(|| uid.to_owned());
    Ok(Named { name: uid.to_owned(), display_name: name })
}

fn mail_context(
    conn: &mut DbConnection,
    settings: &Settings,
    actor_uid: &str,
    ctx: &ReleaseContext,
    details: &Value,
    kind: MailKind,
    policy: &ProjectPolicy,
) -> AppResult<MailContext> {
    let public = &settings.public_url;
    let key = ctx.key();
    // The revision the event is about: the one voted on, or the one published.
    let revision = details
        .get("revision")
        .and_then(Value::as_i64)
        .or(ctx.release.vote_revision)
        .ok_or_else(|| AppError::internal("a vote or release event without its revision"))?;
    let stage = if kind == MailKind::Announce { "current" } else { "candidate" };
    let files = releases::revision_files(conn, ctx, revision)?
        .into_iter()
        .map(|(path, blob)| {
            let segments: Vec<&str> = [stage].into_iter().chain(key.split('/')).chain(path.split('/')).collect();
            MailFile {
                url: format!("{public}{}", url::path(&segments, false)),
                path,
                size: blob.size,
                sha512: blob.sha512,
            }
        })
        .collect();
    let digest = details
        .get("manifest_digest")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| ctx.release.manifest_digest.clone())
        .unwrap_or_default();
    let vote = (kind == MailKind::Vote).then(|| MailVote {
        round: details.get("round").and_then(Value::as_i64).unwrap_or(ctx.release.vote_round),
        hours: details.get("hours").and_then(Value::as_u64).and_then(|h| u32::try_from(h).ok()).unwrap_or(0),
        min_vote_hours: policy.min_vote_hours,
        binding_plus_required: details
            .get("binding_plus_required")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(policy.binding_plus_required),
        closes_at: details
            .get("closes_at")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc().to_rfc2822())
            .unwrap_or_default(),
        expedited_reason: details.get("expedited_reason").and_then(Value::as_str).map(str::to_owned),
    });
    let result = (kind == MailKind::Result).then(|| MailResult {
        outcome: details.get("outcome").and_then(Value::as_str).unwrap_or("").to_owned(),
        tally: details.get("tally").and_then(|t| serde_json::from_value::<Tally>(t.clone()).ok()).unwrap_or_default(),
        reason: details.get("reason").and_then(Value::as_str).map(str::to_owned),
    });
    Ok(MailContext {
        project: Named { name: ctx.project.name.clone(), display_name: ctx.project.display_name.clone() },
        committee: Named { name: ctx.committee.name.clone(), display_name: ctx.committee.display_name.clone() },
        product: ctx.product.name.clone(),
        version: ctx.release.version.clone(),
        release: key.clone(),
        revision,
        manifest_digest: digest,
        files,
        urls: MailUrls {
            candidate: format!("{public}/candidate/{key}/"),
            current: format!("{public}/current/{key}/"),
            keys: format!("{public}/api/v1/committees/{}/KEYS", ctx.committee.name),
            api: format!("{public}/api/v1/releases/{key}"),
        },
        vote,
        result,
        actor: actor(conn, actor_uid)?,
        mailing_list: policy.mailing_list.clone().unwrap_or_default(),
    })
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &str) -> AppResult<String> {
    let key = PKey::hmac(secret.as_bytes()).map_err(AppError::internal)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(AppError::internal)?;
    let mac = signer.sign_oneshot_to_vec(body.as_bytes()).map_err(AppError::internal)?;
    Ok(format!("sha256={}", hex::encode(mac)))
}

fn queue_webhook(
    conn: &mut DbConnection,
    settings: &Settings,
    event: &EventRow,
    seq: i64,
    ctx: &ReleaseContext,
    details: &Value,
    hook: &WebhookRow,
) -> AppResult<bool> {
    let dedupe = format!("webhook:{}:{seq}", hook.id);
    if q::delivery_exists(conn, &dedupe)? {
        return Ok(false);
    }
    let delivery_id = hex::encode(&sha256(dedupe.as_bytes())[..16]);
    let key = ctx.key();
    let body = json!({
        "delivery": delivery_id,
        "event": event.action,
        "event_seq": seq,
        "event_hash": event.hash,
        "at": to_time(event.at).to_rfc3339_opts(SecondsFormat::Millis, true),
        "actor": event.actor,
        "project": ctx.project.name,
        "release": key,
        "phase": ctx.release.phase,
        "url": format!("{}/api/v1/releases/{key}", settings.public_url),
        "details": details,
    })
    .to_string();
    let order = WebhookOrder {
        url: hook.url.clone(),
        delivery_id: delivery_id.clone(),
        event: event.action.clone(),
        signature: signature(&hook.secret, &body)?,
        body,
    };
    let args = serde_json::to_string(&order).map_err(AppError::internal)?;
    let task_id =
        tasks::enqueue(conn, &order_task(TaskKind::Webhook, ctx.release.id, None, &dedupe, args, MAX_ATTEMPTS))?;
    let delivery = NewDelivery {
        dedupe,
        kind: "webhook".to_owned(),
        event_seq: seq,
        action: event.action.clone(),
        webhook_id: Some(hook.id),
        release_id: Some(ctx.release.id),
        task_id,
        recipient: hook.url.clone(),
        subject: delivery_id.clone(),
        message_id: delivery_id,
        created_at: now_ms(),
    };
    if !q::insert_delivery(conn, &delivery)? {
        return Err(AppError::internal("a webhook delivery appeared under the dispatcher's lock"));
    }
    Ok(true)
}

/// Where a delivery is, from its task.
pub fn state(task: &TaskRow) -> AppResult<DeliveryState> {
    let status = match task.status()? {
        TaskStatus::Queued => DeliveryStatus::Pending,
        TaskStatus::Leased => DeliveryStatus::Sending,
        TaskStatus::Completed => DeliveryStatus::Delivered,
        TaskStatus::Failed | TaskStatus::Cancelled => DeliveryStatus::Failed,
    };
    let retrying = status == DeliveryStatus::Pending && task.attempt > 0;
    Ok(DeliveryState {
        status,
        task: task.id,
        attempts: task.attempt,
        max_attempts: task.max_attempts,
        last_error: if status == DeliveryStatus::Delivered { None } else { task.error.clone() },
        created_at: to_time(task.created_at),
        finished_at: task.finished_at.map(to_time),
        next_attempt_at: retrying.then(|| to_time(task.not_before)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_sender_is_checked() {
        for good in ["releases@example.org", "Trusted Releases <releases@example.org>"] {
            assert!(Settings::new(String::new(), Some(good.to_owned())).is_ok(), "{good}");
        }
        for bad in ["releases", "a@b", "<@example.org>", "x@example.org\r\nBcc: y@example.org"] {
            assert!(Settings::new(String::new(), Some(bad.to_owned())).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ids_use_the_public_host() {
        let settings = |url: &str| Settings::new(url.to_owned(), None).unwrap();
        assert_eq!(settings("https://releases.apache.org").message_domain(), "releases.apache.org");
        assert_eq!(settings("http://127.0.0.1:8080/base").message_domain(), "127.0.0.1");
        assert_eq!(settings("").message_domain(), "trusted-releases.invalid");
    }
}
