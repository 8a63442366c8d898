//! Request parameters merged from the query string and a JSON or form body, as Grape does.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::Value;

use crate::clock::parse_date;
use crate::error::ApiError;

/// Parameters by name. Repeated `k[]` keys become arrays under `k`; nested JSON objects are
/// flattened to `outer[inner]` so `filter[environment_scope]` reads the same from either source.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, Value>,
    /// The raw query pairs in order, for building pagination links.
    pub query: Vec<(String, String)>,
}

fn insert_pair(map: &mut BTreeMap<String, Value>, k: String, v: String) {
    if let Some(base) = k.strip_suffix("[]") {
        match map
            .entry(base.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(a) => a.push(Value::String(v)),
            other => *other = Value::Array(vec![other.take(), Value::String(v)]),
        }
    } else {
        map.insert(k, Value::String(v));
    }
}

fn flatten(map: &mut BTreeMap<String, Value>, prefix: &str, v: Value) {
    match v {
        Value::Object(o) if !prefix.is_empty() => {
            for (k, v) in o {
                flatten(map, &format!("{prefix}[{k}]"), v);
            }
            map.entry(prefix.to_owned()).or_insert(Value::Null);
        }
        other => {
            map.insert(prefix.to_owned(), other);
        }
    }
}

impl Params {
    pub fn from_query(query: Option<&str>) -> Self {
        let mut p = Self::default();
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                p.query.push((k.to_string(), v.to_string()));
                insert_pair(&mut p.map, k.into_owned(), v.into_owned());
            }
        }
        p
    }

    pub fn merge_body(&mut self, content_type: &str, body: &[u8]) -> Result<(), ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if content_type.starts_with("application/json") {
            let v: Value = serde_json::from_slice(body).map_err(|_| {
                ApiError::param(
                    "The provided content-type 'application/json' is not supported or the body is malformed",
                )
            })?;
            if let Value::Object(o) = v {
                for (k, v) in o {
                    flatten(&mut self.map, &k, v);
                }
            }
        } else {
            for (k, v) in url::form_urlencoded::parse(body) {
                insert_pair(&mut self.map, k.into_owned(), v.into_owned());
            }
        }
        Ok(())
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A string value; numbers and booleans are given as text.
    pub fn str(&self, key: &str) -> Option<String> {
        match self.raw(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean the way Grape coerces it; an unparsable value is a 400 `… is invalid`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "t" => Ok(Some(true)),
                "false" | "0" | "no" | "f" => Ok(Some(false)),
                _ => Err(ApiError::param(format!("{key} is invalid"))),
            },
            Some(Value::Number(n)) => Ok(Some(n.as_i64() != Some(0))),
            Some(_) => Err(ApiError::param(format!("{key} is invalid"))),
        }
    }

    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::param(format!("{key} is invalid"))),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::param(format!("{key} is invalid"))),
            Some(_) => Err(ApiError::param(format!("{key} is invalid"))),
        }
    }

    pub fn date(&self, key: &str) -> Result<Option<time::Date>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => parse_date(&s)
                .map(Some)
                .ok_or_else(|| ApiError::param(format!("{key} is invalid"))),
        }
    }

    /// An array, or a comma-separated string.
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        match self.raw(key)? {
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect(),
            ),
            Value::String(s) => Some(
                s.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect(),
            ),
            Value::Number(n) => Some(vec![n.to_string()]),
            _ => None,
        }
    }

    /// Grape's `requires`: every missing name is listed in one `{"error": "a is missing, b is missing"}`.
    pub fn require(&self, keys: &[&str]) -> Result<(), ApiError> {
        let missing: Vec<String> = keys
            .iter()
            .filter(|k| !self.has(k))
            .map(|k| format!("{k} is missing"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::param(missing.join(", ")))
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut p = Self::from_query(req.uri().query());
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::param("body could not be read"))?;
        p.merge_body(&ct, &body)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_query_form_and_json() {
        let mut p = Params::from_query(Some("scopes[]=api&scopes[]=read_api&page=2"));
        p.merge_body(
            "application/json",
            br#"{"filter": {"environment_scope": "prod"}, "masked": true}"#,
        )
        .unwrap();
        assert_eq!(p.list("scopes").unwrap(), vec!["api", "read_api"]);
        assert_eq!(p.int("page").unwrap(), Some(2));
        assert_eq!(p.str("filter[environment_scope]").as_deref(), Some("prod"));
        assert_eq!(p.bool("masked").unwrap(), Some(true));
        let e = p.require(&["name", "scopes", "key"]).unwrap_err();
        assert_eq!(e, ApiError::param("name is missing, key is missing"));
    }

    #[test]
    fn form_filter_key_matches_json_filter() {
        let mut p = Params::default();
        p.merge_body(
            "application/x-www-form-urlencoded",
            b"filter%5Benvironment_scope%5D=prod&value=x",
        )
        .unwrap();
        assert_eq!(p.str("filter[environment_scope]").as_deref(), Some("prod"));
    }
}
