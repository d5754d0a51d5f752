//! A load test as the terminal, `--json` and `--csv` show it.

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use serde_json::json;
use tradeoff_core::analyze::load_test::{LevelSummary, LoadTest, Percentiles};
use tradeoff_core::analyze::report::csv_export::Cell::{Number, Text};
use tradeoff_core::run::ErrorClass;

/// The load a level put on, in words.
fn load_of(level: &LevelSummary) -> String {
    match (level.concurrency, level.rate) {
        (Some(1), _) => "1 client".into(),
        (Some(clients), _) => format!("{clients} clients"),
        (None, Some(rate)) => format!("{rate:.2} req/s"),
        (None, None) => "—".into(),
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.0}"))
}

fn pair(p: &Percentiles) -> String {
    format!("{} / {}", ms(p.p50), ms(p.p99))
}

/// One line per finished level, on stderr as the test goes.
pub fn progress_line(level: &LevelSummary) -> String {
    format!(
        "  {}: {} requests, {:.2} req/s answered, e2e p50 {} ms, {:.0} % errors{}{}",
        load_of(level),
        level.requests,
        level.achieved_rps,
        ms(level.e2e_ms.p50),
        level.error_rate * 100.0,
        level
            .slo_attainment
            .map_or(String::new(), |a| format!(", {:.1} % within the SLO", a * 100.0)),
        if level.saturated { ", saturated" } else { "" }
    )
}

pub fn table(test: &LoadTest, id: i64) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "load",
        "offered / achieved req/s",
        "out tok/s",
        "TTFT p50 / p99 ms",
        "ITL p50 / p99 ms",
        "TPOT p50 ms",
        "e2e p50 / p99 ms",
        "errors",
        "goodput req/s",
        "SLO met",
        "send lag p99",
    ]);
    for level in &test.levels {
        table.add_row([
            load_of(level),
            format!("{:.2} / {:.2}", level.offered_rps, level.achieved_rps),
            format!(
                "{:.1}{}",
                level.output_tokens_per_s,
                if level.tokens_estimated { " (est.)" } else { "" }
            ),
            pair(&level.ttft_ms),
            pair(&level.itl_ms),
            ms(level.tpot_ms.p50),
            pair(&level.e2e_ms),
            format!("{:.1} %", level.error_rate * 100.0),
            format!("{:.2}", level.goodput_rps),
            level
                .slo_attainment
                .map_or("—".into(), |a| format!("{:.1} %", a * 100.0)),
            format!(
                "{:.2} ms{}",
                level.send_lag_p99_ms,
                if level.valid { "" } else { " INVALID" }
            ),
        ]);
    }
    let mut out = format!(
        "load test {id} of {} ({}){}\n{table}\n",
        test.label,
        test.prompts_from,
        test.slo.map_or(String::new(), |slo| format!(", SLO {slo}"))
    );
    for level in test.levels.iter().filter(|l| l.saturated) {
        out.push_str(&format!(
            "saturated at {}: {}\n",
            load_of(level),
            level.saturation.as_deref().unwrap_or_default()
        ));
    }
    match &test.knee {
        Some(knee) => out.push_str(&format!(
            "knee: {:.2} req/s ({}), goodput {:.2} req/s{}; {}\n",
            knee.rps,
            load_of(&test.levels[knee.level]),
            knee.goodput_rps,
            knee.next_rps
                .map_or(String::new(), |next| format!(", below {next:.2} req/s")),
            knee.reason
        )),
        None => out.push_str("knee: none — the lightest level already missed; try lighter loads\n"),
    }
    if let Some(plan) = &test.capacity {
        out.push_str(&format!(
            "capacity: peak {:.2} req/s (mean {:.2}) at {:.2} req/s per replica within the SLO: {} replicas",
            plan.peak_rps, plan.mean_rps, plan.per_replica_rps, plan.replicas
        ));
        match plan.machines_per_month_usd {
            Some(month) => out.push_str(&format!(", ${month:.2} a month\n")),
            None => out.push_str(" (no price per hour: --price-per-hour prices them)\n"),
        }
        if let Some(hosted) = &plan.hosted {
            out.push_str(&format!(
                "hosted instead: {} at {:.0} in / {:.0} out tokens a request, ${:.6} a request, ${:.2} a month\n",
                hosted.model,
                hosted.input_tokens_per_request,
                hosted.output_tokens_per_request,
                hosted.per_request_usd,
                hosted.per_month_usd
            ));
        }
    }
    out
}

pub fn json(test: &LoadTest, id: i64) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&json!({
        "id": id,
        "label": test.label,
        "prompts_from": test.prompts_from,
        "slo": test.slo,
        "levels": test.levels,
        "knee": test.knee,
        "capacity": test.capacity,
    }))
}

/// Every request, one row each, text cells neutralized for spreadsheets as the report's CSV does.
pub fn csv(test: &LoadTest) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "level",
        "load",
        "warmup",
        "scheduled_ms",
        "lag_ms",
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "input_tokens",
        "output_tokens",
        "tokens_estimated",
        "error_class",
    ])?;
    let real = |v: Option<f64>| Number(v.map(|v| format!("{v:.3}")).unwrap_or_default());
    for (index, (level, samples)) in test.levels.iter().zip(&test.samples).enumerate() {
        for s in samples {
            let cells = [
                Number(index.to_string()),
                Text(load_of(level)),
                Number(s.warmup.to_string()),
                real(Some(s.scheduled_ms)),
                real(Some(s.lag_ms)),
                real(s.ttft_ms),
                real(s.tpot_ms()),
                real(Some(s.e2e_ms)),
                Number(s.input_tokens.map(|t| t.to_string()).unwrap_or_default()),
                Number(s.output_tokens.map(|t| t.to_string()).unwrap_or_default()),
                Number(s.tokens_estimated.to_string()),
                Text(
                    s.error_class
                        .map(ErrorClass::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
            ];
            writer.write_record(cells.map(|c| c.into_field()))?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
