//! Replies that belong to no connection: Version Negotiation, Retry and stateless reset.
//!
//! None of them keeps state, and each is smaller than what caused it, so a spoofed source can
//! only make the relay send less than it received. Version Negotiation and stateless resets
//! are rate-limited per shard (a Retry is what keeps a flood from costing memory, so it is
//! not; every Retry is still one packet for one Initial of 1,200 bytes or more). All of them
//! share one bounded queue per turn.

use super::{Endpoint, STATELESS_QUEUE};
use crate::steering::{cid_for_shard, CID_LEN};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::Instant;

impl Endpoint {
    pub(super) fn negotiate_version(
        &mut self,
        hdr: &quiche::Header<'_>,
        to: SocketAddr,
        now: Instant,
    ) {
        let per_sec = self.config.admission.version_negotiations_per_sec;
        if self.outbox.stateless.len() >= STATELESS_QUEUE
            || !self.version_negotiations.allow(now, per_sec)
        {
            self.counters.version_negotiations_limited += 1;
            return;
        }
        let buf = self.outbox.stateless.reserve();
        if let Ok(len) = quiche::negotiate_version(&hdr.scid, &hdr.dcid, buf) {
            self.outbox.stateless.commit(len, to, 0);
            self.counters.version_negotiations_sent += 1;
        }
    }

    /// Answers a tokenless Initial with a Retry whose token proves `to` on the next one. The
    /// Retry's source ID names this shard, so the answering Initial is steered back here.
    pub(super) fn send_retry(&mut self, hdr: &quiche::Header<'_>, to: SocketAddr, now: Instant) {
        if self.outbox.stateless.len() >= STATELESS_QUEUE {
            self.counters.unknown_connection_packets += 1;
            return;
        }
        let mut random = [0u8; CID_LEN];
        self.rng.fill_bytes(&mut random);
        let retry_scid = cid_for_shard(self.config.shard, self.config.shards, random);
        let Some(token) = self.tokens.mint(to, &hdr.dcid, &retry_scid, now) else {
            self.counters.unknown_connection_packets += 1;
            return;
        };
        let new_scid = quiche::ConnectionId::from_ref(&retry_scid);
        let buf = self.outbox.stateless.reserve();
        match quiche::retry(&hdr.scid, &hdr.dcid, &new_scid, &token, hdr.version, buf) {
            Ok(len) => {
                self.outbox.stateless.commit(len, to, 0);
                self.counters.retries_sent += 1;
            }
            Err(e) => log::debug!("retry to {to}: {e}"),
        }
    }

    /// Tells the sender of a packet for a connection this relay does not know (it restarted,
    /// or forgot the connection) that it is gone.
    pub(super) fn send_stateless_reset(
        &mut self,
        dcid: &[u8],
        trigger_len: usize,
        to: SocketAddr,
        now: Instant,
    ) {
        let per_sec = self.config.admission.stateless_resets_per_sec;
        if self.outbox.stateless.len() >= STATELESS_QUEUE
            || !self.stateless_resets.allow(now, per_sec)
        {
            self.counters.stateless_resets_limited += 1;
            return;
        }
        let buf = self.outbox.stateless.reserve();
        if let Some(len) = self
            .resets
            .write_reset(dcid, trigger_len, &mut self.rng, buf)
        {
            self.outbox.stateless.commit(len, to, 0);
            self.counters.stateless_resets_sent += 1;
        }
    }
}
