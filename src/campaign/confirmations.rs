//! Confirming a pending signature (double opt-in) and unsubscribing.
