//! Which paths the webview may name. Whatever the UI sends is input: a page that went wrong (or
//! was made to) could name any file the user can write. So the backend decides:
//!
//! - Writes go into the data folder's `experiments/` and `exports/` — where the app itself
//!   suggests saving, and away from the database, the price overrides and the CPU record beside
//!   them — or to a path the user chose in a native save dialog during this session. The dialog
//!   runs in this process ([`pick_save_path`]), so a page cannot forge the choice.
//! - Reads may name any path, but it must be a regular file (or a folder where one is
//!   expected), checked here before the engine or a child process sees it: a FIFO or a device
//!   would block or never end.
//!
//! Paths reach child processes after `--`, so none is ever taken for an option.

use std::collections::HashSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use tauri::State;

use crate::AppState;
use crate::error::{AppCode, AppError};

/// The data folder's sub-folders the UI may write into without a dialog.
const WRITABLE_FOLDERS: [&str; 2] = ["experiments", "exports"];

/// Shows the native file dialogs. A trait so that tests can stand in for the user.
pub trait Picker: Send + Sync {
    /// A save dialog opened at `suggested` (its folder and file name); `None` when cancelled.
    fn save(&self, suggested: &Path) -> Option<PathBuf>;
    /// An open dialog for a file, or a folder when `folder`; `None` when cancelled.
    fn open(&self, folder: bool) -> Option<PathBuf>;
}

/// The dialogs and the save paths the user chose in them this session.
#[derive(Default)]
pub struct Files {
    picker: OnceLock<Box<dyn Picker>>,
    chosen: Mutex<HashSet<PathBuf>>,
}

impl fmt::Debug for Files {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Files")
            .field("picker", &self.picker.get().is_some())
            .field("chosen", &self.chosen)
            .finish()
    }
}

impl Files {
    /// Installs the dialogs (once, when the window exists).
    pub fn set_picker(&self, picker: Box<dyn Picker>) {
        let _ = self.picker.set(picker);
    }

    fn picker(&self) -> Result<&dyn Picker, AppError> {
        self.picker.get().map(|picker| &**picker).ok_or_else(|| {
            AppError::new(
                AppCode::Unavailable,
                "file dialogs are not available in this window",
            )
        })
    }

    fn remember(&self, path: PathBuf) {
        self.chosen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path);
    }

    fn was_chosen(&self, path: &Path) -> bool {
        self.chosen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(path)
    }

    /// The path the UI asks to write, if this session may write it (see the module's rule).
    pub fn writable(&self, path: &str) -> Result<PathBuf, AppError> {
        self.writable_in(path, &tradeoff_core::paths::data_dir())
    }

    fn writable_in(&self, path: &str, data_dir: &Path) -> Result<PathBuf, AppError> {
        let path = plain_absolute(path)?;
        if self.was_chosen(&path) {
            return Ok(path);
        }
        let Some(resolved) = resolve(&path) else {
            return Err(AppError::new(
                AppCode::NotAllowed,
                format!("{} is a link to a file that does not exist", path.display()),
            ));
        };
        if resolved.is_dir() {
            return Err(AppError::new(
                AppCode::BadInput,
                format!("{} is a folder, not a file", path.display()),
            ));
        }
        let inside = WRITABLE_FOLDERS.iter().any(|folder| {
            resolve(&data_dir.join(folder))
                .is_some_and(|root| resolved.starts_with(&root) && resolved != root)
        });
        if inside {
            return Ok(path);
        }
        Err(AppError::new(
            AppCode::NotAllowed,
            format!(
                "{} is outside the data folder ({}): choose where to save with “Choose…”",
                path.display(),
                WRITABLE_FOLDERS
                    .iter()
                    .map(|f| data_dir.join(f).display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ))
    }
}

/// `path` as an absolute path without `..`: the UI always has a full path (it got it from the
/// backend or a dialog), and a relative one would resolve against wherever the app started.
fn plain_absolute(path: &str) -> Result<PathBuf, AppError> {
    if path.is_empty() {
        return Err(AppError::new(AppCode::BadInput, "no path given"));
    }
    let path = Path::new(path);
    if !path.is_absolute() {
        return Err(AppError::new(
            AppCode::BadInput,
            format!("{}: give a full path (starting with /)", path.display()),
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(AppError::new(
            AppCode::BadInput,
            format!("{}: a path with `..` is not accepted for writing", path.display()),
        ));
    }
    // Components drop `.` and doubled slashes, so one file has one spelling.
    Ok(path.components().collect())
}

/// `path` with every symbolic link resolved as far as it exists: a link inside the data folder
/// that points elsewhere must count as elsewhere. `None` for a dangling link, which a write
/// would follow to wherever it points.
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Some(rest.iter().rev().fold(real, |acc, part| acc.join(part)));
        }
        if existing.symlink_metadata().is_ok() {
            return None;
        }
        rest.push(existing.file_name()?.to_os_string());
        existing = existing.parent()?;
    }
}

/// A regular file the UI names for reading (an experiment file, a model).
pub fn readable_file(path: &str) -> Result<PathBuf, AppError> {
    readable(path, false)
}

/// A regular file or a folder (a model source).
pub fn readable_file_or_folder(path: &str) -> Result<PathBuf, AppError> {
    readable(path, true)
}

fn readable(path: &str, folder_too: bool) -> Result<PathBuf, AppError> {
    if path.is_empty() {
        return Err(AppError::new(AppCode::BadInput, "no path given"));
    }
    let path = PathBuf::from(path);
    // Follows links: what matters is what would be read.
    let metadata = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            AppError::new(AppCode::NotFound, format!("no such file: {}", path.display()))
        }
        _ => AppError::new(AppCode::Io, format!("cannot read {}: {e}", path.display())),
    })?;
    if metadata.is_file() || (folder_too && metadata.is_dir()) {
        return Ok(path);
    }
    let expected = if folder_too {
        "a file or a folder"
    } else {
        "a file"
    };
    let what = if metadata.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    };
    Err(AppError::new(
        AppCode::BadInput,
        format!("{} is {what}; expected {expected}", path.display()),
    ))
}

/// Opens the native save dialog at `suggested` and remembers the path chosen, so that the
/// export or save that follows may write it. `None` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn pick_save_path(
    state: State<'_, AppState>,
    suggested: String,
) -> Result<Option<String>, AppError> {
    let files = std::sync::Arc::clone(&state.files);
    crate::blocking(move || {
        let Some(chosen) = files.picker()?.save(Path::new(&suggested)) else {
            return Ok(None);
        };
        let chosen = plain_absolute(&chosen.to_string_lossy())?;
        files.remember(chosen.clone());
        Ok(Some(chosen.to_string_lossy().into_owned()))
    })
    .await
}

/// Opens the native open dialog for a file (or a folder); reading needs no permission, so the
/// choice is only returned.
#[tauri::command]
#[specta::specta]
pub async fn pick_open_path(state: State<'_, AppState>, folder: bool) -> Result<Option<String>, AppError> {
    let files = std::sync::Arc::clone(&state.files);
    crate::blocking(move || {
        Ok(files
            .picker()?
            .open(folder)
            .map(|p| p.to_string_lossy().into_owned()))
    })
    .await
}

/// The dialogs of tauri-plugin-dialog, shown from the backend.
pub struct NativePicker<R: tauri::Runtime>(pub tauri::AppHandle<R>);

impl<R: tauri::Runtime> fmt::Debug for NativePicker<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NativePicker")
    }
}

impl<R: tauri::Runtime> NativePicker<R> {
    fn dialog(&self) -> Option<tauri_plugin_dialog::FileDialogBuilder<R>> {
        use tauri::Manager as _;
        // `DialogExt::dialog` panics when the plugin is missing; a missing dialog is a `None`.
        let dialog = self.0.try_state::<tauri_plugin_dialog::Dialog<R>>()?;
        Some(dialog.file())
    }
}

impl<R: tauri::Runtime> Picker for NativePicker<R> {
    fn save(&self, suggested: &Path) -> Option<PathBuf> {
        let mut dialog = self.dialog()?.set_can_create_directories(true);
        if let Some(folder) = suggested.parent().filter(|p| p.is_dir()) {
            dialog = dialog.set_directory(folder);
        }
        if let Some(name) = suggested.file_name() {
            dialog = dialog.set_file_name(name.to_string_lossy());
        }
        // Blocking is fine: commands call this on a blocking thread, never the main one.
        dialog.blocking_save_file()?.into_path().ok()
    }

    fn open(&self, folder: bool) -> Option<PathBuf> {
        let dialog = self.dialog()?;
        let chosen = if folder {
            dialog.blocking_pick_folder()
        } else {
            dialog.blocking_pick_file()
        };
        chosen?.into_path().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chooses(PathBuf);

    impl Picker for Chooses {
        fn save(&self, _: &Path) -> Option<PathBuf> {
            Some(self.0.clone())
        }
        fn open(&self, _: bool) -> Option<PathBuf> {
            Some(self.0.clone())
        }
    }

    fn data_folder() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("exports")).unwrap();
        (dir, data)
    }

    fn refused(result: Result<PathBuf, AppError>) -> AppError {
        result.expect_err("the path should be refused")
    }

    #[test]
    fn writes_into_the_data_folders_exports_and_experiments_are_allowed_without_a_dialog() {
        let (_dir, data) = data_folder();
        let files = Files::default();
        let export = data.join("exports/experiment-1-config-0.json");
        assert_eq!(
            files.writable_in(&export.to_string_lossy(), &data).unwrap(),
            export
        );
        // A folder that does not exist yet is created by the write.
        let saved = data.join("experiments/new/quickstart.yaml");
        assert_eq!(files.writable_in(&saved.to_string_lossy(), &data).unwrap(), saved);
    }

    #[test]
    fn writes_anywhere_else_are_refused_with_a_clear_error() {
        let (dir, data) = data_folder();
        let files = Files::default();
        for path in [
            "/etc/passwd".to_string(),
            dir.path().join("elsewhere.json").to_string_lossy().into_owned(),
            // The database, price overrides and CPU record live in the data folder's root.
            data.join("tradeoff.sqlite3").to_string_lossy().into_owned(),
            data.join("prices.json").to_string_lossy().into_owned(),
        ] {
            let error = refused(files.writable_in(&path, &data));
            assert_eq!(error.code, AppCode::NotAllowed.into(), "{path}: {error:?}");
            assert!(error.message.contains("Choose…"), "{}", error.message);
        }
        let error = refused(files.writable_in("relative/export.json", &data));
        assert_eq!(error.code, crate::error::AppCode::BadInput.into());
        assert!(error.message.contains("full path"), "{}", error.message);
        let error = refused(files.writable_in(&data.join("exports").to_string_lossy(), &data));
        assert!(error.message.contains("folder"), "{}", error.message);
    }

    #[test]
    fn a_path_climbing_out_of_the_data_folder_with_dot_dot_is_refused() {
        let (_dir, data) = data_folder();
        let files = Files::default();
        let climbing = format!("{}/exports/../../escape.json", data.display());
        let error = refused(files.writable_in(&climbing, &data));
        assert!(error.message.contains(".."), "{}", error.message);
    }

    #[test]
    fn a_symbolic_link_inside_the_data_folder_that_points_elsewhere_counts_as_elsewhere() {
        let (dir, data) = data_folder();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("exports/link")).unwrap();
        // A link to a file that exists, and one to a file a write would create.
        std::fs::write(outside.join("real.json"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.join("real.json"), data.join("exports/real.json")).unwrap();
        std::os::unix::fs::symlink(outside.join("new.json"), data.join("exports/new.json")).unwrap();
        let files = Files::default();
        for path in [
            data.join("exports/link/x.json"),
            data.join("exports/real.json"),
            data.join("exports/new.json"),
        ] {
            let error = refused(files.writable_in(&path.to_string_lossy(), &data));
            assert_eq!(error.code, AppCode::NotAllowed.into(), "{}", path.display());
        }
    }

    #[test]
    fn a_path_the_user_chose_in_the_save_dialog_may_be_written_for_the_rest_of_the_session() {
        let (dir, data) = data_folder();
        let chosen = dir.path().join("my-exports/winner.json");
        let files = Files::default();
        assert!(files.writable_in(&chosen.to_string_lossy(), &data).is_err());
        files.set_picker(Box::new(Chooses(chosen.clone())));
        let picked = files
            .picker()
            .unwrap()
            .save(Path::new("/suggested.json"))
            .unwrap();
        files.remember(plain_absolute(&picked.to_string_lossy()).unwrap());
        assert_eq!(
            files.writable_in(&chosen.to_string_lossy(), &data).unwrap(),
            chosen
        );
        // Only that path: its neighbour is still refused.
        let neighbour = dir.path().join("my-exports/other.json");
        assert!(files.writable_in(&neighbour.to_string_lossy(), &data).is_err());
    }

    #[test]
    fn reads_need_a_regular_file_or_where_asked_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("experiment.yaml");
        std::fs::write(&file, "schema: 1\n").unwrap();
        assert_eq!(readable_file(&file.to_string_lossy()).unwrap(), file);
        assert!(readable_file_or_folder(&dir.path().to_string_lossy()).is_ok());

        let error = readable_file(&dir.path().to_string_lossy()).unwrap_err();
        assert_eq!(error.code, crate::error::AppCode::BadInput.into());
        assert!(error.message.contains("is a folder"), "{}", error.message);
        // A device never ends; a FIFO blocks the reader until someone writes.
        let error = readable_file("/dev/zero").unwrap_err();
        assert!(error.message.contains("not a regular file"), "{}", error.message);
        let error = readable_file(&dir.path().join("missing.yaml").to_string_lossy()).unwrap_err();
        assert_eq!(error.code, crate::error::AppCode::NotFound.into());
        assert_eq!(
            readable_file("").unwrap_err().code,
            crate::error::AppCode::BadInput.into()
        );
    }
}
