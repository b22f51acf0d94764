//! Relay conformance (reference section 5): per-participant meters and scorers that tell
//! legitimate media from abuse. Each is a pure engine: it takes packets' facts and `now`,
//! never the clock, and holds fixed-size state.
//!
//! - Tier F: [`audio_score`] and [`video_score`] turn a stream's behaviour into a legitimacy
//!   score in [0, 1]; [`verdict`] turns a score that stays low into Suspect or Abusive.

pub mod audio_score;
pub mod verdict;
pub mod video_score;
