//! `sfc lsp` driven as an editor drives it: JSON-RPC messages with Content-Length headers on
//! the server's stdin, its replies read from its stdout.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const PROGRAM: &str = "parties alice, bob;

fn scale(v, k) { v * k }

let xa: fix[n, 3] @alice = input(\"xa\");
let y: fix[n] @bob = input(\"y\");
let xs = scale(xa, 2.0);
let total = sum(xs, axis: 1) + y;
output(reveal(total, to: alice), \"total\");
";

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sfc")).arg("lsp").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start sfc lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Server { child, stdin, stdout, next_id: 1 }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn read(&mut self) -> Value {
        let mut length = None;
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).expect("read a header") > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = Some(v.parse::<usize>().expect("a length"));
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        self.stdout.read_exact(&mut body).expect("read a body");
        serde_json::from_slice(&body).expect("a JSON body")
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its result, skipping notifications on the way.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let m = self.read();
            if m.get("id") == Some(&json!(id)) {
                assert!(m.get("error").is_none(), "{method} failed: {m}");
                return m["result"].clone();
            }
        }
    }

    /// The next diagnostics published.
    fn diagnostics(&mut self) -> Vec<Value> {
        loop {
            let m = self.read();
            if m["method"] == "textDocument/publishDiagnostics" {
                return m["params"]["diagnostics"].as_array().expect("diagnostics").clone();
            }
        }
    }
}

/// The LSP position (0-based line and UTF-16 column; the text is ASCII) of the `nth` match.
fn position_of(text: &str, needle: &str, nth: usize) -> Value {
    let offset = text.match_indices(needle).nth(nth).expect("the needle").0;
    let line = text[..offset].matches('\n').count();
    let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1);
    json!({ "line": line, "character": column })
}

#[test]
fn editor_session_over_json_rpc() {
    let dir = std::env::temp_dir().join(format!("sfc-lsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let uri = format!("file://{}/model.sf", dir.display());
    let doc = json!({ "uri": uri });
    let mut s = Server::start();
    let init = s.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
    let caps = &init["capabilities"];
    assert_eq!(caps["textDocumentSync"], json!(1), "whole-document sync: {caps}");
    assert_eq!(caps["hoverProvider"], json!(true));
    assert_eq!(caps["definitionProvider"], json!(true));
    assert_eq!(caps["documentSymbolProvider"], json!(true));
    s.notify("initialized", json!({}));

    // An error on open: the same code and range as `sfc check --message-format json`.
    let broken = PROGRAM.replace("sum(xs, axis: 1) + y", "sum(xs, axis: 1) + yy");
    s.notify("textDocument/didOpen", json!({ "textDocument": { "uri": uri, "languageId": "sf", "version": 1, "text": broken } }));
    let diags = s.diagnostics();
    let file = dir.join("model.sf");
    std::fs::write(&file, &broken).expect("write the program");
    let cli = Command::new(env!("CARGO_BIN_EXE_sfc")).args(["check", "--message-format", "json"]).arg(&file).output().expect("sfc check");
    let cli: Vec<Value> = String::from_utf8_lossy(&cli.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(diags.len(), cli.len(), "editor {diags:?} vs CLI {cli:?}");
    assert_eq!(diags.len(), 1);
    let (d, c) = (&diags[0], &cli[0]);
    assert_eq!(d["code"], c["code"]);
    assert_eq!(d["code"], "E0102", "{d}");
    assert_eq!(d["severity"], json!(1));
    assert!(d["message"].as_str().expect("message").contains("yy"), "{d}");
    // The CLI counts lines and columns from 1, the protocol from 0.
    assert_eq!(d["range"]["start"]["line"].as_u64().expect("line") + 1, c["range"]["start"]["line"].as_u64().expect("line"));
    assert_eq!(d["range"]["start"]["character"].as_u64().expect("column") + 1, c["range"]["start"]["column"].as_u64().expect("column"));
    assert_eq!(d["range"]["end"]["character"].as_u64().expect("column") + 1, c["range"]["end"]["column"].as_u64().expect("column"));

    // Fixed by a change: no diagnostics.
    s.notify("textDocument/didChange", json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": PROGRAM }] }));
    assert_eq!(s.diagnostics(), Vec::<Value>::new());

    // Hover: the type and placement of the name under the cursor.
    let hover = |s: &mut Server, needle: &str, nth: usize| {
        let r = s.request("textDocument/hover", json!({ "textDocument": doc, "position": position_of(PROGRAM, needle, nth) }));
        r["contents"]["value"].as_str().unwrap_or_default().to_string()
    };
    assert!(hover(&mut s, "xa", 0).contains("xa: fix[n, 3] @alice"), "{}", hover(&mut s, "xa", 0));
    assert!(hover(&mut s, "total", 1).contains("total: fix[n] @spu"), "{}", hover(&mut s, "total", 1));
    assert!(hover(&mut s, "y;\n", 0).contains("y: fix[n] @bob"), "{}", hover(&mut s, "y;\n", 0));
    assert!(hover(&mut s, "xs", 1).contains("xs: fix[n, 3] @alice"), "{}", hover(&mut s, "xs", 1));
    let inside = hover(&mut s, "v * k", 0);
    assert!(inside.contains("v: fix[n, 3] @alice"), "a parameter takes its argument's type: {inside}");
    assert!(hover(&mut s, "scale(xa", 0).contains("fn scale -> fix[n, 3] @alice"), "{}", hover(&mut s, "scale(xa", 0));

    // Go to definition: a value's `let`, a local function.
    let definition = |s: &mut Server, needle: &str, nth: usize| s.request("textDocument/definition", json!({ "textDocument": doc, "position": position_of(PROGRAM, needle, nth) }));
    let d = definition(&mut s, "xs", 1);
    assert_eq!(d["uri"], json!(uri));
    assert_eq!(d["range"]["start"], position_of(PROGRAM, "xs", 0));
    let d = definition(&mut s, "scale(xa", 0);
    assert_eq!(d["range"]["start"], position_of(PROGRAM, "scale", 0));

    // Document symbols: parties, the function with its parameters, the top-level values.
    let symbols = s.request("textDocument/documentSymbol", json!({ "textDocument": doc }));
    let names: Vec<&str> = symbols.as_array().expect("symbols").iter().map(|v| v["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["alice", "bob", "scale", "xa", "y", "xs", "total"]);
    let scale = &symbols[2];
    assert_eq!(scale["kind"], json!(12), "a function");
    let params: Vec<&str> = scale["children"].as_array().expect("parameters").iter().map(|v| v["name"].as_str().expect("name")).collect();
    assert_eq!(params, ["v", "k"]);
    assert_eq!(symbols[6]["detail"], "fix[n] @spu");

    // The standard library: go to definition opens the module's source at the function.
    let with_std = format!("parties alice, bob;\nuse std::nn::{{relu}};\nlet x: fix[4] @alice = input(\"x\");\noutput(reveal(relu(x), to: alice), \"r\");\n");
    s.notify("textDocument/didChange", json!({ "textDocument": { "uri": uri, "version": 3 }, "contentChanges": [{ "text": with_std }] }));
    assert_eq!(s.diagnostics(), Vec::<Value>::new());
    let d = s.request("textDocument/definition", json!({ "textDocument": doc, "position": position_of(&with_std, "relu(x", 0) }));
    let target = d["uri"].as_str().expect("a location").strip_prefix("file://").expect("a file").to_string();
    assert!(target.ends_with("std/nn.sf"), "{target}");
    let source = std::fs::read_to_string(&target).expect("the library source");
    let line = d["range"]["start"]["line"].as_u64().expect("line") as usize;
    assert!(source.lines().nth(line).expect("the line").contains("fn relu"), "{}", source.lines().nth(line).unwrap_or_default());

    // A syntax error still gives a diagnostic, and the session goes on.
    s.notify("textDocument/didChange", json!({ "textDocument": { "uri": uri, "version": 4 }, "contentChanges": [{ "text": "parties alice, bob;\nlet = ;\n" }] }));
    let diags = s.diagnostics();
    assert!(!diags.is_empty() && diags[0]["code"].as_str().is_some_and(|c| c.starts_with('E')), "{diags:?}");
    assert_eq!(s.request("textDocument/hover", json!({ "textDocument": doc, "position": { "line": 1, "character": 1 } })), Value::Null);

    s.notify("textDocument/didClose", json!({ "textDocument": doc }));
    assert_eq!(s.diagnostics(), Vec::<Value>::new(), "closing clears the file's diagnostics");
    assert_eq!(s.request("shutdown", Value::Null), Value::Null);
    s.notify("exit", Value::Null);
    let status = s.child.wait().expect("the server exits");
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The editor package's TextMate grammar highlights every keyword of the language's grammar.
#[test]
fn textmate_grammar_knows_every_keyword() {
    let pest = include_str!("../src/syntax/grammar.pest");
    let line = pest.lines().find(|l| l.trim_start().starts_with("keyword")).expect("the keyword rule");
    let keywords: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    assert!(keywords.len() >= 10, "{keywords:?}");
    let grammar: Value = serde_json::from_str(include_str!("../editors/vscode/syntaxes/sf.tmLanguage.json")).expect("the TextMate grammar is JSON");
    let patterns = grammar["repository"]["keyword"]["patterns"].to_string();
    for k in keywords {
        assert!(patterns.contains(&format!("|{k}|")) || patterns.contains(&format!("({k}|")) || patterns.contains(&format!("|{k})")), "`{k}` is not highlighted");
    }
    let package: Value = serde_json::from_str(include_str!("../editors/vscode/package.json")).expect("package.json");
    assert_eq!(package["contributes"]["languages"][0]["extensions"][0], ".sf");
}
