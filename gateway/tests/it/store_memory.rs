//! The in-memory store the simulation runs on keeps the same contract as the real backends,
//! so what the simulation proves holds for them.

use std::sync::Arc;

use liftgate_gateway::ports::StateStore;
use liftgate_gateway::store_contract_tests;
use liftgate_gateway::testing::MemoryStore;

async fn fresh_store() -> Arc<dyn StateStore> {
    Arc::new(MemoryStore::new())
}

store_contract_tests!(fresh_store());
