//! CI/CD variables of projects and groups.

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::with_query;
use crate::base_url::encode_segment;
use crate::client::{Body, Call, Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// A new CI/CD variable.
#[derive(Debug, Clone)]
pub struct NewVariable {
    pub key: String,
    pub value: SecretString,
    /// `env_var` (default) or `file`.
    pub variable_type: Option<String>,
    pub protected: bool,
    pub masked: bool,
    /// Masked and hidden (17.4+); can only be set on create.
    pub masked_and_hidden: bool,
    pub raw: bool,
    /// Default `*`.
    pub environment_scope: Option<String>,
    pub description: Option<String>,
}

impl NewVariable {
    pub fn new(key: impl Into<String>, value: SecretString) -> Self {
        Self {
            key: key.into(),
            value,
            variable_type: None,
            protected: false,
            masked: false,
            masked_and_hidden: false,
            raw: false,
            environment_scope: None,
            description: None,
        }
    }

    fn body(&self, include_key: bool) -> Value {
        let mut m = serde_json::Map::new();
        if include_key {
            m.insert("key".into(), json!(self.key));
        }
        m.insert("value".into(), json!(self.value.expose_secret()));
        if let Some(t) = &self.variable_type {
            m.insert("variable_type".into(), json!(t));
        }
        m.insert("protected".into(), json!(self.protected));
        m.insert("raw".into(), json!(self.raw));
        if include_key && self.masked_and_hidden {
            m.insert("masked_and_hidden".into(), json!(true));
            m.insert("masked".into(), json!(true));
        } else {
            m.insert("masked".into(), json!(self.masked));
        }
        m.insert(
            "environment_scope".into(),
            json!(self.environment_scope.as_deref().unwrap_or("*")),
        );
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}

impl GitLabClient {
    pub fn variables(&self, cred: &Credential, source: &Source) -> Paged<Variable> {
        let template = if source.is_project() {
            "/projects/{id}/variables"
        } else {
            "/groups/{id}/variables"
        };
        self.list(
            cred,
            template,
            &format!("{}/variables", source.path()),
            &[],
            Mode::Offset,
        )
    }

    fn variable_url(
        &self,
        source: &Source,
        key: &str,
        environment_scope: &str,
    ) -> Result<(&'static str, Url), GitLabError> {
        let template = if source.is_project() {
            "/projects/{id}/variables/{key}"
        } else {
            "/groups/{id}/variables/{key}"
        };
        let url = self.api_url(&format!("{}/variables/{}", source.path(), encode_segment(key)))?;
        Ok((
            template,
            with_query(
                url,
                &[("filter[environment_scope]", environment_scope.to_owned())],
            ),
        ))
    }

    /// One variable, selected by key and environment scope (GitLab answers 409 without the
    /// scope filter when several scopes share a key, so the filter is always sent).
    #[tracing::instrument(skip_all)]
    pub async fn variable(
        &self,
        cred: &Credential,
        source: &Source,
        key: &str,
        environment_scope: &str,
    ) -> Result<Variable, GitLabError> {
        let (template, url) = self.variable_url(source, key, environment_scope)?;
        let call = Call {
            method: Method::GET,
            template,
            url,
            body: None,
            idempotent: true,
        };
        self.json(&call, Some(cred)).await
    }

    /// `POST …/variables` (201). Not retried: a lost answer followed by a retry would get 400
    /// "has already been taken".
    #[tracing::instrument(skip_all)]
    pub async fn create_variable(
        &self,
        cred: &Credential,
        source: &Source,
        var: &NewVariable,
    ) -> Result<Variable, GitLabError> {
        let template = if source.is_project() {
            "/projects/{id}/variables"
        } else {
            "/groups/{id}/variables"
        };
        let call = self.send_json(
            Method::POST,
            template,
            &format!("{}/variables", source.path()),
            var.body(true),
            false,
        )?;
        self.json(&call, Some(cred)).await
    }

    /// `PUT …/variables/:key?filter[environment_scope]=<current scope>` with the full new value
    /// (idempotent, retried). `var.environment_scope` may move the variable to another scope.
    #[tracing::instrument(skip_all)]
    pub async fn update_variable(
        &self,
        cred: &Credential,
        source: &Source,
        current_scope: &str,
        var: &NewVariable,
    ) -> Result<Variable, GitLabError> {
        let (template, url) = self.variable_url(source, &var.key, current_scope)?;
        let call = Call {
            method: Method::PUT,
            template,
            url,
            body: Some(Body::Json(var.body(false))),
            idempotent: true,
        };
        self.json(&call, Some(cred)).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_variable(
        &self,
        cred: &Credential,
        source: &Source,
        key: &str,
        environment_scope: &str,
    ) -> Result<(), GitLabError> {
        let (template, url) = self.variable_url(source, key, environment_scope)?;
        let call = Call {
            method: Method::DELETE,
            template,
            url,
            body: None,
            idempotent: false,
        };
        self.unit(&call, Some(cred)).await
    }
}
