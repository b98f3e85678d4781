//! Where the `pods/log` subresource reads container logs from: the program that runs the pods
//! provides it ([`crate::ApiServer::set_logs`]).

/// Where container logs come from (the node that runs the pods).
pub trait Logs: Send + Sync {
    /// Everything container `container` of pod `namespace/pod` has written so far; `None` when
    /// there is no log (the container has not started).
    fn read(&self, namespace: &str, pod: &str, container: &str) -> Option<Vec<u8>>;
}
