//! Pictures of a run (SVG, Mermaid, ShiViz, HTML): snapshots of the SVG and
//! Mermaid output of three small scenarios, structural checks of the SVG (it
//! parses as XML, one arrow per send, drops end in a cross), consistency of
//! the ShiViz vector clocks, the HTML page's self-containment, and an ignored
//! test that writes a picture for `scripts/screenshot-report.sh`.

use std::collections::BTreeMap;
use std::path::Path;

use distlab::scenario;
use distlab::trace::pictures::{Picture, record_with};
use distlab::trace::recorded::{EventKind, Fate, RecordedEvent, Recorder, pair_messages};
use distlab::trace::{html, mermaid, shiviz, svg};

/// The scenarios whose pictures are snapshots.
const SMALL: [&str; 3] =
    ["scenarios/election/seed-ring.yaml", "scenarios/mutex/seed-ricart-agrawala.yaml", "scenarios/election/bully-seed.yaml"];

fn load(rel: &str) -> scenario::Plan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    scenario::load(&root.join(rel)).unwrap_or_else(|e| panic!("{rel} loads: {e}"))
}

/// Runs a scenario through the registry's picture function.
fn picture(rel: &str, kind: Picture) -> String {
    let plan = load(rel);
    let (text, report) = (plan.algorithm.picture)(&plan, &Default::default(), kind.into()).expect("the run succeeds");
    assert!(report.passed(), "{rel}: checks fail");
    text
}

/// The recorded events of a scenario, with its nodes.
fn recorded(rel: &str) -> (Vec<u32>, Vec<RecordedEvent>, distlab::report::RunReport) {
    let plan = load(rel);
    let (events, report) = record_any(&plan);
    (plan.nodes.clone(), events, report)
}

/// Records a run with the process type the plan's algorithm names (the
/// registry hands out only the rendered picture).
fn record_any(plan: &scenario::Plan) -> (Vec<RecordedEvent>, distlab::report::RunReport) {
    use distlab::algorithms::{election, mutex};
    let opts = Default::default();
    let r = Recorder::new();
    let out = match plan.algorithm.name {
        "election.ring" => record_with::<election::ring::RingNode>(plan, &opts, r),
        "election.bully" => record_with::<election::bully::BullyNode>(plan, &opts, r),
        "mutex.ricart-agrawala" => record_with::<mutex::ricart_agrawala::RaNode>(plan, &opts, r),
        "mutex.suzuki-kasami" => record_with::<mutex::suzuki_kasami::SkNode>(plan, &opts, r),
        other => panic!("no recorder wired for {other} in this test"),
    };
    out.expect("the run succeeds")
}

fn snapshot_name(rel: &str, ext: &str) -> String {
    let stem = rel.trim_start_matches("scenarios/").trim_end_matches(".yaml").replace('/', "__");
    format!("{stem}.{ext}")
}

#[test]
fn svg_and_mermaid_match_their_snapshots() {
    for rel in SMALL {
        let svg = picture(rel, Picture::Svg);
        let mmd = picture(rel, Picture::Mermaid);
        insta::with_settings!({ snapshot_path => "../../snapshots/pictures", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(snapshot_name(rel, "svg"), svg);
            insta::assert_snapshot!(snapshot_name(rel, "mermaid"), mmd);
        });
    }
}

/// Elements whose `class` attribute holds `class` as one of its words.
fn with_class<'a, 'i>(doc: &'a roxmltree::Document<'i>, class: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants().filter(|n| n.attribute("class").is_some_and(|c| c.split_whitespace().any(|w| w == class))).collect()
}

#[test]
fn svg_is_xml_with_one_arrow_per_send_and_crossed_drops() {
    let mut checked_drop = false;
    for rel in
        SMALL.iter().copied().chain(["scenarios/election/ring-message-loss.yaml", "scenarios/mutex/suzuki-kasami-holder-crashes.yaml"])
    {
        let (nodes, events, report) = recorded(rel);
        let text = svg::render(&events, &nodes, &report.scenario, &Default::default());
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{rel}: the SVG is not XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let sends = events.iter().filter(|e| matches!(e.kind, EventKind::Send { .. })).count();
        let arrows = with_class(&doc, "msg");
        assert_eq!(arrows.len(), sends, "{rel}: one arrow per send");
        let drops = events.iter().filter(|e| matches!(e.kind, EventKind::Drop { .. })).count();
        let crossed = with_class(&doc, "drop");
        assert_eq!(crossed.len(), drops, "{rel}: one dropped arrow per drop");
        for g in crossed {
            let line = g.children().find(|c| c.has_tag_name("line")).expect("a dropped arrow has a line");
            let cross = g
                .children()
                .find(|c| c.attribute("class") == Some("cross"))
                .unwrap_or_else(|| panic!("{rel}: a dropped arrow ends in a cross"));
            // The cross is centred on the line's end: its path starts 5 px up and left of it.
            let (x2, y2): (f64, f64) = (line.attribute("x2").unwrap().parse().unwrap(), line.attribute("y2").unwrap().parse().unwrap());
            let d = cross.attribute("d").unwrap();
            let start: Vec<f64> = d[1..].split('L').next().unwrap().split(',').map(|v| v.parse().unwrap()).collect();
            assert!((start[0] + 5.0 - x2).abs() < 0.11 && (start[1] + 5.0 - y2).abs() < 0.11, "{rel}: cross at the end: {d}");
            checked_drop = true;
        }
        // Every node has a labelled lane.
        for id in &nodes {
            let label = format!("node {id}");
            assert!(doc.descendants().any(|n| n.text() == Some(label.as_str())), "{rel}: lane {label}");
        }
    }
    assert!(checked_drop, "some scenario above drops a message");
}

#[test]
fn svg_windows_a_long_run_and_says_so() {
    let (nodes, events, report) = recorded("scenarios/election/seed-ring.yaml");
    let opts = svg::SvgOptions { from: Some(15_000_000), to: Some(25_000_000), max_events: 3_000 };
    let text = svg::render(&events, &nodes, &report.scenario, &opts);
    roxmltree::Document::parse(&text).expect("XML");
    assert!(text.contains("showing the window 15.000ms to"), "{text}");
    let capped = svg::render(&events, &nodes, &report.scenario, &svg::SvgOptions { max_events: 10, ..Default::default() });
    let doc = roxmltree::Document::parse(&capped).expect("XML");
    assert!(capped.contains("showing the first 10"), "the picture says it is cut");
    let sends = events[..10].iter().filter(|e| matches!(e.kind, EventKind::Send { .. })).count();
    assert_eq!(with_class(&doc, "msg").len(), sends);
    // A recorder with a small cap says how much it left out, in every picture.
    let plan = load("scenarios/election/seed-ring.yaml");
    let (few, report) =
        record_with::<distlab::algorithms::election::ring::RingNode>(&plan, &Default::default(), Recorder::with_cap(12)).unwrap();
    assert_eq!(few.len(), 13);
    assert!(matches!(few.last().unwrap().kind, EventKind::Truncated { dropped } if dropped > 0));
    for p in Picture::ALL {
        let out = p.render(&few, &plan.nodes, &report);
        if p != Picture::Shiviz {
            assert!(out.contains("more events not recorded"), "{p:?}");
        }
    }
}

#[test]
fn empty_and_odd_input_does_not_panic() {
    let report = recorded("scenarios/election/seed-ring.yaml").2;
    for p in Picture::ALL {
        let _ = p.render(&[], &[], &report);
    }
    let odd = vec![RecordedEvent {
        index: 0,
        time: 5,
        kind: EventKind::Deliver { msg_kind: "X" },
        node: Some(9),
        peer: Some(7),
        text: "<&\"#;%\n>".into(),
    }];
    let s = svg::render(&odd, &[1], "t <&>", &svg::SvgOptions { from: Some(10), to: Some(1), max_events: 0 });
    roxmltree::Document::parse(&s).expect("XML");
    let s = svg::render(&odd, &[1], "t <&>", &Default::default());
    roxmltree::Document::parse(&s).expect("XML");
    let m = mermaid::render(&odd, &[1], "a#b;c");
    assert!(m.lines().all(|l| !l.contains(';') || l.contains("#59;")), "{m}");
    let _ = shiviz::render(&odd, &[], "x");
    let _ = html::render(&odd, &[], &report);
}

/// A ShiViz log parsed back: (host, clock, event text) per event.
fn parse_shiviz(log: &str) -> Vec<(String, BTreeMap<String, u64>, String)> {
    let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert!(lines.len().is_multiple_of(2), "event and clock lines alternate");
    lines
        .chunks(2)
        .map(|pair| {
            let (host, clock) = pair[1].split_once(' ').expect("host {clock}");
            let clock: BTreeMap<String, u64> = serde_json::from_str(clock).expect("the clock is JSON");
            (host.to_string(), clock, pair[0].to_string())
        })
        .collect()
}

fn dominates(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> bool {
    b.iter().all(|(h, v)| a.get(h).copied().unwrap_or(0) >= *v)
}

#[test]
fn shiviz_clocks_follow_the_message_flow() {
    for rel in
        SMALL.iter().copied().chain(["scenarios/election/ring-message-loss.yaml", "scenarios/mutex/suzuki-kasami-holder-crashes.yaml"])
    {
        let (nodes, events, report) = recorded(rel);
        let log = shiviz::render(&events, &nodes, &report.scenario);
        assert!(log.contains(shiviz::REGEX), "the header gives the regex");
        let parsed = parse_shiviz(&log);
        // Each line names its trace event: `[t] #index …`.
        let by_index: BTreeMap<u64, usize> = parsed
            .iter()
            .enumerate()
            .map(|(i, (_, _, text))| {
                let n = text.split_once('#').unwrap().1.split_whitespace().next().unwrap();
                (n.parse().unwrap(), i)
            })
            .collect();
        let node_events = events.iter().filter(|e| e.node.is_some()).count();
        assert_eq!(parsed.len(), node_events, "{rel}: one entry per node event");
        // Own entries count up by one per event of the host.
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        for (host, clock, text) in &parsed {
            let own = clock.get(host).copied().unwrap_or(0);
            let prev = seen.entry(host).or_insert(0);
            assert_eq!(own, *prev + 1, "{rel}: {host} counts its events by one: {text}");
            *prev = own;
            // No entry claims more events of a host than it has logged so far.
            for (h, v) in clock {
                assert!(seen.get(h.as_str()).copied().unwrap_or(0) >= *v || h == host, "{rel}: {text} knows the future of {h}");
            }
        }
        // A delivery's clock dominates its send's, and strictly exceeds it.
        let (flows, _) = pair_messages(&events);
        let mut receives = 0;
        for fl in &flows {
            if let Fate::Delivered(p) = fl.fate {
                let s = &parsed[by_index[&events[fl.send].index]].1;
                let r = &parsed[by_index[&events[p].index]].1;
                assert!(dominates(r, s) && r != s, "{rel}: receive #{} dominates send #{}", events[p].index, events[fl.send].index);
                receives += 1;
            }
        }
        assert_eq!(receives, events.iter().filter(|e| matches!(e.kind, EventKind::Deliver { .. })).count(), "{rel}");
    }
}

#[test]
fn html_is_one_self_contained_page() {
    let page = picture("scenarios/election/seed-ring.yaml", Picture::Html);
    assert!(page.starts_with("<!DOCTYPE html>"));
    for needle in ["Ring election after the coordinator fails", "<svg", "one-leader", "result: ok", "<style>"] {
        assert!(page.contains(needle), "the page holds {needle}");
    }
    for fetch in ["http://", "https://", "src=", "<link", "<script", "@import", "url(http"] {
        let hits: Vec<&str> = page.lines().filter(|l| l.contains(fetch) && !l.contains("xmlns=\"http://www.w3.org/2000/svg\"")).collect();
        assert!(hits.is_empty(), "no fetch ({fetch}): {hits:?}");
    }
    // Deterministic: the same run gives the same page.
    assert_eq!(page, picture("scenarios/election/seed-ring.yaml", Picture::Html));
}

#[test]
fn the_registry_draws_every_kind_of_picture() {
    let plan = load("scenarios/mutex/seed-suzuki-kasami.yaml");
    for p in Picture::ALL {
        let (text, _) = (plan.algorithm.picture)(&plan, &Default::default(), p.into()).expect("runs");
        assert!(!text.is_empty(), "{p:?}");
    }
}

/// Writes a picture of a scenario to `PICTURE_OUT` (used by
/// `scripts/screenshot-report.sh`): `PICTURE_SCENARIO` (default the seed ring
/// election), `PICTURE_KIND` (svg, mermaid, shiviz or html; default html).
#[test]
#[ignore]
fn write_picture() {
    let Ok(out) = std::env::var("PICTURE_OUT") else { return };
    let rel = std::env::var("PICTURE_SCENARIO").unwrap_or_else(|_| "scenarios/election/seed-ring.yaml".into());
    let kind = std::env::var("PICTURE_KIND").unwrap_or_else(|_| "html".into());
    let picture = Picture::from_name(&kind).expect("a picture kind: svg, mermaid, shiviz or html");
    let plan = load(&rel);
    let (text, _) = (plan.algorithm.picture)(&plan, &Default::default(), picture.into()).expect("the run succeeds");
    std::fs::write(out, text).expect("the output path is writable");
}
