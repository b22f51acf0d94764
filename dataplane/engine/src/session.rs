//! The join handshake of one connection, as a state machine.
//!
//! ```text
//!  AwaitingAuth --AuthToken ok--> AwaitingOffer --CallOffer ok--> Joined --Hangup--> Closed
//!       |  (only when the gate is on)    |                           |
//!       +-- anything else / bad token ---+-- v!=2, bad sig, other ---+--> Closed (rejected)
//!  deadline passes before Joined --> Closed (Timeout)
//! ```
//!
//! Inputs are decoded signal messages and `now`; outputs are [`Outcome`]s the shard carries
//! out (send a message, join the room, hang up and close). Randomness (the relay's ephemeral
//! X25519 key) is passed in, so tests are deterministic.

use crate::identity::{self, Identity, ANSWER_CONTEXT, OFFER_CONTEXT};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use switchyard_proto::control::BanKind;
use switchyard_proto::signal::{
    default_signal_version, HangupReason, QualityProfile, SignalMessage, ViolationCode,
    PROTOCOL_VERSION,
};
use switchyard_proto::Tier;

/// The optional AuthToken gate: when set, the first signal must carry one of these tokens.
#[derive(Debug, Clone, Default)]
pub struct AuthGate {
    tokens: Option<HashSet<String>>,
}

impl AuthGate {
    pub fn open() -> Self {
        Self { tokens: None }
    }

    pub fn with_tokens(tokens: impl IntoIterator<Item = String>) -> Self {
        Self {
            tokens: Some(tokens.into_iter().collect()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.tokens.is_some()
    }

    fn accepts(&self, token: &str) -> bool {
        self.tokens.as_ref().is_some_and(|t| t.contains(token))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    AwaitingAuth,
    AwaitingOffer,
    Joined,
    Closed,
}

/// Why a connection was refused. Each has a QUIC application close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    AuthMissing,
    AuthInvalid,
    ProtocolVersion,
    BadSignature,
    UnexpectedMessage,
    Timeout,
    RoomFull,
    /// Tier G: the identity is cooling down or blocked after a conformance hang-up.
    Banned {
        code: ViolationCode,
        kind: BanKind,
    },
    /// The CallOffer's alias is longer than [`MAX_ALIAS_BYTES`]: it would be copied into
    /// every RoomUpdate to every member.
    AliasTooLong,
    /// A signal frame before the join was refused (oversized, truncated, not JSON).
    BadFrame,
}

/// The longest alias a CallOffer may carry, in bytes of UTF-8.
pub const MAX_ALIAS_BYTES: usize = 256;

impl Rejection {
    /// Application error code in the CONNECTION_CLOSE frame.
    pub fn close_code(self) -> u64 {
        match self {
            Self::AuthMissing | Self::AuthInvalid => 0x101,
            Self::ProtocolVersion => 0x102,
            Self::BadSignature => 0x103,
            Self::RoomFull => 0x104,
            Self::Timeout => 0x105,
            Self::UnexpectedMessage => 0x106,
            Self::Banned { .. } => 0x108,
            Self::AliasTooLong => 0x109,
            Self::BadFrame => 0x10a,
        }
    }

    /// Reason phrase in the CONNECTION_CLOSE frame.
    pub fn label(self) -> &'static str {
        match self {
            Self::AuthMissing => "auth token required",
            Self::AuthInvalid => "auth token rejected",
            Self::ProtocolVersion => "protocol version mismatch",
            Self::BadSignature => "call offer signature invalid",
            Self::UnexpectedMessage => "unexpected signal message",
            Self::Timeout => "handshake timeout",
            Self::RoomFull => "room full",
            Self::Banned {
                kind: BanKind::Cooldown,
                ..
            } => "cooling down after a policy violation",
            Self::Banned {
                kind: BanKind::Blocked,
                ..
            } => "blocked after repeated policy violations",
            Self::AliasTooLong => "alias too long",
            Self::BadFrame => "signal frame refused before joining",
        }
    }

    /// The typed Hangup the relay sends before closing.
    pub fn hangup(self) -> SignalMessage {
        SignalMessage::hangup(match self {
            Self::ProtocolVersion => HangupReason::ProtocolVersionMismatch {
                server_supported: vec![PROTOCOL_VERSION],
            },
            Self::AuthMissing | Self::AuthInvalid => HangupReason::Declined,
            Self::RoomFull => HangupReason::Busy,
            Self::Timeout => HangupReason::Timeout,
            Self::BadSignature | Self::UnexpectedMessage | Self::AliasTooLong | Self::BadFrame => {
                HangupReason::Error
            }
            Self::Banned { code, .. } => HangupReason::PolicyViolation {
                code,
                reason: self.label().to_owned(),
            },
        })
    }
}

/// What the shard must do after feeding the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing (the message is ignored in this state).
    Nothing,
    /// Send this message on a new stream.
    Reply(SignalMessage),
    /// The offer is valid: send `answer`, then join the room.
    Join {
        answer: SignalMessage,
        fingerprint: String,
        alias: Option<String>,
    },
    /// Send the rejection's Hangup, then close the connection.
    Reject(Rejection),
    /// The participant hung up: leave the room and close normally.
    Leave,
    /// A receiver lost the picture of `stream_id`: ask that stream's publisher for a keyframe.
    PictureLoss { stream_id: u8 },
    /// The participant answered an upgrade proposal: tell the judge.
    UpgradeAnswer { proposal_id: u64, accepted: bool },
    /// The participant takes at most `max`: tell the judge.
    Capability { max: Tier },
}

#[derive(Debug)]
pub struct Session {
    state: State,
    deadline: Instant,
}

impl Session {
    /// A session for a connection accepted at `now`; it must join within `timeout`.
    pub fn new(gate: &AuthGate, now: Instant, timeout: Duration) -> Self {
        Self::until(gate, now + timeout)
    }

    /// A session that must join by `deadline`.
    pub fn until(gate: &AuthGate, deadline: Instant) -> Self {
        let state = if gate.is_enabled() {
            State::AwaitingAuth
        } else {
            State::AwaitingOffer
        };
        Self { state, deadline }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// When [`Session::on_timeout`] must run; `None` once joined or closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        matches!(self.state, State::AwaitingAuth | State::AwaitingOffer).then_some(self.deadline)
    }

    pub fn on_timeout(&mut self, now: Instant) -> Option<Rejection> {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.state = State::Closed;
            return Some(Rejection::Timeout);
        }
        None
    }

    /// The shard refused the valid offer (`why`: the room is full, or the identity is
    /// banned): the session ends with that rejection.
    pub fn on_join_refused(&mut self, why: Rejection) -> Rejection {
        self.state = State::Closed;
        why
    }

    /// The connection went away.
    pub fn on_closed(&mut self) {
        self.state = State::Closed;
    }

    /// Feeds one signal message. `relay_ephemeral` is a fresh X25519 secret for the answer.
    /// A signal frame was refused (oversized, truncated, not JSON). Before the join that
    /// ends the session with a typed refusal; after it, only the frame's stream is reset.
    pub fn on_frame_refused(&mut self) -> Option<Rejection> {
        match self.state {
            State::AwaitingAuth | State::AwaitingOffer => {
                self.state = State::Closed;
                Some(Rejection::BadFrame)
            }
            State::Joined | State::Closed => None,
        }
    }

    pub fn on_signal(
        &mut self,
        message: SignalMessage,
        gate: &AuthGate,
        relay: &Identity,
        relay_ephemeral: [u8; 32],
    ) -> Outcome {
        match (self.state, message) {
            (State::AwaitingAuth, SignalMessage::AuthToken { token, .. }) => {
                if gate.accepts(&token) {
                    self.state = State::AwaitingOffer;
                    Outcome::Nothing
                } else {
                    self.reject(Rejection::AuthInvalid)
                }
            }
            (State::AwaitingAuth, _) => self.reject(Rejection::AuthMissing),
            (State::AwaitingOffer, offer @ SignalMessage::CallOffer { .. }) => {
                self.on_offer(offer, relay, relay_ephemeral)
            }
            (State::AwaitingOffer, SignalMessage::AuthToken { .. }) => Outcome::Nothing,
            (State::AwaitingOffer, _) => self.reject(Rejection::UnexpectedMessage),
            (State::Joined, SignalMessage::Hangup { .. }) => {
                self.state = State::Closed;
                Outcome::Leave
            }
            (State::Joined, SignalMessage::Ping { timestamp_ms, .. }) => {
                Outcome::Reply(SignalMessage::Pong {
                    version: default_signal_version(),
                    timestamp_ms,
                })
            }
            (State::Joined, SignalMessage::PictureLossIndication { stream_id, .. }) => {
                Outcome::PictureLoss { stream_id }
            }
            (
                State::Joined,
                SignalMessage::UpgradeResponse {
                    proposal_id,
                    accepted,
                    ..
                },
            ) => Outcome::UpgradeAnswer {
                proposal_id,
                accepted,
            },
            (State::Joined, SignalMessage::QualityCapability { max_profile, .. }) => {
                Tier::from_profile(&max_profile)
                    .map_or(Outcome::Nothing, |max| Outcome::Capability { max })
            }
            (State::Joined, _) | (State::Closed, _) => Outcome::Nothing,
        }
    }

    fn on_offer(
        &mut self,
        offer: SignalMessage,
        relay: &Identity,
        relay_ephemeral: [u8; 32],
    ) -> Outcome {
        let SignalMessage::CallOffer {
            identity_pub,
            ephemeral_pub,
            signature,
            alias,
            protocol_version,
            video_codecs,
            ..
        } = offer
        else {
            return self.reject(Rejection::UnexpectedMessage);
        };
        if protocol_version != PROTOCOL_VERSION {
            return self.reject(Rejection::ProtocolVersion);
        }
        if !identity::verify_handshake(&identity_pub, &ephemeral_pub, OFFER_CONTEXT, &signature) {
            return self.reject(Rejection::BadSignature);
        }
        if alias.as_ref().is_some_and(|a| a.len() > MAX_ALIAS_BYTES) {
            return self.reject(Rejection::AliasTooLong);
        }
        let secret = x25519_dalek::StaticSecret::from(relay_ephemeral);
        let relay_eph_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
        self.state = State::Joined;
        Outcome::Join {
            answer: SignalMessage::CallAnswer {
                version: default_signal_version(),
                identity_pub: relay.public(),
                ephemeral_pub: relay_eph_pub,
                signature: relay.sign_handshake(&relay_eph_pub, ANSWER_CONTEXT),
                chosen_profile: QualityProfile::GOOD,
                video_codec: video_codecs.first().copied(),
            },
            fingerprint: identity::fingerprint(&identity_pub),
            alias,
        }
    }

    fn reject(&mut self, why: Rejection) -> Outcome {
        self.state = State::Closed;
        Outcome::Reject(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::codec::CodecId;

    fn origin() -> Instant {
        switchyard_testclock::origin()
    }

    fn relay() -> Identity {
        Identity::relay_from_seed(&[7; 32])
    }

    fn offer(caller: &Identity, version: u8, tamper: bool) -> SignalMessage {
        let eph = [3u8; 32];
        let mut signature = caller.sign_handshake(&eph, OFFER_CONTEXT);
        if tamper {
            signature[0] ^= 1;
        }
        SignalMessage::CallOffer {
            version: 1,
            identity_pub: caller.public(),
            ephemeral_pub: eph,
            signature,
            supported_profiles: vec![QualityProfile::GOOD],
            alias: Some("alice".into()),
            protocol_version: version,
            supported_versions: vec![version],
            video_codecs: vec![CodecId::H265Main, CodecId::H264Baseline],
        }
    }

    fn token(t: &str) -> SignalMessage {
        SignalMessage::AuthToken {
            version: 1,
            token: t.into(),
        }
    }

    #[test]
    fn open_gate_starts_awaiting_offer_and_joins_on_valid_offer() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        assert_eq!(s.state(), State::AwaitingOffer);
        let caller = Identity::from_secret([1; 32]);
        let out = s.on_signal(offer(&caller, 2, false), &gate, &relay(), [11; 32]);
        let Outcome::Join {
            answer,
            fingerprint,
            alias,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(fingerprint, caller.fingerprint());
        assert_eq!(alias.as_deref(), Some("alice"));
        let SignalMessage::CallAnswer {
            identity_pub,
            ephemeral_pub,
            signature,
            chosen_profile,
            video_codec,
            ..
        } = answer
        else {
            panic!("not an answer")
        };
        assert_eq!(identity_pub, relay().public());
        assert!(identity::verify_handshake(
            &identity_pub,
            &ephemeral_pub,
            ANSWER_CONTEXT,
            &signature
        ));
        assert_eq!(chosen_profile, QualityProfile::GOOD);
        assert_eq!(
            video_codec,
            Some(CodecId::H265Main),
            "first of the caller's list"
        );
        assert_eq!(s.state(), State::Joined);
        assert_eq!(s.poll_timeout(), None, "joined sessions have no deadline");
    }

    #[test]
    fn protocol_version_1_is_rejected_with_typed_hangup() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        let out = s.on_signal(
            offer(&Identity::from_secret([1; 32]), 1, false),
            &gate,
            &relay(),
            [0; 32],
        );
        assert_eq!(out, Outcome::Reject(Rejection::ProtocolVersion));
        assert_eq!(s.state(), State::Closed);
        assert_eq!(
            Rejection::ProtocolVersion.hangup(),
            SignalMessage::hangup(HangupReason::ProtocolVersionMismatch {
                server_supported: vec![2]
            })
        );
    }

    #[test]
    fn bad_signature_is_rejected() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        let out = s.on_signal(
            offer(&Identity::from_secret([1; 32]), 2, true),
            &gate,
            &relay(),
            [0; 32],
        );
        assert_eq!(out, Outcome::Reject(Rejection::BadSignature));
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn gate_requires_a_known_token_first() {
        let gate = AuthGate::with_tokens(["secret".to_string()]);
        let caller = Identity::from_secret([1; 32]);

        let mut missing = Session::new(&gate, origin(), Duration::from_secs(10));
        assert_eq!(missing.state(), State::AwaitingAuth);
        assert_eq!(
            missing.on_signal(offer(&caller, 2, false), &gate, &relay(), [0; 32]),
            Outcome::Reject(Rejection::AuthMissing)
        );

        let mut wrong = Session::new(&gate, origin(), Duration::from_secs(10));
        assert_eq!(
            wrong.on_signal(token("nope"), &gate, &relay(), [0; 32]),
            Outcome::Reject(Rejection::AuthInvalid)
        );
        assert_eq!(wrong.state(), State::Closed);

        let mut good = Session::new(&gate, origin(), Duration::from_secs(10));
        assert_eq!(
            good.on_signal(token("secret"), &gate, &relay(), [0; 32]),
            Outcome::Nothing
        );
        assert_eq!(good.state(), State::AwaitingOffer);
        assert!(matches!(
            good.on_signal(offer(&caller, 2, false), &gate, &relay(), [0; 32]),
            Outcome::Join { .. }
        ));
    }

    #[test]
    fn non_offer_before_join_is_rejected() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        let out = s.on_signal(
            SignalMessage::Ping {
                version: 1,
                timestamp_ms: 1,
            },
            &gate,
            &relay(),
            [0; 32],
        );
        assert_eq!(out, Outcome::Reject(Rejection::UnexpectedMessage));
    }

    #[test]
    fn deadline_from_both_sides() {
        let gate = AuthGate::open();
        let t0 = origin();
        let mut s = Session::new(&gate, t0, Duration::from_secs(10));
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(s.on_timeout(t0 + Duration::from_millis(9_999)), None);
        assert_eq!(s.state(), State::AwaitingOffer);
        assert_eq!(
            s.on_timeout(t0 + Duration::from_secs(10)),
            Some(Rejection::Timeout)
        );
        assert_eq!(s.state(), State::Closed);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn joined_session_answers_ping_passes_pli_and_leaves_on_hangup() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        s.on_signal(
            offer(&Identity::from_secret([1; 32]), 2, false),
            &gate,
            &relay(),
            [0; 32],
        );
        assert_eq!(
            s.on_signal(
                SignalMessage::Ping {
                    version: 1,
                    timestamp_ms: 42
                },
                &gate,
                &relay(),
                [0; 32]
            ),
            Outcome::Reply(SignalMessage::Pong {
                version: 1,
                timestamp_ms: 42
            })
        );
        assert_eq!(
            s.on_signal(SignalMessage::Reflect, &gate, &relay(), [0; 32]),
            Outcome::Nothing
        );
        let pli = SignalMessage::PictureLossIndication {
            version: 1,
            stream_id: 2,
        };
        assert_eq!(
            s.on_signal(pli.clone(), &gate, &relay(), [0; 32]),
            Outcome::PictureLoss { stream_id: 2 }
        );
        assert_eq!(
            s.on_signal(
                SignalMessage::hangup(HangupReason::Normal),
                &gate,
                &relay(),
                [0; 32]
            ),
            Outcome::Leave
        );
        assert_eq!(s.state(), State::Closed);
        assert_eq!(
            s.on_signal(pli, &gate, &relay(), [0; 32]),
            Outcome::Nothing,
            "no PLI after leaving"
        );
    }

    #[test]
    fn joined_session_passes_upgrade_answers_and_capabilities_only_when_joined() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        let answer = SignalMessage::UpgradeResponse {
            version: 1,
            call_id: "room".into(),
            proposal_id: 9,
            accepted: false,
            reason: None,
        };
        assert!(
            matches!(
                s.on_signal(answer.clone(), &gate, &relay(), [0; 32]),
                Outcome::Reject(Rejection::UnexpectedMessage)
            ),
            "an answer before the offer is unexpected"
        );
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        s.on_signal(
            offer(&Identity::from_secret([1; 32]), 2, false),
            &gate,
            &relay(),
            [0; 32],
        );
        assert_eq!(
            s.on_signal(answer, &gate, &relay(), [0; 32]),
            Outcome::UpgradeAnswer {
                proposal_id: 9,
                accepted: false
            }
        );
        let capability = |max_profile| SignalMessage::QualityCapability {
            version: 1,
            call_id: String::new(),
            max_profile,
            loss_pct: None,
            rtt_ms: None,
        };
        assert_eq!(
            s.on_signal(
                capability(QualityProfile::DEGRADED),
                &gate,
                &relay(),
                [0; 32]
            ),
            Outcome::Capability {
                max: Tier::Degraded
            }
        );
        let mut off_ladder = QualityProfile::GOOD;
        off_ladder.codec = switchyard_proto::CodecId::Opus16k;
        assert_eq!(
            s.on_signal(capability(off_ladder), &gate, &relay(), [0; 32]),
            Outcome::Nothing,
            "a codec off the ladder caps nothing"
        );
    }

    #[test]
    fn an_alias_of_256_bytes_joins_and_one_of_257_is_refused() {
        let gate = AuthGate::open();
        let caller = Identity::from_secret([9; 32]);
        for (len, joins) in [(MAX_ALIAS_BYTES, true), (MAX_ALIAS_BYTES + 1, false)] {
            let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
            let mut message = offer(&caller, 2, false);
            if let SignalMessage::CallOffer { alias, .. } = &mut message {
                *alias = Some("é".repeat(len / 2) + &"x".repeat(len % 2));
            }
            let outcome = s.on_signal(message, &gate, &relay(), [0; 32]);
            if joins {
                assert!(
                    matches!(outcome, Outcome::Join { .. }),
                    "{len}: {outcome:?}"
                );
            } else {
                assert_eq!(outcome, Outcome::Reject(Rejection::AliasTooLong), "{len}");
                assert_eq!(s.state(), State::Closed);
                assert_eq!(
                    Rejection::AliasTooLong.hangup(),
                    SignalMessage::hangup(HangupReason::Error)
                );
            }
        }
    }

    #[test]
    fn a_refused_frame_ends_the_session_before_the_join_and_not_after() {
        let gate = AuthGate::with_tokens(["t".to_owned()]);
        let mut awaiting_auth = Session::new(&gate, origin(), Duration::from_secs(10));
        assert_eq!(awaiting_auth.on_frame_refused(), Some(Rejection::BadFrame));
        assert_eq!(awaiting_auth.state(), State::Closed);
        let mut awaiting_offer = Session::new(&AuthGate::open(), origin(), Duration::from_secs(10));
        assert_eq!(awaiting_offer.state(), State::AwaitingOffer);
        assert_eq!(awaiting_offer.on_frame_refused(), Some(Rejection::BadFrame));
        let mut joined = Session::new(&AuthGate::open(), origin(), Duration::from_secs(10));
        let caller = Identity::from_secret([9; 32]);
        joined.on_signal(
            offer(&caller, 2, false),
            &AuthGate::open(),
            &relay(),
            [0; 32],
        );
        assert_eq!(joined.state(), State::Joined);
        assert_eq!(joined.on_frame_refused(), None, "only that stream is reset");
        assert_eq!(joined.state(), State::Joined);
        assert_eq!(Rejection::BadFrame.close_code(), 0x10a);
    }

    #[test]
    fn join_refused_and_close_end_the_session() {
        let gate = AuthGate::open();
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        assert_eq!(s.on_join_refused(Rejection::RoomFull), Rejection::RoomFull);
        assert_eq!(s.state(), State::Closed);
        let mut s = Session::new(&gate, origin(), Duration::from_secs(10));
        s.on_closed();
        assert_eq!(s.state(), State::Closed);
        assert_eq!(
            Rejection::RoomFull.hangup(),
            SignalMessage::hangup(HangupReason::Busy)
        );
    }
}
