use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use liftgate_policy::{Problem, Rules};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::settings::CliSettings;
use super::settings::{
    AuditSettings, AwsSettings, ReconciliationSettings, RequestSettings, SchedulerSettings,
    ServerSettings, Settings, SlackSettings, StateSettings, TeamsSettings, WebhookSettings,
};
use super::validate;

/// Where configuration comes from: a YAML file and an environment (injected, so tests never
/// touch the process environment).
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub env: HashMap<String, String>,
}

impl ConfigSource {
    /// `--config`, else `$LIFTGATE_CONFIG`, else `./liftgate.yaml`, with the process environment.
    pub fn from_process(flag: Option<&Path>) -> ConfigSource {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = flag
            .map(Path::to_path_buf)
            .or_else(|| {
                env.get("LIFTGATE_CONFIG")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("liftgate.yaml"));
        ConfigSource { path, env }
    }
}

/// A valid configuration, with the warnings (lints) found on the way.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub settings: Settings,
    pub rules: Rules,
    pub warnings: Vec<Problem>,
}

/// Why a configuration is not valid: every error found, plus the warnings.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    pub path: PathBuf,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a valid configuration:", self.path.display())?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const SECTIONS: [&str; 13] = [
    "server",
    "aws",
    "state",
    "scheduler",
    "audit",
    "slack",
    "teams",
    "webhook",
    "cli",
    "requests",
    "reconciliation",
    "statements",
    "group_statements",
];

/// Loads, validates and lints a configuration. Never panics, whatever the file holds.
pub fn load(source: &ConfigSource) -> Result<LoadedConfig, ConfigErrors> {
    let fail = |errors: Vec<Problem>| ConfigErrors {
        path: source.path.clone(),
        errors,
        warnings: Vec::new(),
    };
    let mut root = read_merged(source).map_err(|message| fail(vec![problem("", message)]))?;
    let missing = resolve_secret_env(&mut root, &source.env);
    if !missing.is_empty() {
        return Err(fail(missing));
    }
    from_value(root).map_err(|(errors, warnings)| ConfigErrors {
        path: source.path.clone(),
        errors,
        warnings,
    })
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// `secret_env: NAME` in a webhook client or subscriber stands for `secret:` with the value of
/// the environment variable `NAME`: list items cannot be reached by `LIFTGATE__…` overrides,
/// and secrets belong in the environment (a Kubernetes Secret), not in the file.
fn resolve_secret_env(root: &mut Value, env: &HashMap<String, String>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for list in ["clients", "subscribers"] {
        let Some(items) = root
            .get_mut("webhook")
            .and_then(|webhook| webhook.get_mut(list))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for (index, item) in items.iter_mut().enumerate() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            let Some(name) = item.remove("secret_env") else {
                continue;
            };
            let path = format!("webhook.{list}[{index}].secret_env");
            let Some(name) = name.as_str().map(str::trim).filter(|n| !n.is_empty()) else {
                problems.push(problem(&path, "must name an environment variable"));
                continue;
            };
            if item.contains_key("secret") {
                problems.push(problem(&path, "set either secret or secret_env, not both"));
                continue;
            }
            match env.get(name).filter(|value| !value.is_empty()) {
                Some(value) => {
                    item.insert("secret".to_owned(), Value::String(value.clone()));
                }
                None => problems.push(problem(
                    &path,
                    format!("the environment variable {name} is not set or empty"),
                )),
            }
        }
    }
    problems
}

fn read_merged(source: &ConfigSource) -> Result<Value, String> {
    if let Err(error) = std::fs::metadata(&source.path) {
        return Err(format!(
            "cannot read config file {}: {error}",
            source.path.display()
        ));
    }
    merge(
        config::File::from(source.path.as_path()).format(config::FileFormat::Yaml),
        &source.env,
    )
}

/// Loads a configuration from YAML text instead of a file, for the `config_yaml` fuzz target:
/// the same merge, validation and lints as [`load`].
pub(crate) fn load_text(
    yaml: &str,
    env: &HashMap<String, String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let fail = |errors: Vec<Problem>, warnings: Vec<Problem>| ConfigErrors {
        path: PathBuf::from("<text>"),
        errors,
        warnings,
    };
    let file = config::File::from_str(yaml, config::FileFormat::Yaml);
    let root = merge(file, env).map_err(|message| fail(vec![problem("", message)], Vec::new()))?;
    from_value(root).map_err(|(errors, warnings)| fail(errors, warnings))
}

/// The YAML document `file` with the `LIFTGATE__SECTION__KEY` overrides of `env` on top, as
/// one JSON tree.
fn merge<S>(file: S, env: &HashMap<String, String>) -> Result<Value, String>
where
    S: config::Source + Send + Sync + 'static,
{
    let environment = config::Environment::with_prefix("LIFTGATE")
        .prefix_separator("__")
        .separator("__")
        .source(Some(env.clone()));
    let merged = config::Config::builder()
        .add_source(file)
        .add_source(environment)
        .build()
        .map_err(|error| format!("cannot parse config: {error}"))?;
    let value: Value = merged
        .try_deserialize()
        .map_err(|error| format!("cannot parse config: {error}"))?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(serde_json::Map::new())),
        other => Err(format!(
            "the config must be a mapping of sections, not {}",
            kind_of(&other)
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Validates an already-merged configuration document.
pub(crate) fn from_value(root: Value) -> Result<LoadedConfig, (Vec<Problem>, Vec<Problem>)> {
    let mut errors = Vec::new();
    let Value::Object(mut sections) = root else {
        return Err((
            vec![problem("", "the config must be a mapping of sections")],
            Vec::new(),
        ));
    };
    for key in sections.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(problem(
                key,
                format!("unknown section; expected one of {}", SECTIONS.join(", ")),
            ));
        }
    }
    let mut take = |name: &str| sections.remove(name).filter(|value| !value.is_null());
    let server = section::<ServerSettings>("server", take("server"), &mut errors);
    let aws = optional_section::<AwsSettings>("aws", take("aws"), &mut errors);
    let state = section::<StateSettings>("state", take("state"), &mut errors);
    let scheduler = section::<SchedulerSettings>("scheduler", take("scheduler"), &mut errors);
    let audit = section::<AuditSettings>("audit", take("audit"), &mut errors);
    let slack = optional_section::<SlackSettings>("slack", take("slack"), &mut errors);
    let teams = optional_section::<TeamsSettings>("teams", take("teams"), &mut errors);
    let webhook = optional_section::<WebhookSettings>("webhook", take("webhook"), &mut errors);
    let cli = optional_section::<CliSettings>("cli", take("cli"), &mut errors);
    let requests = section::<RequestSettings>("requests", take("requests"), &mut errors);
    let reconciliation =
        section::<ReconciliationSettings>("reconciliation", take("reconciliation"), &mut errors);
    let statements = take("statements");
    let group_statements = take("group_statements");

    let rules = match liftgate_policy::parse_rules(statements.as_ref(), group_statements.as_ref()) {
        Ok(rules) => Some(rules),
        Err(problems) => {
            errors.extend(problems);
            None
        }
    };

    // A section that could not be salvaged at all stands in with its defaults so the semantic
    // checks of the others still run; findings about it are dropped (it is already reported).
    let mut unusable: BTreeSet<&str> = BTreeSet::new();
    let mut clean = true;
    let mut note = |name: &'static str, usable: bool, section_clean: bool| {
        if !usable {
            unusable.insert(name);
        }
        clean &= section_clean;
    };
    note("server", server.value.is_some(), server.clean);
    note("aws", aws.value.is_some(), aws.clean);
    note("state", state.value.is_some(), state.clean);
    note("scheduler", scheduler.value.is_some(), scheduler.clean);
    note("audit", audit.value.is_some(), audit.clean);
    note("slack", slack.value.is_some(), slack.clean);
    note("teams", teams.value.is_some(), teams.clean);
    note("webhook", webhook.value.is_some(), webhook.clean);
    note("cli", cli.value.is_some(), cli.clean);
    note("requests", requests.value.is_some(), requests.clean);
    note(
        "reconciliation",
        reconciliation.value.is_some(),
        reconciliation.clean,
    );
    note("statements", rules.is_some(), rules.is_some());
    note("group_statements", rules.is_some(), rules.is_some());
    let settings = Settings {
        server: server.value.unwrap_or_default(),
        aws: aws.value.flatten(),
        state: state.value.unwrap_or_default(),
        scheduler: scheduler.value.unwrap_or_default(),
        audit: audit.value.unwrap_or_default(),
        slack: slack.value.flatten(),
        teams: teams.value.flatten(),
        webhook: webhook.value.flatten(),
        cli: cli.value.flatten(),
        requests: requests.value.unwrap_or_default(),
        reconciliation: reconciliation.value.unwrap_or_default(),
    };
    let rules = rules.unwrap_or_default();
    if !clean {
        let mut found = Vec::new();
        let mut ignored = Vec::new();
        validate::check(&settings, &rules, &mut found, &mut ignored);
        let about_unusable = |problem: &Problem| {
            let section = problem.path.split(['.', '[']).next().unwrap_or("");
            unusable.contains(section)
        };
        errors.extend(found.into_iter().filter(|problem| !about_unusable(problem)));
        return Err((errors, Vec::new()));
    }
    let mut warnings = Vec::new();
    validate::check(&settings, &rules, &mut errors, &mut warnings);
    warnings.extend(liftgate_policy::lint(&rules));
    if errors.is_empty() {
        Ok(LoadedConfig {
            settings,
            rules,
            warnings,
        })
    } else {
        Err((errors, warnings))
    }
}

/// A section with defaults: absent means all defaults.
fn section<T: DeserializeOwned>(
    name: &str,
    value: Option<Value>,
    errors: &mut Vec<Problem>,
) -> Salvaged<T> {
    let value = value.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    deserialize_collecting(name, value, errors)
}

/// A section whose absence turns a feature off: `Some(None)` is "validly absent".
fn optional_section<T: DeserializeOwned>(
    name: &str,
    value: Option<Value>,
    errors: &mut Vec<Problem>,
) -> Salvaged<Option<T>> {
    match value {
        None => Salvaged {
            value: Some(None),
            clean: true,
        },
        Some(value) => {
            let salvaged = deserialize_collecting(name, value, errors);
            Salvaged {
                value: salvaged.value.map(Some),
                clean: salvaged.clean,
            }
        }
    }
}

/// Deserializes `value`, and on failure keeps going: each offending key is reported, removed,
/// and the rest tried again, so one run reports every problem in the section, not just the
/// first. Returns `None` if anything was wrong.
fn deserialize_collecting<T: DeserializeOwned>(
    section: &str,
    mut value: Value,
    errors: &mut Vec<Problem>,
) -> Salvaged<T> {
    let mut removed: BTreeSet<Vec<PathStep>> = BTreeSet::new();
    let mut clean = true;
    for _ in 0..64 {
        let error = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(typed) => {
                return Salvaged {
                    value: Some(typed),
                    clean,
                };
            }
            Err(error) => error,
        };
        let mut steps = to_steps(error.path());
        let message = error.into_inner().to_string();
        if let Some(field) = quoted_after(&message, "missing field `") {
            steps.push(PathStep::Key(field.to_owned()));
            if !removed.contains(&steps) {
                errors.push(problem(&render(section, &steps), "is required"));
            }
            // Reported (or its removal already was): the section cannot be salvaged.
            return Salvaged {
                value: None,
                clean: false,
            };
        }
        let message = if let Some(field) = quoted_after(&message, "unknown field `") {
            if steps.last() != Some(&PathStep::Key(field.to_owned())) {
                steps.push(PathStep::Key(field.to_owned()));
            }
            let expected = message
                .split_once(", expected")
                .map(|(_, rest)| rest.trim())
                .unwrap_or("");
            if expected.is_empty() {
                "unknown key".to_owned()
            } else {
                format!("unknown key; expected {expected}")
            }
        } else {
            message
        };
        clean = false;
        errors.push(problem(&render(section, &steps), message));
        if steps.is_empty() || !remove_at(&mut value, &steps) || !removed.insert(steps) {
            return Salvaged {
                value: None,
                clean: false,
            };
        }
    }
    Salvaged {
        value: None,
        clean: false,
    }
}

/// What deserializing a section yielded: the value built from its valid keys (if the section
/// could be salvaged at all) and whether it was free of errors.
struct Salvaged<T> {
    value: Option<T>,
    clean: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn to_steps(path: &serde_path_to_error::Path) -> Vec<PathStep> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(PathStep::Key(key.clone())),
            Segment::Seq { index } => Some(PathStep::Index(*index)),
            Segment::Enum { variant } => Some(PathStep::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

fn render(section: &str, steps: &[PathStep]) -> String {
    let mut rendered = section.to_owned();
    for step in steps {
        match step {
            PathStep::Key(key) => {
                rendered.push('.');
                rendered.push_str(key);
            }
            PathStep::Index(index) => rendered.push_str(&format!("[{index}]")),
        }
    }
    rendered
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(field, _)| field)
}

fn remove_at(value: &mut Value, steps: &[PathStep]) -> bool {
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut current = value;
    for step in parents {
        current = match (step, current) {
            (PathStep::Key(key), Value::Object(map)) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            (PathStep::Index(index), Value::Array(items)) => match items.get_mut(*index) {
                Some(next) => next,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, current) {
        (PathStep::Key(key), Value::Object(map)) => map.remove(key).is_some(),
        // Removing a list item would shift the indexes of the ones after it; blank it instead.
        (PathStep::Index(index), Value::Array(items)) if *index < items.len() => {
            items[*index] = Value::Null;
            true
        }
        _ => false,
    }
}
