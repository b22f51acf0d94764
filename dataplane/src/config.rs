//! The relay's configuration: a TOML file (every key optional, unknown keys rejected with the
//! file and key named) and command-line overrides on top.

use crate::relay::{Pinning, RelayOptions};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchyard_controlplane::judge::JudgeConfig;
use switchyard_engine::admission::{AdmissionConfig, RetryPolicy};
use switchyard_engine::conformance::verdict::VerdictConfig;
use switchyard_engine::conformance::{ConformanceConfig, Mode};
use switchyard_engine::endpoint::{VideoSettings, SIGNAL_AFTER_JOIN, SIGNAL_BEFORE_JOIN};
use switchyard_proto::bans::BanPolicy;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// UDP address the relay listens on.
    pub listen: SocketAddr,
    /// Number of shards; 0 = one per CPU this process may run on.
    pub shards: u16,
    /// Pin shards to CPUs: "auto" (when there are enough CPUs), "on" or "off".
    pub pin: Pinning,
    /// The relay seed file (created on first start); the TLS certificate is written beside it.
    pub identity: PathBuf,
    /// env_logger filter, e.g. "info" or "switchyard_dataplane=debug".
    pub log_level: String,
    /// Directory of the per-port lock file; default $RUNTIME_DIRECTORY or a temp folder.
    pub lock_dir: Option<PathBuf>,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub video: VideoConfig,
    /// The control plane's quality judge (the `[quality]` table).
    pub quality: JudgeConfig,
    /// Each conformance tier's mode (the `[conformance]` table).
    pub conformance: ConformanceModes,
    /// Retry, half-open budgets and stateless replies (the `[admission]` table).
    pub admission: Admission,
}

/// New connections: when a Retry proves the client's address first, how many handshakes may
/// be pending, how often stateless replies go out (the `[admission]` table).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admission {
    /// "always", "under-pressure" (once a shard holds `retry_above_half_open` pending
    /// handshakes) or "never".
    pub retry: String,
    pub retry_above_half_open: usize,
    pub max_half_open_per_shard: usize,
    pub max_half_open_per_ip: usize,
    pub token_lifetime_ms: u64,
    pub version_negotiations_per_second: u32,
    pub stateless_resets_per_second: u32,
}

impl Default for Admission {
    fn default() -> Self {
        let d = AdmissionConfig::default();
        Self {
            retry: d.retry.name().to_owned(),
            retry_above_half_open: d.retry_above,
            max_half_open_per_shard: d.max_half_open,
            max_half_open_per_ip: d.max_half_open_per_ip,
            token_lifetime_ms: u64::try_from(d.token_lifetime.as_millis()).unwrap_or(u64::MAX),
            version_negotiations_per_second: d.version_negotiations_per_sec,
            stateless_resets_per_second: d.stateless_resets_per_sec,
        }
    }
}

impl Admission {
    fn validate(&self) -> Result<AdmissionConfig, String> {
        let retry = RetryPolicy::parse(&self.retry).ok_or_else(|| {
            format!(
                "admission.retry = {:?}: expected \"always\", \"under-pressure\" or \"never\"",
                self.retry
            )
        })?;
        if self.max_half_open_per_shard == 0 || self.max_half_open_per_ip == 0 {
            return Err(
                "admission.max_half_open_per_shard and max_half_open_per_ip must be positive"
                    .into(),
            );
        }
        if self.token_lifetime_ms == 0 {
            return Err("admission.token_lifetime_ms must be positive".into());
        }
        Ok(AdmissionConfig {
            retry,
            retry_above: self.retry_above_half_open,
            max_half_open: self.max_half_open_per_shard,
            max_half_open_per_ip: self.max_half_open_per_ip,
            token_lifetime: Duration::from_millis(self.token_lifetime_ms),
            version_negotiations_per_sec: self.version_negotiations_per_second,
            stateless_resets_per_sec: self.stateless_resets_per_second,
        })
    }
}

/// What a conformance tier does with a failing packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TierMode {
    Off,
    #[default]
    Observe,
    Enforce,
}

impl From<TierMode> for Mode {
    fn from(m: TierMode) -> Self {
        match m {
            TierMode::Off => Mode::Off,
            TierMode::Observe => Mode::Observe,
            TierMode::Enforce => Mode::Enforce,
        }
    }
}

/// The `[conformance]` table: one mode per tier (reference section 5), observe-only by
/// default, as the PRD's rollout begins; Tier F's verdict rule and Tier G's cool-down and
/// block times.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConformanceModes {
    /// A: bitrate ceiling per 1 s.
    pub bitrate: TierMode,
    /// B: packets per 1 s.
    pub packet_rate: TierMode,
    /// C: timestamps against sequence numbers (audio) or wall time (video).
    pub timestamp_drift: TierMode,
    /// D: payload-size EWMA.
    pub payload_size: TierMode,
    /// E: token bucket.
    pub rate_cap: TierMode,
    /// F: the audio and video scorers' verdicts (enforce: Suspect is throttled, Abusive hung
    /// up).
    pub scorers: TierMode,
    /// F: a score under `suspect_below` for `suspect_after_secs` is Suspect; under
    /// `abusive_below` for `abusive_after_secs`, Abusive.
    pub suspect_below: f64,
    pub suspect_after_secs: f64,
    pub abusive_below: f64,
    pub abusive_after_secs: f64,
    /// G: an identity hung up is refused this long (the PRD's 1 h)...
    pub cooldown_secs: u64,
    /// ...and this long if it is hung up again during its cool-down (24 h).
    pub block_secs: u64,
    /// G: identities held in the block list at most.
    pub max_bans: usize,
}

impl Default for ConformanceModes {
    fn default() -> Self {
        let verdict = VerdictConfig::default();
        let bans = BanPolicy::default();
        Self {
            bitrate: TierMode::default(),
            packet_rate: TierMode::default(),
            timestamp_drift: TierMode::default(),
            payload_size: TierMode::default(),
            rate_cap: TierMode::default(),
            scorers: TierMode::default(),
            suspect_below: verdict.suspect_below,
            suspect_after_secs: verdict.suspect_sustain.as_secs_f64(),
            abusive_below: verdict.abusive_below,
            abusive_after_secs: verdict.abusive_sustain.as_secs_f64(),
            cooldown_secs: bans.cooldown.as_secs(),
            block_secs: bans.block.as_secs(),
            max_bans: bans.capacity,
        }
    }
}

impl ConformanceModes {
    pub fn config(&self) -> ConformanceConfig {
        ConformanceConfig {
            modes: [
                self.bitrate.into(),
                self.packet_rate.into(),
                self.timestamp_drift.into(),
                self.payload_size.into(),
                self.rate_cap.into(),
            ],
            scorers: self.scorers.into(),
            verdict: VerdictConfig {
                suspect_below: self.suspect_below,
                suspect_sustain: Duration::from_secs_f64(self.suspect_after_secs),
                abusive_below: self.abusive_below,
                abusive_sustain: Duration::from_secs_f64(self.abusive_after_secs),
            },
            bans: BanPolicy {
                cooldown: Duration::from_secs(self.cooldown_secs),
                block: Duration::from_secs(self.block_secs),
                capacity: self.max_bans,
            },
        }
    }

    /// Scores are in [0, 1] and times are finite and not negative.
    fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("suspect_below", self.suspect_below),
            ("abusive_below", self.abusive_below),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("[conformance] {key} must be within 0..=1, not {v}"));
            }
        }
        for (key, v) in [
            ("suspect_after_secs", self.suspect_after_secs),
            ("abusive_after_secs", self.abusive_after_secs),
        ] {
            if !(v.is_finite() && (0.0..=1e9).contains(&v)) {
                return Err(format!(
                    "[conformance] {key} must be 0 or more seconds, not {v}"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When non-empty, clients must send one of these in an AuthToken before their CallOffer.
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Participants per group room (`call-*` rooms always hold two).
    pub room_capacity: usize,
    pub max_connections_per_shard: usize,
    /// A connection must complete the join handshake within this time.
    pub handshake_timeout_ms: u64,
    /// QUIC idle timeout.
    pub idle_timeout_ms: u64,
    /// Datagrams quiche may queue per connection and direction; beyond it forwards drop.
    pub datagram_queue: usize,
    /// Bytes one connection's outgoing datagram queue holds; a receiver that falls behind
    /// loses its oldest queued media first.
    pub datagram_queue_bytes: usize,
    /// Bytes of unfinished signal frames a connection holds before it joins, and once joined.
    pub signal_bytes_before_join: usize,
    pub signal_bytes_after_join: usize,
    /// An unfinished signal frame must be finished within this.
    pub signal_frame_deadline_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            room_capacity: 100,
            max_connections_per_shard: 10_000,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            datagram_queue: 1024,
            datagram_queue_bytes: switchyard_engine::endpoint::DEFAULT_DATAGRAM_QUEUE_BYTES,
            signal_bytes_before_join: SIGNAL_BEFORE_JOIN.buffered_bytes,
            signal_bytes_after_join: SIGNAL_AFTER_JOIN.buffered_bytes,
            signal_frame_deadline_ms: 5_000,
        }
    }
}

/// Keyframe cache, PLI and simulcast limits (the `[video]` table).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    pub keyframe_cache_stream_bytes: usize,
    pub keyframe_cache_shard_bytes: usize,
    /// One room's caches, and one sender's streams, at most.
    pub keyframe_cache_room_bytes: usize,
    pub keyframe_cache_sender_bytes: usize,
    pub pli_window_ms: u64,
    pub pli_per_participant_per_second: u32,
    pub layer_high_kbps: u32,
    pub layer_mid_kbps: u32,
    pub layer_hysteresis_ms: u64,
    pub layer_keyframe_wait_ms: u64,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self::from_settings(&VideoSettings::default())
    }
}

impl VideoConfig {
    fn from_settings(v: &VideoSettings) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            keyframe_cache_stream_bytes: v.keyframe_stream_cap,
            keyframe_cache_shard_bytes: v.keyframe_shard_cap,
            keyframe_cache_room_bytes: v.keyframe_room_share,
            keyframe_cache_sender_bytes: v.keyframe_sender_share,
            pli_window_ms: ms(v.pli.window),
            pli_per_participant_per_second: v.pli.per_second,
            layer_high_kbps: v.layers.high_kbps,
            layer_mid_kbps: v.layers.mid_kbps,
            layer_hysteresis_ms: ms(v.layers.hysteresis),
            layer_keyframe_wait_ms: ms(v.layers.keyframe_wait),
        }
    }

    pub fn settings(&self) -> VideoSettings {
        let mut v = VideoSettings {
            keyframe_stream_cap: self.keyframe_cache_stream_bytes,
            keyframe_shard_cap: self.keyframe_cache_shard_bytes,
            keyframe_room_share: self.keyframe_cache_room_bytes,
            keyframe_sender_share: self.keyframe_cache_sender_bytes,
            ..VideoSettings::default()
        };
        v.pli.window = Duration::from_millis(self.pli_window_ms);
        v.pli.per_second = self.pli_per_participant_per_second;
        v.layers.high_kbps = self.layer_high_kbps;
        v.layers.mid_kbps = self.layer_mid_kbps;
        v.layers.hysteresis = Duration::from_millis(self.layer_hysteresis_ms);
        v.layers.keyframe_wait = Duration::from_millis(self.layer_keyframe_wait_ms);
        v
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 4433)),
            shards: 0,
            pin: Pinning::Auto,
            identity: default_identity_path(),
            log_level: "info".into(),
            lock_dir: None,
            auth: AuthConfig::default(),
            limits: Limits::default(),
            video: VideoConfig::default(),
            quality: JudgeConfig::default(),
            conformance: ConformanceModes::default(),
            admission: Admission::default(),
        }
    }
}

/// `~/.wzp/relay-identity`, where WZP relays keep their seed.
pub fn default_identity_path() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".wzp")
        .join("relay-identity")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.shards > 256 {
            return Err(ConfigError::Invalid(format!(
                "shards = {}: at most 256",
                self.shards
            )));
        }
        if self.limits.room_capacity < 2 {
            return Err(ConfigError::Invalid(
                "limits.room_capacity must be at least 2".into(),
            ));
        }
        let l = &self.limits;
        if l.datagram_queue_bytes < 2_048
            || l.signal_bytes_before_join < 2_048
            || l.signal_bytes_after_join < 2_048
            || l.signal_frame_deadline_ms == 0
        {
            return Err(ConfigError::Invalid(
                "limits.datagram_queue_bytes and signal_bytes_* must be at least 2048, signal_frame_deadline_ms positive"
                    .into(),
            ));
        }
        if self.limits.datagram_queue == 0 || self.limits.max_connections_per_shard == 0 {
            return Err(ConfigError::Invalid(
                "limits.datagram_queue and max_connections_per_shard must be positive".into(),
            ));
        }
        let v = &self.video;
        if v.keyframe_cache_stream_bytes > v.keyframe_cache_sender_bytes
            || v.keyframe_cache_sender_bytes > v.keyframe_cache_room_bytes
            || v.keyframe_cache_room_bytes > v.keyframe_cache_shard_bytes
        {
            return Err(ConfigError::Invalid(
                "video.keyframe_cache_*_bytes must grow from stream to sender to room to shard"
                    .into(),
            ));
        }
        if v.pli_per_participant_per_second == 0 || v.layer_mid_kbps >= v.layer_high_kbps {
            return Err(ConfigError::Invalid(
                "video.pli_per_participant_per_second must be positive and layer_mid_kbps below layer_high_kbps".into(),
            ));
        }
        self.conformance.validate().map_err(ConfigError::Invalid)?;
        self.admission.validate().map_err(ConfigError::Invalid)?;
        let q = &self.quality;
        if q.baseline > q.ceiling {
            return Err(ConfigError::Invalid(
                "quality.baseline must not be above quality.ceiling".into(),
            ));
        }
        if q.downgrade_reports == 0
            || q.upgrade_reports_below_good == 0
            || q.upgrade_reports_from_good == 0
            || q.proposal_timeout_ms == 0
        {
            return Err(ConfigError::Invalid(
                "quality.downgrade_reports, upgrade_reports_* and proposal_timeout_ms must be positive"
                    .into(),
            ));
        }
        if self.auth.tokens.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(
                "auth.tokens must not contain an empty token".into(),
            ));
        }
        Ok(())
    }

    pub fn relay_options(&self) -> RelayOptions {
        let mut o = RelayOptions::new(self.listen, self.identity.clone());
        o.shards = (self.shards > 0).then_some(self.shards);
        o.pinning = self.pin;
        o.auth_tokens = self.auth.tokens.clone();
        o.room_capacity = self.limits.room_capacity;
        o.max_connections_per_shard = self.limits.max_connections_per_shard;
        o.handshake_timeout = Duration::from_millis(self.limits.handshake_timeout_ms);
        o.idle_timeout = Duration::from_millis(self.limits.idle_timeout_ms);
        o.datagram_queue = self.limits.datagram_queue;
        o.datagram_queue_bytes = self.limits.datagram_queue_bytes;
        o.signal_bytes = [
            self.limits.signal_bytes_before_join,
            self.limits.signal_bytes_after_join,
        ];
        o.signal_frame_deadline = Duration::from_millis(self.limits.signal_frame_deadline_ms);
        o.lock_dir = self.lock_dir.clone();
        o.video = self.video.settings();
        o.quality = self.quality.clone();
        o.conformance = self.conformance.config();
        // Validated at load; a hand-built Config with a bad value keeps the defaults.
        o.admission = self.admission.validate().unwrap_or_default();
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::from_toml("", Path::new("relay.toml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.port(), 4433);
    }

    #[test]
    fn keys_parse_into_options() {
        let c = Config::from_toml(
            "listen = \"127.0.0.1:5000\"\nshards = 2\npin = \"off\"\n[auth]\ntokens = [\"t1\"]\n[limits]\nroom_capacity = 8\n",
            Path::new("relay.toml"),
        )
        .unwrap();
        let o = c.relay_options();
        assert_eq!(
            (o.listen.port(), o.shards, o.pinning, o.room_capacity),
            (5000, Some(2), Pinning::Off, 8)
        );
        assert_eq!(o.auth_tokens, vec!["t1".to_string()]);
    }

    #[test]
    fn video_keys_reach_the_shard_settings() {
        let c = Config::from_toml(
            "[video]\nkeyframe_cache_stream_bytes = 1000\npli_window_ms = 50\nlayer_hysteresis_ms = 10\n",
            Path::new("relay.toml"),
        )
        .unwrap();
        let v = c.relay_options().video;
        assert_eq!(v.keyframe_stream_cap, 1000);
        assert_eq!(v.pli.window, Duration::from_millis(50));
        assert_eq!(v.layers.hysteresis, Duration::from_millis(10));
        assert_eq!(
            v.layers.keyframe_wait,
            Duration::from_millis(500),
            "defaults stay"
        );
        assert_eq!(Config::default().video.settings(), VideoSettings::default());
    }

    #[test]
    fn quality_keys_reach_the_judge() {
        let c = Config::from_toml(
            "[quality]\npolicy = \"per-sender\"\nceiling = \"good\"\nstable_window_ms = 10000\n",
            Path::new("relay.toml"),
        )
        .unwrap();
        let q = c.relay_options().quality;
        assert_eq!(
            q.policy,
            switchyard_controlplane::judge::RoomPolicy::PerSender
        );
        assert_eq!(q.ceiling, switchyard_proto::Tier::Good);
        assert_eq!(q.stable_window_ms, 10_000);
        assert_eq!(q.proposal_timeout_ms, 5_000, "defaults stay");
        let err = Config::from_toml(
            "[quality]\nbaseline = \"studio64k\"\nceiling = \"good\"\n",
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("baseline"), "{err}");
        assert!(
            Config::from_toml("[quality]\npolicy = \"loudest\"\n", Path::new("r.toml")).is_err()
        );
    }

    #[test]
    fn conformance_modes_reach_the_endpoints() {
        let c = Config::from_toml(
            "[conformance]\nbitrate = \"enforce\"\nrate_cap = \"off\"\n",
            Path::new("relay.toml"),
        )
        .unwrap();
        assert_eq!(
            c.relay_options().conformance.modes,
            [
                Mode::Enforce,
                Mode::Observe,
                Mode::Observe,
                Mode::Observe,
                Mode::Off
            ]
        );
        assert_eq!(
            Config::default().relay_options().conformance,
            ConformanceConfig::default(),
            "observe-only by default"
        );
        assert!(
            Config::from_toml("[conformance]\nbitrate = \"block\"\n", Path::new("r.toml")).is_err()
        );
    }

    #[test]
    fn conformance_verdict_and_ban_keys_reach_the_endpoints_and_bad_values_are_refused() {
        let c = Config::from_toml(
            "[conformance]\nscorers = \"enforce\"\nsuspect_below = 0.5\nsuspect_after_secs = 20\n\
             abusive_below = 0.2\nabusive_after_secs = 90.5\ncooldown_secs = 600\n\
             block_secs = 7200\nmax_bans = 10\n",
            Path::new("relay.toml"),
        )
        .unwrap();
        let conformance = c.relay_options().conformance;
        assert_eq!(conformance.scorers, Mode::Enforce);
        assert_eq!(
            conformance.verdict,
            VerdictConfig {
                suspect_below: 0.5,
                suspect_sustain: Duration::from_secs(20),
                abusive_below: 0.2,
                abusive_sustain: Duration::from_secs_f64(90.5),
            }
        );
        assert_eq!(
            conformance.bans,
            BanPolicy {
                cooldown: Duration::from_secs(600),
                block: Duration::from_secs(7_200),
                capacity: 10,
            }
        );
        let defaults = Config::default().relay_options().conformance;
        assert_eq!(defaults.verdict, VerdictConfig::SWITCHYARD);
        assert_eq!(defaults.bans.cooldown, Duration::from_secs(3_600));
        assert_eq!(defaults.bans.block, Duration::from_secs(86_400));
        for bad in [
            "suspect_below = 1.5",
            "abusive_below = -0.1",
            "suspect_after_secs = -1",
            "abusive_after_secs = nan",
        ] {
            let err = Config::from_toml(&format!("[conformance]\n{bad}\n"), Path::new("r.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("[conformance]"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_keys_name_the_file_and_the_key() {
        let err = Config::from_toml(
            "listen = \"0.0.0.0:1\"\nshardz = 2\n",
            Path::new("/etc/switchyard/relay.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/etc/switchyard/relay.toml"), "{err}");
        assert!(err.contains("shardz"), "{err}");
        let err = Config::from_toml("[limits]\nroom_cap = 3\n", Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("room_cap"), "{err}");
    }

    #[test]
    fn the_shipped_example_parses_and_lists_every_key() {
        let text = include_str!("../../scripts/relay.example.toml");
        let c = Config::from_toml(text, Path::new("scripts/relay.example.toml")).unwrap();
        assert_eq!(
            c.identity,
            PathBuf::from("/var/lib/switchyard/relay-identity")
        );
        let printed = toml::to_string(&Config::default()).unwrap();
        for line in printed
            .lines()
            .filter(|l| l.contains(" = ") && !l.starts_with("lock_dir"))
        {
            let key = line.split(" = ").next().unwrap();
            assert!(text.contains(key), "example lacks {key}");
        }
    }

    #[test]
    fn admission_keys_reach_the_endpoints_and_bad_values_are_refused() {
        let c = Config::from_toml(
            "[admission]\nretry = \"always\"\nretry_above_half_open = 5\n\
             max_half_open_per_shard = 100\nmax_half_open_per_ip = 10\ntoken_lifetime_ms = 3000\n\
             version_negotiations_per_second = 7\nstateless_resets_per_second = 9\n",
            Path::new("relay.toml"),
        )
        .unwrap();
        assert_eq!(
            c.relay_options().admission,
            AdmissionConfig {
                retry: RetryPolicy::Always,
                retry_above: 5,
                max_half_open: 100,
                max_half_open_per_ip: 10,
                token_lifetime: Duration::from_secs(3),
                version_negotiations_per_sec: 7,
                stateless_resets_per_sec: 9,
            }
        );
        for bad in [
            "retry = \"sometimes\"",
            "max_half_open_per_shard = 0",
            "max_half_open_per_ip = 0",
            "token_lifetime_ms = 0",
        ] {
            let text = format!("[admission]\n{bad}\n");
            assert!(
                Config::from_toml(&text, Path::new("r.toml")).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            Config::default().relay_options().admission,
            AdmissionConfig::default()
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(Config::from_toml("shards = 300", Path::new("r.toml")).is_err());
        assert!(Config::from_toml("[limits]\nroom_capacity = 1", Path::new("r.toml")).is_err());
        assert!(Config::from_toml("[auth]\ntokens = [\"\"]", Path::new("r.toml")).is_err());
        assert!(Config::from_toml("listen = \"nonsense\"", Path::new("r.toml")).is_err());
        assert!(Config::from_toml(
            "[video]\npli_per_participant_per_second = 0",
            Path::new("r.toml")
        )
        .is_err());
        assert!(Config::from_toml(
            "[video]\nkeyframe_cache_shard_bytes = 10",
            Path::new("r.toml")
        )
        .is_err());
    }
}
