//! Signing a petition from the public form.
