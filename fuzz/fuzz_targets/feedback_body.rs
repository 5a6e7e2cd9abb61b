//! Seed 000's `POST /webhook/feedback` body parser on any bytes: a feedback or a
//! refusal, never a panic; an accepted feedback maps to a decision.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::checkpoint::Decision;
use switchyard_core::feedback::Feedback;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Feedback::parse(data) {
        assert!(!f.checkpoint_id.trim().is_empty());
        assert!(Decision::parse(&f.decision().decision).is_some());
    }
});
