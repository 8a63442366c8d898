//! Where the keyring of root keys comes from. Exactly one source is used, first found wins:
//! `LABGATE_ROOT_KEYS` (or its `_FILE`), then `LABGATE_ROOT_KEY`, then `root.key` in the data
//! directory, generated on first run when there is no source at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use labgate_crypto::{Keyring, RootKey};
use secrecy::{ExposeSecret, SecretString};

use crate::{CoreError, Result};

pub const ROOT_KEY_FILE_NAME: &str = "root.key";

/// The key settings as configuration resolved them. `setting` names where a value came from
/// (e.g. `LABGATE_ROOT_KEYS_FILE`), so errors can point at it.
#[derive(Debug, Clone, Default)]
pub struct KeySettings {
    pub root_keys: Option<SettingValue>,
    pub root_key: Option<SettingValue>,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SettingValue {
    pub value: SecretString,
    pub setting: String,
}

/// Which source the keyring came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringOrigin {
    /// `LABGATE_ROOT_KEYS` or `LABGATE_ROOT_KEYS_FILE`; `setting` names which.
    RootKeys { setting: String },
    /// `LABGATE_ROOT_KEY` (one key, id `env`) or its `_FILE`.
    RootKey { setting: String },
    /// `root.key` in the data directory.
    DataDirFile { path: PathBuf },
}

impl KeyringOrigin {
    /// The setting or file an operator has to look at when the keyring is wrong.
    pub fn setting(&self) -> String {
        match self {
            KeyringOrigin::RootKeys { setting } | KeyringOrigin::RootKey { setting } => setting.clone(),
            KeyringOrigin::DataDirFile { path } => path.display().to_string(),
        }
    }

    /// Whether labgate itself can add a key to this source.
    pub fn is_writable(&self) -> bool {
        matches!(self, KeyringOrigin::DataDirFile { .. })
    }
}

/// A keyring and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedKeyring {
    pub keyring: Keyring,
    pub origin: KeyringOrigin,
    /// True when this call created `root.key`.
    pub generated: bool,
}

impl KeySettings {
    pub fn root_key_path(&self) -> PathBuf {
        self.data_dir.join(ROOT_KEY_FILE_NAME)
    }

    /// Loads the keyring from the first source present. `may_generate` allows creating
    /// `root.key` when no source exists; callers pass `false` when data sealed by some other
    /// keyring may already exist, so a missing key never silently becomes a new one.
    pub fn load(&self, may_generate: bool) -> Result<LoadedKeyring> {
        if let Some(root_keys) = &self.root_keys {
            let keyring = Keyring::parse(root_keys.value.expose_secret())
                .map_err(|error| key_error(&root_keys.setting, &error))?;
            return Ok(LoadedKeyring {
                keyring,
                origin: KeyringOrigin::RootKeys {
                    setting: root_keys.setting.clone(),
                },
                generated: false,
            });
        }
        if let Some(root_key) = &self.root_key {
            let keyring = Keyring::from_single("env", root_key.value.expose_secret().trim())
                .map_err(|error| key_error(&root_key.setting, &error))?;
            return Ok(LoadedKeyring {
                keyring,
                origin: KeyringOrigin::RootKey {
                    setting: root_key.setting.clone(),
                },
                generated: false,
            });
        }
        let path = self.root_key_path();
        match read_key_file(&path)? {
            Some(keyring) => Ok(LoadedKeyring {
                keyring,
                origin: KeyringOrigin::DataDirFile { path },
                generated: false,
            }),
            None if may_generate => generate_key_file(&path),
            None => Err(CoreError::Unavailable(format!(
                "no root keys are configured and {} does not exist, but the database already holds \
                 encrypted data: set LABGATE_ROOT_KEYS (or LABGATE_ROOT_KEY) or restore {}",
                path.display(),
                path.display()
            ))),
        }
    }
}

fn key_error(setting: &str, error: &labgate_crypto::CryptoError) -> CoreError {
    CoreError::Unavailable(format!("{setting} is not a valid keyring: {error}"))
}

/// A fresh root key id: `k` and 64 random bits in hex. Random rather than time-based, so two
/// rotations in the same second on different hosts never produce the same id for different keys.
pub fn new_key_id() -> String {
    format!("k{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// Reads `root.key`; `None` when it does not exist.
fn read_key_file(path: &Path) -> Result<Option<Keyring>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_shared(path);
            secrecy::zeroize::Zeroizing::new(text)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(CoreError::Unavailable(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    Keyring::parse(&text)
        .map(Some)
        .map_err(|error| key_error(&path.display().to_string(), &error))
}

/// Warns when users other than the owner may read or change `root.key`: anyone who reads it can
/// decrypt every credential in the database.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = %format!("{mode:o}"),
                    "the root key file is accessible to other users; restrict it with chmod 600"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Creates `root.key` with one fresh key, unless another process created it first (then that
/// file is used).
fn generate_key_file(path: &Path) -> Result<LoadedKeyring> {
    let _lock = KeyFileLock::acquire(path)?;
    if let Some(keyring) = read_key_file(path)? {
        return Ok(LoadedKeyring {
            keyring,
            origin: KeyringOrigin::DataDirFile {
                path: path.to_owned(),
            },
            generated: false,
        });
    }
    let keyring = Keyring::from_keys(vec![RootKey::generate(&new_key_id())])?;
    write_key_file_locked(path, &keyring)?;
    Ok(LoadedKeyring {
        keyring,
        origin: KeyringOrigin::DataDirFile {
            path: path.to_owned(),
        },
        generated: true,
    })
}

/// Adds a fresh active key to `root.key` and returns the new keyring and the new key's id.
///
/// The file is read again under an exclusive lock rather than taken from memory: a keyring this
/// process loaded earlier may miss a key another process added since, and writing it back would
/// drop that key while data keys may already be wrapped by it.
pub fn add_key_to_file(path: &Path) -> Result<(Keyring, String)> {
    let _lock = KeyFileLock::acquire(path)?;
    let current = read_key_file(path)?.ok_or_else(|| {
        CoreError::Unavailable(format!(
            "{} does not exist; restore it before rotating",
            path.display()
        ))
    })?;
    let mut id = new_key_id();
    while current.contains(&id) {
        id = new_key_id();
    }
    let next = current.with_new_active(RootKey::generate(&id))?;
    write_key_file_locked(path, &next)?;
    Ok((next, id))
}

/// An exclusive lock on the data directory's keyring, released on drop. It lives in a file of
/// its own because `root.key` is replaced by rename, and a lock on the replaced file would guard
/// nothing.
struct KeyFileLock {
    _file: std::fs::File,
}

impl KeyFileLock {
    fn acquire(key_path: &Path) -> Result<KeyFileLock> {
        let dir = parent_dir(key_path);
        create_private_dir(dir)?;
        let lock_path = key_path.with_extension("key.lock");
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        private_file_options(&mut options);
        let file = options.open(&lock_path).map_err(|error| {
            CoreError::Unavailable(format!("cannot open {}: {error}", lock_path.display()))
        })?;
        file.lock().map_err(|error| {
            CoreError::Unavailable(format!("cannot lock {}: {error}", lock_path.display()))
        })?;
        Ok(KeyFileLock { _file: file })
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// Creates `dir` and any missing parents with mode 0700. An existing directory keeps the mode
/// its operator gave it.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|error| CoreError::Unavailable(format!("cannot create {}: {error}", dir.display())))
}

/// Mode 0600 for files created, and no following of a symbolic link planted where a key file goes.
fn private_file_options(options: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = options;
}

fn write_key_file_locked(path: &Path, keyring: &Keyring) -> Result<()> {
    let failed =
        |error: std::io::Error| CoreError::Unavailable(format!("cannot write {}: {error}", path.display()));
    // Renaming over a symbolic link would replace the link, silently leaving its target (say, a
    // mounted secret) with the old keys while this host uses the new ones.
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(CoreError::Unavailable(format!(
            "{} is a symbolic link, which labgate does not rewrite; point LABGATE_ROOT_KEYS_FILE at \
             its target instead",
            path.display()
        )));
    }
    let temporary = path.with_extension("key.tmp");
    // Only the lock holder writes the temporary file, so one found here is left over from a
    // crash: never reuse it, as it may carry other permissions or be a link to somewhere else.
    match std::fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    private_file_options(&mut options);
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&temporary)?;
        // The mode given at creation is reduced by the umask; set it outright.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        // Written as it is, with the newline apart: growing the string would move the keys and
        // leave the old copy unzeroed.
        let text = secrecy::zeroize::Zeroizing::new(keyring.to_list().expose_secret().replace(',', "\n"));
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Ok(directory) = std::fs::File::open(parent_dir(path)) {
            let _ = directory.sync_all();
        }
        Ok(())
    };
    write().map_err(failed)
}
