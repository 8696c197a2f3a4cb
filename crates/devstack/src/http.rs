//! The accept loop every stand-in shares: HTTP/1 and HTTP/2 on 127.0.0.1, one clone of the
//! service per connection, until the returned task is aborted.

use std::error::Error as StdError;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves `service` on `listener`; `name` labels connection errors in debug logs.
pub fn serve<S, B>(listener: TcpListener, service: S, name: &'static str) -> JoinHandle<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let conn = ConnBuilder::new(TokioExecutor::new());
                if let Err(err) = conn.serve_connection(TokioIo::new(socket), service).await {
                    tracing::debug!(error = %err, "{name} connection ended");
                }
            });
        }
    })
}
