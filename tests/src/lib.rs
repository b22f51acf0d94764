//! Helpers for the end-to-end tests. Every test uses at least 2 shards.
//!
//! - Over loopback (this module): an in-process relay on a kernel-chosen port with a fresh
//!   identity, and load-generator runs against it, in wall time.
//! - In memory ([`sim`], [`accounting`]): the load generator's participants and the relay's
//!   endpoints through the seeded impairment model, in virtual time, with exact accounting of
//!   every media datagram.

pub mod accounting;
pub mod sim;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchyard_bench::media::Profile;
use switchyard_bench::run::{run, ParticipantResult, Progress, RunConfig};
use switchyard_dataplane::relay::{self, Pinning, RelayHandle, RelayOptions};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh identity path under the system temp dir.
pub fn temp_identity(tag: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchyard-e2e-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("relay-identity")
}

/// Options for a 2-shard relay on 127.0.0.1 (kernel-chosen port), shards unpinned.
pub fn relay_options(tag: &str) -> RelayOptions {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut options = RelayOptions::new(
        "127.0.0.1:0".parse().expect("literal address"),
        temp_identity(tag),
    );
    options.shards = Some(2);
    options.pinning = Pinning::Off;
    options
}

pub fn start(options: RelayOptions) -> RelayHandle {
    relay::start(options).expect("relay starts")
}

/// A load-generator configuration against `relay`, short and deterministic.
pub fn load(relay: &RelayHandle, rooms: u32, participants: u32, media: Duration) -> RunConfig {
    let mut c = RunConfig::new(relay.local_addr, rooms, participants, Profile::Audio, media);
    c.join_timeout = Duration::from_secs(10);
    c.drain = Duration::from_millis(600);
    c
}

pub fn run_load(config: &RunConfig) -> Vec<ParticipantResult> {
    run(config, Arc::new(Progress::default()))
}

/// Waits for the relay's counters to reflect everything up to now.
pub fn counters(relay: &mut RelayHandle) -> switchyard_controlplane::RelaySnapshot {
    relay
        .fresh_snapshot(Duration::from_secs(5))
        .expect("every shard reports its counters")
}

/// Every participant joined and received, intact and once, every datagram its room peers sent.
pub fn assert_everyone_got_everything(results: &[ParticipantResult]) {
    for r in results {
        assert!(
            r.joined,
            "participant {} did not join: {:?} {:?}",
            r.index, r.error, r.peer_error
        );
        let expected: u64 = results
            .iter()
            .filter(|o| o.room == r.room && o.index != r.index)
            .map(|o| o.sent)
            .sum();
        assert_eq!(
            r.stats.delivered, expected,
            "participant {} lost media",
            r.index
        );
        assert_eq!(
            (
                r.stats.duplicates,
                r.stats.misrouted,
                r.stats.own_echo,
                r.stats.corrupted,
                r.stats.foreign
            ),
            (0, 0, 0, 0, 0),
            "participant {} got datagrams it should not have",
            r.index
        );
    }
}

/// Tier G's end-to-end scenario in `config` (3 rooms of 3, a 2-shard relay): participant 0
/// sends a tunnel, and participant 8 is the same identity coming back `after` into a room
/// owned by the other shard, whose name is returned. Every participant records its media;
/// 6 and 7 do not wait for their room to fill (8 never joins it).
pub fn tunnel_and_comeback(config: &mut RunConfig, after: Duration) -> String {
    let home = switchyard_engine::steering::owner_of(&config.room_name(0), 2);
    let elsewhere = (0..)
        .map(|i| format!("elsewhere-{i}"))
        .find(|r| switchyard_engine::steering::owner_of(r, 2) != home)
        .unwrap_or_default();
    let comeback_room = elsewhere.clone();
    config.tweak = Some(Arc::new(move |index, plan| {
        plan.record = true;
        match index {
            0 => plan.profile = Profile::Tunnel,
            8 => {
                plan.identity_of = Some(0);
                plan.client.room = comeback_room.clone();
                plan.join_delay = after;
                plan.wait_for_all = false;
                plan.send_media = false;
            }
            6 | 7 => plan.wait_for_all = false,
            _ => {}
        }
    }));
    elsewhere
}
