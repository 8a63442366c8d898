//! Markup helpers every page is built from, so pages look and behave alike: headers, buttons,
//! tables, badges, empty states, dialogs, times, and form fields with their errors.

use labgate_proto::connections::ConnectionStatus;
use maud::{Markup, html};
use time::OffsetDateTime;

/// How a button weighs: one primary action per view, secondary for the rest, danger for what
/// destroys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonKind {
    Primary,
    Secondary,
    Danger,
}

impl ButtonKind {
    fn class(self) -> &'static str {
        match self {
            ButtonKind::Primary => "button primary",
            ButtonKind::Secondary => "button secondary",
            ButtonKind::Danger => "button danger",
        }
    }
}

/// A submit button. Give a destructive one `confirm` to have the browser ask first.
pub fn button(kind: ButtonKind, label: &str, confirm: Option<&str>) -> Markup {
    html! { button type="submit" class=(kind.class()) data-confirm=[confirm] { (label) } }
}

/// A link that looks like a button.
pub fn link_button(kind: ButtonKind, label: &str, href: &str) -> Markup {
    html! { a class=(kind.class()) href=(href) { (label) } }
}

/// A button that opens the `<dialog>` with id `dialog_id` (see [`modal`]).
pub fn open_dialog_button(kind: ButtonKind, label: &str, dialog_id: &str) -> Markup {
    html! { button type="button" class=(kind.class()) data-open-dialog=(dialog_id) aria-haspopup="dialog" { (label) } }
}

/// A button that copies `text` to the clipboard (and says so).
pub fn copy_button(text: &str, label: &str) -> Markup {
    html! { button type="button" class="button secondary small" data-copy=(text) { (label) } }
}

/// The title of a page, a line saying what it is for, and its actions on the right.
pub fn page_header(title: &str, description: Option<&str>, actions: Markup) -> Markup {
    html! {
        header.page-header {
            div {
                h1 { (title) }
                @if let Some(description) = description { p.muted { (description) } }
            }
            div.actions { (actions) }
        }
    }
}

/// A table with a caption for screen readers and one `<tr>` per row (built by the page).
pub fn table(caption: &str, headers: &[&str], rows: Markup) -> Markup {
    html! {
        div.table-wrap {
            table.data {
                caption.visually-hidden { (caption) }
                thead { tr { @for header in headers { th scope="col" { (header) } } } }
                tbody { (rows) }
            }
        }
    }
}

/// The colour family of a badge. A badge always has text too: colour alone says nothing to
/// people who cannot tell the colours apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Neutral,
    Success,
    Warning,
    Danger,
    Info,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Neutral => "badge neutral",
            Tone::Success => "badge success",
            Tone::Warning => "badge warning",
            Tone::Danger => "badge danger",
            Tone::Info => "badge info",
        }
    }
}

pub fn badge(tone: Tone, text: &str) -> Markup {
    html! { span class=(tone.class()) { span.dot aria-hidden="true" {} (text) } }
}

/// A connection's status as a badge, in words people use.
pub fn connection_status_badge(status: ConnectionStatus) -> Markup {
    let (tone, text) = match status {
        ConnectionStatus::Active => (Tone::Success, "Active"),
        ConnectionStatus::Expiring => (Tone::Warning, "Expiring soon"),
        ConnectionStatus::Expired => (Tone::Danger, "Expired"),
        ConnectionStatus::Revoked => (Tone::Danger, "Revoked"),
        ConnectionStatus::NeedsReauth => (Tone::Warning, "Needs re-authorization"),
        ConnectionStatus::NeedsAttention => (Tone::Warning, "Needs attention"),
        ConnectionStatus::Compromised => (Tone::Danger, "Compromised"),
        ConnectionStatus::InsufficientScope => (Tone::Warning, "Insufficient scope"),
        ConnectionStatus::Unreachable => (Tone::Neutral, "Unreachable"),
        ConnectionStatus::Error => (Tone::Danger, "Error"),
    };
    badge(tone, text)
}

/// What to show instead of an empty list: what the list is for and the next step.
pub fn empty_state(title: &str, text: &str, action: Markup) -> Markup {
    html! {
        section.empty-state aria-labelledby="empty-title" {
            div.empty-icon aria-hidden="true" { "+" }
            h2 id="empty-title" { (title) }
            p.muted { (text) }
            div.actions { (action) }
        }
    }
}

/// A `<dialog>` opened by [`open_dialog_button`] and closed by its close button or Escape.
pub fn modal(id: &str, title: &str, body: Markup) -> Markup {
    let title_id = format!("{id}-title");
    html! {
        dialog.modal id=(id) aria-labelledby=(title_id) {
            header.modal-header {
                h2 id=(title_id) { (title) }
                button type="button" class="icon-button" data-close-dialog aria-label="Close" { "×" }
            }
            div.modal-body { (body) }
        }
    }
}

/// `at` as "3 minutes ago" / "in 23 days" in a `<time>` whose tooltip is the exact time; the
/// script keeps the words current while the page stays open.
pub fn relative_time(now: OffsetDateTime, at: OffsetDateTime) -> Markup {
    html! {
        time datetime=(labgate_core::timefmt::format_time(at)) title=(exact_time(at)) data-relative {
            (relative_words(now, at))
        }
    }
}

/// [`relative_time`] of a time in the API's RFC 3339 form; the text as it is if it is not one.
pub fn relative_time_text(now: OffsetDateTime, at: &str) -> Markup {
    match labgate_core::timefmt::parse_time(at) {
        Some(at) => relative_time(now, at),
        None => html! { (at) },
    }
}

/// `2027-01-15 08:00 UTC`.
pub fn exact_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// The words the script also writes (`app.js`, `relativeWords`): keep the two alike.
pub fn relative_words(now: OffsetDateTime, at: OffsetDateTime) -> String {
    let seconds = (at - now).whole_seconds();
    let future = seconds > 0;
    let distance = seconds.unsigned_abs();
    if distance < 45 {
        return "just now".to_owned();
    }
    let (count, unit) = match distance {
        d if d < 90 => (1, "minute"),
        d if d < 45 * 60 => (((d + 30) / 60).clamp(2, 44), "minute"),
        d if d < 90 * 60 => (1, "hour"),
        d if d < 22 * 3_600 => ((d + 1_800) / 3_600, "hour"),
        d if d < 36 * 3_600 => (1, "day"),
        d if d < 26 * 86_400 => ((d + 43_200) / 86_400, "day"),
        d if d < 45 * 86_400 => (1, "month"),
        d if d < 320 * 86_400 => ((d + 15 * 86_400) / (30 * 86_400), "month"),
        d if d < 548 * 86_400 => (1, "year"),
        d => ((d + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    if future {
        format!("in {count} {unit}{plural}")
    } else {
        format!("{count} {unit}{plural} ago")
    }
}

/// A labelled input with an optional hint and inline error, tied together for screen readers.
pub struct Field<'a> {
    pub label: &'a str,
    pub name: &'a str,
    /// `text`, `email`, `password`, `url`, `number`, …
    pub input_type: &'a str,
    pub value: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub error: Option<&'a str>,
    pub required: bool,
    pub autocomplete: Option<&'a str>,
}

impl<'a> Field<'a> {
    pub fn new(label: &'a str, name: &'a str, input_type: &'a str) -> Field<'a> {
        Field {
            label,
            name,
            input_type,
            value: None,
            hint: None,
            error: None,
            required: false,
            autocomplete: None,
        }
    }
}

pub fn field(field: &Field<'_>) -> Markup {
    let id = format!("field-{}", field.name);
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described: Vec<&str> = [
        field.hint.map(|_| hint_id.as_str()),
        field.error.map(|_| error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    html! {
        div.field.has-error[field.error.is_some()] {
            label for=(id) { (field.label) }
            @if let Some(hint) = field.hint { p.hint id=(hint_id) { (hint) } }
            input id=(id) name=(field.name) type=(field.input_type) value=[field.value]
                required[field.required] autocomplete=[field.autocomplete]
                aria-invalid=[field.error.map(|_| "true")] aria-describedby=[described];
            (field_error(&error_id, field.error))
        }
    }
}

/// The error under a field (`id` is what the field's `aria-describedby` names).
pub fn field_error(id: &str, message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.field-error id=(id) { (message) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn relative_words_read_naturally_both_ways() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let cases = [
            (Duration::seconds(-10), "just now"),
            (Duration::seconds(-70), "1 minute ago"),
            (Duration::minutes(-3), "3 minutes ago"),
            (Duration::hours(-5), "5 hours ago"),
            (Duration::days(23), "in 23 days"),
            (Duration::days(-400), "1 year ago"),
            (Duration::days(90), "in 3 months"),
        ];
        for (offset, words) in cases {
            assert_eq!(relative_words(now, now + offset), words, "{offset}");
        }
    }

    #[test]
    fn fields_tie_label_hint_and_error_together() {
        let mut email = Field::new("Email", "email", "email");
        email.error = Some("Enter an email <address>");
        email.value = Some("a\"b");
        let markup = field(&email).into_string();
        assert!(markup.contains(r#"<label for="field-email">"#), "{markup}");
        assert!(
            markup.contains(r#"aria-describedby="field-email-error""#),
            "{markup}"
        );
        assert!(markup.contains(r#"aria-invalid="true""#));
        assert!(markup.contains("&lt;address&gt;"), "escaped: {markup}");
        assert!(markup.contains(r#"value="a&quot;b""#), "{markup}");
    }
}
