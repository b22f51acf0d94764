//! Relay conformance (reference section 5): per-participant meters and scorers that tell
//! legitimate media from abuse. Each is a pure engine: it takes packets' facts and `now`,
//! never the clock, and holds fixed-size state.
//!
//! - Tier F: [`verdict`] turns a legitimacy score that stays low into Suspect or Abusive.

pub mod verdict;
