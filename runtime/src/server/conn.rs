//! One HTTP connection: read, parse (core), answer in order, write.

use super::node::Node;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use sipbrain_core::api::ApiError;
use sipbrain_core::http::{Parser, Request};
use sipbrain_core::limits::PIPELINE_DEPTH_MAX;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;

const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serves a connection until the client closes it, asks to close, or sends
/// something the parser refuses (answered, then closed).
pub async fn serve(node: Rc<Node>, mut stream: TcpStream) {
    let peer = match stream.peer_addr() {
        Ok(addr) => addr.ip(),
        Err(_) => return,
    };
    if let Err(error) = configure(&stream) {
        tracing::debug!(%error, "socket options not set");
    }
    if node.connections.get() >= node.settings.connections_max {
        let refusal = ApiError::new(503, "overloaded", "too many connections").to_response();
        let mut out = Vec::new();
        refusal.encode(false, &mut out);
        let _ = stream.write_all(&out).await;
        return;
    }
    node.connections.set(node.connections.get() + 1);
    let _ = serve_open(&node, &mut stream, peer).await;
    node.connections.set(node.connections.get() - 1);
}

/// Socket options for an accepted connection. `TCP_NODELAY`: answers are
/// written whole, and with Nagle's algorithm on, an answer that follows
/// another not yet acknowledged waits for the client's delayed ACK, which
/// often comes only with the client's next request on that connection.
fn configure(stream: &TcpStream) -> glommio::Result<(), ()> {
    stream.set_nodelay(true)
}

async fn serve_open(node: &Node, stream: &mut TcpStream, peer: IpAddr) -> std::io::Result<()> {
    let mut parser = Parser::new(node.settings.limits).with_streamed_uploads();
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let mut out = Vec::with_capacity(4096);
    // Ordinary requests already read, answered together (one group commit).
    let mut batch: Vec<Request> = Vec::new();
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        parser.feed(&buffer[..read]);
        let mut open = true;
        loop {
            if batch.len() == PIPELINE_DEPTH_MAX {
                // Bound what a pipelining client makes us hold: write out.
                if !answer_batch(node, &mut batch, peer, &mut out).await {
                    open = false;
                    break;
                }
                stream.write_all(&out).await?;
                out.clear();
            }
            match parser.poll_request() {
                Ok(Some(request)) if super::debug::is_upgrade(&request) => {
                    // The connection becomes the debug stream, after the
                    // answers to what was pipelined before it.
                    if answer_batch(node, &mut batch, peer, &mut out).await {
                        stream.write_all(&out).await?;
                        return super::debug::serve(node, stream, &request, peer).await;
                    }
                    open = false;
                    break;
                }
                Ok(Some(request)) if super::media::intercepts(&parser, &request) => {
                    // Media streams: earlier replies go out first.
                    if !answer_batch(node, &mut batch, peer, &mut out).await {
                        open = false;
                        break;
                    }
                    stream.write_all(&out).await?;
                    out.clear();
                    if !super::media::serve(node, stream, &mut parser, request, peer).await? {
                        open = false;
                        break;
                    }
                }
                Ok(Some(request)) => {
                    let last = !request.keep_alive;
                    batch.push(request);
                    if last {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    if answer_batch(node, &mut batch, peer, &mut out).await {
                        let response =
                            ApiError::new(error.status, error.code, error.message).to_response();
                        response.encode(false, &mut out);
                    }
                    open = false;
                    break;
                }
            }
        }
        if !answer_batch(node, &mut batch, peer, &mut out).await {
            open = false;
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if !open {
            stream.close().await?;
            return Ok(());
        }
    }
}

/// Answers the requests in `batch` (empties it) and encodes the answers
/// into `out`, in order. False when the connection closes after them (the
/// client asked, or the server is stopping): later answers are dropped.
async fn answer_batch(
    node: &Node,
    batch: &mut Vec<Request>,
    peer: IpAddr,
    out: &mut Vec<u8>,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    node.in_flight.set(node.in_flight.get() + batch.len());
    let responses = node.handle_pipelined(batch, peer).await;
    node.in_flight.set(node.in_flight.get() - batch.len());
    let mut open = true;
    for (request, response) in batch.iter().zip(responses) {
        let keep_alive = request.keep_alive && !node.shared.stopping.load(Ordering::Acquire);
        response.encode(keep_alive, out);
        if !keep_alive {
            open = false;
            break;
        }
    }
    batch.clear();
    open
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::net::TcpListener;
    use glommio::{LocalExecutorBuilder, Placement};

    #[test]
    fn an_accepted_connection_sends_without_nagle_delay() {
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(|| async {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let _client = TcpStream::connect(addr).await.expect("connect");
                let accepted = listener.accept().await.expect("accept");
                assert!(!accepted.nodelay().expect("read option"));
                configure(&accepted).expect("configure");
                accepted.nodelay().expect("read option")
            })
            .expect("executor");
        assert!(handle.join().expect("join"));
    }
}
