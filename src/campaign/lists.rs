//! Supporter lists: creating them, adding members, importing files.
