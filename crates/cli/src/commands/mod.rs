pub mod bench;
pub mod doctor;
pub mod history;
pub mod keys;
pub mod load;
pub mod models;
pub mod plan;
pub mod prices;
pub mod quantize;
pub mod report;
pub mod route;
pub mod route_live;
pub mod run;
pub mod serve;
pub mod traffic;
pub mod winner;
pub mod worker;

use std::path::PathBuf;

use tradeoff_store::Store;

use crate::exit::Exit;

pub fn open_store(db: Option<PathBuf>) -> Result<Store, Exit> {
    let path = db.unwrap_or_else(tradeoff_core::paths::default_database);
    Ok(Store::open(&path)?)
}
