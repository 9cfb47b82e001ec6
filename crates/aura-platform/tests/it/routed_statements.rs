//! Keeps the server's own SQL in forms a Citus coordinator runs (issue #17, SCALING.md). The
//! catalog check (`distribution.rs`) keeps the schema distributable; this one reads every
//! statement in the server's sources and refuses the shapes that run on one PostgreSQL but that
//! Citus refuses, or runs in a way row-level security refuses, once the table is distributed:
//!
//! - an `insert ... select` without `returning` or `on conflict`: Citus then writes the rows
//!   with `COPY`, and PostgreSQL refuses `COPY FROM` under row-level security (`returning`
//!   also needs the writer to see the rows; `on conflict do nothing` does not);
//! - a subquery inside an insert's `values`;
//! - `now()` (or another clock) inside a `case` or `coalesce` of a statement that updates, and
//!   any clock in an `on conflict do update`: Citus evaluates clocks on the coordinator, and
//!   refuses those it would have to evaluate row by row on a shard.
//!
//! The bench crate is left out: it seeds as the schema owner, whom row-level security does not
//! bind, and does not run in the server.

use std::path::{Path, PathBuf};

/// The server's crates, whose statements run as `aura_app` on every database Aura supports.
const SERVER_CRATES: [&str; 4] = ["aura", "aura-web", "aura-crm", "aura-platform"];

const CLOCKS: [&str; 5] = [
    "now()",
    "current_timestamp",
    "statement_timestamp()",
    "transaction_timestamp()",
    "clock_timestamp()",
];

/// Every file under `dir` whose name ends in `.rs` or `.sql`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "rs" || ext == "sql")
        {
            found.push(path);
        }
    }
}

/// The SQL statements in a source: a `.sql` file whole, and in Rust every string literal
/// (plain or raw) that starts like a statement. Lower-cased, whitespace collapsed.
fn statements(path: &Path, text: &str) -> Vec<String> {
    let normal = |sql: &str| {
        sql.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    if path.extension().is_some_and(|ext| ext == "sql") {
        return vec![normal(text)];
    }
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('"') {
        let raw = rest[..at].ends_with("r#");
        let body = &rest[at + 1..];
        let end = if raw {
            body.find("\"#")
        } else {
            // The closing quote is the first one not escaped.
            body.char_indices()
                .find(|&(i, c)| c == '"' && !body[..i].ends_with('\\'))
                .map(|(i, _)| i)
        };
        let Some(end) = end else { break };
        let literal = normal(&body[..end]);
        let verb = literal.split(' ').next().unwrap_or_default();
        if ["select", "insert", "update", "delete", "with"].contains(&verb) {
            found.push(literal);
        }
        rest = &body[end + 1..];
    }
    found
}

/// The text from `open` (an index just past `case` or `coalesce(`) to its matching close.
fn enclosed(statement: &str, from: usize, coalesce: bool) -> &str {
    let bytes = statement.as_bytes();
    let mut depth = 1;
    let mut i = from;
    while i < bytes.len() && depth > 0 {
        let rest = &statement[i..];
        let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_';
        if coalesce {
            match bytes[i] {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        } else if word_start && rest.starts_with("case ") {
            depth += 1;
        } else if word_start
            && rest.starts_with("end")
            && !rest[3..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            depth -= 1;
        }
        i += 1;
    }
    &statement[from..i.min(statement.len())]
}

/// Why Citus would refuse `statement`, or how it would run it past row-level security.
fn refusals(statement: &str) -> Vec<&'static str> {
    let mut why = Vec::new();
    let has_clock = |text: &str| CLOCKS.iter().any(|clock| text.contains(clock));
    let mut search = 0;
    while let Some(at) = statement[search..].find("insert into ") {
        let insert = &statement[search + at..];
        // The rows come from a query when `select` follows the table (and its alias and
        // column list).
        let mut target = insert["insert into ".len()..].splitn(2, ' ');
        let _table = target.next();
        let mut rest = target.next().unwrap_or_default();
        if let Some(aliased) = rest.strip_prefix("as ") {
            rest = aliased.split_once(' ').map_or("", |(_, after)| after);
        }
        if rest.starts_with('(') {
            rest = rest
                .split_once(')')
                .map_or("", |(_, after)| after.trim_start());
        }
        if rest.starts_with("select ")
            && !insert.contains(" returning ")
            && !insert.ends_with(" returning")
            && !insert.contains(" on conflict ")
        {
            why.push(
                "an insert from a query without `returning` or `on conflict` (Citus would COPY)",
            );
        }
        if let Some(values) = insert.find(" values ") {
            let rows = &insert[values..];
            let rows = rows.split(" on conflict ").next().unwrap_or_default();
            let rows = rows.split(" returning ").next().unwrap_or_default();
            if rows.contains("select ") {
                why.push("a subquery inside an insert's values");
            }
        }
        search += at + "insert into ".len();
    }
    if let Some(at) = statement.find(" do update ") {
        if has_clock(&statement[at..]) {
            why.push("a clock in `on conflict do update` (take it from `excluded`)");
        }
    }
    let updates = statement.starts_with("update ")
        || statement.contains(" update ")
        || statement.contains("(update ");
    if updates {
        for (word, coalesce) in [("case ", false), ("coalesce(", true)] {
            let mut search = 0;
            while let Some(at) = statement[search..].find(word) {
                let from = search + at + word.len();
                if has_clock(enclosed(statement, from, coalesce)) {
                    why.push("a clock inside `case` or `coalesce` of an update");
                }
                search = from;
            }
        }
    }
    why.dedup();
    why
}

#[test]
fn the_servers_statements_are_in_forms_citus_routes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for name in SERVER_CRATES {
        sources(&root.join(name).join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for statement in statements(file, &text) {
            checked += 1;
            for why in refusals(&statement) {
                let shown: String = statement.chars().take(160).collect();
                problems.push(format!("{}: {why}: {shown}", file.display()));
            }
        }
    }
    assert!(checked > 300, "found only {checked} statements");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself is tested: each shape it refuses is caught, and the forms that replace
/// them pass.
#[test]
fn the_routing_check_catches_each_refused_shape() {
    let refused = [
        "insert into contacts (tenant_id, name) select $1, u.name from unnest($2::text[]) as u (name)",
        "insert into audit_log select * from unnest($1::text[])",
        "insert into sales_processes (tenant_id, is_default) values ($1, not exists (select 1 from sales_processes))",
        "update deals set deleted_at = case when $3 then now() end where tenant_id = $1",
        "update deals set closed_at = coalesce(closed_at, now()) where tenant_id = $1",
        "with moved as (update deals d set closed_at = case when d.outcome = 'open' then null else now() end returning d.id) select 1",
        "insert into board_choices (tenant_id, user_id) values ($1, $2) on conflict (tenant_id, user_id) do update set updated_at = now()",
    ];
    for statement in refused {
        assert!(!refusals(statement).is_empty(), "not caught: {statement}");
    }
    let accepted = [
        "insert into contacts (tenant_id, name) select $1, u.name from unnest($2::text[]) as u (name) returning id",
        "insert into deal_contacts (tenant_id, deal_id) select $1, d.id from deals d on conflict (tenant_id, deal_id) do nothing",
        "insert into deals (tenant_id, closed_at) values ($1, case when $2 then now() end)",
        "update deals set deleted_at = (select now() where $3), updated_at = now() where tenant_id = $1",
        "update deals set closed_at = case when t.outcome = 'open' then null else t.moved_at end from target t",
        "insert into board_choices (tenant_id, updated_at) values ($1, now()) on conflict (tenant_id) do update set updated_at = excluded.updated_at",
        "select coalesce(d.stage_entered_at < now(), false) from deals d",
    ];
    for statement in accepted {
        assert!(
            refusals(statement).is_empty(),
            "refused: {statement}: {:?}",
            refusals(statement)
        );
    }
}
