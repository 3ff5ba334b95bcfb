//! The dashboard: server-rendered pages. (Being built; see issue #6.)

use crate::auth::{Routes, Rule};

/// The dashboard's rows of the permission table.
pub static RULES: &[Rule] = &[];

pub(crate) fn routes(r: Routes) -> Routes {
    r
}
