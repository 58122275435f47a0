use clap::Parser;
use swarmdeck::cli::Cli;

/// mimalloc rather than glibc's malloc: with glibc, memory freed by one
/// thread and allocated by another stays in per-thread arenas, and the
/// embedded cluster at 50,000 pods held 1,190 MiB where its data is a third
/// of that (README, "Benchmarks").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let code = swarmdeck::commands::run(cli);
    std::process::exit(code);
}
