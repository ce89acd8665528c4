//! The system prompt catalog and the TTS engine's command template.
//!
//! Ten prompt ids in sixteen languages (sipio-reference.md §12), each read
//! by a male and a female voice, become the objects
//! `system/<lang>/<gender>/<id>.wav`. The texts live beside this file in
//! `catalog/<lang>.txt` (`id = text` lines) and are compiled in.
//!
//! The engine is a command template (`tts_command`), split on whitespace
//! into a program and its arguments *before* the placeholders are filled
//! in, so a text with spaces or quotes stays one argument and no shell is
//! involved. Placeholders: `{voice}` (the espeak-ng voice for the language
//! and gender, e.g. `en-us+f3`), `{lang}` (`en-US`), `{gender}` (`male`),
//! `{id}` (`welcome`), `{text}` and `{out}` (the file the engine must
//! write, a WAV). `{text}` and `{out}` are required.

/// The catalog's languages, in the reference's order.
pub const LANGUAGES: [&str; 16] = [
    "en-US", "es-ES", "fr-FR", "de-DE", "it-IT", "pt-BR", "nl-NL", "pl-PL", "ru-RU", "tr-TR",
    "ar-XA", "he-IL", "hi-IN", "ja-JP", "ko-KR", "cmn-CN",
];

/// The system prompt ids.
pub const PROMPT_IDS: [&str; 10] = [
    "welcome",
    "please-hold",
    "confirm-accept",
    "whisper-queue",
    "all-busy",
    "no-agents",
    "vm-greeting",
    "goodbye",
    "invalid",
    "transferring",
];

/// The default engine: espeak-ng from Debian, 150 words a minute.
pub const DEFAULT_COMMAND: &str = "espeak-ng -v {voice} -s 150 -w {out} {text}";

/// A narrator's gender (reference: `voice_gender`, default male).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub const BOTH: [Gender; 2] = [Gender::Male, Gender::Female];

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    pub fn parse(text: &str) -> Option<Gender> {
        match text.trim().to_ascii_lowercase().as_str() {
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            _ => None,
        }
    }
}

/// The catalog language spelled as `text` (case-insensitive).
pub fn language(text: &str) -> Option<&'static str> {
    let text = text.trim();
    LANGUAGES
        .iter()
        .copied()
        .find(|lang| lang.eq_ignore_ascii_case(text))
}

/// The prompt id spelled as `text`.
pub fn prompt_id(text: &str) -> Option<&'static str> {
    PROMPT_IDS.iter().copied().find(|id| *id == text.trim())
}

/// The espeak-ng voice for a catalog language and gender: the closest
/// language voice espeak-ng 1.51 ships (`espeak-ng --voices`) plus a
/// male or female variant (`+m3`, `+f3`).
pub fn espeak_voice(lang: &str, gender: Gender) -> String {
    let voice = match lang {
        "en-US" => "en-us",
        "es-ES" => "es",
        "fr-FR" => "fr-fr",
        "de-DE" => "de",
        "it-IT" => "it",
        "pt-BR" => "pt-br",
        "nl-NL" => "nl",
        "pl-PL" => "pl",
        "ru-RU" => "ru",
        "tr-TR" => "tr",
        "ar-XA" => "ar",
        "he-IL" => "he",
        "hi-IN" => "hi",
        "ja-JP" => "ja",
        "ko-KR" => "ko",
        // `cmn` reads the pinyin it makes of hanzi as English in 1.51.
        "cmn-CN" => "cmn-latn-pinyin",
        other => panic!("{other} is not a catalog language (callers check with `language`)"),
    };
    let variant = match gender {
        Gender::Male => "m3",
        Gender::Female => "f3",
    };
    format!("{voice}+{variant}")
}

/// The catalog file of a language, as compiled in.
fn catalog_file(lang: &str) -> &'static str {
    match lang {
        "en-US" => include_str!("catalog/en-US.txt"),
        "es-ES" => include_str!("catalog/es-ES.txt"),
        "fr-FR" => include_str!("catalog/fr-FR.txt"),
        "de-DE" => include_str!("catalog/de-DE.txt"),
        "it-IT" => include_str!("catalog/it-IT.txt"),
        "pt-BR" => include_str!("catalog/pt-BR.txt"),
        "nl-NL" => include_str!("catalog/nl-NL.txt"),
        "pl-PL" => include_str!("catalog/pl-PL.txt"),
        "ru-RU" => include_str!("catalog/ru-RU.txt"),
        "tr-TR" => include_str!("catalog/tr-TR.txt"),
        "ar-XA" => include_str!("catalog/ar-XA.txt"),
        "he-IL" => include_str!("catalog/he-IL.txt"),
        "hi-IN" => include_str!("catalog/hi-IN.txt"),
        "ja-JP" => include_str!("catalog/ja-JP.txt"),
        "ko-KR" => include_str!("catalog/ko-KR.txt"),
        "cmn-CN" => include_str!("catalog/cmn-CN.txt"),
        other => panic!("{other} is not a catalog language (callers check with `language`)"),
    }
}

/// The `id = text` lines of a catalog file (comments and blanks skipped).
fn entries(file: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    file.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(id, text)| (id.trim(), text.trim()))
}

/// The text of prompt `id` in `lang`.
///
/// # Panics
/// When the catalog lacks it: the unit tests prove every language has
/// every id.
pub fn text(lang: &str, id: &str) -> &'static str {
    entries(catalog_file(lang))
        .find(|(entry, _)| *entry == id)
        .map(|(_, text)| text)
        .unwrap_or_else(|| panic!("catalog {lang} lacks {id} (the catalog tests check it)"))
}

/// The object key of a system prompt.
pub fn key(lang: &str, gender: Gender, id: &str) -> String {
    format!("system/{lang}/{}/{id}.wav", gender.as_str())
}

/// What `POST /admin/tts/generate` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TtsRequest {
    pub langs: Vec<&'static str>,
    pub genders: Vec<Gender>,
    pub ids: Vec<&'static str>,
    /// Regenerate objects that exist already.
    pub force: bool,
}

/// One prompt to synthesize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TtsJob {
    pub key: String,
    pub lang: &'static str,
    pub gender: Gender,
    pub id: &'static str,
    pub text: &'static str,
    /// The espeak-ng voice (`{voice}`).
    pub voice: String,
}

impl TtsRequest {
    /// Every (language, gender, id) asked for, language by language.
    pub fn jobs(&self) -> Vec<TtsJob> {
        let mut jobs = Vec::new();
        for &lang in &self.langs {
            for &gender in &self.genders {
                for &id in &self.ids {
                    jobs.push(TtsJob {
                        key: key(lang, gender, id),
                        lang,
                        gender,
                        id,
                        text: text(lang, id),
                        voice: espeak_voice(lang, gender),
                    });
                }
            }
        }
        jobs
    }
}

/// A checked command template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    words: Vec<String>,
}

const PLACEHOLDERS: [&str; 6] = ["{voice}", "{lang}", "{gender}", "{id}", "{text}", "{out}"];

impl Template {
    /// Checks a template: a program, only known placeholders, and both
    /// `{text}` and `{out}`.
    pub fn parse(template: &str) -> Result<Template, String> {
        let words: Vec<String> = template
            .split_ascii_whitespace()
            .map(String::from)
            .collect();
        let Some(program) = words.first() else {
            return Err("the TTS command is empty".into());
        };
        if program.contains('{') {
            return Err("the TTS command must start with a program, not a placeholder".into());
        }
        for word in &words {
            let mut rest = word.as_str();
            while let Some(open) = rest.find('{') {
                let close = rest[open..].find('}').map(|c| open + c + 1);
                let Some(close) = close else {
                    return Err(format!("unclosed `{{` in TTS command word {word:?}"));
                };
                let name = &rest[open..close];
                if !PLACEHOLDERS.contains(&name) {
                    let known = PLACEHOLDERS.join(" ");
                    return Err(format!(
                        "unknown placeholder {name} in the TTS command (known: {known})"
                    ));
                }
                rest = &rest[close..];
            }
        }
        for needed in ["{text}", "{out}"] {
            if !words.iter().any(|w| w.contains(needed)) {
                return Err(format!("the TTS command needs {needed}"));
            }
        }
        Ok(Template { words })
    }

    /// The program to run (the first word).
    pub fn program(&self) -> &str {
        &self.words[0]
    }

    /// The argument list for `job`, writing to `out`.
    pub fn args(&self, job: &TtsJob, out: &str) -> Vec<String> {
        self.words[1..]
            .iter()
            .map(|word| {
                word.replace("{voice}", &job.voice)
                    .replace("{lang}", job.lang)
                    .replace("{gender}", job.gender.as_str())
                    .replace("{id}", job.id)
                    .replace("{out}", out)
                    .replace("{text}", job.text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_prompt_and_nothing_else() {
        for lang in LANGUAGES {
            let ids: Vec<&str> = entries(catalog_file(lang)).map(|(id, _)| id).collect();
            assert_eq!(ids, PROMPT_IDS, "{lang}: the ids, in order, once each");
            for id in PROMPT_IDS {
                let text = text(lang, id);
                assert!(!text.is_empty() && text.len() < 400, "{lang}/{id}");
                assert!(
                    !text.starts_with('-'),
                    "{lang}/{id}: an engine would read an option"
                );
            }
        }
    }

    #[test]
    fn languages_and_genders_are_found_case_insensitively() {
        assert_eq!(language("en-us"), Some("en-US"));
        assert_eq!(language("CMN-cn"), Some("cmn-CN"));
        assert_eq!(language("en-GB"), None);
        assert_eq!(Gender::parse("Female"), Some(Gender::Female));
        assert_eq!(Gender::parse("other"), None);
        assert_eq!(prompt_id("goodbye"), Some("goodbye"));
        assert_eq!(prompt_id("hello"), None);
    }

    #[test]
    fn every_language_has_a_male_and_a_female_voice() {
        for lang in LANGUAGES {
            let (male, female) = (
                espeak_voice(lang, Gender::Male),
                espeak_voice(lang, Gender::Female),
            );
            assert!(male.ends_with("+m3") && female.ends_with("+f3"), "{lang}");
            assert_ne!(male, female);
        }
        assert_eq!(espeak_voice("cmn-CN", Gender::Male), "cmn-latn-pinyin+m3");
        assert_eq!(espeak_voice("he-IL", Gender::Female), "he+f3");
    }

    #[test]
    fn a_request_expands_to_keys_under_system() {
        let request = TtsRequest {
            langs: vec!["en-US", "he-IL"],
            genders: vec![Gender::Female],
            ids: vec!["welcome", "goodbye"],
            force: false,
        };
        let keys: Vec<String> = request.jobs().into_iter().map(|j| j.key).collect();
        assert_eq!(
            keys,
            [
                "system/en-US/female/welcome.wav",
                "system/en-US/female/goodbye.wav",
                "system/he-IL/female/welcome.wav",
                "system/he-IL/female/goodbye.wav",
            ]
        );
        for key in keys {
            assert_eq!(super::super::key::check(&key), Ok(()));
        }
    }

    #[test]
    fn the_template_keeps_a_text_with_spaces_as_one_argument() {
        let template = Template::parse(DEFAULT_COMMAND).unwrap();
        let job = TtsRequest {
            langs: vec!["en-US"],
            genders: vec![Gender::Male],
            ids: vec!["welcome"],
            force: false,
        }
        .jobs()
        .remove(0);
        assert_eq!(template.program(), "espeak-ng");
        assert_eq!(
            template.args(&job, "/m/.tmp/1.wav"),
            [
                "-v",
                "en-us+m3",
                "-s",
                "150",
                "-w",
                "/m/.tmp/1.wav",
                "Welcome. Thank you for calling."
            ]
        );
        let custom =
            Template::parse("tts --voice={lang}-neural-{gender} --id {id} -o {out} {text}")
                .unwrap();
        assert_eq!(custom.args(&job, "o.wav")[0], "--voice=en-US-neural-male");
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        for (template, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("{text} {out}", "start with a program"),
            ("espeak-ng -w {out}", "needs {text}"),
            ("espeak-ng {text}", "needs {out}"),
            (
                "espeak-ng -v {speed} -w {out} {text}",
                "unknown placeholder {speed}",
            ),
            ("espeak-ng -w {out {text}", "unclosed"),
        ] {
            let error = Template::parse(template).unwrap_err();
            assert!(error.contains(why), "{template:?}: {error}");
        }
    }
}
