//! `switchyard`: the relay binary. Reads the TOML config, applies command-line overrides,
//! starts the shards and the control plane, prints where it listens and who it is, and stops
//! cleanly (Hangup to every participant) on SIGINT or SIGTERM.

use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use switchyard_controlplane::judge::RoomPolicy;
use switchyard_dataplane::config::Config;
use switchyard_dataplane::relay::{self, Pinning};
use switchyard_proto::signal::ViolationCode;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Thread-per-core QUIC relay for WZP v2 rooms"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// UDP listen address (overrides `listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Number of shards, 0 = one per usable CPU (overrides `shards`).
    #[arg(long)]
    shards: Option<u16>,
    /// Pin shards to CPUs (overrides `pin`).
    #[arg(long, value_enum)]
    pin: Option<PinArg>,
    /// Relay seed file (overrides `identity`).
    #[arg(short, long)]
    identity: Option<PathBuf>,
    /// Accepted AuthToken; repeat for more (adds to `auth.tokens`).
    #[arg(long = "auth-token")]
    auth_tokens: Vec<String>,
    /// Log filter (overrides `log_level`).
    #[arg(long)]
    log_level: Option<String>,
    /// Quality judge room policy, or `off` (overrides `quality.policy` and `quality.enabled`).
    #[arg(long, value_enum)]
    quality_policy: Option<QualityArg>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum QualityArg {
    /// One tier for the whole room, set by its weakest link.
    WeakestLink,
    /// Each participant encodes for the weakest receiver of its own media.
    PerSender,
    /// Measure, but send no quality signal.
    Off,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PinArg {
    Auto,
    On,
    Off,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("switchyard: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if let Some(v) = cli.listen {
        config.listen = v;
    }
    if let Some(v) = cli.shards {
        config.shards = v;
    }
    if let Some(v) = cli.pin {
        config.pin = match v {
            PinArg::Auto => Pinning::Auto,
            PinArg::On => Pinning::On,
            PinArg::Off => Pinning::Off,
        };
    }
    if let Some(v) = cli.identity {
        config.identity = v;
    }
    if let Some(v) = cli.log_level {
        config.log_level = v;
    }
    config.auth.tokens.extend(cli.auth_tokens);
    match cli.quality_policy {
        Some(QualityArg::WeakestLink) => config.quality.policy = RoomPolicy::WeakestLink,
        Some(QualityArg::PerSender) => config.quality.policy = RoomPolicy::PerSender,
        Some(QualityArg::Off) => config.quality.enabled = false,
        None => {}
    }
    if let Err(e) = config.validate() {
        eprintln!("switchyard: {e}");
        return ExitCode::from(2);
    }
    if cli.print_config {
        match toml::to_string_pretty(&config) {
            Ok(text) => print!("{text}"),
            Err(e) => eprintln!("switchyard: {e}"),
        }
        return ExitCode::SUCCESS;
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(&config.log_level))
        .init();

    let signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("switchyard: installing signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let relay = match relay::start(config.relay_options()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchyard: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "switchyard {} listening on udp {}",
        env!("CARGO_PKG_VERSION"),
        relay.local_addr
    );
    println!(
        "shards: {} ({})",
        relay.shards,
        if relay.pinned {
            "pinned to CPUs"
        } else {
            "not pinned"
        }
    );
    println!("relay fingerprint: {}", relay.keys.identity.fingerprint());
    println!("tls fingerprint: {}", relay.keys.tls_fingerprint);
    let _ = std::io::stdout().flush();

    let mut signals = signals;
    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal}: hanging up every participant and stopping");
    }
    let last = relay.stop();
    println!("{}", conformance_summary(&last));
    ExitCode::SUCCESS
}

/// One line for the operator (and the acceptance scripts) at exit: what conformance saw.
fn conformance_summary(s: &switchyard_controlplane::RelaySnapshot) -> String {
    let t = &s.total;
    let hangups: Vec<String> = ViolationCode::ALL
        .iter()
        .zip(t.conformance_hangups)
        .map(|(code, n)| format!("{code:?}:{n}"))
        .collect();
    format!(
        "conformance: violations={} dropped={} throttled={} hangups=[{}] \
         scores_by_tenth={:?} joins_refused_banned={} bans: violations={} cooldowns={} blocks={}",
        t.conformance_violations_total(),
        t.conformance_dropped,
        t.conformance_throttled,
        hangups.join(" "),
        t.conformance_scores,
        t.joins_refused_banned,
        s.bans.violations,
        s.bans.cooldowns_issued,
        s.bans.blocks_issued,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_line_names_each_conformance_figure() {
        let mut s = switchyard_controlplane::RelaySnapshot::default();
        s.total.conformance_violations[0][3] = 7;
        s.total.conformance_dropped = 2;
        s.total.conformance_throttled = 5;
        s.total.conformance_hangups[ViolationCode::PayloadSize.index()] = 2;
        s.total.conformance_scores[9] = 40;
        s.total.joins_refused_banned = 1;
        s.bans.violations = 2;
        s.bans.cooldowns_issued = 2;
        assert_eq!(
            conformance_summary(&s),
            "conformance: violations=7 dropped=2 throttled=5 hangups=[Bitrate:0 PacketRate:0 \
             TimestampDrift:0 PayloadSize:2 RateCap:0 Entropy:0] scores_by_tenth=[0, 0, 0, 0, 0, \
             0, 0, 0, 0, 40] joins_refused_banned=1 bans: violations=2 cooldowns=2 blocks=0"
        );
    }
}
