//! `rumor`: the agent and its client commands.

use clap::Parser;
use rumor::cli::{Cli, Command};
use rumor::{agent, commands, config, demo, logging, rpc};

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: cannot start the runtime: {e}");
            }
            std::process::exit(1);
        }
    };
    let result = rt.block_on(run(cli));
    if let Err(e) = result {
        // One line, with the whole chain of causes.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Agent(a) => {
            let cfg = config::AgentConfig::load(&a)?;
            let ring = logging::LogRing::new();
            logging::init(&cfg.log_level, &ring);
            agent::run(cfg, ring, rpc::server::serve).await
        }
        Command::Members(a) => commands::members::run(a).await,
        Command::Join(a) => commands::join::run(a).await,
        Command::Leave(a) => commands::leave::run(a).await,
        Command::ForceLeave(a) => commands::force_leave::run(a).await,
        Command::Event(a) => commands::event::run(a).await,
        Command::Info(a) => commands::info::run(a).await,
        Command::Monitor(a) => commands::monitor::run(a).await,
        Command::Query(a) => commands::query::run(a).await,
        Command::Reachability(a) => commands::reachability::run(a).await,
        Command::Rtt(a) => commands::rtt::run(a).await,
        Command::Keys(a) => commands::keys::run(a).await,
        Command::Keygen => commands::keys::keygen(),
        Command::Dcs(a) => commands::dcs::run(a).await,
        Command::Demo(a) => {
            let ring = logging::LogRing::new();
            logging::init("warn", &ring);
            demo::run(a).await
        }
    }
}
