//! The playbooks a shipgate instance knows: the built-in one plus every
//! `*.toml` file in the configured folder.

use crate::domain::playbook::{Playbook, PlaybookErrors};
use crate::domain::PlaybookName;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Playbooks {
    by_name: BTreeMap<PlaybookName, Arc<Playbook>>,
    default: PlaybookName,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybookLoadError {
    #[error("cannot read playbook folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("cannot read playbook {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("playbook {path} is not valid:\n{errors}")]
    Invalid { path: PathBuf, errors: PlaybookErrors },
    #[error("playbooks {first} and {second} both define the playbook named {name}")]
    Duplicate { name: PlaybookName, first: String, second: String },
    #[error("the default playbook {0} is neither built in nor in the playbook folder")]
    UnknownDefault(PlaybookName),
}

impl Playbooks {
    /// Only the built-in playbooks: Ship to Production (the default), Bug Triage and
    /// Rollback Drill.
    pub fn builtin() -> Self {
        let playbook = Playbook::ship_to_production();
        let name = playbook.name.clone();
        let mut by_name = BTreeMap::from([(name.clone(), Arc::new(playbook))]);
        for extra in [Playbook::bug_triage(), Playbook::rollback_drill()] {
            by_name.insert(extra.name.clone(), Arc::new(extra));
        }
        Self { by_name, default: name }
    }

    /// The built-in playbook plus every `*.toml` in `dir` (a missing folder is fine: the
    /// default setup has none). A file may replace the built-in one by using its name.
    pub fn load(dir: &Path, default: &str) -> Result<Self, PlaybookLoadError> {
        let mut playbooks = Self::builtin();
        let mut sources: BTreeMap<PlaybookName, String> =
            playbooks.by_name.keys().map(|n| (n.clone(), "built-in".to_owned())).collect();
        if dir.is_dir() {
            let entries =
                std::fs::read_dir(dir).map_err(|source| PlaybookLoadError::Folder { path: dir.into(), source })?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| PlaybookLoadError::Read { path: path.clone(), source })?;
                let playbook = Playbook::from_toml(&text)
                    .map_err(|errors| PlaybookLoadError::Invalid { path: path.clone(), errors })?;
                let shown = path.display().to_string();
                match sources.get(&playbook.name) {
                    Some(first) if first != "built-in" => {
                        return Err(PlaybookLoadError::Duplicate {
                            name: playbook.name.clone(),
                            first: first.clone(),
                            second: shown,
                        })
                    }
                    _ => {}
                }
                sources.insert(playbook.name.clone(), shown);
                playbooks.by_name.insert(playbook.name.clone(), Arc::new(playbook));
            }
        }
        let default = PlaybookName::new(default);
        if !playbooks.by_name.contains_key(&default) {
            return Err(PlaybookLoadError::UnknownDefault(default));
        }
        playbooks.default = default;
        Ok(playbooks)
    }

    pub fn get(&self, name: Option<&str>) -> Option<Arc<Playbook>> {
        match name {
            Some(name) => self.by_name.get(&PlaybookName::new(name)).cloned(),
            None => self.by_name.get(&self.default).cloned(),
        }
    }

    /// Every role any playbook mentions.
    pub fn roles(&self) -> std::collections::BTreeSet<crate::domain::RoleName> {
        self.by_name.values().flat_map(|p| p.roles()).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().map(ToString::to_string).collect()
    }
}
