//! Petitions of a case, their counts and their signature exports.
