//! Cutting a case variable to a context budget (`spec::budget`) before the prompt is rendered,
//! counted with the target's own tokenizer: llama.cpp's for a local model (in the worker),
//! tiktoken for OpenAI models, a marked estimate for other hosted models.
//!
//! Every cut is checked by counting the text it keeps: whatever the tokenizer merges at a cut
//! edge, the kept text is never over the budget. Counting is by the text alone, as the variable
//! sits in the template, without the BOS token.

use bm25::{Language, SearchEngineBuilder};

use crate::execute::engine::{LoadRequest, LocalTokenCounter};
use crate::models::tokens::count_hosted;
use crate::run::RunError;
use crate::spec::budget::{BudgetChoice, ContextBudget, CutStrategy};
use crate::spec::experiment::{Case, ChatTemplateChoice};
use crate::spec::prompt::RenderedPrompt;
use crate::spec::target::remote::RemoteTarget;

/// Cuts `case`'s budgeted variable to `choice` (its query read from the case too).
pub fn cut_case_variable(
    budget: &ContextBudget,
    choice: BudgetChoice,
    case: &Case,
    count: &mut dyn FnMut(&str) -> Result<u32, RunError>,
) -> Result<Cut, RunError> {
    let text = |name: &str| case.vars.get(name).and_then(|v| v.as_str());
    let query = budget.query.as_deref().and_then(text);
    cut_to_budget(text(&budget.var).unwrap_or_default(), choice, query, count)
}

/// `case` with its budgeted variable replaced by the text kept.
pub fn with_cut(budget: &ContextBudget, case: &Case, kept: &str) -> Case {
    let mut cut = case.clone();
    cut.vars
        .insert(budget.var.clone(), serde_json::Value::String(kept.to_string()));
    cut
}

/// Counts a text with a local model's tokenizer: the raw prompt of that text less the raw prompt
/// of nothing (the BOS token every prompt starts with).
pub fn local_count(
    counter: &mut dyn LocalTokenCounter,
    load: &LoadRequest,
    text: &str,
) -> Result<u32, RunError> {
    let mut raw = |prompt: &str| {
        counter
            .count_prompt_tokens(
                load,
                &RenderedPrompt::Raw {
                    prompt: prompt.to_string(),
                },
                &ChatTemplateChoice::Auto,
            )
            .map(|(tokens, _)| tokens)
    };
    let empty = raw("")?;
    Ok(raw(text)?.saturating_sub(empty))
}

/// Counts a text as a hosted model would: tiktoken for OpenAI models, else an estimate, with a
/// note saying so.
pub fn hosted_count(target: &RemoteTarget, text: &str) -> (u32, Option<String>) {
    let count = count_hosted(
        target.provider,
        &target.model,
        &RenderedPrompt::Raw {
            prompt: text.to_string(),
        },
    );
    let note = (!count.exact).then(|| {
        format!(
            "the context budget was counted by {}: {} publishes no tokenizer for {}",
            count.counted_by,
            target.provider.as_str(),
            target.model
        )
    });
    (count.tokens, note)
}

/// A variable cut to its budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub text: String,
    /// Tokens of the text kept, and of the whole variable.
    pub tokens: u32,
    pub original_tokens: u32,
}

/// What separates the two ends of a `middle` cut, so the model can tell text was left out.
const ELISION: &str = "\n…\n";

/// Cuts `text` to `choice`'s budget, counting with `count`. `query` is the text `relevant`
/// ranks sentences against.
pub fn cut_to_budget(
    text: &str,
    choice: BudgetChoice,
    query: Option<&str>,
    count: &mut dyn FnMut(&str) -> Result<u32, RunError>,
) -> Result<Cut, RunError> {
    let original_tokens = count(text)?;
    let budget = choice.tokens;
    if original_tokens <= budget {
        return Ok(Cut {
            text: text.to_string(),
            tokens: original_tokens,
            original_tokens,
        });
    }
    let kept = match choice.strategy {
        CutStrategy::Head => longest_within(text, budget, Side::Head, count)?,
        CutStrategy::Tail => longest_within(text, budget, Side::Tail, count)?,
        CutStrategy::Middle => middle(text, budget, count)?,
        CutStrategy::Relevant => relevant(text, query.unwrap_or_default(), budget, count)?,
    };
    let tokens = count(&kept)?;
    Ok(Cut {
        text: kept,
        tokens,
        original_tokens,
    })
}

#[derive(Clone, Copy)]
enum Side {
    Head,
    Tail,
}

/// The longest prefix (or suffix) of `text` whose count is within `budget`: a binary search over
/// character boundaries, each probe counted (a cut text can count differently from the tokens
/// it was cut from).
fn longest_within(
    text: &str,
    budget: u32,
    side: Side,
    count: &mut dyn FnMut(&str) -> Result<u32, RunError>,
) -> Result<String, RunError> {
    let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    bounds.push(text.len());
    let piece = |n: usize| match side {
        Side::Head => &text[..bounds[n]],
        Side::Tail => &text[bounds[bounds.len() - 1 - n]..],
    };
    // The number of characters kept: `low` always fits.
    let (mut low, mut high) = (0usize, bounds.len() - 1);
    while low < high {
        let probe = low + (high - low).div_ceil(2);
        if count(piece(probe))? <= budget {
            low = probe;
        } else {
            high = probe - 1;
        }
    }
    Ok(piece(low).to_string())
}

/// The beginning and the end, half the budget each (what the elision costs taken off the end).
fn middle(
    text: &str,
    budget: u32,
    count: &mut dyn FnMut(&str) -> Result<u32, RunError>,
) -> Result<String, RunError> {
    let elision = count(ELISION)?;
    let room = budget.saturating_sub(elision);
    let head = longest_within(text, room.div_ceil(2), Side::Head, count)?;
    let head_tokens = count(&head)?;
    let rest = &text[head.len()..];
    let mut tail_budget = room.saturating_sub(head_tokens);
    loop {
        let tail = longest_within(rest, tail_budget, Side::Tail, count)?;
        let joined = format!("{head}{ELISION}{tail}");
        // The joins can merge into other tokens than the parts had: shrink until it fits.
        if count(&joined)? <= budget || tail.is_empty() {
            return Ok(if tail.is_empty() { head } else { joined });
        }
        tail_budget = tail_budget.saturating_sub(1);
    }
}

/// The sentences that rank best against `query` by BM25, as many as fit, in their original
/// order; a sentence that does not fit is passed over for shorter ones that do.
fn relevant(
    text: &str,
    query: &str,
    budget: u32,
    count: &mut dyn FnMut(&str) -> Result<u32, RunError>,
) -> Result<String, RunError> {
    let sentences = sentences(text);
    let engine =
        SearchEngineBuilder::<u32>::with_corpus(Language::English, sentences.iter().map(|s| s.trim()))
            .build();
    let mut ranked: Vec<usize> = engine
        .search(query, None)
        .into_iter()
        .map(|result| result.document.id as usize)
        .collect();
    // Sentences that share no word with the query follow, in their order.
    for index in 0..sentences.len() {
        if !ranked.contains(&index) {
            ranked.push(index);
        }
    }
    let mut kept: Vec<usize> = Vec::new();
    for index in ranked {
        let mut trial = kept.clone();
        trial.push(index);
        trial.sort_unstable();
        if count(&joined(&sentences, &trial))? <= budget {
            kept = trial;
        }
    }
    Ok(joined(&sentences, &kept))
}

fn joined(sentences: &[&str], kept: &[usize]) -> String {
    kept.iter()
        .map(|&i| sentences[i].trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sentences as a reader sees them: ended by `.`, `!` or `?` and a space, or by a line break.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let ends = c == '\n' || (matches!(c, '.' | '!' | '?') && next.is_none_or(char::is_whitespace));
        if ends {
            let end = i + c.len_utf8();
            if !text[start..end].trim().is_empty() {
                out.push(&text[start..end]);
            }
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tokenizer of whole words: exact and easy to check by hand.
    fn words(text: &str) -> Result<u32, RunError> {
        Ok(text.split_whitespace().count() as u32)
    }

    fn cut(text: &str, tokens: u32, strategy: CutStrategy, query: Option<&str>) -> Cut {
        cut_to_budget(text, BudgetChoice { tokens, strategy }, query, &mut words).unwrap()
    }

    const PASSAGE: &str = "The harbour was built in 1820. Fishing boats still use it every morning. \
         The lighthouse keeper, Anna Berg, lit the lamp for forty years. Tourists arrive in summer. \
         The market sells smoked fish on Saturdays.";

    #[test]
    fn a_text_within_its_budget_is_kept_whole() {
        let kept = cut("one two three", 3, CutStrategy::Head, None);
        assert_eq!(kept.text, "one two three");
        assert_eq!((kept.tokens, kept.original_tokens), (3, 3));
    }

    #[test]
    fn head_tail_and_middle_keep_exactly_the_budget_from_their_ends() {
        let text = "a b c d e f g h i j";
        assert_eq!(cut(text, 4, CutStrategy::Head, None).text, "a b c d ");
        assert_eq!(cut(text, 4, CutStrategy::Tail, None).text, " g h i j");
        let middle = cut(text, 5, CutStrategy::Middle, None);
        assert_eq!(middle.tokens, 5, "{middle:?}");
        assert!(
            middle.text.starts_with("a b ") && middle.text.ends_with(" i j"),
            "{middle:?}"
        );
        assert!(middle.text.contains('…'));
    }

    #[test]
    fn relevant_keeps_the_sentence_that_answers_the_query_where_head_loses_it() {
        let query = Some("Who was the lighthouse keeper?");
        let relevant = cut(PASSAGE, 12, CutStrategy::Relevant, query);
        assert!(relevant.text.contains("Anna Berg"), "{relevant:?}");
        assert!(relevant.tokens <= 12, "{relevant:?}");
        let head = cut(PASSAGE, 12, CutStrategy::Head, None);
        assert!(!head.text.contains("Anna Berg"), "{head:?}");
        // What is kept stays in the passage's order.
        let both = cut(
            PASSAGE,
            22,
            CutStrategy::Relevant,
            Some("lighthouse keeper harbour"),
        );
        let harbour = both.text.find("harbour").unwrap();
        let anna = both.text.find("Anna").unwrap();
        assert!(harbour < anna, "{both:?}");
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let kept = cut("été à Zürich — ja ça", 3, CutStrategy::Head, None);
        assert_eq!(kept.text, "été à Zürich ");
        let kept = cut("été à Zürich — ja ça", 2, CutStrategy::Tail, None);
        assert_eq!(kept.text, " ja ça");
    }

    #[test]
    fn sentences_end_at_stops_and_line_breaks_but_not_inside_numbers() {
        assert_eq!(
            sentences("Pi is 3.14 here. Next!\nLast line"),
            vec!["Pi is 3.14 here.", " Next!", "\n", "Last line"][..]
                .iter()
                .copied()
                .filter(|s| !s.trim().is_empty())
                .collect::<Vec<_>>()
        );
    }
}
