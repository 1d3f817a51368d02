//! The boundaries of the core, as `Send + Sync` async traits held as `Arc<dyn …>`. Real
//! implementations live in the backend crates (`liftgate-aws`) or in `crate::store` /
//! `crate::audit`; in-memory fakes live in `crate::testing`.

mod activity;
mod audit;
mod clock;
mod identity;
mod inbox;
mod inventory;
mod notifier;
mod permission_sets;
mod scheduler;
mod store;

pub use activity::{ActivityError, ActivityLog, ActivityQuery};
pub use audit::{AuditError, AuditSink};
pub use clock::{Clock, SystemClock};
pub use identity::{
    AccountInfo, DirectoryUser, GroupInfo, IdentityCenter, IdentityError, NamedUser,
    ProvisionReceipt,
};
pub use inbox::{InboxError, InboxHandler};
pub use inventory::{AccessInventory, AssignedPrincipal, GroupMember, Page, UserDetails};
pub use notifier::{
    DriftAction, DriftMode, DriftNotice, DriftTarget, Notice, NoticeKind, Notifier, NotifyError,
};
pub use permission_sets::{PermissionSetPolicies, Provisioned};
pub use scheduler::{RevocationScheduler, SchedulerError};
pub use store::{
    AUDIT_TOPIC_PREFIX, AccessPut, AccessQuery, AuditAppend, CHECKPOINT_TOPIC_PREFIX,
    CheckpointAppend, Expect, Fence, GrantQuery, LeaseSighting, LeaseState, OutboxMessage, Put,
    RequestQuery, StateStore, StoreError, WriteBatch,
};
