//! Posters: the time from an upload to every size stored and the movie showing it, for a
//! typical 1 000 x 1 500 JPEG (one upload at a time, each a new image), and image serving
//! beside Debian's nginx serving the same file from disk, measured with the same load.

use crate::load::{self, MakeRequest};
use crate::report::Report;
use crate::server::Moviedb;
use anyhow::{bail, Context};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Uploads timed.
const UPLOADS: usize = 40;

/// A photograph-like 1 000 x 1 500 JPEG (gradients and grain, about the bytes of a real
/// poster scan at quality 90), different for each `seed`.
pub fn photo(seed: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(1000, 1500, |x, y| {
        let grain =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed.wrapping_mul(97)) % 17;
        let r = (x * 200 / 1000 + seed * 13 + grain) % 256;
        let g = (y * 180 / 1500 + grain) % 256;
        let b = ((x + y) * 120 / 2500 + seed * 7 + grain) % 256;
        Rgb([r as u8, g as u8, b as u8])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .expect("a JPEG");
    out
}

fn nginx_binary() -> Option<PathBuf> {
    std::env::var_os("MOVIEDB_NGINX")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/sbin/nginx", "/usr/bin/nginx"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        })
}

/// Debian's nginx serving `dir` on a free port, stopped when dropped.
struct Nginx {
    child: Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Serves `bytes` at `path` as an immutable image, as a static file server in front of a
    /// bucket would.
    fn serving(path: &str, bytes: &[u8]) -> anyhow::Result<Self> {
        let binary = nginx_binary().context("no nginx: run scripts/ensure-nginx")?;
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("www").join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("a folder")?)?;
        std::fs::write(&file, bytes)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; worker_processes auto; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  types {{ image/jpeg jpg; }}
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    location /images/ {{ add_header Cache-Control \"public, max-age=31536000, immutable\"; }}
  }}
}}
"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(Self {
                    child,
                    addr,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "nginx did not start: see {}/error.log",
            dir.path().display()
        )
    }
}

/// The upload figure and the serving figure, into `report`.
pub async fn measure(
    moviedb: &Moviedb,
    token: &str,
    ids: &[String],
    conns: usize,
    secs: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("uploading {UPLOADS} posters of 1 000 x 1 500");
    let mut took = Vec::with_capacity(UPLOADS);
    let mut path = String::new();
    let mut bytes_sent = 0;
    for (n, id) in ids.iter().take(UPLOADS).enumerate() {
        let body = photo(n as u32);
        bytes_sent += body.len();
        let started = Instant::now();
        let answer = moviedb.put_poster(token, id, body).await?;
        took.push(started.elapsed().as_micros() as u64);
        path = answer["poster_path"]
            .as_str()
            .context("an upload answered without poster_path")?
            .to_owned();
    }
    report.poster_uploads(&mut took, bytes_sent / UPLOADS.max(1));

    let url = format!("/images/w342{path}");
    let bytes = moviedb
        .client
        .get(moviedb.url(&url))
        .send()
        .await?
        .bytes()
        .await?;
    let get =
        |host: String, url: String| -> MakeRequest { Arc::new(move |_| crate::get(&host, &url)) };
    let mut ours = load::run(moviedb.addr, conns, secs, get(moviedb.host(), url.clone())).await;
    match Nginx::serving(&url, &bytes) {
        Ok(nginx) => {
            let host = nginx.addr.to_string();
            let mut limit = load::run(nginx.addr, conns, secs, get(host, url)).await;
            report.images(bytes.len(), &mut ours, Some(&mut limit));
        }
        Err(e) => {
            eprintln!("no nginx to compare with: {e}");
            report.images(bytes.len(), &mut ours, None);
        }
    }
    Ok(())
}
