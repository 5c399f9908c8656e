//! The README and the docs stay true: their links and the paths they name exist, the commands
//! the README gives run, the README stays short, and nothing points outside the repository.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, ARCHITECTURE.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("docs/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut pages = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    walk(&root().join("docs"), &mut pages);
    pages
}

/// The anchors GitHub gives a page's headings.
fn anchors(text: &str) -> HashSet<String> {
    let mut in_code = false;
    let mut out = HashSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        if let Some(heading) = line.trim_start_matches('#').strip_prefix(' ') {
            if line.starts_with('#') {
                let slug: String = heading
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                out.insert(slug);
            }
        }
    }
    out
}

/// The targets of the page's `[text](target)` links.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_owned()))
        .collect()
}

#[test]
fn every_link_of_the_docs_reaches_a_file_and_its_heading() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("folder").join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
            } else if !anchor.is_empty() {
                let heads = anchors(&std::fs::read_to_string(&path).expect("target"));
                if !heads.contains(anchor) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Paths in backquotes that start with a folder of the repository exist.
#[test]
fn every_path_the_docs_name_exists() {
    const FOLDERS: [&str; 11] = [
        "crates/",
        "src/",
        "tests/",
        "scripts/",
        "docs/",
        "examples/",
        "projector/",
        "query-api/",
        "command-api/",
        "deploy/",
        "samples/",
    ];
    let mut missing = Vec::new();
    let mut seen = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for (n, quoted) in text.split('`').enumerate() {
            // Odd pieces are inside backquotes; a path is one word.
            let word = quoted.split_whitespace().next().unwrap_or_default();
            if n % 2 == 0 || !FOLDERS.iter().any(|f| word.starts_with(f)) {
                continue;
            }
            seen += 1;
            // `a/b.rs`, `a/b/` and `a/b.rs:12` name files and folders; anything after a `:`
            // or inside braces (a route pattern) is not a path.
            let path = word.split(':').next().unwrap_or(word);
            if path.contains('{') || path.contains('*') {
                continue;
            }
            if !root().join(path).exists() {
                missing.push(format!("{}: {path}", page.display()));
            }
        }
    }
    assert!(seen > 50, "only {seen} paths found: the scan is broken");
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}

/// The README's blocks of commands: each script exists and is executable, each example and
/// sample exists, and each subcommand of `moviedb` answers `--help`.
#[test]
fn the_readme_commands_name_what_exists() {
    use std::os::unix::fs::PermissionsExt;
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(
        readme.lines().count() <= 150,
        "the README is {} lines: move detail to docs/",
        readme.lines().count()
    );
    let commands: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(code, _)| code))
        .flat_map(str::lines)
        .collect();
    assert!(commands.len() >= 5, "{commands:?}");
    for line in &commands {
        for word in line.split_whitespace() {
            if word.starts_with("scripts/") {
                let meta = std::fs::metadata(root().join(word)).expect(word);
                assert!(
                    meta.permissions().mode() & 0o111 != 0,
                    "{word} is not executable"
                );
            }
            if word.starts_with("samples/") {
                assert!(root().join(word).exists(), "{word}");
            }
        }
        if let Some(example) = line.split("--example ").nth(1) {
            let name = example.split_whitespace().next().expect("name");
            assert!(
                root().join("examples").join(name).exists()
                    || root().join(format!("examples/{name}.rs")).exists(),
                "no example {name}"
            );
        }
        if let Some(args) = line.split("cargo run --release -- ").nth(1) {
            let words: Vec<&str> = args
                .split_whitespace()
                .take_while(|w| !w.starts_with('-') && !w.contains('/'))
                .collect();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_moviedb"))
                .args(&words)
                .arg("--help")
                .output()
                .expect("moviedb runs");
            assert!(out.status.success(), "moviedb {words:?} --help: {out:?}");
        }
    }
    // The harness's options the README uses are the harness's.
    let harness =
        std::fs::read_to_string(root().join("examples/bench_http/main.rs")).expect("harness");
    for line in commands.iter().filter(|l| l.contains("bench_http")) {
        for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
            let field = flag.trim_start_matches('-').replace('-', "_");
            if ["release", "example"].contains(&field.as_str()) || field.is_empty() {
                continue;
            }
            assert!(
                harness.contains(&format!("    {field}:")),
                "bench_http has no option {flag}"
            );
        }
    }
    // CI runs the README's test command.
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    assert!(readme.contains("\nscripts/test\n") && ci.contains("scripts/test"));
}

/// No file of the repository refers to a design document that is not in it.
#[test]
fn nothing_cites_a_document_outside_the_repository() {
    fn walk(dir: &Path, hits: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("folder").flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&path, hits);
                }
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                if text.contains(&["design", ".md"].concat()) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    let mut hits = Vec::new();
    walk(root(), &mut hits);
    walk(&root().join(".ci"), &mut hits);
    assert!(
        hits.is_empty(),
        "cite a design document not in the repository: {hits:?}"
    );
}
