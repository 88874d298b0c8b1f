//! Packet I/O: protocol-version detection on the CONNECT, and translation between rumqttc's
//! MQTT 3.1.1 (`rumqttc::mqttbytes::v4`) and MQTT 5 (`rumqttc::v5::mqttbytes::v5`) packets and
//! the version-independent [`Connect`], [`Inbound`] and [`Outbound`] the session works with.
//!
//! No packet is parsed here by hand: framing is `rumqttc::mqttbytes::check` (the fixed header is
//! the same in both versions, and it refuses an oversized packet from its fixed header, before
//! a byte of the body is buffered), decoding and encoding are the codecs' `Packet::read` and
//! `Packet::write`. The one exception is MQTT 5's DISCONNECT, whose spec-valid short forms
//! (no body, or a reason code alone) rumqttc 0.25's reader refuses: its reason code is the one
//! byte after the fixed header.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{self as mqtt4, v4};
use rumqttc::v5::mqttbytes::{self as mqtt5, v5};

/// The protocol a connection speaks, fixed by its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V4,
    /// MQTT 5.
    V5,
}

impl Version {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V4 => "3.1.1",
            Version::V5 => "5",
        }
    }
}

/// A CONNECT, either version.
#[derive(Debug)]
pub(crate) struct Connect {
    pub version: Version,
    pub client_id: String,
    pub clean_start: bool,
    /// Seconds; 0 = no keep-alive.
    pub keep_alive: u16,
    pub login: Option<(String, String)>,
    pub will: Option<Will>,
    /// How long the session outlives the connection, in seconds (MQTT 5's Session Expiry
    /// Interval; MQTT 3.1.1: forever unless clean, 0 when clean).
    pub session_expiry: u32,
    /// MQTT 5 enhanced authentication was asked for (not supported).
    pub auth_method: bool,
}

/// A last will.
#[derive(Debug, Clone)]
pub(crate) struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
}

/// A PUBLISH, either version.
#[derive(Debug)]
pub(crate) struct Publish {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub pkid: u16,
    /// MQTT 5 topic alias used (never granted: the CONNACK advertises no aliases).
    pub topic_alias: bool,
}

/// A packet from a connected client.
#[derive(Debug)]
pub(crate) enum Inbound {
    Publish(Publish),
    /// `(filter, requested QoS)` per filter.
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: usize,
    },
    PingReq,
    /// `will`: MQTT 5's "disconnect with will message".
    Disconnect {
        will: bool,
    },
    /// A packet a client never sends to a server that sends no PUBLISH (CONNECT again, PUBACK,
    /// PUBREL, AUTH, …): a protocol violation. The type, never the content (a CONNECT holds a
    /// password).
    Unexpected(mqtt4::PacketType),
}

/// Why a CONNECT is refused (the CONNACK code differs per version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectRefusal {
    UnsupportedVersion,
    BadCredentials,
    NotAuthorized,
    BadClientId,
    /// The will asks for QoS 2 (MQTT 5 only).
    QosNotSupported,
    /// MQTT 5 enhanced authentication.
    BadAuthMethod,
    /// The credentials could not be checked (database away).
    Unavailable,
}

/// What a successful CONNACK advertises (MQTT 5 properties; MQTT 3.1.1 has none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Advertised {
    pub receive_maximum: u16,
    pub maximum_packet_size: u32,
}

/// MQTT 5 DISCONNECT reason codes the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DisconnectReason {
    ProtocolError,
    MalformedPacket,
    PacketTooLarge,
    QosNotSupported,
    TopicAliasInvalid,
    KeepAliveTimeout,
    SessionTakenOver,
    ServerShuttingDown,
    UnspecifiedError,
}

/// A packet to a connected client.
#[derive(Debug)]
pub(crate) enum Outbound {
    ConnAck {
        session_present: bool,
        assigned_client_id: Option<String>,
        advertised: Advertised,
    },
    ConnRefused(ConnectRefusal),
    /// `authorized: false` is MQTT 5's PUBACK 0x87 (never sent on 3.1.1, which has no code).
    PubAck {
        pkid: u16,
        authorized: bool,
    },
    /// `Some(qos)` granted, `None` refused, per filter.
    SubAck {
        pkid: u16,
        granted: Vec<Option<u8>>,
    },
    UnsubAck {
        pkid: u16,
        filters: usize,
    },
    PingResp,
    /// MQTT 5 only; nothing is written on 3.1.1, which just closes.
    Disconnect(DisconnectReason),
}

/// Why bytes from a client are not a packet the endpoint takes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("packet of {0} bytes exceeds the maximum packet size")]
    TooLarge(usize),
    #[error("the first packet is not a CONNECT")]
    NotConnect,
    #[error("unsupported protocol {0}")]
    UnsupportedVersion(String),
    #[error("malformed packet: {0}")]
    Malformed(String),
}

impl From<mqtt4::Error> for CodecError {
    fn from(e: mqtt4::Error) -> CodecError {
        CodecError::Malformed(e.to_string())
    }
}

impl From<mqtt5::Error> for CodecError {
    fn from(e: mqtt5::Error) -> CodecError {
        CodecError::Malformed(e.to_string())
    }
}

/// Frames the packet at the front of `buf`: its fixed header once the whole packet is there,
/// `None` while more bytes are needed. A packet longer than `max` (the whole packet, fixed
/// header included) is refused as soon as its fixed header is in, so it is never buffered.
fn frame(buf: &BytesMut, max: usize) -> Result<Option<mqtt4::FixedHeader>, CodecError> {
    match mqtt4::check(buf.iter(), max) {
        Ok(header) if header.frame_length() > max => {
            Err(CodecError::TooLarge(header.frame_length()))
        }
        Ok(header) => Ok(Some(header)),
        Err(mqtt4::Error::InsufficientBytes(_)) => Ok(None),
        Err(mqtt4::Error::PayloadSizeLimitExceeded(len)) => Err(CodecError::TooLarge(len)),
        Err(e) => Err(e.into()),
    }
}

/// Takes the CONNECT from the front of `buf` and decides the protocol version: decoded with the
/// 3.1.1 codec, and when that reports level 5 (or cannot parse what follows the level byte, as
/// for a 5 CONNECT with properties), decoded again with the 5 codec.
pub(crate) fn decode_connect(
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Connect>, CodecError> {
    // Known from the first byte, before waiting for the rest of something that is not MQTT
    // (CONNECT is type 1 with no flags).
    if buf.first().is_some_and(|b| *b != 0x10) {
        return Err(CodecError::NotConnect);
    }
    let Some(header) = frame(buf, max)? else {
        return Ok(None);
    };
    let packet = buf.split_to(header.frame_length());
    match v4::Packet::read(&mut packet.clone(), max) {
        Ok(v4::Packet::Connect(c)) if c.protocol == mqtt4::Protocol::V4 => Ok(Some(from_v4(c))),
        Err(mqtt4::Error::InvalidProtocolLevel(level)) => {
            Err(CodecError::UnsupportedVersion(format!("level {level}")))
        }
        // MQTT 3.1 is "MQIsdp" level 3.
        Err(mqtt4::Error::InvalidProtocol) => {
            Err(CodecError::UnsupportedVersion("name".to_owned()))
        }
        _ => match v5::Packet::read(&mut packet.clone(), Some(u32::MAX)) {
            Ok(v5::Packet::Connect(c, will, login)) => from_v5(c, will, login).map(Some),
            Ok(_) => Err(CodecError::NotConnect),
            Err(e) => Err(e.into()),
        },
    }
}

fn from_v4(c: v4::Connect) -> Connect {
    Connect {
        version: Version::V4,
        session_expiry: if c.clean_session { 0 } else { u32::MAX },
        clean_start: c.clean_session,
        keep_alive: c.keep_alive,
        login: c.login.map(|l| (l.username, l.password)),
        will: c.last_will.map(|w| Will {
            topic: w.topic,
            payload: w.message,
            qos: w.qos as u8,
        }),
        client_id: c.client_id,
        auth_method: false,
    }
}

fn from_v5(
    c: v5::Connect,
    will: Option<v5::LastWill>,
    login: Option<v5::Login>,
) -> Result<Connect, CodecError> {
    let will = match will {
        Some(w) => Some(Will {
            topic: utf8(&w.topic)?,
            payload: w.message,
            qos: w.qos as u8,
        }),
        None => None,
    };
    let properties = c.properties.as_ref();
    Ok(Connect {
        version: Version::V5,
        client_id: c.client_id,
        clean_start: c.clean_start,
        keep_alive: c.keep_alive,
        login: login.map(|l| (l.username, l.password)),
        will,
        session_expiry: properties
            .and_then(|p| p.session_expiry_interval)
            .unwrap_or(0),
        auth_method: properties.is_some_and(|p| p.authentication_method.is_some()),
    })
}

fn utf8(bytes: &Bytes) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CodecError::Malformed("a topic is not UTF-8".to_owned()))
}

/// Takes the next packet from the front of `buf` (`None` while it is incomplete).
pub(crate) fn decode(
    version: Version,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Inbound>, CodecError> {
    let Some(header) = frame(buf, max)? else {
        return Ok(None);
    };
    let kind = header.packet_type()?;
    match version {
        Version::V4 => Ok(Some(from_v4_packet(v4::Packet::read(buf, max)?, kind))),
        Version::V5 if kind == mqtt4::PacketType::Disconnect => {
            let packet = buf.split_to(header.frame_length());
            // The remaining length's bytes end at the first without the continuation bit; the
            // reason code (0 when absent) comes next.
            let body = packet[1..]
                .iter()
                .position(|b| b & 0x80 == 0)
                .map_or(packet.len(), |i| i + 2);
            let reason = packet.get(body).copied().unwrap_or(0);
            Ok(Some(Inbound::Disconnect {
                will: reason == v5::DisconnectReasonCode::DisconnectWithWillMessage as u8,
            }))
        }
        Version::V5 => from_v5_packet(v5::Packet::read(buf, Some(u32::MAX))?, kind).map(Some),
    }
}

fn from_v4_packet(packet: v4::Packet, kind: mqtt4::PacketType) -> Inbound {
    match packet {
        v4::Packet::Publish(p) => Inbound::Publish(Publish {
            qos: p.qos as u8,
            pkid: p.pkid,
            topic: p.topic,
            payload: p.payload,
            topic_alias: false,
        }),
        v4::Packet::Subscribe(s) => Inbound::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, f.qos as u8))
                .collect(),
        },
        v4::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
            pkid: u.pkid,
            filters: u.topics.len(),
        },
        v4::Packet::PingReq => Inbound::PingReq,
        v4::Packet::Disconnect => Inbound::Disconnect { will: false },
        _ => Inbound::Unexpected(kind),
    }
}

fn from_v5_packet(packet: v5::Packet, kind: mqtt4::PacketType) -> Result<Inbound, CodecError> {
    Ok(match packet {
        v5::Packet::Publish(p) => Inbound::Publish(Publish {
            topic: utf8(&p.topic)?,
            qos: p.qos as u8,
            pkid: p.pkid,
            topic_alias: p.properties.is_some_and(|p| p.topic_alias.is_some()),
            payload: p.payload,
        }),
        v5::Packet::Subscribe(s) => Inbound::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, f.qos as u8))
                .collect(),
        },
        v5::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
            pkid: u.pkid,
            filters: u.filters.len(),
        },
        v5::Packet::PingReq(_) => Inbound::PingReq,
        v5::Packet::Disconnect(d) => Inbound::Disconnect {
            will: d.reason_code == v5::DisconnectReasonCode::DisconnectWithWillMessage,
        },
        _ => Inbound::Unexpected(kind),
    })
}

/// Appends `packet`, in `version`'s encoding, to `out`.
pub(crate) fn encode(version: Version, packet: Outbound, out: &mut BytesMut) {
    let written = match version {
        Version::V4 => match to_v4(packet) {
            Some(p) => p
                .write(out, usize::MAX)
                .map(drop)
                .map_err(|e| e.to_string()),
            None => Ok(()),
        },
        Version::V5 => to_v5(packet)
            .write(out, None)
            .map(drop)
            .map_err(|e| e.to_string()),
    };
    // Only a packet over 256 MiB fails to encode; the endpoint's are a few bytes.
    if let Err(e) = written {
        tracing::error!(error = %e, "could not encode an MQTT packet");
    }
}

fn qos4(qos: u8) -> mqtt4::QoS {
    match qos {
        0 => mqtt4::QoS::AtMostOnce,
        _ => mqtt4::QoS::AtLeastOnce,
    }
}

fn qos5(qos: u8) -> mqtt5::QoS {
    match qos {
        0 => mqtt5::QoS::AtMostOnce,
        _ => mqtt5::QoS::AtLeastOnce,
    }
}

fn to_v4(packet: Outbound) -> Option<v4::Packet> {
    use v4::ConnectReturnCode as Code;
    Some(match packet {
        Outbound::ConnAck {
            session_present, ..
        } => v4::Packet::ConnAck(v4::ConnAck::new(Code::Success, session_present)),
        Outbound::ConnRefused(refusal) => {
            let code = match refusal {
                ConnectRefusal::UnsupportedVersion => Code::RefusedProtocolVersion,
                ConnectRefusal::BadCredentials => Code::BadUserNamePassword,
                ConnectRefusal::BadClientId => Code::BadClientId,
                ConnectRefusal::Unavailable => Code::ServiceUnavailable,
                ConnectRefusal::NotAuthorized
                | ConnectRefusal::QosNotSupported
                | ConnectRefusal::BadAuthMethod => Code::NotAuthorized,
            };
            v4::Packet::ConnAck(v4::ConnAck::new(code, false))
        }
        Outbound::PubAck { pkid, .. } => v4::Packet::PubAck(v4::PubAck::new(pkid)),
        Outbound::SubAck { pkid, granted } => v4::Packet::SubAck(v4::SubAck::new(
            pkid,
            granted
                .into_iter()
                .map(|g| match g {
                    Some(qos) => v4::SubscribeReasonCode::Success(qos4(qos)),
                    None => v4::SubscribeReasonCode::Failure,
                })
                .collect(),
        )),
        Outbound::UnsubAck { pkid, .. } => v4::Packet::UnsubAck(v4::UnsubAck::new(pkid)),
        Outbound::PingResp => v4::Packet::PingResp,
        Outbound::Disconnect(_) => return None,
    })
}

fn to_v5(packet: Outbound) -> v5::Packet {
    use v5::ConnectReturnCode as Code;
    match packet {
        Outbound::ConnAck {
            session_present,
            assigned_client_id,
            advertised,
        } => v5::Packet::ConnAck(v5::ConnAck {
            session_present,
            code: Code::Success,
            properties: Some(v5::ConnAckProperties {
                session_expiry_interval: None,
                receive_max: Some(advertised.receive_maximum),
                max_qos: Some(1),
                // Retained publishes are taken like any other (no subscriber ever reads one
                // back, so storing them for later would change nothing anyone can see).
                retain_available: None,
                max_packet_size: Some(advertised.maximum_packet_size),
                assigned_client_identifier: assigned_client_id,
                // No aliases (absent means 0), no subscription ids, no shared subscriptions.
                topic_alias_max: None,
                reason_string: None,
                user_properties: Vec::new(),
                wildcard_subscription_available: None,
                subscription_identifiers_available: Some(0),
                shared_subscription_available: Some(0),
                server_keep_alive: None,
                response_information: None,
                server_reference: None,
                authentication_method: None,
                authentication_data: None,
            }),
        }),
        Outbound::ConnRefused(refusal) => v5::Packet::ConnAck(v5::ConnAck {
            session_present: false,
            code: match refusal {
                ConnectRefusal::UnsupportedVersion => Code::UnsupportedProtocolVersion,
                ConnectRefusal::BadCredentials => Code::BadUserNamePassword,
                ConnectRefusal::NotAuthorized => Code::NotAuthorized,
                ConnectRefusal::BadClientId => Code::ClientIdentifierNotValid,
                ConnectRefusal::QosNotSupported => Code::QoSNotSupported,
                ConnectRefusal::BadAuthMethod => Code::BadAuthenticationMethod,
                ConnectRefusal::Unavailable => Code::ServerUnavailable,
            },
            properties: None,
        }),
        Outbound::PubAck { pkid, authorized } => v5::Packet::PubAck(v5::PubAck {
            pkid,
            reason: if authorized {
                v5::PubAckReason::Success
            } else {
                v5::PubAckReason::NotAuthorized
            },
            properties: None,
        }),
        Outbound::SubAck { pkid, granted } => v5::Packet::SubAck(v5::SubAck {
            pkid,
            return_codes: granted
                .into_iter()
                .map(|g| match g {
                    Some(qos) => v5::SubscribeReasonCode::Success(qos5(qos)),
                    None => v5::SubscribeReasonCode::NotAuthorized,
                })
                .collect(),
            properties: None,
        }),
        Outbound::UnsubAck { pkid, filters } => v5::Packet::UnsubAck(v5::UnsubAck {
            pkid,
            reasons: vec![v5::UnsubAckReason::Success; filters],
            properties: None,
        }),
        Outbound::PingResp => v5::Packet::PingResp(v5::PingResp),
        Outbound::Disconnect(reason) => {
            use v5::DisconnectReasonCode as R;
            let reason_code = match reason {
                DisconnectReason::ProtocolError => R::ProtocolError,
                DisconnectReason::MalformedPacket => R::MalformedPacket,
                DisconnectReason::PacketTooLarge => R::PacketTooLarge,
                DisconnectReason::QosNotSupported => R::QoSNotSupported,
                DisconnectReason::TopicAliasInvalid => R::TopicAliasInvalid,
                DisconnectReason::KeepAliveTimeout => R::KeepAliveTimeout,
                DisconnectReason::SessionTakenOver => R::SessionTakenOver,
                DisconnectReason::ServerShuttingDown => R::ServerShuttingDown,
                DisconnectReason::UnspecifiedError => R::UnspecifiedError,
            };
            // Always with properties: rumqttc 0.25 writes a reason code without properties one
            // byte longer than the remaining length it declares.
            v5::Packet::Disconnect(v5::Disconnect {
                reason_code,
                properties: Some(v5::DisconnectProperties {
                    session_expiry_interval: None,
                    reason_string: Some(format!("{reason_code:?}")),
                    user_properties: Vec::new(),
                    server_reference: None,
                }),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_bytes(packet: v4::Packet) -> BytesMut {
        let mut b = BytesMut::new();
        packet.write(&mut b, usize::MAX).unwrap();
        b
    }

    fn v5_bytes(packet: v5::Packet) -> BytesMut {
        let mut b = BytesMut::new();
        packet.write(&mut b, None).unwrap();
        b
    }

    #[test]
    fn the_version_comes_from_the_connect() {
        let mut c = v4::Connect::new("trk");
        c.set_login("trk", "pw");
        let mut buf = v4_bytes(v4::Packet::Connect(c));
        let got = decode_connect(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(got.version, Version::V4);
        assert_eq!(got.login, Some(("trk".into(), "pw".into())));
        assert!(buf.is_empty());

        let mut props = v5::ConnectProperties::new();
        props.session_expiry_interval = Some(30);
        props.receive_maximum = Some(10);
        let connect = v5::Connect {
            keep_alive: 5,
            client_id: "trk5".into(),
            clean_start: false,
            properties: Some(props),
        };
        let will = v5::LastWill::new(
            "fieldops/v1/trk/status",
            "offline",
            mqtt5::QoS::AtMostOnce,
            false,
            None,
        );
        let login = v5::Login::new("trk", "pw");
        let mut buf = v5_bytes(v5::Packet::Connect(connect, Some(will), Some(login)));
        let got = decode_connect(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(got.version, Version::V5);
        assert_eq!(got.client_id, "trk5");
        assert_eq!(got.session_expiry, 30);
        assert_eq!(got.will.unwrap().topic, "fieldops/v1/trk/status");
    }

    #[test]
    fn other_levels_are_unsupported() {
        let mut buf = v4_bytes(v4::Packet::Connect(v4::Connect::new("x")));
        // The level byte follows the 2-byte length and "MQTT".
        let level = 2 + 2 + 4;
        buf[level] = 3;
        assert!(matches!(
            decode_connect(&mut buf, 1024),
            Err(CodecError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn oversized_packets_are_refused_from_the_fixed_header() {
        // A PUBLISH declaring 10 MB, of which only the fixed header arrived.
        let mut buf = BytesMut::from(&[0x32, 0x80, 0xad, 0xe2, 0x04][..]);
        assert!(matches!(
            decode(Version::V4, &mut buf, 1024),
            Err(CodecError::TooLarge(10_000_000))
        ));
        // Exactly the limit passes framing; one byte more does not.
        let p = v4::Publish::new("t", mqtt4::QoS::AtMostOnce, vec![0; 10]);
        let size = p.size();
        let mut buf = v4_bytes(v4::Packet::Publish(p));
        assert!(decode(Version::V4, &mut buf.clone(), size)
            .unwrap()
            .is_some());
        assert!(matches!(
            decode(Version::V4, &mut buf, size - 1),
            Err(CodecError::TooLarge(_))
        ));
    }

    /// A fixed header of any packet type and flags, a remaining length that may or may not
    /// match, then arbitrary bytes: what a hostile client can send after connecting.
    fn hostile_packet() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        (
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..4),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(first, length, body)| {
                let mut bytes = vec![first];
                match length.first() {
                    // A remaining length that matches the body, so decoding goes past framing.
                    Some(b) if b % 2 == 0 => {
                        let mut n = body.len();
                        loop {
                            let byte = u8::try_from(n % 128).unwrap_or(0);
                            n /= 128;
                            bytes.push(if n > 0 { byte | 0x80 } else { byte });
                            if n == 0 {
                                break;
                            }
                        }
                    }
                    _ => bytes.extend(&length),
                }
                bytes.extend(body);
                bytes
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3_000))]

        /// Any bytes, framed or not, answer a packet, "need more" or an error: never a panic,
        /// and never a buffer that grows past the packet limit.
        #[test]
        fn hostile_bytes_never_panic(bytes in hostile_packet(), max in 2usize..512) {
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode_connect(&mut buf, max);
            for version in [Version::V4, Version::V5] {
                let mut buf = BytesMut::from(&bytes[..]);
                // Each packet taken shortens the buffer; stop at "need more" or an error.
                for _ in 0..bytes.len() + 1 {
                    match decode(version, &mut buf, max) {
                        Ok(Some(_)) if !buf.is_empty() => continue,
                        _ => break,
                    }
                }
                proptest::prop_assert!(buf.len() <= bytes.len());
            }
        }

        /// A CONNECT of either version with arbitrary fields after a valid header still
        /// answers without a panic.
        #[test]
        fn hostile_connects_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            level in proptest::prelude::any::<u8>(),
        ) {
            let mut packet = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level];
            packet.extend(body);
            let mut bytes = vec![0x10];
            let len = u8::try_from(packet.len().min(127)).unwrap_or(127);
            bytes.push(len);
            bytes.extend(packet.into_iter().take(usize::from(len)));
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode_connect(&mut buf, 1024);
        }
    }

    #[test]
    fn garbage_is_malformed_or_not_a_connect() {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(decode_connect(&mut buf, 1024).is_err());
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(decode_connect(&mut buf, usize::MAX).is_err());
    }

    /// Everything the endpoint writes reads back with the client side of the same codec, and
    /// nothing is left over (a wrong remaining length would leave or eat bytes).
    #[test]
    fn what_is_written_reads_back() {
        let packets = || {
            let advertised = Advertised {
                receive_maximum: 10,
                maximum_packet_size: 1000,
            };
            vec![
                Outbound::ConnAck {
                    session_present: true,
                    assigned_client_id: Some("x".into()),
                    advertised,
                },
                Outbound::ConnRefused(ConnectRefusal::BadCredentials),
                Outbound::PubAck {
                    pkid: 1,
                    authorized: true,
                },
                Outbound::SubAck {
                    pkid: 2,
                    granted: vec![Some(1), None],
                },
                Outbound::UnsubAck {
                    pkid: 3,
                    filters: 2,
                },
                Outbound::PingResp,
            ]
        };
        for version in [Version::V4, Version::V5] {
            let mut out = BytesMut::new();
            for p in packets() {
                encode(version, p, &mut out);
            }
            for _ in packets() {
                match version {
                    Version::V4 => drop(v4::Packet::read(&mut out, usize::MAX).unwrap()),
                    Version::V5 => drop(v5::Packet::read(&mut out, None).unwrap()),
                }
            }
            assert!(out.is_empty(), "{version:?}");
        }
        let mut out = BytesMut::new();
        encode(
            Version::V5,
            Outbound::PubAck {
                pkid: 4,
                authorized: false,
            },
            &mut out,
        );
        encode(
            Version::V5,
            Outbound::Disconnect(DisconnectReason::QosNotSupported),
            &mut out,
        );
        match v5::Packet::read(&mut out, None).unwrap() {
            v5::Packet::PubAck(a) => assert_eq!(a.reason, v5::PubAckReason::NotAuthorized),
            other => panic!("{other:?}"),
        }
        match v5::Packet::read(&mut out, None).unwrap() {
            v5::Packet::Disconnect(d) => {
                assert_eq!(d.reason_code, v5::DisconnectReasonCode::QoSNotSupported)
            }
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty());
        // MQTT 3.1.1 has no DISCONNECT from the server: nothing is written.
        encode(
            Version::V4,
            Outbound::Disconnect(DisconnectReason::QosNotSupported),
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn short_v5_disconnects_are_read() {
        for (bytes, will) in [
            (&[0xe0, 0x00][..], false),
            (&[0xe0, 0x01, 0x04][..], true),
            (&[0xe0, 0x02, 0x00, 0x00][..], false),
        ] {
            let mut buf = BytesMut::from(bytes);
            match decode(Version::V5, &mut buf, 1024).unwrap() {
                Some(Inbound::Disconnect { will: w }) => assert_eq!(w, will, "{bytes:?}"),
                other => panic!("{other:?}"),
            }
            assert!(buf.is_empty());
        }
    }
}
