//! The stack most Rust teams would reach for: axum on hyper on a tokio
//! current-thread runtime, pinned to one core, answering every request
//! with the same bytes as the nginx peer (`benches/peers/reply.json`).
//!
//! `axum_peer --listen 127.0.0.1:8082 --cpu 0 --body benches/peers/reply.json`

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: String,
    /// Pin the server's one thread to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// The reply body (JSON, one line).
    #[arg(long)]
    body: PathBuf,
}

fn main() {
    let args = Args::parse();
    if let Some(cpu) = args.cpu {
        sipbrain_benches::sys::pin_to_cpu(cpu).expect("pin to the CPU asked for");
    }
    let text = std::fs::read_to_string(&args.body).expect("readable reply body");
    let body = Bytes::from(text.trim_end().to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let reply = move |_body: Bytes| {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
        };
        let app = Router::new().fallback(reply);
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .expect("listen address free");
        println!("axum peer on http://{}", args.listen);
        axum::serve(listener, app).await.expect("serve");
    });
}
