//! `GET /api/v1/events`: live fleet changes as Server-Sent Events.
//!
//! The handler only authenticates, authorises and turns the process's
//! [`LiveHub`](domain::events::LiveHub) subscription into SSE; coalescing, resume and the
//! cross-process fan-out live in `domain::events`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::events::live::{Entry, Frame, Start, Subscription};
use futures::Stream;
use mobile_shared::Action;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::openapi::Unauthenticated;
use crate::AppState;

/// How long a new client waits for the hub to be listening (only right after startup).
const READY_WITHIN: Duration = Duration::from_secs(5);

/// Live fleet changes (Server-Sent Events).
///
/// Every event has an `id`, an `event` type and JSON `data` (the change; its `type` field
/// repeats the event type): `position`, `meters`, `meter_anomaly`, `geofence_enter`,
/// `geofence_exit`, `device_status`, `device_silent`. Changes are coalesced: at most one frame
/// every 250 ms, with the newest event per asset (or device) and type. Two control events:
/// `ready` (first event of a stream opened without `Last-Event-ID`; load current state now) and
/// `resync` (events were missed — the id was no longer retained, or the client read too slowly;
/// reload current state, the stream then continues). Reconnect with the `Last-Event-ID` header
/// (browsers do) to get what was missed, coalesced, while this process still holds it. Ids are
/// the same on every API process of a PostgreSQL database. Keep-alive comments every 15 s.
#[utoipa::path(get, path = "/api/v1/events", tag = "telemetry", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header,
        description = "The id of the last event received, to resume after it")),
    responses((status = 200, description = "An endless `text/event-stream`",
        content_type = "text/event-stream", body = String), Unauthenticated))]
pub async fn events(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Who may see positions may see them move.
    user.require(Action::PositionRead)?;
    // An id this server did not give (garbage, another server's) is "not retained": resync.
    let last = headers
        .get("last-event-id")
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    let hub = &state.live;
    hub.ready(READY_WITHIN).await;
    let sub = hub.subscribe(last.map(|l| l.unwrap_or(u64::MAX)));
    let keep_alive = hub.settings().keep_alive;
    Ok(Sse::new(stream(sub)).keep_alive(KeepAlive::new().interval(keep_alive)))
}

struct Client {
    sub: Subscription,
    queue: VecDeque<Event>,
    /// Id of the last event sent, what a `resync` after lagging carries.
    last_sent: u64,
}

fn entry_event(e: &Entry) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.item.kind.as_str())
        .data(&*e.item.data)
}

fn control(kind: &'static str, id: u64, reason: &'static str) -> Event {
    Event::default()
        .id(id.to_string())
        .event(kind)
        .data(format!("{{\"reason\":\"{reason}\"}}"))
}

fn stream(sub: Subscription) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut client = Client {
        queue: VecDeque::new(),
        last_sent: 0,
        sub,
    };
    match std::mem::replace(&mut client.sub.start, Start::Fresh { id: 0 }) {
        Start::Fresh { id } => {
            client.queue.push_back(control("ready", id, "connected"));
            client.last_sent = id;
        }
        Start::Resync { id } => {
            client
                .queue
                .push_back(control("resync", id, "not_retained"));
            client.last_sent = id;
        }
        Start::Replay(entries) => {
            for e in &entries {
                client.queue.push_back(entry_event(e));
                client.last_sent = e.id;
            }
        }
    }
    futures::stream::unfold(client, |mut c| async move {
        loop {
            if let Some(ev) = c.queue.pop_front() {
                return Some((Ok(ev), c));
            }
            let frame = tokio::select! {
                _ = c.sub.stop.wait_for(|s| *s) => return None,
                f = c.sub.frames.recv() => f,
            };
            match frame {
                Ok(Frame::Entries(entries)) => {
                    for e in entries.iter() {
                        c.queue.push_back(entry_event(e));
                        c.last_sent = e.id;
                    }
                }
                Ok(Frame::Resync(id)) => {
                    c.queue.push_back(control("resync", id, "gap"));
                    c.last_sent = id;
                }
                // Too slow: the oldest frames are gone. Reload, then carry on with the newest.
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "SSE client lagged, sent resync");
                    c.queue.push_back(control("resync", c.last_sent, "lagged"));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use domain::events::live::{LiveHub, LiveSettings, Pending};
    use domain::events::{LiveItem, Numbered};
    use futures::StreamExt;

    fn position(lat: f64) -> Numbered {
        Numbered {
            seq: 0,
            first: 0,
            items: vec![LiveItem::from_json(format!(
                "{{\"type\":\"position\",\"asset_id\":\"0190f2a4-0000-7000-8000-000000000001\",\"lat\":{lat}}}"
            ))]
            .into(),
        }
    }

    /// Renders an SSE event as sent on the wire.
    async fn wire(ev: Event) -> String {
        let sse = Sse::new(futures::stream::iter([Ok::<_, Infallible>(ev)]));
        let resp = axum::response::IntoResponse::into_response(sse);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_gets_resync_then_the_newest() {
        let hub = LiveHub::new(LiveSettings {
            client_frames: 2,
            ..LiveSettings::default()
        });
        let mut events = Box::pin(stream(hub.subscribe(None)));
        let ready = wire(events.next().await.unwrap().unwrap()).await;
        assert!(ready.contains("event: ready"), "{ready}");
        // Five frames while the client reads nothing; its queue holds two.
        let mut pending = Pending::default();
        for seq in 1..=5u32 {
            let mut b = position(f64::from(seq));
            b.seq = u64::from(seq);
            hub.feed_for_test(&mut pending, b);
            hub.flush_for_test(&mut pending);
        }
        let resync = wire(events.next().await.unwrap().unwrap()).await;
        assert!(
            resync.contains("event: resync") && resync.contains("lagged"),
            "{resync}"
        );
        let next = wire(events.next().await.unwrap().unwrap()).await;
        assert!(
            next.contains("id: 4000000") && next.contains("\"lat\":4"),
            "{next}"
        );
        let last = wire(events.next().await.unwrap().unwrap()).await;
        assert!(last.contains("id: 5000000"), "{last}");
        // Shutdown ends the stream.
        hub.stop();
        assert!(events.next().await.is_none());
    }
}
