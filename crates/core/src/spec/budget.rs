//! Context budgets (`budget:` in an experiment file): one case variable (a document, a history)
//! cut to a number of tokens before the prompt is rendered, as one more swept axis. Each budget
//! makes its own variants (`fewshot doc≤512`), so every report, chart and winner treats it as a
//! config. Cutting is `execute::context_budget`'s.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::one_or_many::OneOrMany;

/// `budget:` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// The case variable to cut.
    pub var: String,
    /// The budgets, in tokens of the target's own tokenizer.
    pub tokens: OneOrMany<u32>,
    /// How to cut (`head` when absent); a list sweeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<OneOrMany<CutStrategy>>,
    /// `relevant`: the case variable the sentences are ranked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutStrategy {
    /// The beginning of the text.
    Head,
    /// Its end.
    Tail,
    /// Its beginning and its end, the middle left out.
    Middle,
    /// The sentences that rank best against the query (BM25), in their original order.
    Relevant,
}

impl CutStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            CutStrategy::Head => "head",
            CutStrategy::Tail => "tail",
            CutStrategy::Middle => "middle",
            CutStrategy::Relevant => "relevant",
        }
    }
}

/// One budget of the sweep: a variant made for it carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BudgetChoice {
    pub tokens: u32,
    pub strategy: CutStrategy,
}

impl BudgetChoice {
    /// `document≤512`, or `document≤512 relevant` for another strategy than `head`.
    pub fn label(&self, var: &str) -> String {
        match self.strategy {
            CutStrategy::Head => format!("{var}≤{}", self.tokens),
            other => format!("{var}≤{} {}", self.tokens, other.as_str()),
        }
    }
}

/// A validated context budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextBudget {
    pub var: String,
    /// Every strategy × every token count, in that order.
    pub choices: Vec<BudgetChoice>,
    pub query: Option<String>,
}

/// A field of `budget:` that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetProblem {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for BudgetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl BudgetSpec {
    /// Checks the budget on its own; that its variables exist in every case and are text is
    /// checked with the cases (`spec::load`).
    pub fn validate(&self) -> Result<ContextBudget, BudgetProblem> {
        let problem = |field: &'static str, message: String| BudgetProblem { field, message };
        let tokens = &self.tokens.0;
        if tokens.is_empty() {
            return Err(problem("budget.tokens", "needs at least one budget".into()));
        }
        if tokens.contains(&0) {
            return Err(problem("budget.tokens", "a budget is at least 1 token".into()));
        }
        let mut sorted = tokens.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != tokens.len() {
            return Err(problem("budget.tokens", "lists a budget twice".into()));
        }
        let strategies = self
            .strategy
            .as_ref()
            .map_or_else(|| vec![CutStrategy::Head], |s| s.0.clone());
        if strategies.is_empty() {
            return Err(problem("budget.strategy", "needs at least one strategy".into()));
        }
        let relevant = strategies.contains(&CutStrategy::Relevant);
        match (&self.query, relevant) {
            (None, true) => {
                return Err(problem(
                    "budget.query",
                    "`relevant` ranks the sentences against another case variable: name it (e.g. `query: question`)"
                        .into(),
                ));
            }
            (Some(_), false) => {
                return Err(problem(
                    "budget.query",
                    "only the `relevant` strategy reads a query".into(),
                ));
            }
            (Some(query), true) if *query == self.var => {
                return Err(problem(
                    "budget.query",
                    "the query is another variable than the one cut".into(),
                ));
            }
            _ => {}
        }
        let choices = strategies
            .iter()
            .flat_map(|&strategy| {
                tokens
                    .iter()
                    .map(move |&tokens| BudgetChoice { tokens, strategy })
            })
            .collect();
        Ok(ContextBudget {
            var: self.var.clone(),
            choices,
            query: self.query.clone(),
        })
    }
}
