//! The mails of a release: a vote announcement, its result, the release announcement. Each is
//! rendered from a template, the project's own or the platform's default (Apache conventions),
//! when its event happens (`domain::outbox`), and sent by a runner over SMTP.
//!
//! Templates are written by PMC members, so they are treated as hostile: they are rendered by a
//! tera instance of their own with no other template to include, `get_env` and `range` replaced
//! (one would read the server's environment, the other could make gigabytes of text), and
//! bounded output. A template that does not render against a sample release is refused when
//! it is saved, so a vote never finds out at its start that its mail cannot be made.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;
use shared_models::api::Tally;
use shared_models::outbound::{MailKind, MailTemplate, MailTemplateList, MailTemplateUpdate};

use super::directory;
use crate::auth::{Action, Principal, authz};
use crate::db::queries::events;
use crate::db::queries::outbound as q;
use crate::db::{DbConnection, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// Longest template subject and body, in characters, as stored.
pub const MAX_SUBJECT_TEMPLATE: usize = 400;
pub const MAX_BODY_TEMPLATE: usize = 20_000;
/// Longest rendered subject (characters) and body (bytes).
const MAX_SUBJECT: usize = 400;
const MAX_BODY: usize = 512 << 10;
/// Most numbers `range` makes in a template.
const MAX_RANGE: usize = 1000;

const VOTE_SUBJECT: &str = "[VOTE] Release {{ project.display_name }} {{ version }}";
const VOTE_BODY: &str = r#"Hello {{ project.display_name }} community,

This is a call for a vote on releasing {{ project.display_name }} {{ version }}
(revision {{ revision }}{% if vote.round > 1 %}, vote round {{ vote.round }}{% endif %}).

The release candidate:
  {{ urls.candidate }}

The files, with their size and SHA-512:
{% for file in files %}  {{ file.url }}
    {{ file.size }} bytes, SHA-512:
    {{ file.sha512 }}
{% endfor %}
Each artifact has its signature (.asc) and checksum (.sha512) beside it.
The keys of the release managers are in:
  {{ urls.keys }}

The manifest digest of the candidate (SHA-256 over the sorted path, size
and SHA-512 of every file):
  {{ manifest_digest }}
{% if vote.expedited_reason %}
This vote is shorter than the usual {{ vote.min_vote_hours }} hours: {{ vote.expedited_reason }}
{% endif %}
The vote is open for at least {{ vote.hours }} hours, until {{ vote.closes_at }}.
It passes with at least {{ vote.binding_plus_required }} binding +1 votes and more binding +1
than -1 votes.

[ ] +1 Release this package as {{ project.display_name }} {{ version }}
[ ]  0 I have no opinion
[ ] -1 Do not release this package because...

Thanks,
{{ actor.display_name }}
"#;

const RESULT_SUBJECT: &str = "[RESULT] [VOTE] Release {{ project.display_name }} {{ version }}";
const RESULT_BODY: &str = r#"Hello {{ project.display_name }} community,

The vote on releasing {{ project.display_name }} {{ version }} has {{ result.outcome }}.
It was on revision {{ revision }}, manifest digest
  {{ manifest_digest }}

Binding votes: {{ result.tally.binding_plus }} +1, {{ result.tally.binding_zero }} 0, {{ result.tally.binding_minus }} -1.
Non-binding votes: {{ result.tally.non_binding_plus }} +1, {{ result.tally.non_binding_zero }} 0, {{ result.tally.non_binding_minus }} -1.
{% if result.reason %}
{{ result.reason }}
{% endif %}{% if result.outcome == "passed" %}
The release will be published shortly.
{% else %}
The release goes back to its release managers for another candidate.
{% endif %}
Thanks to everyone who voted,
{{ actor.display_name }}
"#;

const ANNOUNCE_SUBJECT: &str = "[ANNOUNCE] {{ project.display_name }} {{ version }} released";
const ANNOUNCE_BODY: &str = r#"The {{ project.display_name }} community is pleased to announce the release
of {{ project.display_name }} {{ version }}.

Download it from:
  {{ urls.current }}

The files, with their SHA-512:
{% for file in files %}  {{ file.url }}
    {{ file.sha512 }}
{% endfor %}
Verify the downloads against their signatures (.asc), made with the keys in
  {{ urls.keys }}

These are the bytes that were voted on: manifest digest
  {{ manifest_digest }}

{{ actor.display_name }}
on behalf of the {{ project.display_name }} community
"#;

/// The platform's template of `kind`: (subject, body).
pub fn default_template(kind: MailKind) -> (&'static str, &'static str) {
    match kind {
        MailKind::Vote => (VOTE_SUBJECT, VOTE_BODY),
        MailKind::Result => (RESULT_SUBJECT, RESULT_BODY),
        MailKind::Announce => (ANNOUNCE_SUBJECT, ANNOUNCE_BODY),
    }
}

/// What a template may use (`docs/NOTIFICATIONS.md` lists it): the same shape for every kind,
/// with `vote` and `result` filled where the event has them.
#[derive(Debug, Clone, Serialize)]
pub struct MailContext {
    pub project: Named,
    pub committee: Named,
    pub product: String,
    pub version: String,
    /// `project/version`, as the API names the release.
    pub release: String,
    pub revision: i64,
    pub manifest_digest: String,
    pub files: Vec<MailFile>,
    pub urls: MailUrls,
    pub vote: Option<MailVote>,
    pub result: Option<MailResult>,
    /// Who caused the mail: the person who started the vote, resolved it, or released.
    pub actor: Named,
    pub mailing_list: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailFile {
    pub path: String,
    pub size: i64,
    pub sha512: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailUrls {
    /// The release's directory under `/candidate/` (during the vote) and `/current/`.
    pub candidate: String,
    pub current: String,
    /// The committee's KEYS file.
    pub keys: String,
    /// The release in the API.
    pub api: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailVote {
    pub round: i64,
    pub hours: u32,
    pub min_vote_hours: u32,
    pub binding_plus_required: u32,
    /// For example `Fri, 4 Dec 2026 16:00:00 +0000`.
    pub closes_at: String,
    pub expedited_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailResult {
    pub outcome: String,
    pub tally: Tally,
    pub reason: Option<String>,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

fn refuse_get_env(_: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    Err(tera::Error::msg("get_env is not available in mail templates"))
}

/// `range` as tera has it, up to [`MAX_RANGE`] numbers.
fn bounded_range(args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let number = |name: &str, default: i64| -> tera::Result<i64> {
        match args.get(name) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| tera::Error::msg(format!("range: {name} must be a whole number"))),
        }
    };
    let (start, end, step) = (number("start", 0)?, number("end", 0)?, number("step_by", 1)?);
    if step <= 0 {
        return Err(tera::Error::msg("range: step_by must be positive"));
    }
    let step = usize::try_from(step).map_err(|_| tera::Error::msg("range: step_by is too large"))?;
    let numbers: Vec<i64> = (start..end).step_by(step).take(MAX_RANGE + 1).collect();
    if numbers.len() > MAX_RANGE {
        return Err(tera::Error::msg(format!("range: at most {MAX_RANGE} numbers in a mail template")));
    }
    Ok(json!(numbers))
}

/// A tera error with its causes, as one line (tera puts the useful part in the source).
fn describe(error: &tera::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The tags a mail template may not use: there is nothing to include, extend or import; a
/// macro (or an include of the template itself) could recurse until the stack runs out; `set`
/// could double a string until memory runs out. And at most one loop: nested loops multiply
/// the work (and the output, which is only measured once it is made).
fn refused_tag(template: &str) -> Option<String> {
    let mut loops = 0;
    for (at, _) in template.match_indices("{%") {
        let rest = template[at + 2..].trim_start_matches('-').trim_start();
        let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if ["include", "extends", "import", "macro", "set", "set_global"].contains(&word.as_str()) {
            return Some(format!("cannot use {{% {word} %}}"));
        }
        if word == "for" {
            loops += 1;
            if loops > 1 {
                return Some("can have one {% for %} loop at most".to_owned());
            }
        }
    }
    None
}

/// Renders a subject and body template against `context`. The subject becomes one line.
pub fn render(subject: &str, body: &str, context: &MailContext) -> Result<Rendered, String> {
    for (name, template) in [("subject", subject), ("body", body)] {
        if let Some(why) = refused_tag(template) {
            return Err(format!("{name}: mail templates {why}"));
        }
    }
    let mut tera = tera::Tera::default();
    tera.register_function("get_env", refuse_get_env);
    tera.register_function("range", bounded_range);
    tera.add_raw_template("subject", subject).map_err(|e| format!("subject: {}", describe(&e)))?;
    tera.add_raw_template("body", body).map_err(|e| format!("body: {}", describe(&e)))?;
    let context = tera::Context::from_serialize(context).map_err(|e| describe(&e))?;
    let subject = tera.render("subject", &context).map_err(|e| format!("subject: {}", describe(&e)))?;
    let body = tera.render("body", &context).map_err(|e| format!("body: {}", describe(&e)))?;
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if subject.is_empty() {
        return Err("subject: it renders empty".to_owned());
    }
    if subject.chars().count() > MAX_SUBJECT {
        return Err(format!("subject: it renders longer than {MAX_SUBJECT} characters"));
    }
    if body.len() > MAX_BODY {
        return Err(format!("body: it renders larger than {} KiB", MAX_BODY >> 10));
    }
    Ok(Rendered { subject, body })
}

/// A release as the check of a new template renders it: every field filled, as at a vote's end.
pub fn sample_context() -> MailContext {
    let named = |name: &str, display: &str| Named { name: name.to_owned(), display_name: display.to_owned() };
    let base = "https://releases.example.org";
    MailContext {
        project: named("example", "Apache Example"),
        committee: named("example", "Apache Example"),
        product: "example".to_owned(),
        version: "1.0.0".to_owned(),
        release: "example/1.0.0".to_owned(),
        revision: 3,
        manifest_digest: "0".repeat(64),
        files: vec![MailFile {
            path: "apache-example-1.0.0-src.tar.gz".to_owned(),
            size: 1_048_576,
            sha512: "0".repeat(128),
            url: format!("{base}/candidate/example/1.0.0/apache-example-1.0.0-src.tar.gz"),
        }],
        urls: MailUrls {
            candidate: format!("{base}/candidate/example/1.0.0/"),
            current: format!("{base}/current/example/1.0.0/"),
            keys: format!("{base}/api/v1/committees/example/keys/KEYS"),
            api: format!("{base}/api/v1/releases/example/1.0.0"),
        },
        vote: Some(MailVote {
            round: 1,
            hours: 72,
            min_vote_hours: 72,
            binding_plus_required: 3,
            closes_at: "Fri, 4 Dec 2026 16:00:00 +0000".to_owned(),
            expedited_reason: Some("a security fix".to_owned()),
        }),
        result: Some(MailResult {
            outcome: "passed".to_owned(),
            tally: Tally {
                binding_plus: 3,
                binding_minus: 0,
                binding_zero: 1,
                non_binding_plus: 2,
                non_binding_zero: 0,
                non_binding_minus: 0,
            },
            reason: None,
        }),
        actor: named("rm", "A. Release Manager"),
        mailing_list: "dev@example.apache.org".to_owned(),
    }
}

/// The template of `kind` a project uses: (subject, body).
pub fn effective(conn: &mut DbConnection, project_id: i64, kind: MailKind) -> AppResult<(String, String)> {
    Ok(match q::template(conn, project_id, kind.as_str())? {
        Some(row) => (row.subject, row.body),
        None => {
            let (subject, body) = default_template(kind);
            (subject.to_owned(), body.to_owned())
        }
    })
}

/// `GET /api/v1/projects/{p}/mail-templates`: the three templates a project's mails use.
pub fn list(conn: &mut DbConnection, project: &str) -> AppResult<MailTemplateList> {
    let (row, _) = directory::find_project(conn, project)?;
    let custom = q::templates(conn, row.id)?;
    let templates = MailKind::ALL
        .into_iter()
        .map(|kind| match custom.iter().find(|t| t.kind == kind.as_str()) {
            Some(t) => MailTemplate {
                kind,
                subject: t.subject.clone(),
                body: t.body.clone(),
                custom: true,
                updated_by: Some(t.updated_by.clone()),
                updated_at: Some(to_time(t.updated_at)),
            },
            None => {
                let (subject, body) = default_template(kind);
                MailTemplate {
                    kind,
                    subject: subject.to_owned(),
                    body: body.to_owned(),
                    custom: false,
                    updated_by: None,
                    updated_at: None,
                }
            }
        })
        .collect();
    Ok(MailTemplateList { templates })
}

fn invalid_template(message: String) -> AppError {
    AppError::unprocessable("invalid_template", message)
}

/// `PUT …/mail-templates/{kind}` (PMC members): the project's own template, checked by
/// rendering it against a sample release first.
pub fn set(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &str,
    kind: MailKind,
    update: &MailTemplateUpdate,
) -> AppResult<MailTemplateList> {
    for (field, value, max) in
        [("subject", &update.subject, MAX_SUBJECT_TEMPLATE), ("body", &update.body, MAX_BODY_TEMPLATE)]
    {
        let length = value.chars().count();
        if value.trim().is_empty() || length > max {
            return Err(invalid_template(format!("The {field} must have 1 to {max} characters; it has {length}."))
                .with_details(json!({"field": field})));
        }
    }
    if update.subject.contains(['\r', '\n']) {
        return Err(invalid_template("The subject is one line.".to_owned()).with_details(json!({"field": "subject"})));
    }
    // Only the project's PMC gets as far as having its template rendered.
    let (_, committee) = directory::find_project(conn, project)?;
    authz::authorize(principal, Action::EditPolicy, &committee.name)?;
    render(&update.subject, &update.body, &sample_context())
        .map_err(|e| invalid_template(format!("The template does not render: {e}")))?;
    write_transaction(conn, |c| {
        let (row, committee) = directory::find_project(c, project)?;
        authz::authorize(principal, Action::EditPolicy, &committee.name)?;
        q::set_template(c, row.id, kind.as_str(), &update.subject, &update.body, principal.actor())?;
        events::record_unscoped(c, principal.actor(), "mail_template.changed", project, json!({"kind": kind}))?;
        Ok::<_, AppError>(())
    })?;
    list(conn, project)
}

/// `DELETE …/mail-templates/{kind}`: back to the platform's template.
pub fn reset(conn: &mut DbConnection, principal: &Principal, project: &str, kind: MailKind) -> AppResult<()> {
    write_transaction(conn, |c| {
        let (row, committee) = directory::find_project(c, project)?;
        authz::authorize(principal, Action::EditPolicy, &committee.name)?;
        if !q::delete_template(c, row.id, kind.as_str())? {
            return Err(AppError::not_found(format!("The project {project} uses the default {kind} template.")));
        }
        events::record_unscoped(c, principal.actor(), "mail_template.reset", project, json!({"kind": kind}))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_templates_render_with_apache_subjects() {
        let context = sample_context();
        let vote = render(VOTE_SUBJECT, VOTE_BODY, &context).unwrap();
        assert_eq!(vote.subject, "[VOTE] Release Apache Example 1.0.0");
        assert!(vote.body.contains(&context.manifest_digest), "{}", vote.body);
        assert!(vote.body.contains("until Fri, 4 Dec 2026 16:00:00 +0000."), "{}", vote.body);
        let prose = vote
            .body
            .lines()
            .filter(|l| !l.trim().chars().all(|c| c.is_ascii_hexdigit()) && !l.trim().starts_with("https://"));
        assert!(prose.clone().all(|l| l.len() <= 100), "lines of a readable length: {}", vote.body);
        assert!(!vote.body.contains("\n\n\n"), "{}", vote.body);
        assert!(vote.body.contains("[ ] +1 Release this package"), "{}", vote.body);
        assert!(vote.body.contains("a security fix"), "{}", vote.body);
        let result = render(RESULT_SUBJECT, RESULT_BODY, &context).unwrap();
        assert_eq!(result.subject, "[RESULT] [VOTE] Release Apache Example 1.0.0");
        assert!(result.body.contains("Binding votes: 3 +1, 1 0, 0 -1."), "{}", result.body);
        let announce = render(ANNOUNCE_SUBJECT, ANNOUNCE_BODY, &context).unwrap();
        assert_eq!(announce.subject, "[ANNOUNCE] Apache Example 1.0.0 released");
        assert!(announce.body.contains("https://releases.example.org/current/example/1.0.0/"));
    }

    #[test]
    fn templates_cannot_read_the_environment_include_files_or_make_huge_output() {
        let context = sample_context();
        let env = render("x", "{{ get_env(name=\"DATABASE_URL\") }}", &context).unwrap_err();
        assert!(env.contains("get_env is not available"), "{env}");
        let huge = render("x", "{% for i in range(end=100000000) %}x{% endfor %}", &context).unwrap_err();
        assert!(huge.contains("at most 1000"), "{huge}");
        assert_eq!(render("x", "{% for i in range(end=3) %}{{ i }}{% endfor %}", &context).unwrap().body, "012");
        for recursive in
            ["{% include \"body\" %}", "{%- macro m() %}{{ self::m() }}{% endmacro %}", "{% extends \"x\" %}"]
        {
            let refused = render("x", recursive, &context).unwrap_err();
            assert!(refused.starts_with("body: mail templates cannot use"), "{refused}");
        }
        let nested = "{% for a in files %}{% for b in files %}x{% endfor %}{% endfor %}";
        assert!(render("x", nested, &context).unwrap_err().contains("one {% for %} loop at most"));
        let unknown = render("x", "{{ secret }}", &context).unwrap_err();
        assert!(unknown.contains("secret"), "{unknown}");
    }

    #[test]
    fn a_subject_is_one_line_and_bounded() {
        let context = sample_context();
        let two_lines = render("a\r\nBcc: victim@example.org", "b", &context).unwrap();
        assert_eq!(two_lines.subject, "a Bcc: victim@example.org", "line breaks cannot add a header");
        assert!(render("{% for f in range(end=500) %}long {% endfor %}", "b", &context).is_err());
    }
}
