//! The poller's inventory: the YAML file's targets plus the database's, kept in step with the
//! database by LISTEN/NOTIFY and a periodic full resync.

pub mod cache;
pub mod merge;
pub mod shard;
pub mod sync;

pub use merge::{effective, ChangeLog, Effective};
pub use shard::{Shard, ShardError, ShardSettings};
pub use sync::{spawn_sync, SyncSettings, SyncedInventory};
