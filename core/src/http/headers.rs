//! A request's header fields in one buffer: names lower-cased, values
//! trimmed, in arrival order. Two allocations per request instead of two
//! per field (the parser runs for every request the brain answers).

/// Header fields, read by name or in order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Every name then its value, back to back.
    text: String,
    /// Per field: where its name starts, where its value starts (the
    /// name's end), where its value ends.
    fields: Vec<(u32, u32, u32)>,
}

impl Headers {
    /// Room for `fields` fields of `bytes` bytes in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            fields: Vec::with_capacity(fields),
        }
    }

    /// Appends a field; the name is lower-cased. The parser bounds a
    /// header block by `header_bytes_max`, at most
    /// [`crate::limits::HEADER_BYTES_MAX_CEILING`], so offsets fit `u32`.
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.offset();
        self.text
            .extend(name.chars().map(|c| c.to_ascii_lowercase()));
        let middle = self.offset();
        self.text.push_str(value);
        self.fields.push((start, middle, self.offset()));
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.text.len()).expect("a header block is bounded far below 4 GiB")
    }

    /// The first field with this (lower-case) name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every field, `(name, value)`, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields.iter().map(|&(start, middle, end)| {
            (
                &self.text[start as usize..middle as usize],
                &self.text[middle as usize..end as usize],
            )
        })
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True without fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(fields: I) -> Headers {
        let mut headers = Headers::default();
        for (name, value) in fields {
            headers.push(name.as_ref(), value.as_ref());
        }
        headers
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_order_lower_cased_names_and_exact_values() {
        let headers: Headers = [
            ("Host", "brain"),
            ("X-Empty", ""),
            ("Content-Type", "Application/JSON"),
            ("host", "second"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [
                ("host", "brain"),
                ("x-empty", ""),
                ("content-type", "Application/JSON"),
                ("host", "second"),
            ]
        );
        assert_eq!(headers.get("host"), Some("brain"), "the first one");
        assert_eq!(headers.get("x-empty"), Some(""));
        assert_eq!(headers.get("Host"), None, "names are looked up lower-case");
        assert_eq!(headers.get("accept"), None);
        assert_eq!(headers.len(), 4);
        assert!(Headers::default().is_empty());
        assert_eq!(
            format!("{headers:?}"),
            r#"[("host", "brain"), ("x-empty", ""), ("content-type", "Application/JSON"), ("host", "second")]"#
        );
    }
}
