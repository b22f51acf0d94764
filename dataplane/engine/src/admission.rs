//! Admission of new connections: which Initials get a connection, which get a Retry first,
//! and which are dropped, from the shard's half-open budget and the Initial's token.
//!
//! A half-open connection is one whose QUIC handshake has not completed: it holds a quiche
//! connection (and possibly held Initials) until the handshake deadline, for a peer that may
//! never answer. The shard counts them ([`HalfOpen`]) in total and per source IP:
//!
//! ```text
//!  Initial ──token present, refused (forged, wrong address, expired)──> dropped, counted
//!          ──shard at max_half_open──────────────────────────────────> dropped, counted
//!          ──its IP at max_half_open_per_ip──────────────────────────> dropped, counted
//!          ──no token, Retry due (always, or under pressure: the shard
//!            holds retry_above half-open or more)────────────────────> Retry (no state)
//!          ──otherwise───────────────────────────────────────────────> accepted (half-open + 1)
//!  half-open ──handshake completes, or the connection goes──> half-open - 1
//! ```
//!
//! A Retry costs one packet smaller than the Initial that caused it, and no memory: a flood
//! from spoofed addresses never reaches the budgets. An Initial another shard passed on (its
//! room is owned here) is judged by this shard's own pressure: the shard that received it
//! holds nothing for it once passed on, so only the owner's count can see a flood aimed at
//! its rooms (a loopback test found the owner at four times the threshold otherwise). The
//! owner's Retry names the owner, so the answer comes straight here. The budgets bound what
//! validated peers can hold; the per-IP share keeps one host from taking the whole shard.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::address_validation::TokenError;

/// When Initials without a token get a Retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Every new connection proves its address first (one more round trip for everyone).
    Always,
    /// Only while the shard holds `retry_above` half-open connections or more.
    UnderPressure,
    /// Never (the anti-amplification limit still applies).
    Never,
}

impl RetryPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "always" => Some(Self::Always),
            "under-pressure" => Some(Self::UnderPressure),
            "never" => Some(Self::Never),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::UnderPressure => "under-pressure",
            Self::Never => "never",
        }
    }
}

/// The shard's admission limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionConfig {
    pub retry: RetryPolicy,
    /// Under pressure: Retry once this many connections of the shard are half-open.
    pub retry_above: usize,
    /// Half-open connections one shard holds at most.
    pub max_half_open: usize,
    /// Half-open connections one source IP holds on one shard at most.
    pub max_half_open_per_ip: usize,
    /// How long a Retry token is good for.
    pub token_lifetime: Duration,
    /// Version Negotiation packets one shard sends per second at most.
    pub version_negotiations_per_sec: u32,
    /// Stateless resets one shard sends per second at most.
    pub stateless_resets_per_sec: u32,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::UnderPressure,
            retry_above: 64,
            max_half_open: 2_048,
            max_half_open_per_ip: 256,
            token_lifetime: Duration::from_secs(10),
            version_negotiations_per_sec: 100,
            stateless_resets_per_sec: 100,
        }
    }
}

/// What to do with a new Initial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Accept it; `odcid` is the original destination ID its token proved (after a Retry).
    Accept { odcid: Option<Vec<u8>> },
    /// Answer with a Retry and keep nothing.
    Retry,
    /// Drop it.
    Refuse(Refusal),
}

/// Why an Initial was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Token(TokenError),
    /// The shard holds `max_half_open` half-open connections.
    ShardFull,
    /// The source IP holds `max_half_open_per_ip` on this shard.
    SourceFull,
}

/// How an Initial's token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// The Initial carried no token.
    Absent,
    Valid {
        odcid: Vec<u8>,
    },
    Refused(TokenError),
}

/// Decides for one Initial from `ip`.
pub fn admit(
    config: &AdmissionConfig,
    half_open: &HalfOpen,
    ip: IpAddr,
    token: TokenCheck,
) -> Admission {
    let odcid = match token {
        TokenCheck::Refused(e) => return Admission::Refuse(Refusal::Token(e)),
        TokenCheck::Valid { odcid } => Some(odcid),
        TokenCheck::Absent => None,
    };
    if half_open.total() >= config.max_half_open {
        return Admission::Refuse(Refusal::ShardFull);
    }
    if half_open.of(ip) >= config.max_half_open_per_ip {
        return Admission::Refuse(Refusal::SourceFull);
    }
    let retry_due = match config.retry {
        RetryPolicy::Always => true,
        RetryPolicy::UnderPressure => half_open.total() >= config.retry_above,
        RetryPolicy::Never => false,
    };
    if odcid.is_none() && retry_due {
        return Admission::Retry;
    }
    Admission::Accept { odcid }
}

/// The shard's half-open connections, in total and per source IP.
#[derive(Debug, Default)]
pub struct HalfOpen {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl HalfOpen {
    pub fn total(&self) -> usize {
        self.total
    }

    /// Half-open connections from `ip`.
    pub fn of(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }

    pub fn open(&mut self, ip: IpAddr) {
        self.total += 1;
        *self.by_ip.entry(ip).or_default() += 1;
    }

    /// One connection from `ip` completed its handshake or went.
    pub fn close(&mut self, ip: IpAddr) {
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

/// At most `per_sec` events a second, in bursts of up to `per_sec` (a token bucket that starts
/// full).
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimit {
    tokens: f64,
    at: Option<Instant>,
}

impl RateLimit {
    /// Takes one event's token; `false` when the rate is spent.
    pub fn allow(&mut self, now: Instant, per_sec: u32) -> bool {
        let capacity = f64::from(per_sec);
        let tokens = match self.at {
            None => capacity,
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                (self.tokens + elapsed * capacity).min(capacity)
            }
        };
        self.at = Some(now);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            true
        } else {
            self.tokens = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn config(retry: RetryPolicy) -> AdmissionConfig {
        AdmissionConfig {
            retry,
            retry_above: 2,
            max_half_open: 4,
            max_half_open_per_ip: 3,
            ..AdmissionConfig::default()
        }
    }

    fn valid() -> TokenCheck {
        TokenCheck::Valid { odcid: vec![9; 8] }
    }

    #[test]
    fn a_refused_token_drops_the_initial_whatever_the_budget() {
        let half_open = HalfOpen::default();
        for e in [
            TokenError::Forged,
            TokenError::WrongAddress,
            TokenError::Expired,
        ] {
            assert_eq!(
                admit(
                    &config(RetryPolicy::Never),
                    &half_open,
                    ip(1),
                    TokenCheck::Refused(e)
                ),
                Admission::Refuse(Refusal::Token(e))
            );
        }
    }

    #[test]
    fn under_pressure_retries_only_from_the_threshold_on() {
        let c = config(RetryPolicy::UnderPressure);
        let mut h = HalfOpen::default();
        h.open(ip(1));
        assert_eq!(
            admit(&c, &h, ip(2), TokenCheck::Absent),
            Admission::Accept { odcid: None }
        );
        h.open(ip(1));
        assert_eq!(admit(&c, &h, ip(2), TokenCheck::Absent), Admission::Retry);
        assert_eq!(
            admit(&c, &h, ip(2), valid()),
            Admission::Accept {
                odcid: Some(vec![9; 8])
            }
        );
        h.close(ip(1));
        assert_eq!(
            admit(&c, &h, ip(2), TokenCheck::Absent),
            Admission::Accept { odcid: None },
            "pressure over"
        );
    }

    #[test]
    fn always_retries_a_tokenless_initial_and_never_never_does() {
        let h = HalfOpen::default();
        assert_eq!(
            admit(&config(RetryPolicy::Always), &h, ip(1), TokenCheck::Absent),
            Admission::Retry
        );
        assert_eq!(
            admit(&config(RetryPolicy::Never), &h, ip(1), TokenCheck::Absent),
            Admission::Accept { odcid: None }
        );
    }

    #[test]
    fn the_per_ip_share_and_the_shard_cap_drop_even_validated_initials() {
        let c = config(RetryPolicy::Never);
        let mut h = HalfOpen::default();
        for _ in 0..3 {
            h.open(ip(1));
        }
        assert_eq!(
            admit(&c, &h, ip(1), valid()),
            Admission::Refuse(Refusal::SourceFull)
        );
        assert_eq!(
            admit(&c, &h, ip(2), valid()),
            Admission::Accept {
                odcid: Some(vec![9; 8])
            }
        );
        h.open(ip(2));
        assert_eq!(
            admit(&c, &h, ip(3), valid()),
            Admission::Refuse(Refusal::ShardFull)
        );
    }

    #[test]
    fn closing_releases_the_ip_share_and_the_total_and_ignores_strangers() {
        let mut h = HalfOpen::default();
        h.open(ip(1));
        h.open(ip(1));
        h.open(ip(2));
        h.close(ip(1));
        assert_eq!((h.total(), h.of(ip(1)), h.of(ip(2))), (2, 1, 1));
        h.close(ip(9));
        assert_eq!(h.total(), 2, "an IP with nothing open changes nothing");
        h.close(ip(1));
        h.close(ip(2));
        assert_eq!((h.total(), h.of(ip(1)), h.by_ip.len()), (0, 0, 0));
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_its_rate() {
        let t0 = switchyard_testclock::origin();
        let mut limit = RateLimit::default();
        let burst = (0..20).filter(|_| limit.allow(t0, 10)).count();
        assert_eq!(burst, 10);
        assert!(!limit.allow(t0 + Duration::from_millis(50), 10));
        assert!(limit.allow(t0 + Duration::from_millis(100), 10));
        let later = t0 + Duration::from_secs(60);
        let refilled = (0..20).filter(|_| limit.allow(later, 10)).count();
        assert_eq!(refilled, 10, "the bucket holds one second at most");
    }

    #[test]
    fn policies_parse_from_their_names() {
        for p in [
            RetryPolicy::Always,
            RetryPolicy::UnderPressure,
            RetryPolicy::Never,
        ] {
            assert_eq!(RetryPolicy::parse(p.name()), Some(p));
        }
        assert_eq!(RetryPolicy::parse("sometimes"), None);
    }
}
