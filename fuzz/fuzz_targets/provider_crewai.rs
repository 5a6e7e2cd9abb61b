//! `crewai`: verify and normalize an arbitrary request (see `switchyard_fuzz::run_provider`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::providers::crewai::CrewAi;
use switchyard_fuzz::{run_provider, Request};

fuzz_target!(|req: Request| {
    run_provider(&CrewAi, &req);
});
