//! The platform-free core: every decision sessionguard makes, with no `web_sys`, no `js_sys`,
//! no clock and no randomness of its own. Time comes in as `now` (a [`time::Time`]) and chance as a
//! number in `[0, 1)`; decisions come out as values. It builds and is tested on the host.
//!
//! - [`time`]: instants, kept apart from durations;
//! - [`token`]: token sets, JWT payloads, expiry and clock skew, the storage record;
//! - [`retry`]: which API answers are retried, backoff with full jitter, `Retry-After`;
//! - [`refresh_answer`]: what a token endpoint's answer means (tokens, terminal, transient);
//! - [`ratelimit`]: the client-side, adaptive rate limit;
//! - [`session`]: the refresh rule, single flight, the 401 rule, the end of a session;
//! - [`call`]: one intercepted call, driven step by step by the browser layer;
//! - [`crosstab`]: what tabs tell each other, and what they do with it;
//! - [`userinfo`]: the user-info request's own rules and cache;
//! - [`signin`], [`id_token`], [`discovery`]: sign-in with code + PKCE, the ID token's checks,
//!   where the endpoints are;
//! - [`own`]: every own request (exchange, refresh, revocation, discovery) as one machine:
//!   attempts, their time bound, backoff, the DPoP nonce resend;
//! - [`signout`]: revocation and the end-session redirect;
//! - [`dpop`]: proofs of possession (RFC 9449): their claims, server nonces, the scheme.
//!
//! - [`end`]: why a session ends; [`b64`]: the one base64 alphabet sessionguard writes;
//! - [`read`]: how what comes in from outside (token sets, answers, records, messages) is read.
//!
//! Its tests run on the host (`cargo test --lib`); under wasm32 only the browser layer's run.
//!
//! JSON is never parsed here: the browser layer parses with `JSON.parse` and hands objects over
//! through [`read::Fields`]; host tests read `serde_json` values the same way. Nor is base64
//! decoded here: the core says which part of a JWT is its payload, the browser layer decodes
//! it with `atob` (host tests with the base64 crate).

#![deny(unsafe_code)]

pub mod b64;
pub mod call;
pub mod crosstab;
pub mod discovery;
pub mod dpop;
pub mod end;
pub mod id_token;
pub mod own;
pub mod ratelimit;
pub mod read;
pub mod refresh_answer;
pub mod retry;
pub mod session;
pub mod signin;
pub mod signout;
pub mod time;
pub mod token;
pub mod userinfo;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim;

/// The core's modules import one another without a circle: each rule has one home, and a
/// module can be read (and tested) knowing only what it imports. Tests may import anything.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};

    /// Module → the core modules its code (not its tests, not its comments) names.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/core");
        let mut graph = BTreeMap::new();
        for entry in std::fs::read_dir(dir).expect("src/core is readable") {
            let path = entry.expect("a directory entry").path();
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if name == "mod" || name == "sim" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text.split("#[cfg(all(test").next().unwrap_or_default();
            let mut named = BTreeSet::new();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for prefix in ["super::", "crate::core::"] {
                    for (at, _) in line.match_indices(prefix) {
                        let rest = &line[at + prefix.len()..];
                        let module: String =
                            rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
                        if !module.is_empty() && module != name && rest[module.len()..].starts_with("::") {
                            named.insert(module);
                        }
                    }
                }
            }
            graph.insert(name, named);
        }
        graph
    }

    /// A circle in `graph`, as the modules along it, if there is one.
    fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            m: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| p == m) {
                let mut c = path[i..].to_vec();
                c.push(m.to_string());
                return Some(c);
            }
            if !done.insert(m.to_string()) {
                return None;
            }
            path.push(m.to_string());
            for next in graph.get(m).into_iter().flatten() {
                if let Some(c) = visit(next, graph, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
    }

    #[test]
    fn core_modules_import_no_circle() {
        let graph = imports();
        assert!(graph.len() > 10, "the core's modules were found: {graph:?}");
        assert!(graph["call"].contains("session"), "the reader sees `use super::…` imports");
        assert_eq!(circle(&graph), None, "an import circle in src/core/");
    }

    #[test]
    fn the_circle_finder_finds_one() {
        let g: BTreeMap<String, BTreeSet<String>> = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(circle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    }
}
