//! API tokens: creating and finding them by their secret.
