//! The plan of a sync: what happens to each key, decided before any call to GitLab, from the
//! folder's secrets, the sync's ownership records and the variables GitLab lists. Pure: the run
//! applies a plan, the `plan` endpoint shows one.
//!
//! Unlike a sync that compares only what GitLab shows, hidden variables are compared through the
//! HMAC recorded when labgate wrote them (GitLab answers `value: null` for them), so an unchanged
//! hidden variable costs no write. Only variables the sync recorded as its own are ever deleted,
//! unless deleting unowned keys that match the key schema was asked for.

use std::collections::{BTreeMap, BTreeSet};

use labgate_proto::secret_syncs::{InitialSyncBehavior, PlanAction, VariableType};
use secrecy::{ExposeSecret, SecretString};

use super::model::KeySchema;

/// GitLab's longest key.
pub const MAX_KEY_LENGTH: usize = 255;

/// A secret of the folder, with the HMAC of its value under the tenant's hashing key.
#[derive(Debug, Clone)]
pub struct DesiredSecret {
    pub secret_key: String,
    pub value: SecretString,
    pub value_hmac: String,
    pub version: u32,
}

/// How a variable is flagged at GitLab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableFlags {
    pub protected: bool,
    pub masked: bool,
    pub hidden: bool,
    pub raw: bool,
    pub variable_type: VariableType,
    pub description: Option<String>,
}

impl VariableFlags {
    /// What differs from `other`, named for a person.
    fn differences(&self, other: &VariableFlags) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.protected != other.protected {
            out.push("protected");
        }
        if self.masked != other.masked {
            out.push("masked");
        }
        if self.raw != other.raw {
            out.push("raw");
        }
        if self.variable_type != other.variable_type {
            out.push("variable type");
        }
        if self.description != other.description {
            out.push("description");
        }
        out
    }
}

/// A variable GitLab lists. `value` is `None` for hidden variables.
#[derive(Debug, Clone)]
pub struct ListedVariable {
    pub key: String,
    pub environment_scope: String,
    pub value: Option<SecretString>,
    pub flags: VariableFlags,
}

/// What this sync recorded when it wrote a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedVariable {
    pub key: String,
    pub environment_scope: String,
    pub value_hmac: String,
    pub flags: VariableFlags,
}

/// The sync's settings as the planner needs them.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub key_schema: Option<KeySchema>,
    pub environment_scope: String,
    /// The flags every written variable gets.
    pub flags: VariableFlags,
    pub initial_sync_behavior: InitialSyncBehavior,
    pub disable_deletion: bool,
    pub delete_unowned_matching_keys: bool,
}

/// The call (if any) applying one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to call or record.
    Nothing,
    /// `POST` the secret at this index of the desired list.
    Create(usize),
    /// `PUT` it.
    Update(usize),
    /// `DELETE`, then `POST`: hiding cannot be changed on an existing variable.
    Recreate(usize),
    /// Record ownership of a variable GitLab already holds exactly as wanted: no call.
    Adopt(usize),
    /// `DELETE` the variable in this scope.
    Delete { environment_scope: String },
    /// Drop an ownership record whose variable is already gone from GitLab: no call.
    Forget { environment_scope: String },
}

impl Step {
    /// Whether applying the step writes at GitLab.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Step::Create(_) | Step::Update(_) | Step::Recreate(_) | Step::Delete { .. }
        )
    }
}

/// One key of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// The variable's key at GitLab.
    pub key: String,
    pub action: PlanAction,
    pub reason: String,
    /// Skipped because of something a person must fix (the run ends `partial`), rather than
    /// because nothing needs doing.
    pub problem: bool,
    pub step: Step,
}

impl PlanEntry {
    fn new(key: &str, action: PlanAction, reason: impl Into<String>, step: Step) -> PlanEntry {
        PlanEntry {
            key: key.to_owned(),
            action,
            reason: reason.into(),
            problem: false,
            step,
        }
    }

    fn problem(key: &str, reason: impl Into<String>) -> PlanEntry {
        PlanEntry {
            problem: true,
            ..PlanEntry::new(key, PlanAction::Skipped, reason, Step::Nothing)
        }
    }
}

/// Whether GitLab accepts `key` as a variable key.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LENGTH
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why GitLab would refuse to mask `value`, if it would (`Ci::Maskable`): raw values need 8
/// non-whitespace characters, expanded ones 8 characters of the Base64 alphabet plus `@:.~`.
pub fn unmaskable_reason(value: &str, raw: bool) -> Option<&'static str> {
    if value.contains(['\n', '\r']) {
        return Some("GitLab cannot mask a value of several lines");
    }
    if value.chars().count() < 8 {
        return Some("GitLab cannot mask a value shorter than 8 characters");
    }
    if raw {
        if value.chars().any(char::is_whitespace) {
            return Some("GitLab cannot mask a value containing whitespace");
        }
    } else if !value.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | '/' | '@' | ':' | '.' | '~' | '-')
    }) {
        return Some(
            "GitLab can mask an expanded value only if it uses letters, digits and _+=/@:.~- \
             (values are raw unless expandVariables is set)",
        );
    }
    None
}

/// Decides what happens to every key. `owned` holds this sync's records for the destination;
/// `owned_elsewhere` the keys other syncs own in the target scope.
pub fn plan(
    desired: &[DesiredSecret],
    owned: &[OwnedVariable],
    listed: &[ListedVariable],
    owned_elsewhere: &BTreeSet<String>,
    settings: &PlanSettings,
) -> Vec<PlanEntry> {
    let scope = settings.environment_scope.as_str();
    let mut entries = Vec::new();

    // Keys at GitLab, after the schema; a key several secrets map to is written by none.
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, secret) in desired.iter().enumerate() {
        let key = settings.key_schema.as_ref().map_or_else(
            || secret.secret_key.clone(),
            |schema| schema.apply(&secret.secret_key),
        );
        by_key.entry(key).or_default().push(index);
    }
    let listed_here: BTreeMap<&str, &ListedVariable> = listed
        .iter()
        .filter(|v| v.environment_scope == scope)
        .map(|v| (v.key.as_str(), v))
        .collect();
    let listed_anywhere: BTreeSet<(&str, &str)> = listed
        .iter()
        .map(|v| (v.key.as_str(), v.environment_scope.as_str()))
        .collect();
    let owned_here: BTreeMap<&str, &OwnedVariable> = owned
        .iter()
        .filter(|o| o.environment_scope == scope)
        .map(|o| (o.key.as_str(), o))
        .collect();

    for (key, indexes) in &by_key {
        if indexes.len() > 1 {
            let names: Vec<&str> = indexes
                .iter()
                .filter_map(|i| desired.get(*i).map(|s| s.secret_key.as_str()))
                .collect();
            for _ in indexes {
                entries.push(PlanEntry::problem(
                    key,
                    format!(
                        "the secrets {} all become the key {key}; none of them is written",
                        names.join(", ")
                    ),
                ));
            }
            continue;
        }
        let Some(&index) = indexes.first() else {
            continue;
        };
        let Some(secret) = desired.get(index) else {
            continue;
        };
        entries.push(plan_key(
            key,
            index,
            secret,
            listed_here.get(key.as_str()).copied(),
            owned_here.get(key.as_str()).copied(),
            owned_elsewhere,
            settings,
        ));
    }

    if settings.disable_deletion {
        return entries;
    }
    // Variables this sync wrote whose secret is gone (or whose scope is no longer the target).
    for record in owned {
        let still_wanted = record.environment_scope == scope && by_key.contains_key(&record.key);
        if still_wanted {
            continue;
        }
        let at_gitlab = listed_anywhere.contains(&(record.key.as_str(), record.environment_scope.as_str()));
        let moved = record.environment_scope != scope;
        entries.push(if at_gitlab {
            PlanEntry::new(
                &record.key,
                PlanAction::Delete,
                if moved {
                    format!(
                        "written by this sync to the environment scope {}, which is no longer its target",
                        record.environment_scope
                    )
                } else {
                    "written by this sync; its secret is no longer in the folder".to_owned()
                },
                Step::Delete {
                    environment_scope: record.environment_scope.clone(),
                },
            )
        } else {
            PlanEntry::new(
                &record.key,
                PlanAction::Unchanged,
                "already deleted at GitLab; the sync forgets it",
                Step::Forget {
                    environment_scope: record.environment_scope.clone(),
                },
            )
        });
    }
    if settings.delete_unowned_matching_keys
        && let Some(schema) = &settings.key_schema
    {
        for variable in listed_here.values() {
            let key = variable.key.as_str();
            if by_key.contains_key(key) || owned_here.contains_key(key) || owned_elsewhere.contains(key) {
                continue;
            }
            if schema.matches(key) {
                entries.push(PlanEntry::new(
                    key,
                    PlanAction::Delete,
                    "not written by labgate, but matches the key schema and no secret maps to it \
                     (deleteUnownedMatchingKeys)",
                    Step::Delete {
                        environment_scope: scope.to_owned(),
                    },
                ));
            }
        }
    }
    entries
}

fn plan_key(
    key: &str,
    index: usize,
    secret: &DesiredSecret,
    listed: Option<&ListedVariable>,
    owned: Option<&OwnedVariable>,
    owned_elsewhere: &BTreeSet<String>,
    settings: &PlanSettings,
) -> PlanEntry {
    let wanted = &settings.flags;
    if !valid_key(key) {
        return PlanEntry::problem(
            key,
            format!(
                "GitLab accepts keys of 1 to {MAX_KEY_LENGTH} letters, digits and '_' only; \
                 the secret {} is not written",
                secret.secret_key
            ),
        );
    }
    if owned.is_none() && owned_elsewhere.contains(key) {
        return PlanEntry::problem(
            key,
            "another secret sync writes this variable in the same scope; this sync leaves it alone",
        );
    }
    if wanted.masked
        && let Some(reason) = unmaskable_reason(secret.value.expose_secret(), wanted.raw)
    {
        return PlanEntry::problem(
            key,
            format!("{reason}; turn masking off for this sync or change the value"),
        );
    }
    let Some(listed) = listed else {
        let reason = if owned.is_some() {
            "written by this sync before, but deleted at GitLab since; created again"
        } else {
            "not at GitLab yet"
        };
        return PlanEntry::new(key, PlanAction::Create, reason, Step::Create(index));
    };

    if listed.flags.hidden != wanted.hidden {
        if owned.is_some() {
            let reason = if wanted.hidden {
                "GitLab can hide a variable only when it is created: deleted and created again, hidden"
            } else {
                "GitLab cannot show a hidden variable again: deleted and created again, visible"
            };
            return PlanEntry::new(key, PlanAction::Update, reason, Step::Recreate(index));
        }
        return PlanEntry::problem(
            key,
            if wanted.hidden {
                "exists at GitLab as a visible variable this sync did not write, and GitLab can hide \
                 a variable only when it is created; delete it at GitLab or turn hiding off"
            } else {
                "exists at GitLab as a hidden variable this sync did not write, and GitLab cannot \
                 make it visible; delete it at GitLab or turn hiding on"
            },
        );
    }

    let value_same = match (&listed.value, owned) {
        (Some(value), _) => value.expose_secret() == secret.value.expose_secret(),
        // Hidden: GitLab shows nothing, so the record of what this sync wrote decides.
        (None, Some(record)) => record.value_hmac == secret.value_hmac,
        (None, None) => false,
    };
    let mut changes = listed.flags.differences(wanted);
    if !value_same {
        changes.insert(0, "value");
    }
    // A hidden variable changed at GitLab by someone else is out of sight; the record says what
    // this sync wrote, so a record made with other flags counts as a change too.
    if let (None, Some(record)) = (&listed.value, owned)
        && record.flags != *wanted
        && changes.is_empty()
    {
        changes.push("flags");
    }

    match owned {
        Some(_) if changes.is_empty() => {
            PlanEntry::new(key, PlanAction::Unchanged, "up to date", Step::Nothing)
        }
        Some(_) => PlanEntry::new(
            key,
            PlanAction::Update,
            format!("{} changed", changes.join(", ")),
            Step::Update(index),
        ),
        None if changes.is_empty() => PlanEntry::new(
            key,
            PlanAction::Unchanged,
            "already at GitLab with the same value and flags; the sync takes it over",
            Step::Adopt(index),
        ),
        None => {
            let how = match settings.initial_sync_behavior {
                InitialSyncBehavior::OverwriteDestination => "overwrite-destination",
                InitialSyncBehavior::ImportPrioritizeSource => "import-prioritize-source",
                InitialSyncBehavior::ImportPrioritizeDestination => "import-prioritize-destination",
            };
            PlanEntry::new(
                key,
                PlanAction::Update,
                format!(
                    "already at GitLab but not written by this sync ({} differs); overwritten and taken \
                     over ({how})",
                    changes.join(", ")
                ),
                Step::Update(index),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;

    fn flags() -> VariableFlags {
        VariableFlags {
            protected: false,
            masked: false,
            hidden: false,
            raw: true,
            variable_type: VariableType::EnvVar,
            description: None,
        }
    }

    fn settings() -> PlanSettings {
        PlanSettings {
            key_schema: None,
            environment_scope: "*".into(),
            flags: flags(),
            initial_sync_behavior: InitialSyncBehavior::OverwriteDestination,
            disable_deletion: false,
            delete_unowned_matching_keys: false,
        }
    }

    fn hmac(value: &str) -> String {
        format!("h({value})")
    }

    fn secret(key: &str, value: &str) -> DesiredSecret {
        DesiredSecret {
            secret_key: key.into(),
            value: SecretString::from(value.to_owned()),
            value_hmac: hmac(value),
            version: 1,
        }
    }

    fn listed(key: &str, value: Option<&str>, flags: VariableFlags) -> ListedVariable {
        ListedVariable {
            key: key.into(),
            environment_scope: "*".into(),
            value: value.map(|v| SecretString::from(v.to_owned())),
            flags,
        }
    }

    fn owned(key: &str, value: &str, flags: VariableFlags) -> OwnedVariable {
        OwnedVariable {
            key: key.into(),
            environment_scope: "*".into(),
            value_hmac: hmac(value),
            flags,
        }
    }

    fn actions(entries: &[PlanEntry]) -> Vec<(String, PlanAction)> {
        entries.iter().map(|e| (e.key.clone(), e.action)).collect()
    }

    #[test]
    fn first_sync_creates_and_a_repeat_changes_nothing() {
        let desired = [secret("A", "one"), secret("B", "two")];
        let first = plan(&desired, &[], &[], &BTreeSet::new(), &settings());
        assert_eq!(
            actions(&first),
            [("A".into(), PlanAction::Create), ("B".into(), PlanAction::Create)]
        );
        let listed = [
            listed("A", Some("one"), flags()),
            listed("B", Some("two"), flags()),
        ];
        let owned = [owned("A", "one", flags()), owned("B", "two", flags())];
        let again = plan(&desired, &owned, &listed, &BTreeSet::new(), &settings());
        assert!(
            again
                .iter()
                .all(|e| e.action == PlanAction::Unchanged && !e.step.writes())
        );
    }

    #[test]
    fn hidden_variables_compare_by_recorded_hmac() {
        let mut s = settings();
        s.flags.masked = true;
        s.flags.hidden = true;
        let desired = [secret("H", "hidden-value-1")];
        let at_gitlab = [listed("H", None, s.flags.clone())];
        let record = [owned("H", "hidden-value-1", s.flags.clone())];
        let same = plan(&desired, &record, &at_gitlab, &BTreeSet::new(), &s);
        assert_eq!(same[0].action, PlanAction::Unchanged, "{:?}", same[0]);
        let changed = [secret("H", "hidden-value-2")];
        let update = plan(&changed, &record, &at_gitlab, &BTreeSet::new(), &s);
        assert_eq!(
            (update[0].action, &update[0].step),
            (PlanAction::Update, &Step::Update(0))
        );
        assert!(update[0].reason.contains("value"));
    }

    #[test]
    fn hiding_an_owned_variable_recreates_it_and_an_unowned_one_is_reported() {
        let mut s = settings();
        s.flags.masked = true;
        s.flags.hidden = true;
        let desired = [secret("H", "hidden-value-1")];
        let mut visible = s.flags.clone();
        visible.hidden = false;
        let at_gitlab = [listed("H", Some("hidden-value-1"), visible.clone())];
        let record = [owned("H", "hidden-value-1", visible)];
        let mine = plan(&desired, &record, &at_gitlab, &BTreeSet::new(), &s);
        assert_eq!(mine[0].step, Step::Recreate(0));
        let theirs = plan(&desired, &[], &at_gitlab, &BTreeSet::new(), &s);
        assert_eq!((theirs[0].action, theirs[0].problem), (PlanAction::Skipped, true));
    }

    #[test]
    fn only_owned_variables_are_deleted() {
        let desired = [secret("KEEP", "v")];
        let listed = [
            listed("KEEP", Some("v"), flags()),
            listed("GONE", Some("x"), flags()),
            listed("FOREIGN", Some("y"), flags()),
        ];
        let owned = [owned("KEEP", "v", flags()), owned("GONE", "x", flags())];
        let entries = plan(&desired, &owned, &listed, &BTreeSet::new(), &settings());
        assert_eq!(
            actions(&entries),
            [
                ("KEEP".into(), PlanAction::Unchanged),
                ("GONE".into(), PlanAction::Delete)
            ]
        );
        let mut keep_all = settings();
        keep_all.disable_deletion = true;
        let none = plan(&desired, &owned, &listed, &BTreeSet::new(), &keep_all);
        assert!(none.iter().all(|e| e.action != PlanAction::Delete));
    }

    #[test]
    fn unowned_keys_are_deleted_only_when_asked_and_matching_the_schema() {
        let mut s = settings();
        s.key_schema = Some(KeySchema::parse("APP_{{secretKey}}").unwrap());
        s.delete_unowned_matching_keys = true;
        let desired = [secret("DB", "v")];
        let listed = [
            listed("APP_DB", Some("v"), flags()),
            listed("APP_OLD", Some("x"), flags()),
            listed("OTHER", Some("y"), flags()),
            listed("APP_THEIRS", Some("z"), flags()),
        ];
        let elsewhere = BTreeSet::from(["APP_THEIRS".to_owned()]);
        let entries = plan(
            &desired,
            &[owned("APP_DB", "v", flags())],
            &listed,
            &elsewhere,
            &s,
        );
        let deletes: Vec<&str> = entries
            .iter()
            .filter(|e| e.action == PlanAction::Delete)
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(deletes, ["APP_OLD"]);
    }

    #[test]
    fn keys_gitlab_refuses_and_unmaskable_values_are_skipped_alone() {
        let mut s = settings();
        s.flags.masked = true;
        let desired = [
            secret("bad-key", "long-enough-value"),
            secret("SHORT", "abc"),
            secret("GOOD", "long-enough-value"),
            secret("MULTI", "line one\nline two"),
        ];
        let entries = plan(&desired, &[], &[], &BTreeSet::new(), &s);
        let by_key: BTreeMap<_, _> = entries.iter().map(|e| (e.key.as_str(), e)).collect();
        assert!(by_key["bad-key"].problem && by_key["bad-key"].reason.contains("letters, digits"));
        assert!(by_key["SHORT"].problem && by_key["SHORT"].reason.contains("8 characters"));
        assert!(by_key["MULTI"].problem && by_key["MULTI"].reason.contains("several lines"));
        assert_eq!(by_key["GOOD"].action, PlanAction::Create);
    }

    #[test]
    fn duplicate_keys_after_the_schema_write_none_of_them() {
        let desired = [secret("A", "1"), secret("A", "2"), secret("B", "3")];
        let entries = plan(&desired, &[], &[], &BTreeSet::new(), &settings());
        let skipped = entries.iter().filter(|e| e.key == "A" && e.problem).count();
        assert_eq!(skipped, 2);
        assert!(
            entries
                .iter()
                .any(|e| e.key == "B" && e.action == PlanAction::Create)
        );
    }

    #[test]
    fn variables_of_other_syncs_are_left_alone() {
        let desired = [secret("SHARED", "mine")];
        let listed = [listed("SHARED", Some("theirs"), flags())];
        let elsewhere = BTreeSet::from(["SHARED".to_owned()]);
        let entries = plan(&desired, &[], &listed, &elsewhere, &settings());
        assert_eq!(
            (entries[0].action, entries[0].step.writes()),
            (PlanAction::Skipped, false)
        );
    }

    #[test]
    fn unowned_matching_variables_are_adopted_or_overwritten() {
        let desired = [secret("SAME", "v"), secret("DIFF", "new")];
        let listed = [
            listed("SAME", Some("v"), flags()),
            listed("DIFF", Some("old"), flags()),
        ];
        let entries = plan(&desired, &[], &listed, &BTreeSet::new(), &settings());
        assert_eq!(entries[1].step, Step::Adopt(0));
        assert_eq!(entries[0].step, Step::Update(1));
    }

    #[test]
    fn a_changed_target_scope_moves_owned_variables() {
        let mut s = settings();
        s.environment_scope = "production".into();
        let desired = [secret("A", "v")];
        let listed = [listed("A", Some("v"), flags())];
        let entries = plan(
            &desired,
            &[owned("A", "v", flags())],
            &listed,
            &BTreeSet::new(),
            &s,
        );
        assert_eq!(
            entries.iter().map(|e| &e.step).collect::<Vec<_>>(),
            [
                &Step::Create(0),
                &Step::Delete {
                    environment_scope: "*".into()
                }
            ]
        );
    }

    #[test]
    fn mask_rules_follow_gitlab() {
        assert_eq!(unmaskable_reason("with$dollar!", true), None);
        assert!(unmaskable_reason("with$dollar!", false).is_some());
        assert!(unmaskable_reason("has space", true).is_some());
        assert_eq!(unmaskable_reason("abc+/=@:.~-_1", false), None);
        assert!(valid_key(&"K".repeat(255)) && !valid_key(&"K".repeat(256)) && !valid_key(""));
    }
}
