use clap::Parser;

// The translator and validator build many small trees; mimalloc makes them about 1.5x faster
// than glibc's malloc (`cargo bench --bench translate`, which uses the same allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = spfhir::cli::Cli::parse();
    std::process::exit(spfhir::cli::run(cli));
}
