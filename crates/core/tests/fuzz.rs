//! Property tests over the filter language, both forms: any text and any
//! JSON give a filter or an error that says where, never a panic; a filter
//! that parses prints to a form that parses to the same filter.
//!
//! CI runs 256 cases a property; `PROPTEST_CASES=100000` runs the budget
//! recorded in docs/BENCHMARKS.md.

use proptest::prelude::*;
use sendwell_core::attribute::AttributeSchema;
use sendwell_core::filter::Filter;
use sendwell_core::{AttributeName, AttributeType};

fn schema() -> AttributeSchema {
    let name = |n: &str| AttributeName::parse(n).expect("name");
    AttributeSchema::new([
        (name("plan"), AttributeType::String),
        (name("seats"), AttributeType::Number),
        (name("active"), AttributeType::Boolean),
        (name("signed_up_at"), AttributeType::Date),
    ])
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of the filter language's words and signs.
fn filter_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("plan".to_owned()),
        Just("seats".to_owned()),
        Just("active".to_owned()),
        Just("signed_up_at".to_owned()),
        Just("email".to_owned()),
        Just("opt_in".to_owned()),
        Just(" is ".to_owned()),
        Just(" in ".to_owned()),
        Just(" and ".to_owned()),
        Just(" or ".to_owned()),
        Just("not ".to_owned()),
        Just(" has any value".to_owned()),
        Just(" less than ".to_owned()),
        Just(" days ago".to_owned()),
        Just(" after ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(", ".to_owned()),
        Just("\"pro\"".to_owned()),
        Just("\"2026-01-01\"".to_owned()),
        Just("30".to_owned()),
        Just("-1e308".to_owned()),
        Just("true".to_owned()),
        Just("\"".to_owned()),
        any::<String>(),
    ];
    proptest::collection::vec(pieces, 0..30).prop_map(|p| p.concat())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let word = prop_oneof![
        Just("plan"),
        Just("seats"),
        Just("in"),
        Just("is"),
        Just("and"),
        Just("or"),
        Just("not"),
        Just("field"),
        Just("op"),
        Just("value"),
        Just("2026-01-01"),
        Just("pro"),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        any::<i64>().prop_map(serde_json::Value::from),
        word.prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let key = prop_oneof![
            Just("and".to_owned()),
            Just("or".to_owned()),
            Just("not".to_owned()),
            Just("field".to_owned()),
            Just("op".to_owned()),
            Just("value".to_owned()),
            any::<String>(),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::vec((key, inner), 0..4)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_filters_parse_or_say_where_never_panic(text in filter_text()) {
        let schema = schema();
        if let Ok(f) = Filter::parse_text(&text, &schema) {
            // What parses prints to text that parses to the same filter.
            let again = Filter::parse_text(&f.to_text(), &schema);
            prop_assert_eq!(again.map(|g| g.to_json()).ok(), Some(f.to_json()));
        }
    }

    #[test]
    fn json_filters_parse_or_say_where_never_panic(value in json_value()) {
        let schema = schema();
        if let Ok(f) = Filter::parse_json(&value, &schema) {
            let again = Filter::parse_json(&f.to_json(), &schema);
            prop_assert_eq!(again.map(|g| g.to_json()).ok(), Some(f.to_json()));
        }
    }
}
