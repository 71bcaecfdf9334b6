//! Cases: the people and situations campaigns are about.
