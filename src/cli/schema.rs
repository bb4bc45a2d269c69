//! `distlab schema`: the JSON Schema of the scenario format.

use std::io::Write;

use clap::Args;

use crate::Outcome;

#[derive(Args)]
pub struct SchemaArgs {}

pub fn run(_: SchemaArgs) -> anyhow::Result<Outcome> {
    let schema = schemars::schema_for!(distlab::scenario::Scenario);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&schema)?)?;
    Ok(Outcome::Ok)
}
