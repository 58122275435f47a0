//! Arbitrary text into every parser: an error is fine, a panic is not.

use proptest::prelude::*;
use swarmdeck::domain::assignment::{WorkerConfig, parse_jobs};
use swarmdeck::domain::manifest::{expand, load, parse_documents};

fn yamlish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                Just("---\n".to_owned()),
                Just("apiVersion: v1\n".to_owned()),
                Just("kind: ConfigMap\n".to_owned()),
                Just("metadata:\n  name: x\n".to_owned()),
                Just("\tkey: v\n".to_owned()),
                Just("jobs:\n  - a\n".to_owned()),
                Just("  - ${A}\n".to_owned()),
                Just("$${B}\n".to_owned()),
                Just("spec: {replicas: [\n".to_owned()),
                "[ -~]{0,20}\n",
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// What a hostile annotation may hold: any text, or swarmdeck's own JSON
/// with any text where a time or a name goes.
fn annotation() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (any::<String>(), any::<String>()).prop_map(|(since, stream)| {
            serde_json::json!({"phase": "release", "since": since,
                "streams": [{"stream": stream, "from": ["w-0"], "to": "w-1"}]})
            .to_string()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn annotations_are_decoded_or_refused_by_name(value in annotation()) {
        use swarmdeck::domain::handoff::{self, HandoffMode, HandoffState};
        match HandoffState::parse(&value) {
            Ok(state) => {
                let lines = handoff::summary_lines(
                    HandoffMode::Strict, Some(&state), None, &Default::default(), 0);
                prop_assert!(!lines.is_empty());
            }
            Err(e) => prop_assert!(e.contains(handoff::STATE_ANNOTATION), "{e}"),
        }
        if let Err(e) = HandoffMode::parse(Some(&value)) {
            prop_assert!(e.contains(handoff::MODE_ANNOTATION), "{e}");
        }
        let _ = swarmdeck::domain::swarm::PendingRefresh::parse(&value);
        let _ = swarmdeck::time::parse_rfc3339(&value);
    }

    #[test]
    fn parsers_return_errors_not_panics(text in yamlish()) {
        let _ = parse_documents(&text);
        let _ = expand(&text, |_| None);
        let _ = expand(&text, |v| Some(v.to_lowercase()));
        let _ = load(&text, |_| Some("1".into()));
        let _ = parse_jobs(&text);
        let _ = WorkerConfig::parse(&text);
    }
}
