//! The load loop: one thread, many keep-alive connections, edge-triggered
//! epoll (mio).
//!
//! - **Closed loop**: every connection keeps `depth` requests in flight
//!   (1 = one at a time, more = pipelining) and sends the next as soon as
//!   an answer comes back: the most the server (or the client) can do.
//! - **Open loop**: requests are due at a fixed rate, one every
//!   `1/rate` s, whatever the server does. A due request goes out on a
//!   connection with room; when none has room it waits in a backlog. Its
//!   latency counts from the time it was *due*, so time spent queued
//!   behind a slow answer is measured, not hidden (coordinated omission).
//!   A timerfd wakes the loop at the next due time (epoll's own timeout
//!   is in whole milliseconds).
//!
//! Latency is recorded for requests started (or due) inside the measured
//! window; throughput counts answers that arrived inside it.

use crate::http;
use crate::report::{Recorder, RunResult};
use crate::sys;
use crate::workload::{Kind, Workload};
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

const TIMER: Token = Token(usize::MAX);
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// How the load is offered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Closed,
    Open { rps: f64 },
}

/// One run's settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub addr: SocketAddr,
    pub connections: usize,
    pub depth: usize,
    pub mode: Mode,
    pub warmup_s: f64,
    pub measure_s: f64,
    /// Processes whose CPU time is the server's.
    pub server_pids: Vec<u32>,
    /// Open loop: most due requests waiting for a connection.
    pub backlog_max: usize,
}

struct InFlight {
    kind: Kind,
    start_ns: u64,
}

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    inflight: VecDeque<InFlight>,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Conn> {
        let std_stream = std::net::TcpStream::connect(addr)?;
        std_stream.set_nodelay(true)?;
        std_stream.set_nonblocking(true)?;
        Ok(Conn {
            stream: TcpStream::from_std(std_stream),
            out: Vec::with_capacity(16 * 1024),
            written: 0,
            input: Vec::with_capacity(READ_CHUNK_BYTES),
            inflight: VecDeque::new(),
        })
    }

    /// Writes what is pending until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(())
    }

    /// Reads everything available; false when the peer closed.
    fn fill(&mut self) -> io::Result<bool> {
        loop {
            let len = self.input.len();
            self.input.resize(len + READ_CHUNK_BYTES, 0);
            match self.stream.read(&mut self.input[len..]) {
                Ok(0) => {
                    self.input.truncate(len);
                    return Ok(false);
                }
                Ok(n) => self.input.truncate(len + n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.input.truncate(len);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.input.truncate(len),
                Err(e) => {
                    self.input.truncate(len);
                    return Err(e);
                }
            }
        }
    }
}

/// The window and what was counted in it.
struct Window {
    measure_start_ns: u64,
    measure_end_ns: u64,
    completed: u64,
    transport_errors: u64,
    recorder: Recorder,
}

impl Window {
    fn answered(&mut self, started: &InFlight, status: u16, now_ns: u64) {
        if now_ns >= self.measure_start_ns && now_ns < self.measure_end_ns {
            self.completed += 1;
        }
        if started.start_ns >= self.measure_start_ns && started.start_ns < self.measure_end_ns {
            let latency_ns = now_ns.saturating_sub(started.start_ns);
            self.recorder.record(started.kind, status, latency_ns);
            self.recorder
                .record_slice(started.start_ns - self.measure_start_ns, latency_ns);
        }
    }
}

/// Runs the load once and says what it measured.
pub fn run(config: &RunConfig, workload: &mut Workload) -> io::Result<RunResult> {
    assert!(config.connections > 0 && config.depth > 0);
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(config.connections);
    for i in 0..config.connections {
        let mut conn = Conn::open(config.addr)?;
        poll.registry().register(
            &mut conn.stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(conn);
    }
    let mut timer = sys::Timer::new()?;
    poll.registry()
        .register(&mut SourceFd(&timer.raw_fd()), TIMER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let start_ns = sys::now_ns();
    let mut window = Window {
        measure_start_ns: start_ns + (config.warmup_s * 1e9) as u64,
        measure_end_ns: start_ns + ((config.warmup_s + config.measure_s) * 1e9) as u64,
        completed: 0,
        transport_errors: 0,
        recorder: Recorder::default(),
    };
    let drain_end_ns = window.measure_end_ns + 2_000_000_000;
    let interval_ns = match config.mode {
        Mode::Open { rps } => {
            assert!(rps > 0.0, "an open loop needs a rate");
            (1e9 / rps).max(1.0)
        }
        Mode::Closed => 0.0,
    };
    // Open loop: the n-th request is due at start + n × interval.
    let mut sent_due = 0u64;
    let mut backlog: VecDeque<u64> = VecDeque::new();
    let (mut backlog_max, mut dropped) = (0u64, 0u64);
    let mut next_conn = 0usize;
    let mut cpu_at_start: Option<(u64, Option<u64>)> = None;
    let mut cpu_at_end: Option<(u64, Option<u64>)> = None;
    let mut dirty: Vec<usize> = Vec::new();
    if config.mode == Mode::Closed {
        for (i, conn) in conns.iter_mut().enumerate() {
            refill(conn, i, config.depth, workload, sys::now_ns());
            dirty.push(i);
        }
    }
    loop {
        let now = sys::now_ns();
        if cpu_at_start.is_none() && now >= window.measure_start_ns {
            cpu_at_start = Some((sys::self_cpu_ns(), server_cpu_ns(&config.server_pids)));
        }
        if cpu_at_end.is_none() && now >= window.measure_end_ns {
            cpu_at_end = Some((sys::self_cpu_ns(), server_cpu_ns(&config.server_pids)));
        }
        let issuing = now < window.measure_end_ns;
        let idle = conns.iter().all(|c| c.inflight.is_empty());
        if (!issuing && idle) || now >= drain_end_ns {
            break;
        }
        if let (Mode::Open { .. }, true) = (config.mode, issuing) {
            loop {
                let due = start_ns + (sent_due as f64 * interval_ns) as u64;
                if due > now {
                    timer.arm_at(due);
                    break;
                }
                sent_due += 1;
                match free_conn(&conns, &mut next_conn, config.depth) {
                    Some(i) => {
                        send(&mut conns[i], i, workload, due);
                        dirty.push(i);
                    }
                    None if backlog.len() < config.backlog_max => {
                        backlog.push_back(due);
                        backlog_max = backlog_max.max(backlog.len() as u64);
                    }
                    None => dropped += 1,
                }
            }
        }
        for i in std::mem::take(&mut dirty) {
            if conns[i].flush().is_err() {
                reconnect(&mut conns, i, config.addr, &poll, &mut window, now)?;
                if config.mode == Mode::Closed && issuing {
                    refill(&mut conns[i], i, config.depth, workload, now);
                    dirty.push(i);
                }
            }
        }
        let timeout_ns = if issuing {
            window.measure_end_ns.saturating_sub(now).min(10_000_000)
        } else {
            10_000_000
        };
        match poll.poll(
            &mut events,
            Some(std::time::Duration::from_nanos(timeout_ns.max(1))),
        ) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == TIMER {
                timer.drain();
                continue;
            }
            let i = event.token().0;
            if event.is_writable() && conns[i].written < conns[i].out.len() {
                dirty.push(i);
            }
            if !event.is_readable() {
                continue;
            }
            let now = sys::now_ns();
            // An unreadable connection (reset, a response we cannot parse)
            // is replaced like a closed one.
            let open = on_readable(&mut conns[i], &mut window, now).unwrap_or(false);
            if !open {
                reconnect(&mut conns, i, config.addr, &poll, &mut window, now)?;
            }
            if !issuing {
                continue;
            }
            match config.mode {
                Mode::Closed => refill(&mut conns[i], i, config.depth, workload, now),
                Mode::Open { .. } => {
                    while conns[i].inflight.len() < config.depth {
                        let Some(due) = backlog.pop_front() else {
                            break;
                        };
                        send(&mut conns[i], i, workload, due);
                    }
                }
            }
            dirty.push(i);
        }
    }
    let (client_start, server_start) = cpu_at_start.unwrap_or((0, None));
    let (client_end, server_end) = cpu_at_end.unwrap_or((sys::self_cpu_ns(), None));
    let seconds = config.measure_s;
    let mut result = RunResult {
        mode: match config.mode {
            Mode::Closed => "closed".into(),
            Mode::Open { .. } => "open".into(),
        },
        connections: config.connections,
        depth: config.depth,
        target_rps: match config.mode {
            Mode::Open { rps } => Some(rps),
            Mode::Closed => None,
        },
        seconds,
        completed: window.completed,
        rps: window.completed as f64 / seconds,
        non_2xx: 0,
        transport_errors: window.transport_errors,
        backlog_max,
        dropped,
        client_cpu_cores: client_end.saturating_sub(client_start) as f64 / 1e9 / seconds,
        server_cpu_cores: match (server_start, server_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9 / seconds),
            _ => None,
        },
        latency: Default::default(),
        kinds: vec![],
        slowest_slices: vec![],
    };
    result.summarize(&window.recorder);
    Ok(result)
}

fn server_cpu_ns(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| sys::process_cpu_ns(*pid)).sum()
}

fn send(conn: &mut Conn, i: usize, workload: &mut Workload, start_ns: u64) {
    let kind = workload.next(i, &mut conn.out);
    conn.inflight.push_back(InFlight { kind, start_ns });
}

fn refill(conn: &mut Conn, i: usize, depth: usize, workload: &mut Workload, now_ns: u64) {
    while conn.inflight.len() < depth {
        send(conn, i, workload, now_ns);
    }
}

/// A connection for the next open-loop request: an idle one if any (round
/// robin), else one with fewer than `depth` in flight (pipelining only
/// when every connection is busy).
fn free_conn(conns: &[Conn], next: &mut usize, depth: usize) -> Option<usize> {
    for limit in [1, depth] {
        for _ in 0..conns.len() {
            let i = *next;
            *next = (*next + 1) % conns.len();
            if conns[i].inflight.len() < limit {
                return Some(i);
            }
        }
    }
    None
}

/// Reads and accounts every whole response; false when the connection is
/// over (closed by the peer, or unreadable).
fn on_readable(conn: &mut Conn, window: &mut Window, now_ns: u64) -> io::Result<bool> {
    let open = conn.fill()?;
    let mut consumed = 0;
    let mut keep = open;
    while consumed < conn.input.len() {
        let head = match http::parse_response(&conn.input[consumed..]) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => return Err(io::Error::other(e)),
        };
        consumed += head.total_bytes;
        let Some(started) = conn.inflight.pop_front() else {
            return Err(io::Error::other("a response nobody asked for"));
        };
        window.answered(&started, head.status, now_ns);
        if head.close {
            keep = false;
            break;
        }
    }
    conn.input.drain(..consumed);
    Ok(keep)
}

/// Replaces a broken connection; its unanswered requests are errors.
fn reconnect(
    conns: &mut [Conn],
    i: usize,
    addr: SocketAddr,
    poll: &Poll,
    window: &mut Window,
    now_ns: u64,
) -> io::Result<()> {
    if now_ns < window.measure_end_ns {
        window.transport_errors += 1 + conns[i].inflight.len() as u64;
    }
    let _ = poll.registry().deregister(&mut conns[i].stream);
    let mut conn = Conn::open(addr)?;
    poll.registry().register(
        &mut conn.stream,
        Token(i),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    conns[i] = conn;
    Ok(())
}
