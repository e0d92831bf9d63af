//! A git smart-HTTP server on 127.0.0.1 for the credential-helper tests: `git http-backend`
//! run as CGI behind HTTP Basic authentication that accepts exactly one username and
//! password, as Bitbucket does for an API token.
//!
//! `twg-git-server ROOT USERNAME`, the password in `TWG_GIT_SERVER_PASSWORD`. Prints
//! `TWG_GIT_SERVER_URL=http://127.0.0.1:PORT` first, then `METHOD PATH STATUS` per request.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

struct Settings {
    root: PathBuf,
    username: String,
    password: String,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(username)) = (args.next(), args.next()) else {
        eprintln!("usage: twg-git-server ROOT USERNAME (password in TWG_GIT_SERVER_PASSWORD)");
        std::process::exit(2);
    };
    let password = std::env::var("TWG_GIT_SERVER_PASSWORD").expect("TWG_GIT_SERVER_PASSWORD");
    let settings = Arc::new(Settings {
        root: root.into(),
        username,
        password,
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!(
        "TWG_GIT_SERVER_URL=http://{}",
        listener.local_addr().expect("address")
    );
    for stream in listener.incoming().flatten() {
        let settings = settings.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, &settings) {
                eprintln!("twg-git-server: {e}");
            }
        });
    }
}

fn serve(stream: TcpStream, s: &Settings) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut out = stream;
    if !authorized(header("authorization").as_deref(), s) {
        println!("{method} {path} 401");
        return out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"twg-git-server\"\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let body = read_body(
        &mut reader,
        header("content-length"),
        header("transfer-encoding"),
    )?;
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &s.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", &s.username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (header_name, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(v) = header(header_name) {
            cgi.env(var, v);
        }
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let mut output = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut output)?;
    let _ = writer.join();
    child.wait()?;
    // CGI answer: headers (one may be `Status:`), a blank line, the body.
    let split = find(&output, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(&output, b"\n\n").map(|i| (i, 2)))
        .unwrap_or((output.len(), 0));
    let head = String::from_utf8_lossy(&output[..split.0]).to_string();
    let rest = &output[(split.0 + split.1).min(output.len())..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    println!("{method} {path} {}", status.split(' ').next().unwrap_or(""));
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            rest.len()
        )
        .as_bytes(),
    )?;
    out.write_all(rest)
}

fn authorized(header: Option<&str>, s: &Settings) -> bool {
    let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    String::from_utf8_lossy(&decoded) == format!("{}:{}", s.username, s.password)
}

fn read_body(
    reader: &mut impl BufRead,
    length: Option<String>,
    encoding: Option<String>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if encoding.is_some_and(|e| e.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    if let Some(n) = length.and_then(|l| l.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
