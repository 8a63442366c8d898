//! Values that their file format declares to be base64, decoded and scanned by default: the
//! `data:` of a Kubernetes `Secret` (YAML or JSON; `.dockerconfigjson` inside one is found again
//! one level down) and Docker `config.json` `auths.*.auth` (base64 of `user:password`). Unlike
//! the general `--decode` search, which tries every base64-looking run, these spots are known to
//! be encoded, so decoding them costs almost nothing and adds no noise.

use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem;

/// Which format declared the value to be base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodedKind {
    KubernetesSecret,
    DockerAuth,
}

impl EncodedKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::KubernetesSecret => "kubernetes-secret-data",
            Self::DockerAuth => "docker-config-auth",
        }
    }
}

/// One base64 value and where it is in the text (without quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedValue {
    pub span: Range<usize>,
    pub kind: EncodedKind,
}

static AUTH_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"auth\""));
static SECRET_WORD: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"Secret"));

/// Every declared-base64 value in `data`.
#[must_use]
pub fn find(data: &[u8]) -> Vec<EncodedValue> {
    let mut out = Vec::new();
    for at in AUTH_KEY.find_iter(data) {
        if let Some(span) = json_string_value(data, at + b"\"auth\"".len()) {
            out.push(EncodedValue {
                span,
                kind: EncodedKind::DockerAuth,
            });
        }
    }
    if SECRET_WORD.find(data).is_some() {
        kubernetes_yaml(data, &mut out);
        kubernetes_json(data, &mut out);
    }
    out
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// After a JSON key: `: "value"` → the span of `value` when it is base64 text.
fn json_string_value(data: &[u8], mut i: usize) -> Option<Range<usize>> {
    let skip_ws = |i: &mut usize| {
        while data.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    (data.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    skip_ws(&mut i);
    (data.get(i) == Some(&b'"')).then_some(())?;
    let start = i + 1;
    let len = data[start..].iter().position(|&b| !is_b64(b))?;
    (data.get(start + len) == Some(&b'"') && len >= 8).then_some(start..start + len)
}

/// The content of a line after its indentation and an optional YAML list dash.
fn content(line: &[u8]) -> (usize, &[u8]) {
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    let rest = &line[indent..];
    let rest = rest.strip_prefix(b"- ").unwrap_or(rest);
    (indent, rest.trim_ascii_end())
}

fn is_secret_kind(rest: &[u8]) -> bool {
    let Some(value) = rest.strip_prefix(b"kind:") else {
        return false;
    };
    let v = value.trim_ascii();
    v == b"Secret" || v == b"\"Secret\"" || v == b"'Secret'"
}

/// YAML manifests: in each `---`-separated document that declares `kind: Secret`, the scalar
/// values of every `data:` mapping.
fn kubernetes_yaml(data: &[u8], out: &mut Vec<EncodedValue>) {
    let mut lines: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len())) {
        lines.push(start..nl);
        start = nl + 1;
    }
    let documents = lines.split(|l| data[l.clone()].starts_with(b"---"));
    for doc in documents {
        if !doc.iter().any(|l| is_secret_kind(content(&data[l.clone()]).1)) {
            continue;
        }
        let mut block: Option<usize> = None;
        for l in doc {
            let line = &data[l.clone()];
            let (indent, rest) = content(line);
            if rest.is_empty() || rest.starts_with(b"#") {
                continue;
            }
            if let Some(data_indent) = block {
                if indent > data_indent {
                    if let Some(span) = yaml_scalar(line) {
                        out.push(EncodedValue {
                            span: l.start + span.start..l.start + span.end,
                            kind: EncodedKind::KubernetesSecret,
                        });
                    }
                    continue;
                }
                block = None;
            }
            if rest == b"data:" {
                block = Some(indent);
            }
        }
    }
}

/// `  key: value` (value optionally quoted) → the span of `value` in `line` when it is base64.
fn yaml_scalar(line: &[u8]) -> Option<Range<usize>> {
    let colon = memmem::find(line, b": ")?;
    let mut start = colon + 2;
    while line.get(start) == Some(&b' ') {
        start += 1;
    }
    let mut end = line.trim_ascii_end().len();
    if end > start + 1 && matches!(line[start], b'"' | b'\'') && line[end - 1] == line[start] {
        start += 1;
        end -= 1;
    }
    let value = line.get(start..end)?;
    (value.len() >= 8 && value.iter().all(|&b| is_b64(b))).then_some(start..end)
}

/// JSON manifests (`kubectl get secret -o json`): the string members of each `"data"` object in
/// a text that declares `"kind": "Secret"`.
fn kubernetes_json(data: &[u8], out: &mut Vec<EncodedValue>) {
    let declares_secret = memmem::find_iter(data, b"\"kind\"").any(|at| {
        let rest = &data[at + 6..data.len().min(at + 40)];
        let rest = rest.trim_ascii_start();
        rest.strip_prefix(b":")
            .is_some_and(|r| r.trim_ascii_start().starts_with(b"\"Secret\""))
    });
    if !declares_secret {
        return;
    }
    for at in memmem::find_iter(data, b"\"data\"") {
        let mut i = at + 6;
        while data.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if data.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while data.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if data.get(i) != Some(&b'{') {
            continue;
        }
        let Some(close) = memchr::memchr(b'}', &data[i..]) else {
            continue;
        };
        let object = i..i + close;
        // Members are `"key": "value"`; each value follows a `:` outside a string.
        let mut j = object.start + 1;
        while j < object.end {
            match data[j] {
                b'"' => {
                    let Some(q) = memchr::memchr(b'"', &data[j + 1..object.end]) else {
                        break;
                    };
                    let after = j + 1 + q + 1;
                    if let Some(span) = json_string_value(data, after).filter(|s| s.end <= object.end) {
                        out.push(EncodedValue {
                            span: span.clone(),
                            kind: EncodedKind::KubernetesSecret,
                        });
                        j = span.end + 1;
                    } else {
                        j = after;
                    }
                }
                _ => j += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<&str> {
        find(text.as_bytes()).into_iter().map(|v| &text[v.span]).collect()
    }

    #[test]
    fn kubernetes_yaml_data_values_only_in_secrets() {
        let text = "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: aGVsbG8gd29ybGQ=\n---\n\
                    apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  token: \"Z2xwYXQtYWJj\"\n  \
                    short: YQ==\n  plain: not base64!\nstringData:\n  other: aGVsbG8gd29ybGQ=\n";
        assert_eq!(values(text), ["Z2xwYXQtYWJj"]);
    }

    #[test]
    fn kubernetes_json_and_docker_auth() {
        let text =
            r#"{"apiVersion":"v1","kind": "Secret","data":{"user":"YWRtaW4xMjM0","pw": "cGFzc3dvcmQxMjM="}}"#;
        assert_eq!(values(text), ["YWRtaW4xMjM0", "cGFzc3dvcmQxMjM="]);
        let docker = r#"{"auths": {"reg.example": {"auth": "dXNlcjpwYXNzd29yZA=="}}}"#;
        assert_eq!(values(docker), ["dXNlcjpwYXNzd29yZA=="]);
    }
}
