//! The e-mail channel: one plain-text mail per delivery over SMTP (lettre), its `Message-ID`
//! derived from the delivery id so a resend after a crash is recognisably the same mail.

use std::time::Duration;

use domain::notifications::outbox::Claimed;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::worker::{Outcome, Sender, Sent};

/// Where and as whom mail is sent.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// lettre's URL form: `smtp://host:port` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465` (TLS); credentials as `smtp://user:pass@host`.
    pub url: String,
    /// The `From:` mailbox, e.g. `fieldops <noreply@example.com>`.
    pub from: String,
    /// Per-mail timeout of each SMTP command.
    pub timeout: Duration,
}

pub(crate) struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailSender {
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<EmailSender> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?
            .timeout(Some(settings.timeout))
            .build();
        let from = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("--smtp-from `{}`: {e}", settings.from))?;
        Ok(EmailSender { transport, from })
    }

    /// The mail for a delivery.
    fn message(&self, d: &Claimed) -> Result<Message, String> {
        let to: Mailbox = d
            .target
            .parse()
            .map_err(|e| format!("address `{}`: {e}", d.target))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(d.title.clone())
            .message_id(Some(message_id(d)))
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "{}\n\n-- \nfieldops notification {} ({})\n",
                d.body, d.kind, d.notification_id
            ))
            .map_err(|e| e.to_string())
    }
}

/// `<delivery-id@fieldops>`: the same on every resend of one delivery.
pub fn message_id(d: &Claimed) -> String {
    format!("<{}@fieldops>", d.id)
}

impl Sender for EmailSender {
    async fn send(&self, d: &Claimed) -> Sent {
        let message = match self.message(d) {
            Ok(m) => m,
            Err(e) => return Sent::failed(Outcome::Permanent, e),
        };
        match self.transport.send(message).await {
            Ok(response) => Sent {
                outcome: Outcome::Delivered,
                status_code: None,
                reply: Some(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                error: None,
            },
            // A 5xx reply (unknown mailbox, refused) will not change on a retry; a 4xx,
            // a timeout or a dead server might.
            Err(e) => {
                let outcome = if e.is_permanent() {
                    Outcome::Permanent
                } else {
                    Outcome::Transient
                };
                Sent::failed(outcome, e.to_string())
            }
        }
    }
}
