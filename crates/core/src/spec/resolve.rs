//! Resolution: the facts a run depends on that are not in the experiment file, added to the
//! validated experiment by one pure step. A hosted model without a price of its own gets the
//! price table's entry (with where it came from), and each local target the sha256 of its model
//! file (what identifies the model in the response cache and the winner file). Validation reads
//! no table; the callers gather the facts (the table from the data folder, hashes from the store's
//! cache of them) and the experiment recorded is the resolved one.

use crate::spec::experiment::{Experiment, Target, TargetKind};
use crate::spec::pricing::PriceTable;

/// What the experiment file does not say.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub prices: &'a PriceTable,
    /// One entry per target, in order; `None` where unknown (remote targets, plans that do not
    /// hash). Shorter than the targets: the rest are unknown.
    pub model_sha256: &'a [Option<String>],
}

/// The experiment with its facts; a price the file gives is never replaced.
pub fn resolve(mut experiment: Experiment, facts: &Facts<'_>) -> Experiment {
    for (index, target) in experiment.targets.iter_mut().enumerate() {
        price_from_table(target, facts.prices);
        if let TargetKind::Local(local) = &mut target.kind {
            local.model_sha256 = facts.model_sha256.get(index).cloned().flatten();
        }
    }
    for grader in &mut experiment.graders {
        price_from_table(grader, facts.prices);
    }
    experiment
}

fn price_from_table(target: &mut Target, prices: &PriceTable) {
    let Some(remote) = target.remote() else {
        return;
    };
    if target.price.is_some() {
        return;
    }
    if let Some(entry) = prices.lookup(remote.provider.as_str(), &remote.model) {
        target.price = Some(entry.price());
        target.price_source = Some(entry.describe());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::cost::Price;
    use crate::spec::load::{FileFormat, parse_str};

    fn experiment() -> Experiment {
        parse_str(
            "schema: 1
variants: [{id: v, prompt: 'Q: {{ q }}'}]
cases: [{vars: {q: x}}]
targets:
  - {id: local, model: m.gguf}
  - {id: priced, provider: openai, model: gpt-4o-mini, price: {input_per_mtok: 9, output_per_mtok: 9}}
  - {id: table, provider: openai, model: gpt-4o-mini}
",
            FileFormat::Yaml,
            "r.yaml",
            Path::new("/models"),
        )
        .unwrap()
    }

    #[test]
    fn a_hosted_model_without_a_price_takes_the_tables_and_a_price_the_file_gives_is_kept() {
        let prices = PriceTable::builtin(Path::new("/nowhere/prices.json")).unwrap();
        let hashes = [Some("ab".repeat(32))];
        let facts = Facts {
            prices: &prices,
            model_sha256: &hashes,
        };
        let resolved = resolve(experiment(), &facts);
        let [local, priced, table] = &resolved.targets[..] else {
            panic!("three targets");
        };
        assert_eq!(local.local().unwrap().model_sha256, hashes[0]);
        assert_eq!(local.price, None);
        assert_eq!(
            priced.price.as_ref().and_then(|p: &Price| p.input_per_mtok),
            Some(9.0)
        );
        assert_eq!(priced.price_source, None);
        assert!(
            table
                .price
                .as_ref()
                .is_some_and(|p| p.input_per_mtok.is_some_and(|v| v < 9.0))
        );
        assert!(
            table
                .price_source
                .as_deref()
                .is_some_and(|s| s.contains("gpt-4o-mini"))
        );
        assert!(table.local().is_none(), "a hosted model has no file to hash");
    }
}
