//! A `riff up` started by a benchmark binary: spawned, its addresses read from what it prints,
//! killed when dropped. Shared by `riff-reload-timing` and `riff-search-latency`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

pub struct Running {
    child: Child,
    /// `http://127.0.0.1:PORT` of the app.
    pub base: String,
    /// The admin API's address, when it serves one.
    #[allow(dead_code)] // not every benchmark uses it
    pub admin: String,
}

impl Running {
    /// Start `command` (a `riff up ...` with a piped stdout) and wait until it serves.
    pub fn start(mut command: Command) -> Result<Self> {
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().context("starting riff")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut admin = String::new();
        while let Some(line) = lines.next() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("Admin API ") {
                admin = rest.split_whitespace().next().unwrap_or_default().to_string();
            }
            if let Some(base) = line.strip_prefix("Serving ") {
                // Keep reading what riff prints, so it never writes into a closed pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(Running { child, base: base.trim().to_string(), admin });
            }
        }
        bail!("riff exited before serving")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
