//! What keeps one client, or many idle ones, from taking the collector down: a cap on
//! open connections, header and body read timeouts, and a per-client request rate.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower::Service;

/// Limits of the HTTP server itself (not of what a request may contain).
#[derive(clap::Args, Clone, Debug)]
pub struct ServerLimits {
    /// Most open connections at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (also closes idle keep-alive
    /// connections after that long).
    #[arg(long, default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = 30)]
    pub body_timeout_secs: u64,
}

/// Runs a router on `host:port` until Ctrl-C, printing the URL first (through `banner`).
pub fn serve_forever(
    app: Router,
    host: &str,
    port: u16,
    limits: &ServerLimits,
    banner: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let limits = limits.clone();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        banner(addr);
        use std::io::Write;
        std::io::stdout().flush().ok();
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(limits.header_timeout_secs.max(1)))
            .keep_alive(true)
            // Bounds what one connection may buffer (headers included).
            .max_buf_size(64 * 1024);
        let mut refused_logged = Instant::now() - Duration::from_secs(60);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, never spin or exit.
                        eprintln!("exemplar: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                if refused_logged.elapsed() > Duration::from_secs(10) {
                    eprintln!(
                        "exemplar: {} connections are open (--max-connections): refusing new ones with 503",
                        limits.max_connections
                    );
                    refused_logged = Instant::now();
                }
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut stream = stream;
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                    )
                    .await;
                });
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let http = http.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut req| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().call(req)
                });
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                drop(permit);
            });
        }
    })
}

/// Requests per second and burst allowed to one client address.
#[derive(clap::Args, Clone, Debug)]
pub struct RateOptions {
    /// Requests per second one client address may send to /records and /admin/ (0: no
    /// limit). Behind a proxy every client has the proxy's address: raise it there.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Requests one client address may send at once before --rate applies.
    #[arg(long, default_value_t = 200.0)]
    pub burst: f64,
}

/// A token bucket per client address.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// How many addresses are tracked before the full buckets are forgotten.
const TRACKED: usize = 10_000;

impl RateLimiter {
    pub fn new(opts: &RateOptions) -> RateLimiter {
        RateLimiter {
            rate: opts.rate,
            burst: opts.burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` takes one request from `ip`'s bucket; `Err(seconds)` says when to come back.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= TRACKED && !buckets.contains_key(&ip) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            if buckets.len() >= TRACKED {
                // Every tracked address is busy: refuse newcomers rather than grow.
                return Err(1);
            }
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Compares a presented secret with the configured one in time independent of where they
/// differ (and of their lengths: both are hashed first).
pub fn secret_matches(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let limiter = RateLimiter::new(&RateOptions {
            rate: 1.0,
            burst: 3.0,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        assert_eq!(limiter.check(a), Err(1));
        assert_eq!(limiter.check(b), Ok(()));
        let off = RateLimiter::new(&RateOptions {
            rate: 0.0,
            burst: 1.0,
        });
        for _ in 0..1000 {
            assert_eq!(off.check(a), Ok(()));
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(secret_matches("abc", "abc"));
        assert!(!secret_matches("abc", "abd"));
        assert!(!secret_matches("ab", "abc"));
        assert!(!secret_matches("", "abc"));
    }
}
