//! Context budgets in the runner, with the scripted engine counting whole words.

use super::*;

/// Counts whole words, plus one for the BOS token every prompt starts with.
impl crate::execute::engine::LocalTokenCounter for Scripted {
    fn count_prompt_tokens(
        &mut self,
        _: &LoadRequest,
        prompt: &RenderedPrompt,
        _: &crate::spec::experiment::ChatTemplateChoice,
    ) -> Result<(u32, Vec<String>), RunError> {
        Ok((
            1 + prompt.plain_text().split_whitespace().count() as u32,
            Vec::new(),
        ))
    }
}

#[test]
fn each_budget_renders_the_case_variable_cut_to_its_tokens_by_the_models_count() {
    let experiment = parse(
        "schema: 1
variants: [{id: a, prompt: 'A {{ doc }}|'}]
cases: [{vars: {doc: 'w1 w2 w3 w4 w5'}}]
targets: [{id: t, model: good.gguf}]
budget: {var: doc, tokens: [2, 4, 10], strategy: [head, tail]}
",
    );
    let ids: Vec<&str> = experiment.variants.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "a doc≤2",
            "a doc≤4",
            "a doc≤10",
            "a doc≤2 tail",
            "a doc≤4 tail",
            "a doc≤10 tail"
        ]
    );
    let mut engine = Scripted::default();
    let mut sink = Collect::default();
    execute(&experiment, &mut engine, &mut Unreachable, &mut sink).unwrap();
    let mut outputs: Vec<(usize, String)> = sink.runs.iter().map(|r| (r.config, r.output.clone())).collect();
    outputs.sort();
    let outputs: Vec<&str> = outputs.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(
        outputs,
        [
            "A w1 w2 |",
            "A w1 w2 w3 w4 |",
            "A w1 w2 w3 w4 w5|",
            "A  w4 w5|",
            "A  w2 w3 w4 w5|",
            "A w1 w2 w3 w4 w5|"
        ]
    );
    // The model was loaded before it counted: its load is on record as a load.
    assert_eq!(sink.loads.len(), 1);
}
