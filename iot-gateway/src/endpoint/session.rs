//! One connection's state machine: CONNECT and authentication, then one loop that reads
//! packets (while the in-flight and write limits allow), writes the PUBACKs whose commits are
//! done (in PUBLISH order), answers SUBSCRIBE / UNSUBSCRIBE / PINGREQ, and watches keep-alive,
//! write progress, takeover and shutdown. At the end, the last will when the end was ungraceful.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::acl::{self, PublishRule};
use super::codec::{
    self, Advertised, CodecError, Connect, ConnectRefusal, DisconnectReason, Inbound, Outbound,
    Version, Will,
};
use super::{Refusal, Shared};
use crate::pipeline::{Ack, Delivery};

/// Bytes read from the socket at a time (the buffer grows to the packet being read).
const READ_CHUNK: usize = 8 * 1024;

/// Output at which the endpoint stops reading the connection until the client takes what was
/// written (SUBACKs and PINGRESPs come from reading; PUBACKs are bounded by the in-flight limit).
const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// How long the final packet (an MQTT 5 DISCONNECT, a refusing CONNACK) may take to write.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// Far enough in the future to stand for "never" in a timer that is not armed.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Serves one connection until it ends. `deadline` bounds the wait for its CONNECT.
pub(super) async fn serve<S>(
    io: S,
    deadline: Instant,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (rd, wr) = tokio::io::split(io);
    let mut reader = Reader {
        rd,
        buf: BytesMut::with_capacity(READ_CHUNK),
        max: shared.settings.max_packet_size,
    };
    let mut writer = Writer::new(wr);
    let Some(connect) = first_packet(&mut reader, &mut writer, deadline, shared, &mut stop).await
    else {
        return;
    };
    let version = connect.version;
    let span = tracing::Span::current();
    span.record("client_id", connect.client_id.as_str());
    span.record("version", version.as_str());
    let admitted = match admit(&connect, shared).await {
        Ok(admitted) => admitted,
        Err((refusal, code)) => {
            tracing::info!(reason = refusal.as_str(), "MQTT connection refused");
            shared.metrics.refuse(refusal);
            writer.push(version, Outbound::ConnRefused(code));
            writer.goodbye().await;
            return;
        }
    };
    span.record("device", admitted.device.as_str());
    let conn = shared
        .next_connection
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let opened = shared.sessions.open(
        &admitted.device,
        &admitted.client_id,
        connect.clean_start,
        conn,
    );
    writer.push(
        version,
        Outbound::ConnAck {
            session_present: opened.session_present,
            assigned_client_id: admitted.assigned.then(|| admitted.client_id.clone()),
            advertised: Advertised {
                receive_maximum: shared.settings.max_in_flight.max(1),
                maximum_packet_size: u32::try_from(shared.settings.max_packet_size)
                    .unwrap_or(u32::MAX),
            },
        },
    );
    shared.metrics.sessions.inc();
    tracing::debug!(
        session_present = opened.session_present,
        "MQTT client connected"
    );
    let mut session = Session {
        shared,
        version,
        device: admitted.device,
        keep_alive: (connect.keep_alive > 0)
            .then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1500)),
        pending: VecDeque::new(),
        stop,
        stopping: false,
    };
    let ending = session
        .run(&mut reader, &mut writer, opened.taken_over)
        .await;
    session.finish(ending, &mut writer, connect.will).await;
    shared.sessions.close(
        &session.device,
        &admitted.client_id,
        conn,
        connect.session_expiry,
    );
}

/// Reads the CONNECT (within `deadline`), refusing what is not one; `None` when the connection
/// is over.
async fn first_packet<R, W>(
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    deadline: Instant,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Option<Connect>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // A socket still silent at shutdown is just closed.
    let first = tokio::select! {
        first = tokio::time::timeout_at(deadline, reader.connect()) => first,
        _ = stop.wait_for(|s| *s) => return None,
    };
    match first {
        // `None`: closed before saying anything (a port probe, a health check), not refused.
        Ok(Ok(connect)) => connect,
        Ok(Err(ReadError::Io(e))) => {
            tracing::debug!(error = %e, "connection failed before CONNECT");
            None
        }
        Ok(Err(ReadError::Codec(e))) => {
            let refusal = match e {
                CodecError::UnsupportedVersion(_) => Refusal::ProtocolVersion,
                CodecError::TooLarge(_) => Refusal::PacketTooLarge,
                CodecError::NotConnect | CodecError::Malformed(_) => Refusal::Malformed,
            };
            tracing::info!(error = %e, reason = refusal.as_str(), "MQTT connection refused");
            shared.metrics.refuse(refusal);
            if refusal == Refusal::ProtocolVersion {
                let refused = Outbound::ConnRefused(ConnectRefusal::UnsupportedVersion);
                writer.push(Version::V4, refused);
                writer.goodbye().await;
            }
            None
        }
        Err(_) => {
            tracing::debug!("no CONNECT in time");
            shared.metrics.refuse(Refusal::ConnectTimeout);
            None
        }
    }
}

/// A CONNECT that passed.
struct Admitted {
    device: String,
    client_id: String,
    /// The client id was assigned here (MQTT 5 tells the client).
    assigned: bool,
}

/// Checks a CONNECT: authentication, client id, will.
async fn admit(connect: &Connect, shared: &Shared) -> Result<Admitted, (Refusal, ConnectRefusal)> {
    if connect.auth_method {
        return Err((Refusal::AuthMethod, ConnectRefusal::BadAuthMethod));
    }
    let Some((device, password)) = &connect.login else {
        return Err((Refusal::BadCredentials, ConnectRefusal::BadCredentials));
    };
    match shared
        .auth
        .verify(&connect.client_id, device, password)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err((Refusal::BadCredentials, ConnectRefusal::BadCredentials)),
        Err(e) => {
            tracing::warn!(error = %e, "credentials could not be checked");
            return Err((Refusal::AuthUnavailable, ConnectRefusal::Unavailable));
        }
    }
    if let Some(will) = &connect.will {
        if !acl::will_allowed(device, &will.topic) {
            return Err((Refusal::WillNotAuthorized, ConnectRefusal::NotAuthorized));
        }
        if will.qos > 1 && connect.version == Version::V5 {
            return Err((Refusal::WillNotAuthorized, ConnectRefusal::QosNotSupported));
        }
    }
    let assigned = connect.client_id.is_empty();
    if assigned && connect.version == Version::V4 && !connect.clean_start {
        // MQTT 3.1.1 §3.1.3.1: a persistent session needs a client id to be found again.
        return Err((Refusal::ClientId, ConnectRefusal::BadClientId));
    }
    let client_id = if assigned {
        format!("fieldops-{}", domain::clock::new_id().simple())
    } else {
        connect.client_id.clone()
    };
    Ok(Admitted {
        device: device.clone(),
        client_id,
        assigned,
    })
}

/// Why a session ended.
#[derive(Debug)]
enum Ending {
    /// The client sent DISCONNECT (`will`: MQTT 5's "disconnect with will message").
    Disconnected {
        will: bool,
    },
    /// The connection closed or failed under us.
    Lost,
    /// Closed because of what the client did.
    Refused(Refusal),
    TakenOver,
    Shutdown,
    /// A publish will never be acknowledged (its batch failed, or the pipeline stopped): close,
    /// so the client re-sends it on its next connection.
    PipelineGone,
}

/// What woke the session loop.
enum Event {
    /// `false`: the registry dropped the signal without firing it.
    TakenOver(bool),
    Stop,
    /// The oldest delivered publish's batch is done (`false`: it never will be).
    Committed(bool),
    Written(std::io::Result<()>),
    /// The write-progress timer fired: maybe stalled, maybe progress since.
    WriteCheck,
    /// The keep-alive timer fired: maybe silent, maybe heard from since.
    IdleCheck,
    Read(Result<Option<Inbound>, ReadError>),
}

/// A QoS 1 publish awaiting its PUBACK, in arrival order.
enum PendingAck {
    /// Delivered; fires when its batch committed.
    Commit(u16, oneshot::Receiver<()>),
    /// Answered without the pipeline (refused, or dropped as unrouted), but only after the
    /// publishes before it: PUBACKs leave in PUBLISH order.
    Ready(u16, bool),
}

struct Session<'a> {
    shared: &'a Shared,
    version: Version,
    device: String,
    /// 1.5 × the client's keep-alive; `None` when it asked for none.
    keep_alive: Option<Duration>,
    pending: VecDeque<PendingAck>,
    stop: watch::Receiver<bool>,
    stopping: bool,
}

impl Session<'_> {
    async fn run<R, W>(
        &mut self,
        reader: &mut Reader<R>,
        writer: &mut Writer<W>,
        mut taken_over: oneshot::Receiver<()>,
    ) -> Ending
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let shared = self.shared;
        let settings = &shared.settings;
        let max_in_flight = usize::from(settings.max_in_flight.max(1));
        let mut can_takeover = true;
        let mut last_heard = Instant::now();
        let mut was_reading = true;
        // The keep-alive and write-progress timers are checked when they fire and re-armed to
        // the deadline then due, rather than reset on every packet.
        let idle = tokio::time::sleep(self.keep_alive.unwrap_or(NEVER));
        let write_stall = tokio::time::sleep(settings.write_timeout);
        let grace = tokio::time::sleep(NEVER);
        tokio::pin!(idle, write_stall, grace);
        loop {
            if let Err(ending) = self.acknowledge_ready(writer) {
                return ending;
            }
            let writing = writer.has_output();
            if self.stopping && self.pending.is_empty() && !writing {
                return Ending::Shutdown;
            }
            let reading = !self.stopping
                && self.pending.len() < max_in_flight
                && writer.out.len() < OUTPUT_HIGH_WATER;
            if reading && !was_reading {
                // Time spent held back by the limits is not the client's silence.
                last_heard = Instant::now();
            }
            was_reading = reading;
            // The branches only say what happened; it is handled below, once the futures (which
            // borrow the session) are gone.
            let event = tokio::select! {
                biased;
                taken = &mut taken_over, if can_takeover => Event::TakenOver(taken.is_ok()),
                _ = self.stop.wait_for(|s| *s), if !self.stopping => Event::Stop,
                _ = &mut grace, if self.stopping => return Ending::Shutdown,
                done = first_commit(&mut self.pending) => Event::Committed(done.is_ok()),
                written = writer.write_some(), if writing => Event::Written(written),
                _ = &mut write_stall, if writing => Event::WriteCheck,
                _ = &mut idle, if reading && self.keep_alive.is_some() => Event::IdleCheck,
                packet = reader.next(self.version), if reading => Event::Read(packet),
            };
            match event {
                Event::TakenOver(true) => return Ending::TakenOver,
                // The registry is gone (the endpoint is stopping): nothing will take over.
                Event::TakenOver(false) => can_takeover = false,
                Event::Stop => {
                    self.stopping = true;
                    grace
                        .as_mut()
                        .reset(Instant::now() + settings.shutdown_grace);
                }
                // Its value is taken: acknowledged here, the ones after it at the top of the loop.
                Event::Committed(true) => {
                    if let Some(PendingAck::Commit(pkid, _)) = self.pending.pop_front() {
                        self.acknowledged(pkid, writer);
                    }
                }
                Event::Committed(false) => return self.pipeline_gone(),
                Event::WriteCheck => {
                    let due = writer.progress_at + settings.write_timeout;
                    if due <= Instant::now() {
                        return Ending::Refused(Refusal::WriteTimeout);
                    }
                    write_stall.as_mut().reset(due);
                }
                Event::IdleCheck => {
                    let due = last_heard + self.keep_alive.unwrap_or(NEVER);
                    if due <= Instant::now() {
                        return Ending::Refused(Refusal::KeepAlive);
                    }
                    idle.as_mut().reset(due);
                }
                Event::Written(Ok(())) => {}
                Event::Written(Err(e)) => {
                    tracing::debug!(error = %e, "write failed");
                    return Ending::Lost;
                }
                Event::Read(packet) => {
                    last_heard = Instant::now();
                    let packet = match packet {
                        Ok(Some(p)) => p,
                        Ok(None) => return Ending::Lost,
                        Err(ReadError::Io(e)) => {
                            tracing::debug!(error = %e, "read failed");
                            return Ending::Lost;
                        }
                        Err(ReadError::Codec(CodecError::TooLarge(size))) => {
                            tracing::info!(size, "packet too large");
                            return Ending::Refused(Refusal::PacketTooLarge);
                        }
                        Err(ReadError::Codec(e)) => {
                            tracing::info!(error = %e, "malformed packet");
                            return Ending::Refused(Refusal::Malformed);
                        }
                    };
                    if let Some(ending) = self.handle(packet, writer).await {
                        return ending;
                    }
                }
            }
        }
    }

    /// Handles one packet; `Some` ends the session.
    async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        packet: Inbound,
        writer: &mut Writer<W>,
    ) -> Option<Ending> {
        match packet {
            Inbound::Publish(p) => return self.publish(p).await,
            Inbound::Subscribe { pkid, filters } => {
                let granted = filters
                    .iter()
                    .map(|(filter, qos)| {
                        acl::may_subscribe(&self.device, filter).then_some((*qos).min(1))
                    })
                    .collect();
                writer.push(self.version, Outbound::SubAck { pkid, granted });
            }
            Inbound::Unsubscribe { pkid, filters } => {
                writer.push(self.version, Outbound::UnsubAck { pkid, filters });
            }
            Inbound::PingReq => writer.push(self.version, Outbound::PingResp),
            Inbound::Disconnect { will } => return Some(Ending::Disconnected { will }),
            Inbound::Unexpected(kind) => {
                tracing::info!(packet = ?kind, "unexpected packet");
                return Some(Ending::Refused(Refusal::ProtocolError));
            }
        }
        None
    }

    async fn publish(&mut self, p: codec::Publish) -> Option<Ending> {
        if p.topic_alias {
            return Some(Ending::Refused(Refusal::TopicAlias));
        }
        if p.qos > 1 {
            tracing::info!(topic = %p.topic, "QoS 2 publish refused");
            return Some(Ending::Refused(Refusal::Qos2));
        }
        let metrics = &self.shared.metrics;
        match acl::publish_rule(&self.device, &p.topic) {
            PublishRule::Refuse => {
                tracing::info!(topic = %p.topic, "publish outside the device's topics refused");
                if self.version == Version::V4 {
                    return Some(Ending::Refused(Refusal::PublishNotAuthorized));
                }
                metrics.refuse(Refusal::PublishNotAuthorized);
                if p.qos == 1 {
                    self.pending.push_back(PendingAck::Ready(p.pkid, false));
                }
            }
            PublishRule::Drop => {
                metrics.unrouted.inc();
                if p.qos == 1 {
                    self.pending.push_back(PendingAck::Ready(p.pkid, true));
                }
            }
            PublishRule::Deliver => {
                let (ack, committed) = if p.qos == 1 {
                    let (tx, rx) = oneshot::channel();
                    (Ack::Endpoint(tx), Some(rx))
                } else {
                    (Ack::None, None)
                };
                let delivery = Delivery {
                    topic: p.topic,
                    payload: p.payload,
                    ack,
                    held: None,
                };
                if !self.deliver(delivery).await {
                    // While stopping, the loop still waits for the PUBACKs of earlier publishes;
                    // this one was never delivered and the client re-sends it.
                    return (!self.stopping).then(|| self.pipeline_gone());
                }
                if let Some(rx) = committed {
                    metrics.in_flight.inc();
                    self.pending.push_back(PendingAck::Commit(p.pkid, rx));
                }
            }
        }
        None
    }

    /// A publish will never be acknowledged: expected while shutting down (the pipeline stopped
    /// before committing it), a failure otherwise.
    fn pipeline_gone(&self) -> Ending {
        if self.stopping {
            Ending::Shutdown
        } else {
            Ending::PipelineGone
        }
    }

    /// Hands a delivery to the pipeline: first takes its bytes from the endpoint's in-flight
    /// budget, then waits for room in the pipeline; either wait is what holds the reading of this
    /// connection back while the database is slow. False when the pipeline is gone or shutdown
    /// came first (the delivery is dropped unacknowledged; the client re-sends it).
    async fn deliver(&mut self, mut delivery: Delivery) -> bool {
        if self.stopping {
            return false;
        }
        let units = budget_units(
            delivery.topic.len() + delivery.payload.len(),
            self.shared.budget_units,
        );
        let budget = self.shared.budget.clone();
        tokio::select! {
            held = budget.acquire_many_owned(units) => match held {
                Ok(permit) => delivery.held = Some(permit),
                // The budget is never closed; if it were, nothing could be delivered.
                Err(_) => return false,
            },
            _ = self.stop.wait_for(|s| *s) => {
                self.stopping = true;
                return false;
            }
        }
        tokio::select! {
            sent = self.shared.feed.send(delivery) => sent.is_ok(),
            _ = self.stop.wait_for(|s| *s) => {
                self.stopping = true;
                false
            }
        }
    }

    /// Writes the PUBACKs at the front of the queue that are due: answered ones, and delivered
    /// ones whose batch committed. Stops at the first still committing. `Err` when a delivered
    /// one will never be acknowledged.
    fn acknowledge_ready<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut Writer<W>,
    ) -> Result<(), Ending> {
        while let Some(front) = self.pending.front_mut() {
            match front {
                PendingAck::Ready(pkid, authorized) => {
                    let packet = Outbound::PubAck {
                        pkid: *pkid,
                        authorized: *authorized,
                    };
                    writer.push(self.version, packet);
                }
                PendingAck::Commit(pkid, rx) => match rx.try_recv() {
                    Ok(()) => {
                        let pkid = *pkid;
                        self.acknowledged(pkid, writer);
                    }
                    Err(oneshot::error::TryRecvError::Empty) => break,
                    Err(oneshot::error::TryRecvError::Closed) => return Err(self.pipeline_gone()),
                },
            }
            self.pending.pop_front();
        }
        Ok(())
    }

    /// The PUBACK of a delivered publish whose batch committed.
    fn acknowledged<W: AsyncWrite + Unpin>(&self, pkid: u16, writer: &mut Writer<W>) {
        self.shared.metrics.in_flight.dec();
        writer.push(
            self.version,
            Outbound::PubAck {
                pkid,
                authorized: true,
            },
        );
    }

    /// Says goodbye as the ending requires, delivers the will when the end was ungraceful, and
    /// gives back the in-flight count of publishes that will not be acknowledged here.
    async fn finish<W: AsyncWrite + Unpin>(
        &mut self,
        ending: Ending,
        writer: &mut Writer<W>,
        will: Option<Will>,
    ) {
        let unacknowledged = self
            .pending
            .iter()
            .filter(|p| matches!(p, PendingAck::Commit(..)))
            .count();
        self.shared.metrics.in_flight.dec_by(unacknowledged as i64);
        let (goodbye, deliver_will) = match &ending {
            Ending::Disconnected { will } => (None, *will),
            Ending::Lost => (None, true),
            Ending::Refused(refusal) => {
                self.shared.metrics.refuse(*refusal);
                tracing::info!(reason = refusal.as_str(), "MQTT connection closed");
                (disconnect_reason(*refusal), true)
            }
            Ending::TakenOver => {
                self.shared.metrics.takeovers.inc();
                (Some(DisconnectReason::SessionTakenOver), false)
            }
            Ending::Shutdown => (Some(DisconnectReason::ServerShuttingDown), false),
            Ending::PipelineGone => (Some(DisconnectReason::UnspecifiedError), false),
        };
        tracing::debug!(?ending, "MQTT session ended");
        if let Some(reason) = goodbye.filter(|_| self.version == Version::V5) {
            writer.push(self.version, Outbound::Disconnect(reason));
        }
        if !matches!(
            ending,
            Ending::Lost | Ending::Refused(Refusal::WriteTimeout)
        ) {
            writer.goodbye().await;
        }
        if let Some(will) = will.filter(|_| deliver_will) {
            self.deliver_will(will).await;
        }
    }

    /// The will, as a QoS 0 publish through the same topic rule as any publish.
    async fn deliver_will(&mut self, will: Will) {
        if acl::publish_rule(&self.device, &will.topic) != PublishRule::Deliver {
            return;
        }
        tracing::debug!(topic = %will.topic, "delivering last will");
        let delivery = Delivery {
            topic: will.topic,
            payload: will.payload,
            ack: Ack::None,
            held: None,
        };
        if self.deliver(delivery).await {
            self.shared.metrics.wills.inc();
        }
    }
}

/// The budget units (KiB, at least one) a publish of `bytes` holds; never more than the whole
/// budget, so that a packet larger than the budget still goes through when nothing else holds
/// any.
pub(super) fn budget_units(bytes: usize, total: u32) -> u32 {
    u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .clamp(1, total.max(1))
}

/// The MQTT 5 DISCONNECT reason for closing a connection over `refusal` (`None`: just close).
fn disconnect_reason(refusal: Refusal) -> Option<DisconnectReason> {
    Some(match refusal {
        Refusal::Malformed => DisconnectReason::MalformedPacket,
        Refusal::PacketTooLarge => DisconnectReason::PacketTooLarge,
        Refusal::Qos2 => DisconnectReason::QosNotSupported,
        Refusal::TopicAlias => DisconnectReason::TopicAliasInvalid,
        Refusal::ProtocolError => DisconnectReason::ProtocolError,
        Refusal::KeepAlive => DisconnectReason::KeepAliveTimeout,
        _ => return None,
    })
}

/// Resolves when the oldest delivered publish's batch is done (`Err`: it never will be); never
/// while the front of the queue is not a delivered publish.
async fn first_commit(pending: &mut VecDeque<PendingAck>) -> Result<(), oneshot::error::RecvError> {
    match pending.front_mut() {
        Some(PendingAck::Commit(_, rx)) => rx.await,
        _ => std::future::pending().await,
    }
}

#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Codec(CodecError),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl From<CodecError> for ReadError {
    fn from(e: CodecError) -> Self {
        ReadError::Codec(e)
    }
}

/// The reading half and what it has buffered. Each read is cancel-safe (bytes read stay in
/// `buf`), so it can sit in a `select!`.
struct Reader<R> {
    rd: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// The CONNECT; `None` when the connection closed first.
    async fn connect(&mut self) -> Result<Option<Connect>, ReadError> {
        loop {
            if let Some(c) = codec::decode_connect(&mut self.buf, self.max)? {
                return Ok(Some(c));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next packet; `None` when the connection closed.
    async fn next(&mut self, version: Version) -> Result<Option<Inbound>, ReadError> {
        loop {
            if let Some(p) = codec::decode(version, &mut self.buf, self.max)? {
                return Ok(Some(p));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Reads what the socket has; false at end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        self.buf.reserve(READ_CHUNK);
        Ok(self.rd.read_buf(&mut self.buf).await? > 0)
    }
}

/// The writing half and what is waiting to be written.
struct Writer<W> {
    wr: W,
    out: BytesMut,
    /// Written but maybe still buffered below (TLS).
    needs_flush: bool,
    /// When output last made progress (or started waiting).
    progress_at: Instant,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    fn new(wr: W) -> Writer<W> {
        Writer {
            wr,
            out: BytesMut::new(),
            needs_flush: false,
            progress_at: Instant::now(),
        }
    }

    fn has_output(&self) -> bool {
        !self.out.is_empty() || self.needs_flush
    }

    fn push(&mut self, version: Version, packet: Outbound) {
        if !self.has_output() {
            self.progress_at = Instant::now();
        }
        codec::encode(version, packet, &mut self.out);
    }

    /// Writes some of the output, or flushes once it is all written. Cancel-safe.
    async fn write_some(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            self.wr.flush().await?;
            self.needs_flush = false;
        } else {
            if self.wr.write_buf(&mut self.out).await? == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.needs_flush = true;
        }
        self.progress_at = Instant::now();
        Ok(())
    }

    /// Writes what is left, briefly, then closes the connection.
    async fn goodbye(&mut self) {
        let flush = async {
            while self.has_output() {
                self.write_some().await?;
            }
            self.wr.shutdown().await
        };
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, flush).await;
    }
}

#[cfg(test)]
mod tests {
    use super::budget_units;

    #[test]
    fn budget_units_are_kib_rounded_up_within_the_whole_budget() {
        // (bytes, budget units) → units held
        for (bytes, total, want) in [
            (0, 64, 1),
            (1, 64, 1),
            (1024, 64, 1),
            (1025, 64, 2),
            (10 * 1024 * 1024, 64, 64),
            (5000, 0, 1),
        ] {
            assert_eq!(budget_units(bytes, total), want, "{bytes} bytes of {total}");
        }
    }
}
