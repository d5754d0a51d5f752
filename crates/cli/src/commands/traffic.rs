//! `tradeoff traffic [--since 1h] [--deployment ID] [--json|--csv]`: what served winners'
//! traffic adds up to, beside what the winner was measured at.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use serde_json::json;
use tradeoff_core::analyze::traffic::{TrafficSummary, summarize, to_csv};
use tradeoff_store::traffic::now_ms;

use super::open_store;
use crate::exit::Exit;
use crate::terminal::safe;

pub fn traffic(
    db: Option<PathBuf>,
    since: Duration,
    deployment: Option<i64>,
    json: bool,
    csv: bool,
) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let deployments = store.deployments()?;
    if let Some(id) = deployment
        && !deployments.iter().any(|d| d.id == id)
    {
        return Err(Exit::bad_input(format!(
            "--deployment {id}: no such deployment; `tradeoff traffic --json` lists them"
        )));
    }
    let from_ms = now_ms() - i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let shown: Vec<_> = deployments
        .iter()
        .filter(|d| deployment.is_none_or(|id| id == d.id))
        .collect();
    if csv {
        let records = store.traffic_since(deployment, from_ms)?;
        print!("{}", to_csv(&records).map_err(Exit::failure)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Clients' traffic and the canary's are summed up apart: the canary is the server's own.
    let mut summaries = Vec::new();
    for d in &shown {
        let (canary, clients): (Vec<_>, Vec<_>) = store
            .traffic_since(Some(d.id), from_ms)?
            .into_iter()
            .partition(|r| r.canary);
        let canary = (!canary.is_empty()).then(|| summarize(&canary));
        summaries.push((d, summarize(&clients), canary));
    }
    if json {
        let list: Vec<_> = summaries
            .iter()
            .map(|(d, summary, canary)| {
                json!({
                    "deployment": d.id,
                    "model": d.model_name,
                    "label": d.label,
                    "winner_path": d.winner_path,
                    "started_ms": d.started_ms,
                    "summary": summary,
                    "canary": canary,
                })
            })
            .collect();
        let out = json!({"since_ms": from_ms, "deployments": list});
        println!("{}", serde_json::to_string_pretty(&out).map_err(Exit::failure)?);
        return Ok(ExitCode::SUCCESS);
    }
    if summaries.is_empty() {
        println!("no deployment has logged traffic here; `tradeoff serve WINNER.json` logs every request");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "deployment",
        "requests",
        "errors",
        "p50 / p95 ms",
        "TTFT p50 / p95 ms",
        "ITL p50 ms",
        "tokens in / out",
        "cost",
        "distinct answers",
    ]);
    for (d, clients, canary) in &summaries {
        table.add_row(
            row(&format!("{} {}", d.id, d.label), clients)
                .iter()
                .map(|c| safe(c)),
        );
        if let Some(canary) = canary {
            table.add_row(row(&format!("{} canary", d.id), canary).iter().map(|c| safe(c)));
        }
    }
    println!("traffic of the last {}", words(since));
    println!("{table}");
    // A routing policy's requests by the stages they went through: where its traffic ends up.
    for (d, clients, _) in &summaries {
        if !clients.stages.is_empty() {
            println!("{} by stage (the answering one last):", d.id);
            for (stage, requests) in &clients.stages {
                println!("  {requests:>7}  {}", safe(stage));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(name: &str, s: &TrafficSummary) -> [String; 9] {
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
    let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", ms(a), ms(b));
    let errors = if s.errors.is_empty() {
        "0".to_string()
    } else {
        s.errors
            .iter()
            .map(|(class, n)| format!("{n} {class}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    [
        name.to_string(),
        s.requests.to_string(),
        errors,
        pair(s.latency_p50_ms, s.latency_p95_ms),
        pair(s.ttft_p50_ms, s.ttft_p95_ms),
        s.itl_p50_ms.map_or("—".into(), |v| format!("{v:.1}")),
        pair(s.input_tokens_mean, s.output_tokens_mean),
        s.cost_usd.map_or("—".into(), |c| format!("${c:.6}")),
        s.distinct_output_share
            .map_or("—".into(), |share| format!("{:.0}%", share * 100.0)),
    ]
}

fn words(span: Duration) -> String {
    let seconds = span.as_secs();
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
