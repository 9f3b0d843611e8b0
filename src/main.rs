use clap::Parser;

fn main() {
    let cli = spfhir::cli::Cli::parse();
    std::process::exit(spfhir::cli::run(cli));
}
