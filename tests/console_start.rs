//! Where the console starts and what it says first, as a wall screen or a
//! jump host wants it: the help whole at 80x24, a start view (`--view`,
//! `start_view`), and a context the settings make read-only.

mod common;
use common::Served;
use common::pty::Tui;

use swarmdeck::ui::app::{Event, update};
use swarmdeck::ui::runtime::render_to_buffer;

/// Every description of the help is shown whole at 80x24: wrapped, and
/// scrolled to with j.
#[tokio::test]
async fn the_help_shows_every_description_whole_at_80x24() {
    let (cluster, _client, stores) = common::still_demo(3_000).await;
    let mut m = common::console_model(&cluster);
    m.stores = stores;
    update(
        &mut m,
        Event::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('?'),
        )),
    );
    let mut seen = String::new();
    for _ in 0..20 {
        let text = common::screen_text(&render_to_buffer(&mut m, 80, 24));
        // Joined without the borders and the key column, as a reader reads it.
        for line in text.lines() {
            let inner = line.trim_matches(|c| c == '│' || c == ' ');
            seen.push_str(inner);
            seen.push(' ');
        }
        common::press(&mut m, "j");
        if !m.help {
            break;
        }
    }
    let seen = seen.split_whitespace().collect::<Vec<_>>().join(" ");
    for desc in [
        "open: YAML; a swarm's grid, a Task's state machine, the pods of a Deployment or Service",
        "logs: the pod's, the swarm's workers merged, the Task's pod",
        "all namespaces / current one",
        "restart: delete the pod / roll the StatefulSet (asks first)",
    ] {
        assert!(
            seen.contains(desc),
            "`{desc}` is not whole in the help:\n{seen}"
        );
    }
}

#[test]
fn the_console_starts_on_the_view_asked_for() {
    let served = Served::start("swarm");
    let t = Tui::start(&format!(
        "--kubeconfig {} --view grid/swarm-worker",
        served.kubeconfig.display()
    ));
    t.wait_for("the grid at once", |s| {
        s.contains("grid swarm-worker (swarm)")
    });
    t.send(b"\x1b");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}

/// `[contexts.NAME] read_only = true`: that context is read-only for the
/// command line and the console alike; another context is not.
#[test]
fn a_context_the_settings_make_read_only() {
    let served = Served::start("swarm");
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("swarmdeck");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("settings.toml"),
        "[contexts.viewer]\nread_only = true\n\n[contexts.swarmdeck-embedded]\nstart_view = \"events\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_swarmdeck"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&served.kubeconfig)
            .env_remove("KUBECONFIG")
            .env("HOME", home.path())
            .env("XDG_STATE_HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .output()
            .unwrap()
    };
    let before = served.cluster.requests().len();
    let out = run(&["--context", "viewer", "scale", "swarm-worker", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[contexts.\"viewer\"] read_only = true"),
        "{err}"
    );
    let writes: Vec<_> = served.cluster.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    // Another context writes as usual (a dry run here: it reads only).
    let out = run(&["scale", "swarm-worker", "3", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The console on the read-only context: the badge; on the other, its start view.
    let kc = served.kubeconfig.display().to_string();
    let env = [("XDG_CONFIG_HOME", home.path().to_str().unwrap())];
    let t = Tui::start_with(&format!("--kubeconfig {kc} --context viewer"), &env);
    t.wait_for("the read-only badge", |s| s.contains("READ-ONLY"));
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
    let t = Tui::start_with(&format!("--kubeconfig {kc}"), &env);
    let s = t.wait_for("the start view", |s| s.contains("Events("));
    assert!(!s.contains("READ-ONLY"), "{s}");
    t.send(b"q");
    t.wait_for("exit", |s| s.contains("EXITED 0"));
}
