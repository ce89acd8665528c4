//! The demo accounts embedded in the binary (`serve --demo`); the same
//! files are in `examples/demo/` with their passwords in its README.

use serde_json::Value;

const DOCUMENTS: [&str; 2] = [
    include_str!("../../examples/demo/acme.json"),
    include_str!("../../examples/demo/globex.json"),
];

/// The demo documents as (account id, document).
pub fn documents() -> Vec<(String, Value)> {
    DOCUMENTS
        .iter()
        .map(|text| {
            let doc: Value = serde_json::from_str(text).expect("demo documents are valid JSON");
            let id = doc["id"]
                .as_str()
                .expect("demo documents carry their id")
                .to_string();
            (id, doc)
        })
        .collect()
}
