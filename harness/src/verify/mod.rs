//! `lab verify`: run trials of a buggy and a fixed variant and decide whether a fix is
//! verified. `report` is the serde model every renderer and `lab report merge` read.

pub mod decide;
pub mod report;
pub mod stats;
