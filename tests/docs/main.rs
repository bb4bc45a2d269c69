//! The README stays true: its first command's scenario runs and passes, its
//! scenario-format example loads and runs, and the trace excerpt it shows
//! appears in the real trace.

use distlab::scenario;
use distlab::snapshot::trace_of;

const README: &str = include_str!("../../README.md");

fn block_after(marker: &str, lang: &str) -> &'static str {
    let start = README.find(marker).unwrap_or_else(|| panic!("README has {marker:?}"));
    let rest = &README[start..];
    let open = rest.find(&format!("```{lang}\n")).expect("a fenced block") + lang.len() + 4;
    let close = rest[open..].find("```").expect("closed block");
    &rest[open..open + close]
}

#[test]
fn the_first_command_runs_a_passing_scenario() {
    let cmds = block_after("# distlab", "sh");
    assert!(cmds.contains("run scenarios/election/seed-ring.yaml"));
    assert!(cmds.contains("cargo test --locked"));
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).expect(".ci/run");
    assert!(ci.contains("cargo test --locked"), ".ci/run calls the README's test command");
    let plan = scenario::load(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/election/seed-ring.yaml").as_ref()).expect("loads");
    let (trace, report) = trace_of(&plan).expect("runs");
    assert!(report.passed());
    // Every non-elided line of the README's excerpt is in the real trace.
    for line in block_after("The first command", "text").lines() {
        if !line.trim().is_empty() && line.trim() != "..." {
            assert!(trace.contains(line), "README line not in the trace: {line:?}");
        }
    }
}

#[test]
fn the_scenario_format_example_loads_and_runs() {
    let yaml = block_after("## Scenario files", "yaml");
    let plan = scenario::yaml::load_str("README.md", yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.timeline.len(), 10);
    let (_, report) = trace_of(&plan).expect("runs");
    assert!(report.stats.sent.total() > 0);
}

#[test]
fn the_readme_picture_is_what_its_command_draws() {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(README.contains("distlab run scenarios/election/seed-ring.yaml --out docs/seed-ring.svg"));
    assert!(README.contains("](docs/seed-ring.svg)"));
    let plan = scenario::load(format!("{root}/scenarios/election/seed-ring.yaml").as_ref()).expect("loads");
    let opts = distlab::engine::RunOptions::default();
    let (svg, report) = (plan.algorithm.picture)(&plan, &opts, distlab::trace::pictures::Picture::Svg.into()).expect("draws");
    assert!(report.passed());
    let stored = std::fs::read_to_string(format!("{root}/docs/seed-ring.svg")).expect("docs/seed-ring.svg");
    assert!(stored == svg, "docs/seed-ring.svg is stale: run the README's command again");
}

#[test]
fn the_transport_and_cluster_examples_run() {
    let mut ran = 0;
    for section in ["## Real transports and live clusters", "**Live** (`distlab cluster`)"] {
        for line in block_after(section, "sh").lines() {
            let Some(args) = line.strip_prefix("cargo run --release -- ") else { continue };
            let args: Vec<&str> = args.split('#').next().unwrap().split_whitespace().collect();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
                .args(&args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .expect("runs");
            assert!(
                out.status.success(),
                "README: {line}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert_eq!(ran, 4, "the README's transport section lost an example");
}
