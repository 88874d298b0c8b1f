//! The webhook channel: a signed JSON POST per delivery, in the Standard Webhooks style.
//!
//! Body `{"type": kind, "timestamp": RFC 3339, "data": {…}}`; headers `webhook-id` (the
//! delivery id: the same on every retry, the receiver's idempotency key), `webhook-timestamp`
//! (unix seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `{id}.{timestamp}.{body}` keyed with the base64-decoded part of the endpoint's `whsec_`
//! secret. 2xx is delivered; 408, 429, 5xx, timeouts and connection errors are retried; any
//! other answer is refused for good.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::notifications::outbox::Claimed;
use domain::notifications::webhooks::SECRET_PREFIX;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::worker::{Outcome, Sender, Sent};

/// `v1,<signature>` for a message, or why the secret is unusable.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|e| format!("endpoint secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The JSON body of a delivery.
pub fn payload(d: &Claimed) -> serde_json::Value {
    serde_json::json!({
        "type": d.kind,
        "timestamp": d.created_at,
        "data": {
            "notification_id": d.notification_id,
            "title": d.title,
            "body": d.body,
            "subject_entity": d.subject_entity,
            "subject_id": d.subject_id,
            "data": d.data.0,
        }
    })
}

pub(crate) struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new(timeout: Duration) -> anyhow::Result<WebhookSender> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A receiver answers for itself: a redirect is an answer, not a new target.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fieldops-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookSender { client })
    }
}

/// What an HTTP status means for the delivery.
pub(crate) fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 => Outcome::Transient,
        400..=499 => Outcome::Permanent,
        _ => Outcome::Transient,
    }
}

impl Sender for WebhookSender {
    async fn send(&self, d: &Claimed) -> Sent {
        let (Some(url), Some(secret), Some(true)) =
            (&d.endpoint_url, &d.endpoint_secret, d.endpoint_enabled)
        else {
            return Sent::failed(Outcome::Permanent, "endpoint disabled");
        };
        let body = match serde_json::to_vec(&payload(d)) {
            Ok(b) => b,
            Err(e) => return Sent::failed(Outcome::Permanent, e.to_string()),
        };
        let id = d.id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match sign(secret, &id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => return Sent::failed(Outcome::Permanent, e),
        };
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) => {
                let status = r.status().as_u16();
                let outcome = classify(status);
                // A short excerpt of a refusal helps whoever reads the delivery log.
                let error = match outcome {
                    Outcome::Delivered => None,
                    _ => Some(format!(
                        "HTTP {status}: {}",
                        r.text()
                            .await
                            .unwrap_or_default()
                            .chars()
                            .take(200)
                            .collect::<String>()
                    )),
                };
                Sent {
                    outcome,
                    status_code: Some(i32::from(status)),
                    reply: None,
                    error,
                }
            }
            Err(e) => Sent::failed(Outcome::Transient, format!("{e:#}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (its reference libraries' tests).
    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, id, 1614265330, body).expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200), Outcome::Delivered);
        assert_eq!(classify(204), Outcome::Delivered);
        assert_eq!(classify(404), Outcome::Permanent);
        assert_eq!(classify(410), Outcome::Permanent);
        assert_eq!(classify(408), Outcome::Transient);
        assert_eq!(classify(429), Outcome::Transient);
        assert_eq!(classify(500), Outcome::Transient);
        assert_eq!(classify(503), Outcome::Transient);
        assert_eq!(classify(302), Outcome::Transient);
    }
}
