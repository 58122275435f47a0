use clap::Parser;
use swarmdeck::cli::Cli;

fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let code = swarmdeck::commands::run(cli, swarmdeck::ui::runtime::launch);
    std::process::exit(code);
}
