//! The video state a room owns besides its members: the keyframe cache, the PLI gate and the
//! simulcast layers. It lives and dies with the room (see [`crate::rooms`]): a
//! participant's leave purges what it published and what it asked for, and the room's close
//! drops everything and returns the cache bytes to the shard's ledger.

use crate::keyframes::{CacheLedger, KeyframeCache};
use crate::layers::Simulcast;
use crate::pli::PliGate;
use std::hash::Hash;

#[derive(Debug)]
pub struct RoomMedia<K> {
    pub keyframes: KeyframeCache<K>,
    pub pli: PliGate<K>,
    pub simulcast: Simulcast<K>,
}

impl<K> Default for RoomMedia<K> {
    fn default() -> Self {
        Self {
            keyframes: KeyframeCache::default(),
            pli: PliGate::default(),
            simulcast: Simulcast::default(),
        }
    }
}

impl<K: Copy + Eq + Hash> RoomMedia<K> {
    /// `participant` left: nothing it published may reach a later joiner.
    pub fn forget(&mut self, participant: K, ledger: &mut CacheLedger) {
        self.keyframes.purge_sender(participant, ledger);
        self.pli.forget(participant);
        self.simulcast.leave(participant);
    }

    /// The room closed.
    pub fn clear(&mut self, ledger: &mut CacheLedger) {
        self.keyframes.clear(ledger);
        *self = Self::default();
    }
}
