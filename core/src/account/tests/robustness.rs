//! Junk anywhere in the demo never panics; what parses round-trips.

use super::*;

/// Every JSON pointer of `value` (objects and arrays included).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| pointers(v, format!("{at}/{k}"), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

proptest::proptest! {
    /// Any one value of the demo replaced by junk: parse answers (never
    /// panics), an error names a path, and what parses round-trips.
    #[test]
    fn one_bad_value_never_panics(which in 0usize..10_000, junk in 0usize..12) {
        let mut doc = acme_value();
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let pointer = &all[which % all.len()];
        let values = [
            Value::Null, json!(0), json!(1), json!(-1), json!(1.5), json!(""), json!("x"), json!(true),
            json!("9".repeat(300)), json!([]), json!({}), json!(u64::MAX),
        ];
        if pointer.is_empty() {
            doc = values[junk].clone();
        } else {
            *doc.pointer_mut(pointer).expect("pointer from the document") = values[junk].clone();
        }
        match parse("acc_acme", &doc) {
            Ok(account) => {
                let again = parse("acc_acme", &account.to_json()).expect("normalized document parses");
                proptest::prop_assert_eq!(again, account);
            }
            Err(error) => proptest::prop_assert!(!error.message.is_empty()),
        }
    }
}
