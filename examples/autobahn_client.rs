//! Autobahn|Testsuite client driver: `autobahn_client URL [--blocking]`.
//!
//! Asks `URL/getCaseCount`, runs `URL/runCase?case=N&agent=rfc6455` for every case, echoing
//! each message, then `URL/updateReports?agent=rfc6455`. Tokio by default, the blocking adapter
//! with `--blocking`. `../shared/autobahn/client-suite.sh` appends the URL as the last argument.

use std::process::ExitCode;

use rfc6455::handshake::ClientRequest;
use rfc6455::{blocking, CloseCode, Config, Error, Message};

const AGENT: &str = "rfc6455";

fn usage() -> ExitCode {
    eprintln!("usage: autobahn_client URL [--blocking]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut blocking_mode = false;
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--blocking" => blocking_mode = true,
            "-h" | "--help" => return usage(),
            other => url = Some(other.trim_end_matches('/').to_owned()),
        }
    }
    let Some(url) = url else { return usage() };
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| AGENT.to_owned());
    let result = if blocking_mode {
        run_blocking(&url, &agent)
    } else {
        run_async(&url, &agent)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The suite's messages go up to 16 MiB; the default limits already allow them. With the
/// `deflate` feature, permessage-deflate is offered (cases 12.* and 13.*).
fn config() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate = Some(rfc6455::deflate::DeflateConfig::default());
    }
    config
}

fn request(url: &str) -> Result<ClientRequest, Error> {
    Ok(ClientRequest::new(url)?)
}

fn run_blocking(base: &str, agent: &str) -> Result<(), Error> {
    let (mut ws, _) = blocking::connect_with(&request(&format!("{base}/getCaseCount"))?, config())?;
    let count: u32 = match ws.recv()? {
        Some(Message::Text(t)) => t.trim().parse().unwrap_or(0),
        _ => 0,
    };
    while ws.recv()?.is_some() {}
    eprintln!("running {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        let (mut ws, _) = match blocking::connect_with(&request(&url)?, config()) {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("case {case}: connect: {e}");
                continue;
            }
        };
        loop {
            match ws.recv() {
                Ok(Some(msg)) => {
                    if ws.send(msg).is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("case {case}: {e}");
                    break;
                }
            }
        }
    }
    let url = format!("{base}/updateReports?agent={agent}");
    let (mut ws, _) = blocking::connect_with(&request(&url)?, config())?;
    ws.close(CloseCode::NORMAL, "")?;
    while ws.recv()?.is_some() {}
    Ok(())
}

#[cfg(feature = "tokio")]
fn run_async(base: &str, agent: &str) -> Result<(), Error> {
    use rfc6455::tokio::connect_with;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (mut ws, _) =
            connect_with(&request(&format!("{base}/getCaseCount"))?, config()).await?;
        let count: u32 = match ws.recv().await? {
            Some(Message::Text(t)) => t.trim().parse().unwrap_or(0),
            _ => 0,
        };
        while ws.recv().await?.is_some() {}
        eprintln!("running {count} cases");
        for case in 1..=count {
            let url = format!("{base}/runCase?case={case}&agent={agent}");
            let mut ws = match connect_with(&request(&url)?, config()).await {
                Ok((ws, _)) => ws,
                Err(e) => {
                    eprintln!("case {case}: connect: {e}");
                    continue;
                }
            };
            loop {
                match ws.recv().await {
                    Ok(Some(msg)) => {
                        if ws.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("case {case}: {e}");
                        break;
                    }
                }
            }
        }
        let url = format!("{base}/updateReports?agent={agent}");
        let (mut ws, _) = connect_with(&request(&url)?, config()).await?;
        ws.close(CloseCode::NORMAL, "").await?;
        while ws.recv().await?.is_some() {}
        Ok(())
    })
}

#[cfg(not(feature = "tokio"))]
fn run_async(base: &str, agent: &str) -> Result<(), Error> {
    eprintln!("autobahn_client: built without the `tokio` feature; using the blocking adapter");
    run_blocking(base, agent)
}
