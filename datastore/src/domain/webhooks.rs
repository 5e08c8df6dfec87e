//! Outgoing webhooks: a project's PMC registers receivers for its lifecycle events; each event
//! becomes one signed delivery per receiver (`domain::outbox`), sent by a runner with retries.
//! The delivery history is the PMC's to read; the secret is shown once, at creation.

use serde_json::json;
use shared_models::outbound::{
    Delivery, DeliveryList, DeliveryState, Mail, MailKind, MailList, NewWebhook, Webhook, WebhookCreated, WebhookEvent,
    WebhookList,
};

use super::outbox;
use super::page::Page;
use super::releases::{self, ReleaseRef};
use crate::auth::{Action, Principal, authz, secrets};
use crate::db::models::{ProjectRow, WebhookRow};
use crate::db::queries::{events, outbound as q, releases as rq};
use crate::db::{DbConnection, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// Most live webhooks per project.
const MAX_WEBHOOKS: usize = 20;
const MAX_URL: usize = 2000;

fn view(row: &WebhookRow) -> AppResult<Webhook> {
    Ok(Webhook {
        id: row.id,
        url: row.url.clone(),
        events: serde_json::from_str(&row.events).map_err(AppError::internal)?,
        created_by: row.created_by.clone(),
        created_at: to_time(row.created_at),
    })
}

fn invalid(field: &str, message: String) -> AppError {
    AppError::unprocessable("invalid_request", message).with_details(json!({"field": field}))
}

/// An `http(s)://host[:port]…` URL without credentials, spaces or control characters (the
/// pattern of `NewWebhook.url`). Where it may point (not at the runner's own network, unless
/// allowed) is the runner's to decide when it connects.
pub fn check_url(url: &str) -> AppResult<()> {
    let valid = || {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, port) = match rest[..end].split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (&rest[..end], None),
        };
        let port_ok = port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        (!host.is_empty() && !host.contains('@') && port_ok).then_some(())
    };
    // A backslash ends the host for WHATWG URL parsers (and so for the runner's HTTP client),
    // not for this check: refused, so both read the same host.
    if url.chars().count() > MAX_URL
        || url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        || valid().is_none()
    {
        return Err(invalid(
            "url",
            format!(
                "The url must be http://host[:port]/… or https://…, without credentials, up to {MAX_URL} characters."
            ),
        ));
    }
    Ok(())
}

/// The project, after checking that `principal` may manage its webhooks (its PMC).
fn managed(conn: &mut DbConnection, principal: &Principal, project: &str) -> AppResult<ProjectRow> {
    let (row, committee) = super::directory::find_project(conn, project)?;
    authz::authorize(principal, Action::EditPolicy, &committee.name)?;
    Ok(row)
}

/// `POST /api/v1/projects/{p}/webhooks`
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &str,
    request: &NewWebhook,
) -> AppResult<WebhookCreated> {
    check_url(&request.url)?;
    let mut subscribed = request.events.clone().unwrap_or_else(|| WebhookEvent::ALL.to_vec());
    subscribed.sort_unstable();
    subscribed.dedup();
    if subscribed.is_empty() {
        return Err(invalid("events", "Name at least one event, or leave events out for all of them.".to_owned()));
    }
    let secret = secrets::generate("whsec_");
    let events_json = serde_json::to_string(&subscribed).map_err(AppError::internal)?;
    let row = write_transaction(conn, |c| {
        let project_row = managed(c, principal, project)?;
        if q::webhooks(c, project_row.id)?.len() >= MAX_WEBHOOKS {
            return Err(AppError::conflict(
                "too_many_webhooks",
                format!("The project {project} has {MAX_WEBHOOKS} webhooks; delete one first."),
            ));
        }
        let row = q::insert_webhook(c, project_row.id, &request.url, &events_json, &secret, principal.actor())?;
        events::record_unscoped(
            c,
            principal.actor(),
            "webhook.created",
            project,
            json!({"webhook": row.id, "url": request.url, "events": subscribed}),
        )?;
        let seq = events::head_seq(c)?;
        q::set_webhook_seq(c, row.id, seq)?;
        Ok(row)
    })?;
    Ok(WebhookCreated { webhook: view(&row)?, secret })
}

/// `GET /api/v1/projects/{p}/webhooks` (PMC): the live webhooks, without their secrets.
pub fn list(conn: &mut DbConnection, principal: &Principal, project: &str) -> AppResult<WebhookList> {
    let row = managed(conn, principal, project)?;
    let webhooks = q::webhooks(conn, row.id)?.iter().map(view).collect::<AppResult<_>>()?;
    Ok(WebhookList { webhooks })
}

fn find(conn: &mut DbConnection, project: &ProjectRow, id: i64) -> AppResult<WebhookRow> {
    q::webhook(conn, project.id, id)?
        .ok_or_else(|| AppError::not_found(format!("The project {} has no webhook {id}.", project.name)))
}

/// `DELETE /api/v1/projects/{p}/webhooks/{id}`: no more deliveries; the history stays.
pub fn delete(conn: &mut DbConnection, principal: &Principal, project: &str, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let project_row = managed(c, principal, project)?;
        let hook = find(c, &project_row, id)?;
        if !q::delete_webhook(c, hook.id)? {
            return Err(AppError::not_found(format!("The webhook {id} of {project} was deleted already.")));
        }
        events::record_unscoped(c, principal.actor(), "webhook.deleted", project, json!({"webhook": id}))?;
        Ok(())
    })
}

/// `GET /api/v1/projects/{p}/webhooks/{id}/deliveries` (PMC): newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &str,
    id: i64,
    page: Page,
) -> AppResult<DeliveryList> {
    let project_row = managed(conn, principal, project)?;
    let hook = find(conn, &project_row, id)?;
    let (limit, offset) = page.sql();
    let (rows, total) = q::deliveries_of_webhook(conn, hook.id, limit, offset)?;
    let mut deliveries = Vec::with_capacity(rows.len());
    for (delivery, task) in rows {
        let release = match delivery.release_id {
            Some(id) => Some(rq::context_by_id(conn, id)?.key()),
            None => None,
        };
        deliveries.push(Delivery {
            delivery_id: delivery.message_id,
            event: WebhookEvent::parse(&delivery.action)?,
            event_seq: delivery.event_seq,
            release,
            state: outbox::state(&task)?,
        });
    }
    Ok(DeliveryList { deliveries, page: page.info(total, "") })
}

/// `GET /api/v1/releases/{p}/{v}/mails`: the mails the release has sent or is sending, for
/// everyone who may read the release.
pub fn mails(conn: &mut DbConnection, viewer: Option<&Principal>, release: &ReleaseRef) -> AppResult<MailList> {
    let ctx = releases::load_readable(conn, viewer, release)?;
    // Why a mail failed names the SMTP relay: for the project's PMC only.
    let pmc = viewer.is_some_and(|p| authz::authorize(p, Action::EditPolicy, &ctx.committee.name).is_ok());
    let mut mails = Vec::new();
    for (delivery, task) in q::deliveries_of_release(conn, ctx.release.id, "mail")? {
        let kind = MailKind::ALL
            .into_iter()
            .find(|k| k.event() == delivery.action)
            .ok_or_else(|| AppError::internal(format!("a mail made for the event {}", delivery.action)))?;
        let state = outbox::state(&task)?;
        mails.push(Mail {
            id: delivery.id,
            kind,
            to: delivery.recipient,
            subject: delivery.subject,
            message_id: delivery.message_id,
            delivery: DeliveryState { last_error: if pmc { state.last_error } else { None }, ..state },
        });
    }
    Ok(MailList { mails })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_http_with_a_host() {
        for good in ["https://ci.example.org/hook", "http://127.0.0.1:9000/x?y=1", "https://example.org?a=b@c"] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.org/",
            "https://",
            "https:///path",
            "http://:80/",
            "https://exa mple.org/",
            "javascript:alert(1)",
            "https://example.org/\r\nX: y",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
