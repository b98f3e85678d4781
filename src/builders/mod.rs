//! Desired state: the Service and Jobs the operator creates for a test, as pure functions of
//! the (defaulted) LocustTest and the operator [`Config`](crate::config::Config).

pub mod args;
