//! Rebuilds when a migration is added: `embed_migrations!` reads the
//! migration folders at compile time, but Cargo only sees the files it
//! read, not a new folder beside them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
