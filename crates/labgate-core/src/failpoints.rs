//! Fault injection for tests, compiled only with the `failpoints` feature (never in a release
//! build). A failpoint is named where the code can fail or be interrupted, and armed by a test
//! for one scope (usually a connection id), so tests running side by side never trip each
//! other's faults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::Notify;

/// What an armed failpoint does when reached.
enum Action {
    /// The operation stops there with an error, as if the process died.
    Fail,
    /// Like `Fail`, this many more times; then the failpoint passes.
    FailTimes(u32),
    /// The operation waits there until the test releases it (once; later hits pass).
    Pause(Arc<Pause>),
}

#[derive(Default)]
struct Pause {
    reached: Notify,
    released: Notify,
}

type Registry = Mutex<HashMap<(&'static str, String), Action>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Disarms its failpoint when dropped.
#[must_use = "the failpoint is disarmed when the guard is dropped"]
pub struct Armed {
    key: (&'static str, String),
    pause: Option<Arc<Pause>>,
}

impl Armed {
    /// Waits until the paused operation has reached the failpoint.
    pub async fn reached(&self) {
        if let Some(pause) = &self.pause {
            pause.reached.notified().await;
        }
    }

    /// Lets the paused operation go on.
    pub fn release(&self) {
        if let Some(pause) = &self.pause {
            pause.released.notify_one();
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.release();
        registry()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Makes operations in `scope` fail at failpoint `name` until the guard is dropped.
pub fn fail(name: &'static str, scope: &str) -> Armed {
    arm(name, scope, Action::Fail, None)
}

/// Makes the next `times` operations in `scope` fail at failpoint `name`, then lets them pass.
pub fn fail_times(name: &'static str, scope: &str, times: u32) -> Armed {
    arm(name, scope, Action::FailTimes(times), None)
}

/// Makes the next operation in `scope` wait at failpoint `name` until released.
pub fn pause(name: &'static str, scope: &str) -> Armed {
    let pause = Arc::new(Pause::default());
    arm(name, scope, Action::Pause(pause.clone()), Some(pause))
}

fn arm(name: &'static str, scope: &str, action: Action, pause: Option<Arc<Pause>>) -> Armed {
    let key = (name, scope.to_owned());
    registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key.clone(), action);
    Armed { key, pause }
}

/// What a failpoint armed for the whole process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessAction {
    Fail,
    /// The operation stops there for good, as a frozen process would, until the process is
    /// killed.
    Hang,
}

/// The environment variable that arms failpoints for a whole process: `name=fail` or
/// `name=hang`, comma-separated. For tests that run labgate as a child process and kill it at a
/// failpoint.
pub const PROCESS_FAILPOINTS: &str = "LABGATE_FAILPOINTS";

fn process_armed(name: &str) -> Option<ProcessAction> {
    static ARMED: OnceLock<HashMap<String, ProcessAction>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var(PROCESS_FAILPOINTS)
                .unwrap_or_default()
                .split(',')
                .filter_map(|item| {
                    let (name, action) = item.trim().split_once('=')?;
                    let action = match action.trim() {
                        "fail" => ProcessAction::Fail,
                        "hang" => ProcessAction::Hang,
                        _ => return None,
                    };
                    Some((name.trim().to_owned(), action))
                })
                .collect()
        })
        .get(name)
        .copied()
}

/// Called at failpoint `name`: true when the operation must fail there. A paused operation
/// returns once released.
pub(crate) async fn reached(name: &'static str, scope: &str) -> bool {
    match process_armed(name) {
        Some(ProcessAction::Fail) => return true,
        Some(ProcessAction::Hang) => {
            tracing::warn!(
                failpoint = name,
                "failpoint reached: this operation hangs until the process is killed"
            );
            std::future::pending::<()>().await;
        }
        None => {}
    }
    let pause = {
        let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
        let key = (name, scope.to_owned());
        match registry.get_mut(&key) {
            None | Some(Action::FailTimes(0)) => return false,
            Some(Action::Fail) => return true,
            Some(Action::FailTimes(left)) => {
                *left -= 1;
                return true;
            }
            Some(Action::Pause(_)) => match registry.remove(&key) {
                Some(Action::Pause(pause)) => pause,
                _ => return false,
            },
        }
    };
    pause.reached.notify_one();
    pause.released.notified().await;
    false
}
