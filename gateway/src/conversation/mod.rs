//! The conversation core: one channel-neutral model of what people see and do in chat, so a
//! chat adapter only renders and transports (ARCHITECTURE.md, "Adding a channel").
//!
//! - [`form`]: the request form's fields, the checks of a submission with a typed field for
//!   each refusal, and who may open the extension form.
//! - [`view`]: what a message about a request shows and which buttons apply to whom.
//! - [`policy`]: who hears what, and when.
//! - [`driver`]: keeps every posted message current over a platform's [`ChatSurface`].
//! - [`documents`]: what a platform remembers between calls, in the state store.
//!
//! Decisions themselves go through one entry point, [`crate::workflow::AccessService::act`]
//! with a [`crate::workflow::Action`].

pub mod documents;
pub mod driver;
pub mod form;
pub mod policy;
pub mod view;

pub use documents::Documents;
pub use driver::{ChatSurface, Namespaces, NoticeDriver, Updated};
pub use form::{
    CheckedSubmission, Extension, FieldRefusals, FormField, FormKind, Submission, field_of,
    humanize, refusal_text,
};
pub use policy::{NoticePlan, plan, requester_follows_on};
pub use view::{Control, Progress, Reader, RequestView};
