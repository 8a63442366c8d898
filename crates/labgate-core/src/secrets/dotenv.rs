//! Reading `.env` files: `KEY=value` lines, an optional `export ` prefix, `#` comments, single-
//! and double-quoted values (double quotes may span lines and know `\n`, `\t`, `\"` and `\\`).
//! Errors name the line and never quote a value.

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::CoreError;

use super::model::SecretKey;

/// One `KEY=value` of a file.
pub struct DotenvEntry {
    pub key: SecretKey,
    pub value: SecretString,
}

fn error(line: usize, message: &str) -> CoreError {
    CoreError::validation("content", format!("line {line}: {message}"))
}

/// Parses a whole file. A key given twice is refused: which of the two was meant is a guess.
pub fn parse(content: &str) -> Result<Vec<DotenvEntry>, CoreError> {
    let lines: Vec<&str> = content
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let mut entries: Vec<DotenvEntry> = Vec::new();
    let mut index = 0;
    while let Some(raw) = lines.get(index) {
        let number = index + 1;
        index += 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(error(number, "expected KEY=value"));
        };
        let key = SecretKey::parse_as("content", key.trim_end())
            .map_err(|_| error(number, "the key must be ASCII letters, digits, _, - and ."))?;
        let rest = rest.trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = double_quoted(quoted, &lines, &mut index)
                .ok_or_else(|| error(number, "the double-quoted value is never closed"))?;
            trailing(number, after)?;
            value
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let (value, after) = quoted
                .split_once('\'')
                .ok_or_else(|| error(number, "the single-quoted value is never closed"))?;
            trailing(number, after)?;
            Zeroizing::new(value.to_owned())
        } else {
            // An unquoted value ends where a comment starts (a # after whitespace).
            let end = rest
                .char_indices()
                .find(|&(at, c)| {
                    c == '#' && rest.get(..at).is_some_and(|before| before.ends_with([' ', '\t']))
                })
                .map_or(rest.len(), |(at, _)| at);
            Zeroizing::new(rest.get(..end).unwrap_or(rest).trim_end().to_owned())
        };
        if entries.iter().any(|entry| entry.key == key) {
            return Err(error(number, &format!("{key} is given a second time")));
        }
        entries.push(DotenvEntry {
            key,
            value: SecretString::from(value.as_str()),
        });
    }
    Ok(entries)
}

/// What may follow a closing quote: whitespace, then optionally a comment.
fn trailing(number: usize, after: &str) -> Result<(), CoreError> {
    let after = after.trim();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err(error(number, "unexpected text after the closing quote"))
    }
}

/// The value of a double-quoted string that starts with `first` and may continue on the
/// following lines (advancing `next` past them), and the text after its closing quote.
fn double_quoted<'a>(
    first: &'a str,
    lines: &[&'a str],
    next: &mut usize,
) -> Option<(Zeroizing<String>, &'a str)> {
    let mut value = Zeroizing::new(String::new());
    let mut current = first;
    loop {
        let mut chars = current.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return Some((value, current.get(at + 1..).unwrap_or_default())),
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, escaped @ ('"' | '\\' | '$'))) => value.push(escaped),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => value.push('\\'),
                },
                other => value.push(other),
            }
        }
        current = lines.get(*next)?;
        *next += 1;
        value.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn pairs(content: &str) -> Vec<(String, String)> {
        parse(content)
            .unwrap()
            .into_iter()
            .map(|entry| (entry.key.to_string(), entry.value.expose_secret().to_owned()))
            .collect()
    }

    #[test]
    fn reads_the_usual_forms() {
        let content = "# a comment\n\nA=1\nexport B = two words # note\nC=\"quoted # not a comment\"\r\n\
                       D='single $X'\nE=\"line one\nline two\\n\\\"three\\\"\"\nF=\nG=a#b\n";
        assert_eq!(
            pairs(content),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "quoted # not a comment".into()),
                ("D".into(), "single $X".into()),
                ("E".into(), "line one\nline two\n\"three\"".into()),
                ("F".into(), String::new()),
                ("G".into(), "a#b".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        for (content, line) in [
            ("A=1\nnot a pair\n", 2),
            ("A=1\n\nB C=x\n", 3),
            ("A=\"hunter2\n", 1),
            ("A='hunter2\n", 1),
            ("A=\"x\" hunter2\n", 1),
            ("A=1\nA=hunter2\n", 2),
        ] {
            let message = match parse(content) {
                Err(CoreError::Validation { message, .. }) => message,
                Err(other) => panic!("{other:?}"),
                Ok(_) => panic!("{content:?} parsed"),
            };
            assert!(message.starts_with(&format!("line {line}:")), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
