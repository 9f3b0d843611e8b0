//! The `spfhir` binary: the command line over the spfhir crates. All argument parsing,
//! environment and configuration resolution happen here; the libraries take plain values.

use clap::Parser;

mod cli;

// The translator and validator build many small trees; mimalloc makes them about 1.5x faster
// than glibc's malloc (`cargo bench --bench translate`, which uses the same allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = cli::Cli::parse();
    std::process::exit(cli::run(cli));
}
