//! Structured logs: one JSON object per line on stdout, filtered by `AURA_LOG`.

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|err| format!("invalid AURA_LOG filter `{filter}`: {err}"))?;
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|err| format!("cannot install the logger: {err}"))
}
