//! The real binary in a pseudo-terminal: keys sent, the screen parsed with
//! vt100, every byte kept. The harness answers the terminal's
//! cursor-position query, as a real terminal would.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

pub struct Tui {
    /// Every byte the program wrote to the terminal.
    pub raw: Arc<Mutex<Vec<u8>>>,
    pub parser: Arc<Mutex<vt100::Parser>>,
    pub writer: Arc<Mutex<Box<dyn Write + Send>>>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    _dir: tempfile::TempDir,
}

impl Tui {
    /// Run `swarmdeck ARGS; stty -a` in a 100x30 pty.
    pub fn start(args: &str) -> Tui {
        Tui::start_with(args, &[])
    }

    /// As `start`, with these variables in the program's environment.
    pub fn start_with(args: &str, env: &[(&str, &str)]) -> Tui {
        let dir = tempfile::tempdir().unwrap();
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: 30,
                cols: 100,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new("bash");
        cmd.arg("-c");
        cmd.arg(format!(
            "{} {args}; code=$?; echo; echo EXITED $code; stty -a",
            env!("CARGO_BIN_EXE_swarmdeck")
        ));
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env("HOME", dir.path());
        cmd.env("XDG_STATE_HOME", dir.path().join("state"));
        cmd.env("XDG_CONFIG_HOME", dir.path().join("config"));
        cmd.env_remove("KUBECONFIG");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(30, 100, 0)));
        let writer: Arc<Mutex<Box<dyn Write + Send>>> =
            Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let raw = Arc::new(Mutex::new(Vec::new()));
        {
            let raw = raw.clone();
            let parser = parser.clone();
            let writer = writer.clone();
            std::thread::spawn(move || {
                let _keep = pair.master;
                let mut buf = [0u8; 8192];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let bytes = &buf[..n];
                            if bytes.windows(4).any(|w| w == b"\x1b[6n") {
                                let _ = writer.lock().unwrap().write_all(b"\x1b[1;1R");
                            }
                            parser.lock().unwrap().process(bytes);
                            raw.lock().unwrap().extend_from_slice(bytes);
                        }
                    }
                }
            });
        }
        Tui {
            raw,
            parser,
            writer,
            child,
            _dir: dir,
        }
    }

    /// Send signal `name` (TERM, HUP, ...) to the program (not the shell
    /// that runs it and reports its exit).
    pub fn signal(&self, name: &str) {
        let shell = self.child.process_id().expect("the shell's pid");
        let found = std::process::Command::new("pgrep")
            .args(["-P", &shell.to_string()])
            .output()
            .expect("pgrep runs");
        let pid = String::from_utf8_lossy(&found.stdout)
            .split_whitespace()
            .next()
            .expect("the program runs under the shell")
            .to_owned();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// The program's HOME (its state is in `state/`, its configuration in `config/`).
    pub fn home(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn send(&self, keys: &[u8]) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys).unwrap();
        w.flush().unwrap();
        drop(w);
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if want(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
