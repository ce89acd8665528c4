//! Content types of media objects, from the key's extension.

/// The `content-type` for a key (`application/octet-stream` when the
/// extension is not a known audio or text type).
pub fn content_type(key: &str) -> &'static str {
    let extension = key
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" | "mp4" => "audio/mp4",
        "webm" => "audio/webm",
        "au" | "ulaw" | "pcmu" => "audio/basic",
        "alaw" | "pcma" => "audio/PCMA",
        "gsm" => "audio/GSM",
        "g722" => "audio/G722",
        "g729" => "audio/G729",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_map_to_their_types_case_insensitively() {
        assert_eq!(content_type("system/en-US/male/welcome.wav"), "audio/wav");
        assert_eq!(content_type("moh/JAZZ.MP3"), "audio/mpeg");
        assert_eq!(content_type("a/b.opus"), "audio/ogg");
        assert_eq!(content_type("a/b.ulaw"), "audio/basic");
        assert_eq!(content_type("no-extension"), "application/octet-stream");
        assert_eq!(content_type("a/b.exe"), "application/octet-stream");
    }
}
