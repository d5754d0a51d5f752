//! `tradeoff prices [--json]`: the price table remote targets without a `price` use.

use std::process::ExitCode;

use tradeoff_core::spec::pricing::PriceTable;

use crate::exit::Exit;

pub fn prices(json: bool) -> Result<ExitCode, Exit> {
    let table = PriceTable::load().map_err(Exit::bad_input)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&table.entries).map_err(Exit::failure)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = comfy_table::Table::new();
    rows.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header([
            "provider",
            "model",
            "$/M in",
            "$/M out",
            "$/M cached",
            "context",
            "as of",
            "from",
        ]);
    for e in &table.entries {
        rows.add_row([
            e.provider.clone(),
            e.model.clone(),
            format!("{}", e.input_per_mtok),
            format!("{}", e.output_per_mtok),
            e.cached_input_per_mtok.map(|p| p.to_string()).unwrap_or_default(),
            e.context_window.map(|c| c.to_string()).unwrap_or_default(),
            e.as_of.clone(),
            e.origin.clone().unwrap_or_default(),
        ]);
    }
    println!("{rows}");
    println!(
        "Override or add entries in {} (same format); a target's own `price` wins over both.",
        table.overrides.display()
    );
    Ok(ExitCode::SUCCESS)
}
