//! Schema migrations. Landed migrations are never edited; changes go into a new file.

use rusqlite_migration::{M, Migrations};

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_initial.sql")),
        M::up(include_str!("migrations/002_grid_indexes.sql")),
        M::up(include_str!("migrations/003_swept_settings.sql")).foreign_key_check(),
        M::up(include_str!("migrations/004_model_library.sql")),
        M::up(include_str!("migrations/005_checks.sql")),
        M::up(include_str!("migrations/006_remote_targets.sql")).foreign_key_check(),
        M::up(include_str!("migrations/007_response_cache.sql")),
        M::up(include_str!("migrations/008_judgements.sql")),
        M::up(include_str!("migrations/009_owners.sql")),
        M::up(include_str!("migrations/010_metrics_json.sql")),
        M::up(include_str!("migrations/011_written_and_facts.sql")).foreign_key_check(),
        M::up(include_str!("migrations/012_traffic.sql")),
        M::up(include_str!("migrations/013_traffic_minutes.sql")),
        M::up(include_str!("migrations/014_load_tests.sql")),
        M::up(include_str!("migrations/015_searches.sql")),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
