//! `shipgate playbook show|validate`.

use super::{PlaybookCommand, EXIT_OK, EXIT_REJECTED, EXIT_USAGE};
use crate::config::Config;
use crate::domain::playbook::{Playbook, PlaybookErrors};
use std::io::Write;
use std::path::Path;

/// Runs `shipgate playbook ...`, printing to stdout and stderr; returns the exit code.
pub async fn run_playbook(cmd: PlaybookCommand) -> anyhow::Result<i32> {
    run(cmd, &mut super::output::Stdout::new(), &mut std::io::stderr())
}

pub(super) fn run(cmd: PlaybookCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        PlaybookCommand::Validate { file } => validate(&file, out, err),
        PlaybookCommand::Show { name, config } => show(name, config.as_deref(), out, err),
    }
}

fn validate(file: &Path, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let playbook = match read(file, err)? {
        Ok(playbook) => playbook,
        Err(code) => return Ok(code),
    };
    writeln!(out, "{}: ok ({} steps)", file.display(), playbook.steps.len())?;
    Ok(EXIT_OK)
}

fn show(name: Option<String>, config: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let playbook = match name {
        Some(name) if is_file_name(&name) => match read(Path::new(&name), err)? {
            Ok(playbook) => playbook,
            Err(code) => return Ok(code),
        },
        name => {
            // Only playbooks.dir and playbooks.default are needed: API tokens are not
            // read, so this works on a laptop without the server's secrets.
            let config = match Config::load_without_clients(config) {
                Ok(config) => config,
                Err(e) => {
                    writeln!(err, "shipgate: {e}")?;
                    return Ok(EXIT_USAGE);
                }
            };
            let name = name.unwrap_or_else(|| config.playbooks.default.clone());
            let file = config.playbooks.file_for(&name);
            if file.is_file() {
                // A file in the playbooks folder wins over the built-in playbook of the
                // same name: that is how a team adapts Ship to Production.
                match read(&file, err)? {
                    Ok(playbook) => playbook,
                    Err(code) => return Ok(code),
                }
            } else {
                let built_in = Playbook::ship_to_production();
                if built_in.name.as_str() != name {
                    writeln!(
                        err,
                        "shipgate: no playbook named {name:?}: {} does not exist (playbooks.dir is {}); \"{}\" is built in",
                        file.display(),
                        config.playbooks.dir.display(),
                        built_in.name
                    )?;
                    return Ok(EXIT_USAGE);
                }
                built_in
            }
        }
    };
    writeln!(out, "{}", playbook.render_text())?;
    Ok(EXIT_OK)
}

/// A NAME that is really a path: ends in `.toml` or has a directory in it.
fn is_file_name(name: &str) -> bool {
    name.ends_with(".toml") || name.contains(['/', '\\'])
}

/// Reads and checks a playbook file. `Ok(Err(code))`: the problems were printed to `err`
/// as `FILE: key: message`, and `code` is the exit code to end with.
fn read(file: &Path, err: &mut dyn Write) -> anyhow::Result<Result<Playbook, i32>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            writeln!(err, "{}: cannot read: {e}", file.display())?;
            return Ok(Err(EXIT_USAGE));
        }
    };
    match Playbook::from_toml(&text) {
        Ok(playbook) => Ok(Ok(playbook)),
        Err(errors) => {
            print_problems(file, &errors, err)?;
            Ok(Err(EXIT_REJECTED))
        }
    }
}

fn print_problems(file: &Path, errors: &PlaybookErrors, err: &mut dyn Write) -> anyhow::Result<()> {
    for problem in &errors.problems {
        // A problem that is not at a key (a TOML syntax error) has an empty key.
        if problem.key.is_empty() {
            writeln!(err, "{}: {}", file.display(), problem.message.trim_end())?;
        } else {
            writeln!(err, "{}: {}: {}", file.display(), problem.key, problem.message.trim_end())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::playbook::SHIP_TO_PRODUCTION_TOML;

    fn run_to_strings(cmd: PlaybookCommand) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(cmd, &mut out, &mut err).unwrap();
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn validate_reports_ok_with_step_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stp.toml");
        std::fs::write(&file, SHIP_TO_PRODUCTION_TOML).unwrap();
        let steps = Playbook::ship_to_production().steps.len();
        let (code, out, err) = run_to_strings(PlaybookCommand::Validate { file: file.clone() });
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, format!("{}: ok ({steps} steps)\n", file.display()));
    }

    #[test]
    fn validate_reports_problems_and_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.toml");
        std::fs::write(&file, "name = \"x\"\ntitle = \"X\"\nsteps = []\nbogus = 1\n").unwrap();
        let (code, out, err) = run_to_strings(PlaybookCommand::Validate { file: file.clone() });
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(err.starts_with(&format!("{}: ", file.display())), "{err}");
    }

    #[test]
    fn validate_missing_file_is_a_usage_error() {
        let (code, _, err) = run_to_strings(PlaybookCommand::Validate { file: "/nonexistent/p.toml".into() });
        assert_eq!(code, 2);
        assert!(err.starts_with("/nonexistent/p.toml: cannot read: "), "{err}");
    }

    #[test]
    fn show_reads_a_file_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stp.toml");
        std::fs::write(&file, SHIP_TO_PRODUCTION_TOML).unwrap();
        let (code, out, err) =
            run_to_strings(PlaybookCommand::Show { name: Some(file.display().to_string()), config: None });
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("ship-to-production"), "{out}");
    }

    #[test]
    fn show_finds_named_playbook_in_configured_dir_or_built_in() {
        let dir = tempfile::tempdir().unwrap();
        let playbooks = dir.path().join("playbooks");
        std::fs::create_dir(&playbooks).unwrap();
        let custom = SHIP_TO_PRODUCTION_TOML
            .replacen("name = \"ship-to-production\"", "name = \"hotfix\"", 1)
            .replacen("title = \"Ship to Production\"", "title = \"Hotfix Lane\"", 1);
        std::fs::write(playbooks.join("hotfix.toml"), custom).unwrap();
        let config = dir.path().join("shipgate.toml");
        std::fs::write(
            &config,
            format!("[playbooks]\ndir = {:?}\ndefault = \"hotfix\"\n", playbooks.display().to_string()),
        )
        .unwrap();

        let (code, out, err) = run_to_strings(PlaybookCommand::Show { name: None, config: Some(config.clone()) });
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Hotfix Lane"), "{out}");

        // Not in the folder, but built in.
        let (code, out, err) = run_to_strings(PlaybookCommand::Show {
            name: Some("ship-to-production".into()),
            config: Some(config.clone()),
        });
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Ship to Production"), "{out}");

        let (code, _, err) = run_to_strings(PlaybookCommand::Show { name: Some("nope".into()), config: Some(config) });
        assert_eq!(code, 2);
        assert!(err.contains("no playbook named \"nope\""), "{err}");
    }

    #[test]
    fn show_with_broken_config_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("shipgate.toml");
        std::fs::write(&config, "[playbook]\ndir = \"x\"\n").unwrap();
        let (code, _, err) = run_to_strings(PlaybookCommand::Show { name: None, config: Some(config) });
        assert_eq!(code, 2);
        assert!(err.contains("unknown key playbook"), "{err}");
    }
}
