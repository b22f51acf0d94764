//! H.264 Annex-B byte streams split into access units, for replaying a real encoder's output
//! as WZP video.
//!
//! NAL units are found by their start codes (`00 00 01`, or `00 00 00 01`). A new access
//! unit begins (H.264 7.4.1.2.3, the cases encoders emit) at an access unit delimiter, SPS,
//! PPS, SEI or prefix NAL after a picture's slices, or at a slice whose `first_mb_in_slice`
//! is 0 (the first bit of the slice header is 1). An access unit holding an IDR slice (type
//! 5) is a keyframe. Units keep their start codes, so a receiver gets a valid Annex-B stream.

use std::sync::Arc;

/// One coded picture with its parameter sets and SEI, start codes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub bytes: Vec<u8>,
    pub keyframe: bool,
}

/// Why a file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnexBError {
    #[error("no start code: not an H.264 Annex-B stream")]
    NoStartCode,
    #[error("no coded picture (slice NAL unit) in the stream")]
    NoPictures,
    #[error("no IDR picture: a late joiner could never decode this stream")]
    NoKeyframe,
}

/// The NAL units of `stream` without their start codes.
pub fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream.get(i..i + 3) == Some(&[0, 0, 1]) {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &(_, body)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(stream.len(), |&(next, _)| {
            // A 4-byte start code's leading zero belongs to the code, not this unit.
            let mut end = next;
            while end > body && stream.get(end - 1) == Some(&0) {
                end -= 1;
            }
            end
        });
        if let Some(unit) = stream.get(body..end).filter(|u| !u.is_empty()) {
            units.push(unit);
        }
    }
    units
}

fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |b| b & 0x1f)
}

fn is_slice(t: u8) -> bool {
    t == 1 || t == 5
}

/// Splits an Annex-B stream into access units.
pub fn access_units(stream: &[u8]) -> Result<Vec<AccessUnit>, AnnexBError> {
    let units = nal_units(stream);
    if units.is_empty() {
        return Err(AnnexBError::NoStartCode);
    }
    let mut out: Vec<AccessUnit> = Vec::new();
    let mut current = AccessUnit {
        bytes: Vec::new(),
        keyframe: false,
    };
    let mut has_slice = false;
    for unit in units {
        let t = nal_type(unit);
        let first_slice_of_picture = is_slice(t) && unit.get(1).is_some_and(|b| b & 0x80 != 0);
        let starts_new = matches!(t, 6..=9 | 14..=18) || first_slice_of_picture;
        if starts_new && has_slice {
            out.push(std::mem::replace(
                &mut current,
                AccessUnit {
                    bytes: Vec::new(),
                    keyframe: false,
                },
            ));
            has_slice = false;
        }
        current.bytes.extend_from_slice(&[0, 0, 0, 1]);
        current.bytes.extend_from_slice(unit);
        has_slice |= is_slice(t);
        current.keyframe |= t == 5;
    }
    if has_slice {
        out.push(current);
    }
    if out.is_empty() {
        return Err(AnnexBError::NoPictures);
    }
    if !out.iter().any(|a| a.keyframe) {
        return Err(AnnexBError::NoKeyframe);
    }
    Ok(out)
}

/// Reads and splits a file.
pub fn load(path: &std::path::Path) -> Result<Arc<[AccessUnit]>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    access_units(&bytes)
        .map(Arc::from)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny synthetic stream: SPS, PPS, IDR in two slices, then two P pictures.
    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        for unit in [
            &[0x67, 0x42, 0x00, 0x1e][..],         // SPS
            &[0x68, 0xce, 0x38, 0x80],             // PPS
            &[0x65, 0x88, 0x84, 0x80],             // IDR slice, first_mb 0
            &[0x65, 0x44, 0x22],                   // IDR slice, first_mb > 0
            &[0x41, 0x9a, 0x00, 0x00, 0x03, 0x01], // P slice, first_mb 0 (emulation prevention kept)
            &[0x41, 0x9b, 0x10],                   // P slice, first_mb 0
        ] {
            s.extend_from_slice(&[0, 0, 0, 1]);
            s.extend_from_slice(unit);
        }
        s
    }

    #[test]
    fn nal_units_are_found_between_start_codes() {
        let mut s = vec![0, 0, 1, 0x09, 0xf0];
        s.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42]);
        assert_eq!(nal_units(&s), vec![&[0x09, 0xf0][..], &[0x67, 0x42][..]]);
    }

    #[test]
    fn pictures_become_access_units_and_idr_marks_keyframes() {
        let units = access_units(&stream()).unwrap();
        assert_eq!(units.len(), 3);
        assert!(units[0].keyframe);
        assert!(!units[1].keyframe && !units[2].keyframe);
        let first = nal_units(&units[0].bytes);
        let types: Vec<u8> = first.iter().map(|u| nal_type(u)).collect();
        assert_eq!(
            types,
            vec![7, 8, 5, 5],
            "parameter sets travel with the IDR"
        );
        let total: usize = units.iter().map(|u| u.bytes.len()).sum();
        assert_eq!(
            total,
            stream().len(),
            "every byte kept (4-byte start codes throughout)"
        );
    }

    #[test]
    fn unusable_input_is_refused_with_a_reason() {
        assert_eq!(access_units(b"not h264"), Err(AnnexBError::NoStartCode));
        assert_eq!(
            access_units(&[0, 0, 1, 0x67, 0x42]),
            Err(AnnexBError::NoPictures)
        );
        assert_eq!(
            access_units(&[0, 0, 1, 0x41, 0x9a]),
            Err(AnnexBError::NoKeyframe)
        );
    }

    #[test]
    fn real_x264_file_splits_into_its_pictures() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/testsrc-640x360-30fps-gop60.h264");
        let units = load(&path).unwrap();
        assert_eq!(units.len(), 120, "4 s at 30 frames/s");
        let keyframes: Vec<usize> = (0..units.len()).filter(|i| units[*i].keyframe).collect();
        assert_eq!(keyframes, vec![0, 60], "GOP of 60");
        let idr_types: Vec<u8> = nal_units(&units[60].bytes)
            .iter()
            .map(|u| nal_type(u))
            .collect();
        assert!(
            idr_types.starts_with(&[7, 8]),
            "x264 repeats SPS/PPS: {idr_types:?}"
        );
        assert!(
            units[0].bytes.len() > 1200,
            "a keyframe spans several packets"
        );
    }
}
