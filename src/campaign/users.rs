//! Console users: creating them, signing in, roles and passwords.
