//! Word- and character-level diffs between two outputs, computed here so that the UI only
//! renders spans. Built on `similar` with a deadline, so a pathological pair of long outputs
//! degrades to a coarser diff instead of freezing the app.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use similar::{Algorithm, ChangeTag, TextDiff};

/// Above this many milliseconds `similar` stops refining and returns a coarser (still correct) diff.
const DEADLINE: Duration = Duration::from_millis(50);

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Unicode words with the whitespace between them.
    Word,
    /// Unicode grapheme clusters.
    Char,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Equal,
    /// Only in the other text.
    Insert,
    /// Only in the baseline.
    Delete,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSpan {
    pub kind: SpanKind,
    pub text: String,
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// Baseline and other interleaved in reading order; adjacent spans of one kind are merged.
    pub spans: Vec<DiffSpan>,
    /// 1.0 for identical texts, 0.0 for nothing in common (similar's ratio over the tokens).
    pub similarity: f64,
}

pub fn diff(baseline: &str, other: &str, granularity: Granularity) -> Diff {
    let mut config = TextDiff::configure();
    config.algorithm(Algorithm::Patience).timeout(DEADLINE);
    let text_diff = match granularity {
        Granularity::Word => config.diff_unicode_words(baseline, other),
        Granularity::Char => config.diff_graphemes(baseline, other),
    };
    let mut spans: Vec<DiffSpan> = Vec::new();
    for change in text_diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => SpanKind::Equal,
            ChangeTag::Insert => SpanKind::Insert,
            ChangeTag::Delete => SpanKind::Delete,
        };
        match spans.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(change.value()),
            _ => spans.push(DiffSpan {
                kind,
                text: change.value().to_string(),
            }),
        }
    }
    let similarity = if baseline.is_empty() && other.is_empty() {
        1.0
    } else {
        f64::from(text_diff.ratio())
    };
    Diff { spans, similarity }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(diff: &Diff, keep: SpanKind) -> String {
        diff.spans
            .iter()
            .filter(|s| s.kind == SpanKind::Equal || s.kind == keep)
            .map(|s| s.text.as_str())
            .collect()
    }

    #[test]
    fn a_word_diff_marks_changed_words_and_rebuilds_both_texts() {
        let d = diff("the quick brown fox", "the slow brown fox", Granularity::Word);
        let changed: Vec<(SpanKind, &str)> = d
            .spans
            .iter()
            .filter(|s| s.kind != SpanKind::Equal)
            .map(|s| (s.kind, s.text.as_str()))
            .collect();
        assert_eq!(changed, [(SpanKind::Delete, "quick"), (SpanKind::Insert, "slow")]);
        assert_eq!(side(&d, SpanKind::Delete), "the quick brown fox");
        assert_eq!(side(&d, SpanKind::Insert), "the slow brown fox");
        assert!(d.similarity > 0.5 && d.similarity < 1.0);
    }

    #[test]
    fn identical_and_empty_texts_are_fully_similar() {
        let same = diff("same text", "same text", Granularity::Word);
        assert_eq!(
            same.spans,
            [DiffSpan {
                kind: SpanKind::Equal,
                text: "same text".into()
            }]
        );
        assert_eq!(same.similarity, 1.0);
        let empty = diff("", "", Granularity::Word);
        assert!(empty.spans.is_empty());
        assert_eq!(empty.similarity, 1.0);
        let one_empty = diff("", "new", Granularity::Word);
        assert_eq!(
            one_empty.spans,
            [DiffSpan {
                kind: SpanKind::Insert,
                text: "new".into()
            }]
        );
        assert_eq!(one_empty.similarity, 0.0);
    }

    #[test]
    fn unicode_is_split_on_characters_not_bytes() {
        let d = diff("naïve café 👩‍💻", "naive café 👩‍🔬", Granularity::Char);
        assert_eq!(side(&d, SpanKind::Delete), "naïve café 👩‍💻");
        assert_eq!(side(&d, SpanKind::Insert), "naive café 👩‍🔬");
        let words = diff("Zürich ist schön", "Zürich ist grün", Granularity::Word);
        assert_eq!(words.spans.last().map(|s| s.text.as_str()), Some("grün"));
    }

    #[test]
    fn fifty_kilobyte_outputs_diff_within_the_deadline() {
        let a: String = (0..8000).map(|i| format!("word{} ", i % 97)).collect();
        let b: String = (0..8000).map(|i| format!("word{} ", (i * 7) % 89)).collect();
        assert!(a.len() > 40_000 && b.len() > 40_000);
        let started = std::time::Instant::now();
        let d = diff(&a, &b, Granularity::Word);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(side(&d, SpanKind::Delete), a);
        assert_eq!(side(&d, SpanKind::Insert), b);
    }
}
