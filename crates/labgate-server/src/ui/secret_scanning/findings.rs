//! The findings: filtered by GET parameters (so a filtered view can be bookmarked and works
//! without the script) and paged, each with its rule, a redacted preview (never the secret),
//! where it was first seen and by whom, its verification, and its triage status, changed in a
//! form under the row. The export links take the same filters.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use labgate_core::CoreError;
use labgate_core::scanning::findings::FindingQuery;
use labgate_proto::secret_scanning::{
    ExportFormat, FindingList, FindingStatus, FindingVerification, FindingView, UpdateFindingRequest,
};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{FINDINGS_PATH, detail_path, refused, section_tabs};
use crate::state::AppState;
use crate::ui::components::{Tone, badge, empty_state, page_header, relative_time_text, table};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page};
use crate::ui::secrets::can_write;
use crate::ui::{CsrfForm, UiSession, csrf_field};

const PAGE_SIZE: u32 = 25;
const EXPORT_PATH: &str = "/secret-scanning/findings/export";

/// The filters as typed in the form; each empty one is no filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    data_source: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    verification: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    offset: Option<u64>,
}

fn given(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|value| !value.is_empty())
}

impl Filters {
    fn of(uri: &Uri) -> Filters {
        // Parameters that are not ones show the first page of every finding rather than an error.
        Query::<Filters>::try_from_uri(uri)
            .map(|query| query.0)
            .unwrap_or_default()
    }

    fn query(&self) -> FindingQuery {
        FindingQuery {
            project_id: None,
            data_source_id: given(&self.data_source),
            status: FindingStatus::parse(&self.status),
            rule: given(&self.rule),
            verification: FindingVerification::parse(&self.verification),
            path: given(&self.path),
            offset: self.offset.unwrap_or(0),
            limit: Some(PAGE_SIZE),
        }
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("data_source", &self.data_source),
            ("status", &self.status),
            ("verification", &self.verification),
            ("rule", &self.rule),
            ("path", &self.path),
        ]
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, value)| (name, value.trim()))
        .collect()
    }

    fn is_filtered(&self) -> bool {
        !self.pairs().is_empty()
    }

    /// This view's query string at another offset (empty for the first page unfiltered).
    fn query_string(&self, offset: u64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs() {
            query.append_pair(name, value);
        }
        if offset > 0 {
            query.append_pair("offset", &offset.to_string());
        }
        query.finish()
    }

    fn at_offset(&self, offset: u64) -> String {
        let query = self.query_string(offset);
        if query.is_empty() {
            FINDINGS_PATH.to_owned()
        } else {
            format!("{FINDINGS_PATH}?{query}")
        }
    }

    /// The export of what these filters select, in `format`: the API's parameter names.
    fn export_url(&self, format: ExportFormat) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("format", format.as_str());
        for (name, value) in self.pairs() {
            query.append_pair(name, value);
        }
        format!("{EXPORT_PATH}?{}", query.finish())
    }
}

pub fn status_words(status: FindingStatus) -> (Tone, &'static str) {
    match status {
        FindingStatus::Unresolved => (Tone::Warning, "Unresolved"),
        FindingStatus::Resolved => (Tone::Success, "Resolved"),
        FindingStatus::FalsePositive => (Tone::Neutral, "False positive"),
        FindingStatus::Ignore => (Tone::Neutral, "Ignored"),
    }
}

fn verification_words(verification: FindingVerification) -> (Tone, &'static str) {
    match verification {
        FindingVerification::Active => (Tone::Danger, "Active"),
        FindingVerification::Inactive => (Tone::Success, "Inactive"),
        FindingVerification::Unknown => (Tone::Neutral, "Unknown"),
    }
}

fn severity_tone(severity: &str) -> Tone {
    match severity {
        "critical" | "high" => Tone::Danger,
        "medium" => Tone::Warning,
        _ => Tone::Neutral,
    }
}

fn short_commit(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

fn triage_form(session: &UiSession, filters: &Filters, finding: &FindingView) -> Markup {
    let status_id = format!("status-{}", finding.id);
    let remarks_id = format!("remarks-{}", finding.id);
    html! {
        details.triage {
            summary { "Change status" }
            form.stack method="post" action={ (FINDINGS_PATH) "/" (finding.id) } {
                (csrf_field(session))
                input type="hidden" name="back" value=(filters.query_string(filters.offset.unwrap_or(0)));
                div.field {
                    label for=(status_id) { "Status" }
                    select id=(status_id) name="status" {
                        @for status in FindingStatus::ALL.iter().copied() {
                            option value=(status.as_str()) selected[status == finding.status] { (status_words(status).1) }
                        }
                    }
                }
                div.field {
                    label for=(remarks_id) { "Remarks" }
                    textarea id=(remarks_id) name="remarks" rows="2" maxlength="1024" placeholder="Why, e.g. the token was revoked" {
                        (finding.remarks.as_deref().unwrap_or(""))
                    }
                }
                div.form-actions { button type="submit" class="button primary small" { "Save" } }
            }
        }
    }
}

fn row(
    session: &UiSession,
    now: OffsetDateTime,
    filters: &Filters,
    names: &HashMap<String, String>,
    finding: &FindingView,
) -> Markup {
    let (status_tone, status_label) = status_words(finding.status);
    let (verification_tone, verification_label) = verification_words(finding.verification);
    let first = finding.locations.first();
    let others = finding.locations.len().saturating_sub(1);
    html! {
        tr data-finding-id=(finding.id) data-status=(finding.status.as_str()) {
            td.name-cell {
                div.primary-text { (finding.rule_name) }
                div.secondary-text {
                    span.mono { (finding.rule) } " "
                    (badge(severity_tone(&finding.severity), &finding.severity))
                }
                code.preview title="The first characters only: labgate never shows the secret" { (finding.preview) }
            }
            td.location-cell {
                @if let Some(location) = first {
                    a.mono.wrap href=(location.link) rel="noreferrer" { (location.file) ":" (location.line) }
                    div.secondary-text {
                        a href=(detail_path(&location.data_source_id)) { (names.get(&location.data_source_id).map_or(location.resource_name.as_str(), String::as_str)) }
                        " · " span.mono { (location.resource_name) }
                    }
                    @if others > 0 {
                        details.more-locations {
                            summary { "+" (others) " more location" @if others != 1 { "s" } }
                            ul {
                                @for location in finding.locations.iter().skip(1) {
                                    li { a.mono href=(location.link) rel="noreferrer" { (location.resource_name) " " (location.file) ":" (location.line) } }
                                }
                            }
                        }
                    }
                } @else {
                    span.muted { "No location left" }
                }
            }
            td {
                @if let Some(location) = first {
                    div.mono { (short_commit(&location.commit)) }
                    div.secondary-text {
                        (location.author.as_deref().unwrap_or("unknown author"))
                        @if let Some(date) = &location.date { " · " (relative_time_text(now, date)) }
                    }
                }
            }
            td { span data-verification=(finding.verification.as_str()) { (badge(verification_tone, verification_label)) } }
            td.status-cell {
                span data-finding-status=(finding.status.as_str()) { (badge(status_tone, status_label)) }
                @if let Some(remarks) = finding.remarks.as_deref().filter(|r| !r.is_empty()) {
                    div.secondary-text.clamp data-remarks { (remarks) }
                }
                @if can_write(session) { (triage_form(session, filters, finding)) }
            }
        }
    }
}

fn select_field(id: &str, name: &str, label: &str, options: &[(String, String)], selected: &str) -> Markup {
    html! {
        div.field.inline {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
        }
    }
}

fn filter_form(filters: &Filters, sources: &[(String, String)]) -> Markup {
    let any = |text: &str| (String::new(), text.to_owned());
    let mut source_options = vec![any("Any data source")];
    source_options.extend(sources.iter().cloned());
    let mut status_options = vec![any("Any status")];
    status_options.extend(
        FindingStatus::ALL
            .iter()
            .map(|status| (status.as_str().to_owned(), status_words(*status).1.to_owned())),
    );
    let mut verification_options = vec![any("Any verification")];
    verification_options.extend(FindingVerification::ALL.iter().map(|verification| {
        (
            verification.as_str().to_owned(),
            verification_words(*verification).1.to_owned(),
        )
    }));
    html! {
        form.filters.findings-filters method="get" action=(FINDINGS_PATH) aria-label="Filter the findings" {
            (select_field("filter-data-source", "data_source", "Data source", &source_options, &filters.data_source))
            (select_field("filter-status", "status", "Status", &status_options, &filters.status))
            (select_field("filter-verification", "verification", "Verification", &verification_options, &filters.verification))
            div.field.inline {
                label for="filter-rule" { "Rule" }
                input id="filter-rule" name="rule" type="text" value=(filters.rule) placeholder="e.g. gitlab-pat" maxlength="128";
            }
            div.field.inline {
                label for="filter-path" { "File path" }
                input id="filter-path" name="path" type="text" value=(filters.path) placeholder="Part of a path" maxlength="1024";
            }
            div.filter-actions {
                button type="submit" class="button primary small" { "Filter" }
                @if filters.is_filtered() { a.button.secondary.small href=(FINDINGS_PATH) { "Clear" } }
            }
        }
    }
}

fn pager(filters: &Filters, offset: u64, list: &FindingList) -> Markup {
    let shown_to = offset + list.findings.len() as u64;
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 {
                a.button.secondary.small href=(filters.at_offset(offset.saturating_sub(u64::from(PAGE_SIZE)))) rel="prev" { "Newer" }
            }
            @if offset == 0 && shown_to >= list.total_count {
                span.muted data-total=(list.total_count) { (list.total_count) " finding" @if list.total_count != 1 { "s" } }
            } @else {
                span.muted data-total=(list.total_count) { "Findings " (offset + 1) "–" (shown_to) " of " (list.total_count) }
            }
            @if shown_to < list.total_count {
                a.button.secondary.small href=(filters.at_offset(shown_to)) rel="next" { "Older" }
            }
        }
    }
}

fn export_links(filters: &Filters) -> Markup {
    html! {
        div.export-links {
            span.muted.small { "Export" }
            a.button.secondary.small href=(filters.export_url(ExportFormat::Csv)) download { "CSV" }
            a.button.secondary.small href=(filters.export_url(ExportFormat::Json)) download { "JSON" }
            a.button.secondary.small href=(filters.export_url(ExportFormat::Sarif)) download { "SARIF" }
        }
    }
}

/// `GET /secret-scanning/findings`.
pub async fn list(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let principal = session.principal();
    let scanning = &state.services.secret_scanning;
    let filters = Filters::of(&uri);
    let sources = match scanning.list(principal).await {
        Ok(listed) => listed.data_sources,
        Err(error) => return refused(&session, &error),
    };
    let names: HashMap<String, String> = sources
        .iter()
        .map(|source| (source.id.clone(), source.name.clone()))
        .collect();
    let options: Vec<(String, String)> = sources
        .iter()
        .map(|source| (source.id.clone(), source.name.clone()))
        .collect();
    let query = filters.query();
    let offset = query.offset;
    let listed = match scanning.findings(principal, &query).await {
        Ok(listed) => listed,
        Err(error) => return refused(&session, &error),
    };
    let now = state.services.clock.now();
    let title = "Findings";
    let content = html! {
        (page_header(Nav::SecretScanning.label(), Some("Secrets found in the history of the scanned repositories. Only a short preview of each is kept; the value itself never is."), export_links(&filters)))
        (section_tabs(true))
        (filter_form(&filters, &options))
        @if listed.findings.is_empty() {
            @if filters.is_filtered() || offset > 0 {
                (empty_state("No findings match these filters", "Clear a filter to see more findings.",
                    html! { a.button.secondary href=(FINDINGS_PATH) { "Clear filters" } }))
            } @else {
                (empty_state("No findings", "Nothing has been found yet. Scans of the data sources add what they find here.",
                    html! { a.button.secondary href=(super::LIST_PATH) { "Go to data sources" } }))
            }
        } @else {
            (table(
                "Findings, newest first",
                &["Finding", "Location", "Commit", "Verification", "Status"],
                html! { @for finding in &listed.findings { (row(&session, now, &filters, &names, finding)) } },
            ))
            (pager(&filters, offset, &listed))
        }
    };
    page(&session, Nav::SecretScanning, title, content)
}

#[derive(Deserialize)]
pub struct ExportParams {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    filters: Filters,
}

/// `GET /secret-scanning/findings/export`: the API's export, with the session.
pub async fn export(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let Ok(Query(params)) = Query::<ExportParams>::try_from_uri(&uri) else {
        return refused(
            &session,
            &CoreError::validation("format", "unknown export parameters"),
        );
    };
    let format = ExportFormat::parse(&params.format).unwrap_or(ExportFormat::Json);
    let query = params.filters.query();
    match state
        .services
        .secret_scanning
        .export_findings(session.principal(), &query, format)
        .await
    {
        Ok(export) => {
            let name = format!("labgate-findings.{}", format.as_str());
            let mut response = (StatusCode::OK, export.body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(export.content_type),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(error) => refused(&session, &error),
    }
}

#[derive(Deserialize)]
pub struct TriageForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    remarks: String,
    /// The list's query string to go back to.
    #[serde(default)]
    back: String,
}

/// `POST /secret-scanning/findings/{id}`.
pub async fn triage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<TriageForm>,
) -> Response {
    // Only the filters are taken back: the form cannot send the browser anywhere else.
    let back = serde_urlencoded::from_str::<Filters>(&form.back).unwrap_or_default();
    let back = back.at_offset(back.offset.unwrap_or(0));
    let Some(status) = FindingStatus::parse(&form.status) else {
        return redirect_with_flash(
            &state,
            &back,
            FlashKind::Error,
            "Choose a status for the finding.",
        );
    };
    let remarks = form.remarks.trim();
    let request = UpdateFindingRequest {
        status: Some(status),
        remarks: Some(remarks.to_owned()),
    };
    match state
        .services
        .secret_scanning
        .update_finding(session.principal(), &id, request)
        .await
    {
        Ok(finding) => redirect_with_flash(
            &state,
            &back,
            FlashKind::Success,
            &format!(
                "Finding {} marked {}.",
                finding.rule,
                status_words(finding.status).1.to_lowercase()
            ),
        ),
        Err(error @ (CoreError::NotFound(_) | CoreError::Forbidden(_) | CoreError::Internal(_))) => {
            refused(&session, &error)
        }
        Err(error) => redirect_with_flash(
            &state,
            &back,
            FlashKind::Error,
            &crate::api::oauth::sentence(&error.to_string()),
        ),
    }
}
