//! Supporters: finding them, subject access, erasure.
