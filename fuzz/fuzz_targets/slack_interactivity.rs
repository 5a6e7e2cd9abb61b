//! `notice::parse_interaction` (the `/slack/interactivity` body) on arbitrary bytes:
//! never panics, and whatever it accepts names a valid checkpoint id, a decision
//! and a user, and came from a form with a `payload` field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::checkpoint::is_id;
use switchyard_core::notice::{action_id, parse_interaction};

fuzz_target!(|body: &[u8]| {
    if let Ok(click) = parse_interaction(body) {
        assert!(
            is_id(&click.checkpoint_id),
            "accepted id {:?}",
            click.checkpoint_id
        );
        assert!(!click.user_id.is_empty());
        assert!(form_urlencoded::parse(body).any(|(k, _)| k == "payload"));
        // The click names exactly a button this crate builds.
        let built = action_id(click.decision, &click.checkpoint_id);
        let payload = switchyard_core::sig::form_body(body).expect("parsed once");
        assert_eq!(
            payload["actions"][0]["action_id"].as_str(),
            Some(built.as_str())
        );
    }
});
