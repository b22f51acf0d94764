//! `switchyard-loadgen`: R rooms x P real WZP v2 QUIC clients against a relay, then a table,
//! optionally a JSON summary and an `.hgrm` latency distribution.

use clap::Parser;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_bench::flood::{run_flood, FloodKind, FloodPlan};
use switchyard_bench::impair::{parse_duration, parse_fraction, Impairment};
use switchyard_bench::media::Profile;
use switchyard_bench::report::{hgrm, process_cpu_seconds, summarize, table};
use switchyard_bench::run::{run, PathPlan, Progress, RoomProfile, RunConfig, UpgradeAnswer};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-loadgen",
    version,
    about = "Load generator for WZP v2 relays: real QUIC clients, real handshakes"
)]
struct Args {
    /// Relay address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    relay: SocketAddr,
    /// Number of rooms.
    #[arg(long, default_value_t = 20)]
    rooms: u32,
    /// Participants per room.
    #[arg(long, default_value_t = 4)]
    participants: u32,
    /// Media profile.
    #[arg(long, value_enum, default_value_t = Profile::Audio)]
    profile: Profile,
    /// Seconds of media (after everyone has joined).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Executor threads for the clients.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Room names are PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "room")]
    room_prefix: String,
    /// AuthToken to present when the relay has the gate on.
    #[arg(long)]
    auth_token: Option<String>,
    /// Relay process id: report its CPU time per delivered datagram.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Write a JSON summary here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the latency distribution (HdrHistogram .hgrm text, milliseconds) here.
    #[arg(long)]
    hgrm: Option<PathBuf>,
    /// The last N participants of every room join late (receive-only), and report their time
    /// to first keyframe.
    #[arg(long, default_value_t = 0)]
    join_late: u32,
    /// Seconds into the run at which late joiners connect (default: half the duration).
    #[arg(long)]
    join_late_after: Option<f64>,
    /// Replay this H.264 Annex-B file as WZP video (implies --profile h264).
    #[arg(long)]
    h264: Option<PathBuf>,
    /// Seed for identities, payload sizes, silence and path impairment.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How participants answer the relay's UpgradeProposals.
    #[arg(long, value_enum, default_value_t = UpgradeAnswer::Accept)]
    upgrade_answer: UpgradeAnswer,
    /// Rooms that send another legitimate profile: ROOMS=PROFILE, ROOMS a room index `N`, a
    /// range `A..B` (B excluded) or `A..=B`; repeatable ("--room-profile 30..34=video").
    #[arg(long, value_parser = RoomProfile::parse)]
    room_profile: Vec<RoomProfile>,
    /// Rooms with one abusive participant each: ROOMS=PROFILE as for --room-profile
    /// ("--abuser 40..42=tunnel --abuser 42=covert"). The report shows each abuser's time from
    /// its first media datagram to the relay's Hangup, and any Hangup a legitimate
    /// participant got.
    #[arg(long, value_parser = RoomProfile::parse)]
    abuser: Vec<RoomProfile>,
    /// The abusive participant's slot in its room (default: the last one joining on time).
    #[arg(long)]
    abuser_slot: Option<u32>,
    #[command(flatten)]
    impair: ImpairArgs,
    #[command(flatten)]
    flood: FloodArgs,
}

/// What the path does to impaired participants' packets (each way, unless
/// --impair-direction says otherwise), and who is impaired.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Path impairment")]
struct ImpairArgs {
    /// Packet loss: "5%" or "0.05".
    #[arg(long, value_parser = parse_fraction, default_value = "0")]
    loss: f64,
    /// Mean length of a loss burst, in packets (1: independent losses).
    #[arg(long, default_value_t = 1.0)]
    burst: f64,
    /// One-way delay: "40ms".
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    delay: Duration,
    /// Each packet's delay varies by up to this much either way, without reordering.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    jitter: Duration,
    /// Packets held back so later ones overtake them: "1%".
    #[arg(long, value_parser = parse_fraction, default_value = "0")]
    reorder: f64,
    /// Packets delivered twice: "0.5%".
    #[arg(long, value_parser = parse_fraction, default_value = "0")]
    duplicate: f64,
    /// Which way the impairment applies.
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    impair_direction: Direction,
    /// Impair only these rooms (comma-separated indices); default: every room.
    #[arg(long, value_delimiter = ',')]
    impair_rooms: Vec<u32>,
    /// Impair only this participant of each room (0-based slot); default: every participant.
    #[arg(long)]
    impair_slot: Option<u32>,
    /// Change impaired participants' source port once, this long after they join (a NAT
    /// rebinding).
    #[arg(long, value_parser = parse_duration)]
    rebind_after: Option<Duration>,
    /// Start the impairment this long after each impaired participant joined ("5s"); the
    /// report measures time to downgrade from then.
    #[arg(long, value_parser = parse_duration)]
    impair_after: Option<Duration>,
}

/// An attack running beside the participants, from this process.
#[derive(Debug, clap::Args)]
struct FloodArgs {
    /// Flood the relay meanwhile: `initials` (real Initials never answered: half-open
    /// handshakes) or `junk` (random datagrams), for the whole run.
    #[arg(long, value_enum)]
    flood: Option<FloodKind>,
    /// Flights (an Initial flight is one datagram) a second.
    #[arg(long, default_value_t = 9_000)]
    flood_rate: u32,
    /// Source ports the flood comes from.
    #[arg(long, default_value_t = 256)]
    flood_ports: usize,
    /// Make this many Initial flights first and replay them (0: a new one every flight).
    #[arg(long, default_value_t = 0)]
    flood_pool: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Direction {
    Up,
    Down,
    Both,
}

impl ImpairArgs {
    /// The plan for the run, or why the flags make none.
    fn plan(&self, rooms: u32, participants: u32) -> Result<PathPlan, String> {
        let impairment = Impairment {
            loss: self.loss,
            burst: self.burst,
            delay: self.delay,
            jitter: self.jitter,
            reorder: self.reorder,
            duplicate: self.duplicate,
        };
        impairment.validate()?;
        if let Some(room) = self.impair_rooms.iter().find(|r| **r >= rooms) {
            return Err(format!(
                "--impair-rooms: room {room} is not among the {rooms} rooms"
            ));
        }
        if self.impair_slot.is_some_and(|s| s >= participants) {
            return Err(format!(
                "--impair-slot must be below --participants ({participants})"
            ));
        }
        if self.impair_after.is_some() && impairment.is_none() {
            return Err("--impair-after needs an impairment (--loss, --delay, ...)".into());
        }
        let (up, down) = match self.impair_direction {
            Direction::Up => (impairment, Impairment::none()),
            Direction::Down => (Impairment::none(), impairment),
            Direction::Both => (impairment, impairment),
        };
        Ok(PathPlan {
            uplink: up,
            downlink: down,
            rooms: self.impair_rooms.clone(),
            slot: self.impair_slot,
            rebind_after: self.rebind_after,
            impair_after: self.impair_after,
        })
    }
}

/// Checks `--room-profile`, `--abuser` and `--abuser-slot` against the run and sets them.
fn rooms_and_profiles(args: &Args, config: &mut RunConfig) -> Result<(), String> {
    for (flag, list, abusive) in [
        ("--room-profile", &args.room_profile, false),
        ("--abuser", &args.abuser, true),
    ] {
        for r in list {
            if r.rooms.end > args.rooms {
                return Err(format!(
                    "{flag}: rooms {:?} are not all among the {} rooms",
                    r.rooms, args.rooms
                ));
            }
            if r.profile.is_abusive() != abusive {
                return Err(format!(
                    "{flag}: {:?} is {} profile",
                    r.profile,
                    if abusive {
                        "a legitimate"
                    } else {
                        "an abusive"
                    }
                ));
            }
        }
    }
    if let Some(slot) = args.abuser_slot {
        if slot >= args.participants.saturating_sub(args.join_late) {
            return Err("--abuser-slot must name a participant joining on time".into());
        }
    }
    config.room_profiles = args.room_profile.clone();
    config.abusers = args.abuser.clone();
    config.abuser_slot = args.abuser_slot;
    Ok(())
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    if !(0.1..=3600.0).contains(&args.duration) {
        eprintln!("--duration must be between 0.1 and 3600 seconds");
        return std::process::ExitCode::from(2);
    }
    let mut config = RunConfig::new(
        args.relay,
        args.rooms,
        args.participants,
        args.profile,
        Duration::from_secs_f64(args.duration),
    );
    config.workers = args.workers;
    config.room_prefix = args.room_prefix.clone();
    config.auth_token = args.auth_token.clone();
    config.seed = args.seed;
    config.upgrade_answer = args.upgrade_answer;
    if args.join_late >= args.participants {
        eprintln!("--join-late must leave at least one participant joining on time");
        return std::process::ExitCode::from(2);
    }
    config.join_late = args.join_late;
    if let Err(e) = rooms_and_profiles(&args, &mut config) {
        eprintln!("{e}");
        return std::process::ExitCode::from(2);
    }
    match args.impair.plan(args.rooms, args.participants) {
        Ok(paths) => config.paths = paths,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    }
    if let Some(after) = args.join_late_after {
        if !(0.0..args.duration).contains(&after) {
            eprintln!("--join-late-after must be within the duration");
            return std::process::ExitCode::from(2);
        }
        config.join_late_after = Duration::from_secs_f64(after);
    }
    let h264_rooms = args.room_profile.iter().any(|r| r.profile == Profile::H264);
    match (&args.h264, args.profile) {
        (Some(path), _) => match switchyard_bench::annexb::load(path) {
            Ok(units) => {
                if !h264_rooms {
                    config.profile = Profile::H264;
                }
                config.h264 = Some(units);
            }
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::from(2);
            }
        },
        (None, Profile::H264) => {
            eprintln!("--profile h264 needs --h264 FILE");
            return std::process::ExitCode::from(2);
        }
        (None, _) if h264_rooms => {
            eprintln!("--room-profile ...=h264 needs --h264 FILE");
            return std::process::ExitCode::from(2);
        }
        (None, _) => {}
    }

    let flood = args.flood.flood.map(|kind| {
        let plan = FloodPlan {
            relay: args.relay,
            kind,
            rate: args.flood.flood_rate,
            ports: args.flood.flood_ports,
            duration: config.join_timeout + config.duration,
            rooms: 1_000,
            pool: args.flood.flood_pool,
            seed: args.seed,
        };
        std::thread::spawn(move || run_flood(&plan))
    });
    let progress = Arc::new(Progress::default());
    let cpu_before = args.relay_pid.and_then(process_cpu_seconds);
    let started = Instant::now();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    {
        let config = config.clone();
        let progress = Arc::clone(&progress);
        std::thread::spawn(move || {
            let _ = done_tx.send(run(&config, progress));
        });
    }
    let total = u64::from(args.rooms * args.participants);
    // A live line on a terminal; one line a second otherwise (logs, CI).
    let live = std::io::stderr().is_terminal();
    let mut ticks = 0u32;
    let results = loop {
        match done_rx.recv_timeout(Duration::from_millis(250)) {
            Ok(results) => break results,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                eprintln!("load generator thread panicked");
                return std::process::ExitCode::FAILURE;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        ticks += 1;
        if !live && !ticks.is_multiple_of(4) {
            continue;
        }
        eprint!(
            "{}[{:5.1}s] joined {}/{}  sent {}  delivered {}   {}",
            if live { "\r" } else { "" },
            started.elapsed().as_secs_f64(),
            progress.joined.load(Ordering::Relaxed),
            total,
            progress.sent.load(Ordering::Relaxed),
            progress.delivered.load(Ordering::Relaxed),
            if live { "" } else { "\n" },
        );
        let _ = std::io::stderr().flush();
    };
    eprintln!();
    let cpu_after = args.relay_pid.and_then(process_cpu_seconds);
    for r in results.iter().filter(|r| r.error.is_some() || !r.joined) {
        eprintln!(
            "participant {} (room {}): joined={} quic_established={} phase={:?} error={:?} close={:?} hangup={:?}",
            r.index, r.room, r.joined, r.quic_established, r.final_phase, r.error, r.peer_error, r.hangup
        );
    }
    let (mut summary, hist) = summarize(&config, &results, config.duration);
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        summary.relay_cpu_s = Some(b - a);
        summary.relay_cpu_us_per_delivered =
            (summary.delivered > 0).then(|| (b - a) * 1e6 / summary.delivered as f64);
    }
    println!("{}", table(&summary));
    if let Some(flood) = flood {
        match flood.join() {
            Ok(Ok(s)) => println!(
                "flood: {} flights, {} datagrams ({} B) sent; {} datagrams ({} B) back, {} of them Retries",
                s.flights, s.datagrams_sent, s.bytes_sent, s.datagrams_received, s.bytes_received, s.retries_received
            ),
            Ok(Err(e)) => eprintln!("flood: {e}"),
            Err(_) => eprintln!("flood thread panicked"),
        }
    }
    if let Some(path) = &args.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(text) => {
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("{}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("JSON summary: {e}"),
        }
    }
    if let Some(path) = &args.hgrm {
        if let Err(e) = std::fs::write(path, hgrm(&hist)) {
            eprintln!("{}: {e}", path.display());
        }
    }
    if summary.joined < summary.participants {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
