//! `mail` tasks: one message, rendered by the datastore, sent through the configured SMTP
//! server. The Message-ID is the datastore's and the same on every attempt.

use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use shared_models::checks::CheckResult;
use shared_models::runner::MailOrder;

use super::{Handler, Job, TaskError};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Mail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The server, without credentials, for logs and errors.
    server: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("server", &self.server).finish_non_exhaustive()
    }
}

impl Mail {
    /// A sender through `url` (`smtp://…`, `smtps://…`), with the password from `password`
    /// when given (the user name is the URL's).
    pub fn new(url: &str, password: Option<String>) -> anyhow::Result<Self> {
        let server = url.rsplit('@').next().unwrap_or(url).trim_start_matches("smtp://").trim_start_matches("smtps://");
        let scheme = if url.starts_with("smtps://") { "smtps" } else { "smtp" };
        let server = format!("{scheme}://{}", server.split('?').next().unwrap_or(server));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("RUNNER_SMTP_URL is not a usable SMTP URL ({server}): {e}"))?
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(password) = password {
            let user = url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split_once('@'))
                .map(|(userinfo, _)| userinfo.split(':').next().unwrap_or("").to_owned())
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("RUNNER_SMTP_PASSWORD_FILE needs a user name in RUNNER_SMTP_URL (smtp://user@host)")
                })?;
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self { transport: builder.build(), server })
    }
}

fn message(order: &MailOrder) -> Result<Message, String> {
    let mailbox = |field: &str, text: &str| text.parse::<Mailbox>().map_err(|e| format!("{field} {text:?}: {e}"));
    let mut builder = Message::builder()
        .from(mailbox("from", &order.from)?)
        .subject(order.subject.clone())
        .message_id(Some(order.message_id.clone()))
        .header(ContentType::TEXT_PLAIN);
    for to in &order.to {
        builder = builder.to(mailbox("to", to)?);
    }
    if let Some(parent) = &order.in_reply_to {
        builder = builder.in_reply_to(parent.clone()).references(parent.clone());
    }
    builder.body(order.body.clone()).map_err(|e| format!("the message cannot be built: {e}"))
}

impl Handler for Mail {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(async move {
            let order: MailOrder = serde_json::from_value(job.order.args.clone())
                .map_err(|e| TaskError::Failed(format!("the mail task's order is not a message: {e}")))?;
            let message = message(&order).map_err(TaskError::Failed)?;
            (job.stage)(format!("sending {} to {}", order.message_id, order.to.join(", ")));
            let response =
                self.transport.send(message).await.map_err(|e| TaskError::Failed(format!("{}: {e}", self.server)))?;
            tracing::info!(
                message_id = %order.message_id, to = ?order.to, subject = %order.subject,
                reply = %response.message().collect::<Vec<_>>().join(" "), "mail sent"
            );
            Ok(Vec::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> MailOrder {
        MailOrder {
            from: "Trusted Releases <releases@example.org>".to_owned(),
            to: vec!["dev@example.apache.org".to_owned()],
            subject: "[VOTE] Release Apache Example 1.0 \u{2013} RC1".to_owned(),
            body: "Hello\n".to_owned(),
            message_id: "<trl.7.vote@example.org>".to_owned(),
            in_reply_to: Some("<trl.3.vote@example.org>".to_owned()),
        }
    }

    #[test]
    fn the_message_carries_the_datastores_headers() {
        let text = String::from_utf8(message(&order()).unwrap().formatted()).unwrap();
        assert!(text.contains("Message-ID: <trl.7.vote@example.org>"), "{text}");
        assert!(text.contains("In-Reply-To: <trl.3.vote@example.org>"), "{text}");
        assert!(text.contains("To: dev@example.apache.org"), "{text}");
        assert!(text.contains("Subject: [VOTE] Release Apache Example 1.0 =?utf-8?b?4oCT?= RC1"), "encoded: {text}");
    }

    #[test]
    fn bad_addresses_fail_the_task_with_a_reason() {
        let mut bad = order();
        bad.to = vec!["not an address".to_owned()];
        assert!(message(&bad).unwrap_err().starts_with("to \"not an address\""));
    }

    #[test]
    fn the_server_is_named_without_its_password() {
        let mail = Mail::new("smtp://user:secret@127.0.0.1:2525", None).unwrap();
        assert_eq!(mail.server, "smtp://127.0.0.1:2525");
        assert!(!format!("{mail:?}").contains("secret"));
        assert!(Mail::new("smtp://127.0.0.1:25", Some("pw".to_owned())).is_err(), "a password needs a user name");
        assert!(Mail::new("http://127.0.0.1", None).is_err());
    }
}
