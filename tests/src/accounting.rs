//! Exact accounting of media datagrams through a simulation.
//!
//! A participant's packets carry its media datagrams in the order it queued them (its sent
//! log), and the trace says how many each packet carried and whether it arrived. The relay
//! forwards what arrives to every other member of the room, in arrival order, and its
//! packets to each receiver carry those copies in that order (the trace again says how many
//! each carried and whether it arrived). Replaying the trace therefore says exactly which
//! datagrams each receiver must have got: everything its path did not drop, nothing else.

use crate::sim::{Outcome, Trace};
use std::collections::{HashMap, VecDeque};

/// Per participant: the media datagrams it must have received, in the order they were sent
/// to it. `others(sender)` are the participants the relay forwards `sender`'s media to.
pub fn expected_deliveries(
    outcome: &Outcome,
    others: impl Fn(usize) -> Vec<usize>,
) -> Vec<Vec<Vec<u8>>> {
    let n = outcome.results.len();
    let mut queued: Vec<VecDeque<&Vec<u8>>> = outcome
        .results
        .iter()
        .map(|r| r.sent_log.iter().collect())
        .collect();
    let mut to_forward: Vec<VecDeque<&Vec<u8>>> = vec![VecDeque::new(); n];
    let mut up: HashMap<u64, (usize, Vec<&Vec<u8>>)> = HashMap::new();
    let mut down: HashMap<u64, (usize, Vec<&Vec<u8>>)> = HashMap::new();
    let mut expected: Vec<Vec<Vec<u8>>> = vec![Vec::new(); n];
    for t in &outcome.trace {
        match *t {
            Trace::Uplink {
                id,
                host,
                datagrams,
            } => {
                let q = &mut queued[host];
                assert!(
                    q.len() >= datagrams,
                    "participant {host} sent more than it logged"
                );
                up.insert(id, (host, q.drain(..datagrams).collect()));
            }
            Trace::Downlink {
                id,
                host,
                datagrams,
            } => {
                let q = &mut to_forward[host];
                assert!(
                    q.len() >= datagrams,
                    "the relay sent participant {host} {datagrams} datagrams it was never given"
                );
                down.insert(id, (host, q.drain(..datagrams).collect()));
            }
            Trace::Arrived { id } => {
                // A duplicate's second arrival finds nothing: quiche drops a repeated packet.
                if let Some((sender, datagrams)) = up.remove(&id) {
                    for receiver in others(sender) {
                        to_forward[receiver].extend(datagrams.iter().copied());
                    }
                }
                if let Some((receiver, datagrams)) = down.remove(&id) {
                    expected[receiver].extend(datagrams.into_iter().cloned());
                }
            }
        }
    }
    expected
}

/// The same multiset of datagrams, whatever the order.
pub fn same_datagrams(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}
