//! A report as Markdown, and the wording of comparisons the CLI's tables share.

use std::fmt::Write as _;

use super::summary::{list, mib, number};
use super::*;

impl Report {
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# {} (experiment {})\n", self.name, self.experiment_id);
        let _ = writeln!(
            md,
            "Status: {}. Started {}{}. Machine: {} ({} logical cores, {:.1} GiB RAM). {}\n",
            crate::execute::resume::status_text(self.status, self.runs.len(), self.planned_runs),
            self.created_at,
            self.finished_at
                .as_deref()
                .map(|f| format!(", finished {f}"))
                .unwrap_or_default(),
            self.environment.machine.cpu_model,
            self.environment.machine.logical_cores,
            self.environment.machine.memory_bytes as f64 / (1u64 << 30) as f64,
            self.environment.llama_build.as_deref().unwrap_or(""),
        );
        let _ = writeln!(md, "| {} |", SUMMARY_HEADERS.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(SUMMARY_HEADERS.len()));
        for config in &self.configs {
            let cells: Vec<String> = config.cells().iter().map(|c| escape_md(c)).collect();
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        }
        if let Some(comparison) = &self.comparison {
            self.comparison_markdown(&mut md, comparison);
        }
        let _ = writeln!(md, "\n## Targets\n");
        for target in &self.targets {
            if let Some(remote) = &target.remote {
                let _ = writeln!(
                    md,
                    "- `{}`: {} at {}{}, max concurrency {}{}",
                    target.id,
                    remote.label(),
                    remote.base_url,
                    remote
                        .api_key_env
                        .as_deref()
                        .map(|v| format!(" (key from {v})"))
                        .unwrap_or_default(),
                    remote.max_concurrency,
                    target
                        .price_source
                        .as_deref()
                        .map(|s| format!("; price from {}", escape_md(s)))
                        .unwrap_or_default()
                );
                continue;
            }
            let _ = writeln!(
                md,
                "- `{}`: {} (sha256 {}), threads {}, batch {}, KV cache {}, GPU layers {}, chat template {}",
                target.id,
                target.model_path,
                target.model_sha256.as_deref().unwrap_or("unknown"),
                list(&target.threads),
                list(&target.batch),
                list(&target.kv_type),
                list(&target.n_gpu_layers),
                target.chat_template
            );
            for load in &target.loads {
                let _ = writeln!(
                    md,
                    "  - n_ctx {} · {} threads · batch {} · kv {}: model load {} ms, context {} ms, KV cache {}{}",
                    load.settings.n_ctx,
                    load.settings.threads,
                    load.settings.batch,
                    load.settings.kv_type,
                    number(load.model_load_ms, 1),
                    number(load.context_create_ms, 1),
                    load.kv_cache_bytes.map_or_else(|| "—".to_string(), mib),
                    load.error
                        .as_ref()
                        .map(|e| format!(", failed: {e}"))
                        .unwrap_or_default()
                );
            }
        }
        if !self.grading.is_empty() {
            let _ = writeln!(
                md,
                "\n## Grading\n\nJudge checks graded after the runs; these calls are not part of any config's latency or cost.\n"
            );
            for line in self.grading_lines() {
                let _ = writeln!(md, "- {}", escape_md(&line));
            }
        }
        let warnings = self.distinct_warnings();
        if !warnings.is_empty() {
            let _ = writeln!(md, "\n## Warnings\n");
            for warning in warnings {
                let _ = writeln!(md, "- {}", escape_md(&warning));
            }
        }
        let errors: Vec<&RunRow> = self.runs.iter().filter(|r| r.run.error.is_some()).collect();
        if !errors.is_empty() {
            let _ = writeln!(md, "\n## Errors\n");
            for run in errors {
                if let Some(error) = &run.run.error {
                    let _ = writeln!(
                        md,
                        "- {} / {} / {} / case {} / rep {}: {}",
                        run.labels.variant,
                        run.labels.target,
                        run.labels
                            .settings
                            .map_or_else(|| "remote".to_string(), |s| format!("n_ctx {}", s.n_ctx)),
                        run.labels.case,
                        run.run.repetition,
                        escape_md(&error.to_string())
                    );
                }
            }
        }
        md
    }

    /// One line per grader: calls, verdicts, time, tokens and cost.
    pub fn grading_lines(&self) -> Vec<String> {
        self.grading
            .iter()
            .map(|g| {
                format!(
                    "grader {}: {} calls{}, {} passed; latency p50 {} ms, {:.1} s in all; {} input + {} output tokens; {}",
                    g.grader,
                    g.calls,
                    if g.errors > 0 {
                        format!(" ({} without a verdict)", g.errors)
                    } else {
                        String::new()
                    },
                    g.passed,
                    number(g.latency_p50_ms, 0),
                    g.latency_total_ms / 1000.0,
                    g.input_tokens,
                    g.output_tokens,
                    g.cost_usd
                        .map_or_else(|| "no price".to_string(), |c| format!("${c:.6}"))
                )
            })
            .collect()
    }

    fn comparison_markdown(&self, md: &mut String, comparison: &Comparison) {
        let label = |index: usize| {
            self.configs
                .get(index)
                .map(|c| format!("{} · {} · {}", c.variant, c.target, c.settings_label))
                .unwrap_or_default()
        };
        let _ = writeln!(
            md,
            "\n## Compared with {}\n\nDifferences of medians with 95 % bootstrap intervals; a config is called faster or slower only when the interval excludes 0.\n",
            escape_md(&label(comparison.baseline))
        );
        let _ = writeln!(
            md,
            "| config | runs | Δ p50 latency | latency | Δ p50 TTFT | TTFT |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for c in comparison
            .configs
            .iter()
            .filter(|c| c.config != comparison.baseline)
        {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                escape_md(&label(c.config)),
                c.latency_ms.other_n,
                interval_text(&c.latency_ms),
                verdict_word(&c.latency_ms),
                interval_text(&c.ttft_ms),
                verdict_word(&c.ttft_ms),
            );
        }
    }
}

/// `−95.3 ms [−120.1, −70.2]`.
pub fn interval_text(difference: &Difference) -> String {
    match &difference.median {
        Some(i) => format!("{:+.1} ms [{:+.1}, {:+.1}]", i.estimate, i.low, i.high),
        None => "—".into(),
    }
}

/// How a latency difference reads: lower is faster.
pub fn verdict_word(difference: &Difference) -> &'static str {
    match difference.verdict {
        Verdict::Lower => "faster",
        Verdict::Higher => "slower",
        Verdict::NoClearDifference => "no clear difference",
        Verdict::TooFewRuns => "too few runs",
    }
}

fn escape_md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
