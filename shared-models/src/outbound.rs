//! What leaves the platform: the mails of a vote and a release, and webhook deliveries
//! (`docs/NOTIFICATIONS.md`). Both are made from the event log and sent by runners.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::PageInfo;

crate::named_enum! {
    /// The mails a release sends, each from a project-editable template.
    pub enum MailKind as "mail kind" {
        /// `[VOTE] Release …`: when a vote starts.
        Vote = "vote",
        /// `[RESULT] [VOTE] Release …`: when it is resolved.
        Result = "result",
        /// `[ANNOUNCE] …`: when the release is published.
        Announce = "announce",
    }
}

impl MailKind {
    /// The event that sends this mail.
    pub fn event(self) -> &'static str {
        match self {
            MailKind::Vote => "vote.started",
            MailKind::Result => "vote.resolved",
            MailKind::Announce => "release.published",
        }
    }
}

/// The lifecycle events a webhook may subscribe to: the actions of their events, as the audit
/// log names them (`release.created`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum WebhookEvent {
    #[serde(rename = "release.created")]
    ReleaseCreated,
    #[serde(rename = "checks.completed")]
    ChecksCompleted,
    #[serde(rename = "vote.started")]
    VoteStarted,
    #[serde(rename = "vote.cast")]
    VoteCast,
    #[serde(rename = "vote.tallied")]
    VoteTallied,
    #[serde(rename = "vote.resolved")]
    VoteResolved,
    #[serde(rename = "release.published")]
    ReleasePublished,
    #[serde(rename = "release.archived")]
    ReleaseArchived,
    #[serde(rename = "release.revoked")]
    ReleaseRevoked,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 9] = [
        WebhookEvent::ReleaseCreated,
        WebhookEvent::ChecksCompleted,
        WebhookEvent::VoteStarted,
        WebhookEvent::VoteCast,
        WebhookEvent::VoteTallied,
        WebhookEvent::VoteResolved,
        WebhookEvent::ReleasePublished,
        WebhookEvent::ReleaseArchived,
        WebhookEvent::ReleaseRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::ReleaseCreated => "release.created",
            WebhookEvent::ChecksCompleted => "checks.completed",
            WebhookEvent::VoteStarted => "vote.started",
            WebhookEvent::VoteCast => "vote.cast",
            WebhookEvent::VoteTallied => "vote.tallied",
            WebhookEvent::VoteResolved => "vote.resolved",
            WebhookEvent::ReleasePublished => "release.published",
            WebhookEvent::ReleaseArchived => "release.archived",
            WebhookEvent::ReleaseRevoked => "release.revoked",
        }
    }

    pub fn parse(value: &str) -> Result<Self, crate::UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == value)
            .ok_or_else(|| crate::UnknownValue { kind: "webhook event", value: value.to_owned() })
    }
}

/// A mail template (tera syntax; `docs/NOTIFICATIONS.md` lists the variables).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailTemplate {
    pub kind: MailKind,
    #[schema(max_length = 400)]
    pub subject: String,
    #[schema(max_length = 20000)]
    pub body: String,
    /// False: the platform's default (Apache conventions); true: the project's own.
    pub custom: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/projects/{p}/mail-templates`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailTemplateList {
    pub templates: Vec<MailTemplate>,
}

/// `PUT /api/v1/projects/{p}/mail-templates/{kind}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailTemplateUpdate {
    /// One line, not only white space.
    #[schema(min_length = 1, max_length = 400, pattern = "^[^\\r\\n]*[^\\s][^\\r\\n]*$")]
    pub subject: String,
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
}

/// A rendered mail, as the release shows it (`GET /api/v1/releases/{p}/{v}/mails`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Mail {
    pub id: i64,
    pub kind: MailKind,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub delivery: DeliveryState,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailList {
    pub mails: Vec<Mail>,
}

/// `POST /api/v1/projects/{p}/webhooks`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://…` (or `http://…`) where deliveries are posted.
    #[schema(
        min_length = 8,
        max_length = 2000,
        pattern = "^https?://[^/?#@:\\\\\\s\\u0000-\\u001f\\u007f-\\u009f]+(:[0-9]{1,5})?([/?#][^\\\\\\s\\u0000-\\u001f\\u007f-\\u009f]*)?$"
    )]
    pub url: String,
    /// The events to deliver; every lifecycle event when absent.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 16)]
    pub events: Option<Vec<WebhookEvent>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The answer to `POST /api/v1/projects/{p}/webhooks`: the secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of the `X-TRL-Signature` header (`sha256=<hex of HMAC(secret, body)>`).
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

crate::named_enum! {
    /// Where one delivery (a mail or a webhook call) is.
    pub enum DeliveryStatus as "delivery status" {
        /// Waiting for a runner (or for its next attempt, after a failed one).
        Pending = "pending",
        /// Being sent now.
        Sending = "sending",
        /// Accepted by the SMTP server or the receiver (2xx).
        Delivered = "delivered",
        /// Given up after its last attempt (or cancelled by an admin).
        Failed = "failed",
    }
}

/// The state of one delivery, from its task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryState {
    pub status: DeliveryStatus,
    pub task: i64,
    pub attempts: i32,
    pub max_attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the next attempt may start, while pending after a failure.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// One webhook delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The `X-TRL-Delivery` header: the same on every attempt.
    pub delivery_id: String,
    pub event: WebhookEvent,
    /// The event's place in the audit log.
    pub event_seq: i64,
    pub release: Option<String>,
    #[serde(flatten)]
    pub state: DeliveryState,
}

/// `GET /api/v1/projects/{p}/webhooks/{id}/deliveries`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
    pub page: PageInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_events_are_named_as_the_audit_log_names_them() {
        for event in WebhookEvent::ALL {
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
            assert_eq!(WebhookEvent::parse(event.as_str()), Ok(event));
        }
        assert!(WebhookEvent::parse("vote_started").is_err());
    }
}
