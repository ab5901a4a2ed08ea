//! (in progress)
/// placeholder
#[derive(Clone, Debug)]
pub struct RequestValidator;
