//! Access: who the caller is, what the policy lets them do and reach, and how personal data is
//! masked for the roles that may not see it in full.

pub(super) mod free_text;
pub(super) mod identifier_masks;
pub(super) mod masking;
pub(super) mod policy;

pub use policy::{
    Actor, Confidentiality, Grant, Permission, PersonalData, Policy, Reach, RolePolicy, Scope,
    SystemPolicy,
};
