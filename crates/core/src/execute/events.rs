//! Progress of a running experiment as a stream of events, one JSON object per line
//! (`tradeoff run --events`). The desktop app runs experiments in a `tradeoff` child process
//! and reads this stream, so a crash in llama.cpp ends that process, never the app.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::execute::record::RunRecord;
use crate::execute::resume::ExperimentStatus;
use crate::execute::search_log::SearchRound;
use crate::execute::sink::RunObserver;
use crate::spec::matrix::PlannedRun;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Started {
        experiment_id: i64,
        total: usize,
    },
    Loading {
        target: String,
        n_ctx: u32,
    },
    RunStarted {
        done: usize,
        total: usize,
        run: PlannedRun,
    },
    Text {
        chunk: String,
    },
    RunFinished {
        done: usize,
        total: usize,
        record: Box<RunRecord>,
    },
    /// A judge check was graded (after every run has finished).
    Graded {
        done: usize,
        total: usize,
    },
    /// A round of a search finished: the configs still in, those dropped, the runs used.
    SearchRound {
        #[serde(flatten)]
        round: SearchRound,
    },
    Finished {
        experiment_id: i64,
        status: ExperimentStatus,
    },
    Failed {
        message: String,
    },
}

/// Writes every event as a JSON line and flushes it, so a reader sees it at once.
#[derive(Debug)]
pub struct EventWriter<W: Write> {
    out: W,
}

impl<W: Write> EventWriter<W> {
    pub fn new(out: W) -> Self {
        EventWriter { out }
    }

    pub fn emit(&mut self, event: &RunEvent) {
        // A reader that went away must not stop the experiment: runs are recorded in the
        // database either way.
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

impl<W: Write> RunObserver for EventWriter<W> {
    fn loading(&mut self, target: &str, n_ctx: u32) {
        self.emit(&RunEvent::Loading {
            target: target.to_string(),
            n_ctx,
        });
    }

    fn run_started(&mut self, done: usize, total: usize, run: &PlannedRun) {
        self.emit(&RunEvent::RunStarted {
            done,
            total,
            run: *run,
        });
    }

    fn text(&mut self, chunk: &str) {
        self.emit(&RunEvent::Text {
            chunk: chunk.to_string(),
        });
    }

    fn run_finished(&mut self, done: usize, total: usize, record: &RunRecord) {
        self.emit(&RunEvent::RunFinished {
            done,
            total,
            record: Box::new(record.clone()),
        });
    }

    fn search_round(&mut self, round: &SearchRound) {
        self.emit(&RunEvent::SearchRound { round: round.clone() });
    }

    fn graded(&mut self, done: usize, total: usize) {
        self.emit(&RunEvent::Graded { done, total });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_json_object_per_line_that_parse_back() {
        let mut buffer = Vec::new();
        {
            let mut writer = EventWriter::new(&mut buffer);
            writer.emit(&RunEvent::Started {
                experiment_id: 3,
                total: 2,
            });
            writer.text("multi\nline");
        }
        let text = String::from_utf8(buffer).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], r#"{"event":"started","experiment_id":3,"total":2}"#);
        let back: RunEvent = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(
            back,
            RunEvent::Text {
                chunk: "multi\nline".into()
            }
        );
    }
}
