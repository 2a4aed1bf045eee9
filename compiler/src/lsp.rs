//! `sfc lsp`: a Language Server Protocol server over stdio (lsp-server, lsp-types).
//!
//! It keeps the text of every open `.sf` file, runs the front end on it at open and at every
//! change, and publishes the same diagnostics as `sfc check` (codes, spans, help). Hover shows
//! `dtype[shape] @placement` of the name under the cursor, go to definition jumps to a value's
//! `let`, a parameter, a local function or a standard-library function, and the document's
//! symbols are its parties, functions and top-level values.
//!
//! The documents are synchronised whole (`TextDocumentSyncKind::FULL`): programs are small and
//! the front end takes milliseconds, so every change is analysed from scratch.

use crate::diagnostics::{Diagnostic, Severity};
use crate::driver::{self, Analysis};
use crate::lower::index::{Definition, Kind};
use crate::syntax::ast::{self, Item, Pattern, Span, StmtKind};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use std::collections::HashMap;

/// Runs the server on stdin and stdout until the client says `exit`.
pub fn serve_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    io_threads.join().map_err(|e| format!("the language server's input or output failed: {e}"))
}

/// The server's loop on one connection: the handshake, then every message until `shutdown`.
pub fn serve(connection: &Connection) -> Result<(), String> {
    let capabilities = lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(lsp::TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        ..Default::default()
    };
    let capabilities = serde_json::to_value(capabilities).map_err(|e| e.to_string())?;
    connection.initialize(capabilities).map_err(|e| format!("the editor's handshake failed: {e}"))?;
    let mut server = Server::default();
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request).map_err(|e| e.to_string())? {
                    return Ok(());
                }
                let response = server.request(request);
                connection.sender.send(Message::Response(response)).map_err(|e| e.to_string())?;
            }
            Message::Notification(notification) => {
                for out in server.notification(notification) {
                    connection.sender.send(Message::Notification(out)).map_err(|e| e.to_string())?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// An open document: its text and the front end's view of it.
struct Document {
    text: String,
    analysis: Analysis,
}

#[derive(Default)]
struct Server {
    documents: HashMap<String, Document>,
}

impl Server {
    fn notification(&mut self, n: Notification) -> Vec<Notification> {
        match n.method.as_str() {
            "textDocument/didOpen" => match serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params) {
                Ok(p) => vec![self.update(p.text_document.uri, p.text_document.text, Some(p.text_document.version))],
                Err(_) => Vec::new(),
            },
            "textDocument/didChange" => match serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params) {
                // Whole-document sync: the last change holds the full text.
                Ok(p) => match p.content_changes.into_iter().last() {
                    Some(change) => vec![self.update(p.text_document.uri, change.text, Some(p.text_document.version))],
                    None => Vec::new(),
                },
                Err(_) => Vec::new(),
            },
            "textDocument/didClose" => match serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) {
                Ok(p) => {
                    self.documents.remove(p.text_document.uri.as_str());
                    vec![publish(p.text_document.uri, Vec::new(), None)]
                }
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Analyses a document's new text and returns its diagnostics to publish.
    fn update(&mut self, uri: lsp::Uri, text: String, version: Option<i32>) -> Notification {
        let base = file_path(&uri).and_then(|p| p.parent().map(std::path::Path::to_path_buf)).unwrap_or_else(|| ".".into());
        let analysis = driver::analyze(&text, &base);
        let diagnostics = analysis.diagnostics.iter().map(|d| to_lsp(d, &text, &uri)).collect();
        self.documents.insert(uri.as_str().to_string(), Document { text, analysis });
        publish(uri, diagnostics, version)
    }

    fn request(&mut self, r: Request) -> Response {
        let id = r.id.clone();
        let method = r.method.clone();
        let result = match method.as_str() {
            "textDocument/hover" => params::<lsp::HoverParams>(r).map(|p| serde_json::to_value(self.hover(&p.text_document_position_params))),
            "textDocument/definition" => params::<lsp::GotoDefinitionParams>(r).map(|p| serde_json::to_value(self.definition(&p.text_document_position_params))),
            "textDocument/documentSymbol" => params::<lsp::DocumentSymbolParams>(r).map(|p| serde_json::to_value(self.symbols(&p.text_document.uri))),
            other => Err(error(id.clone(), ErrorCode::MethodNotFound, format!("sfc lsp does not answer `{other}`"))),
        };
        match result {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(e)) => error(id, ErrorCode::InternalError, e.to_string()),
            Err(response) => response,
        }
    }

    fn document(&self, uri: &lsp::Uri) -> Option<&Document> {
        self.documents.get(uri.as_str())
    }

    fn hover(&self, at: &lsp::TextDocumentPositionParams) -> Option<lsp::Hover> {
        let doc = self.document(&at.text_document.uri)?;
        let offset = offset_of(&doc.text, at.position);
        let here = doc.analysis.index.at(offset);
        let first = here.first()?;
        let types = doc.analysis.index.types_at(offset);
        let what = match first.kind {
            Kind::Function => "fn ",
            Kind::ShapeSymbol | Kind::Value => "",
        };
        let mut value = String::from("```sf\n");
        if types.is_empty() {
            value.push_str(&format!("{what}{}\n", first.name));
        }
        for t in &types {
            // A function's type is that of its result.
            let sep = if first.kind == Kind::Function { " -> " } else { ": " };
            value.push_str(&format!("{what}{}{sep}{t}\n", first.name));
        }
        value.push_str("```");
        if types.len() > 1 {
            value.push_str(&format!("\n\nInlined at {} calls, with these types.", types.len()));
        }
        Some(lsp::Hover { contents: lsp::HoverContents::Markup(lsp::MarkupContent { kind: lsp::MarkupKind::Markdown, value }), range: Some(range(&doc.text, first.span)) })
    }

    fn definition(&self, at: &lsp::TextDocumentPositionParams) -> Option<lsp::GotoDefinitionResponse> {
        let doc = self.document(&at.text_document.uri)?;
        let found = doc.analysis.index.at(offset_of(&doc.text, at.position));
        let location = match &found.first()?.definition {
            Definition::Here(span) => lsp::Location { uri: at.text_document.uri.clone(), range: range(&doc.text, *span) },
            Definition::Library { module, span } => library_location(module, *span)?,
            Definition::Builtin => return None,
        };
        Some(lsp::GotoDefinitionResponse::Scalar(location))
    }

    fn symbols(&self, uri: &lsp::Uri) -> Option<lsp::DocumentSymbolResponse> {
        let doc = self.document(uri)?;
        let program = doc.analysis.program.as_ref()?;
        let text = &doc.text;
        let type_of = |span: Span| doc.analysis.index.types_at(span.start).into_iter().next();
        let mut out = Vec::new();
        for item in &program.items {
            match item {
                Item::Parties { names, .. } => {
                    out.extend(names.iter().map(|n| symbol(text, &n.name, Some("party".into()), lsp::SymbolKind::NAMESPACE, n.span, n.span, None)));
                }
                Item::Fn(f) => {
                    let params = f.params.iter().map(|p| symbol(text, &p.name.name, type_of(p.name.span), lsp::SymbolKind::VARIABLE, p.name.span, p.name.span, None)).collect();
                    let signature = format!("fn {}({})", f.name.name, f.params.iter().map(|p| p.name.name.as_str()).collect::<Vec<_>>().join(", "));
                    out.push(symbol(text, &f.name.name, Some(signature), lsp::SymbolKind::FUNCTION, f.span, f.name.span, Some(params)));
                }
                Item::Stmt(s) => {
                    if let StmtKind::Let { pattern, .. } = &s.kind {
                        let names: Vec<&ast::Ident> = match pattern {
                            Pattern::Name(n) => vec![n],
                            Pattern::Tuple(ns, _) => ns.iter().collect(),
                        };
                        out.extend(names.into_iter().map(|n| symbol(text, &n.name, type_of(n.span), lsp::SymbolKind::VARIABLE, s.span, n.span, None)));
                    }
                }
                Item::Use { .. } => {}
            }
        }
        Some(lsp::DocumentSymbolResponse::Nested(out))
    }
}

#[allow(deprecated)] // `deprecated` is a required field of lsp-types' DocumentSymbol.
fn symbol(text: &str, name: &str, detail: Option<String>, kind: lsp::SymbolKind, whole: Span, name_span: Span, children: Option<Vec<lsp::DocumentSymbol>>) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol { name: name.to_string(), detail, kind, tags: None, deprecated: None, range: range(text, whole), selection_range: range(text, name_span), children }
}

/// A request's parameters, or the error response for parameters that do not parse.
fn params<P: serde::de::DeserializeOwned>(r: Request) -> Result<P, Response> {
    let id = r.id.clone();
    serde_json::from_value(r.params).map_err(|e| error(id, ErrorCode::InvalidParams, format!("invalid parameters for {}: {e}", r.method)))
}

fn error(id: RequestId, code: ErrorCode, message: String) -> Response {
    Response::new_err(id, code as i32, message)
}

fn publish(uri: lsp::Uri, diagnostics: Vec<lsp::Diagnostic>, version: Option<i32>) -> Notification {
    let params = lsp::PublishDiagnosticsParams { uri, diagnostics, version };
    Notification::new("textDocument/publishDiagnostics".into(), params)
}

/// A compiler diagnostic as the editor shows it: the primary span, the code, the message with
/// the primary label and the help, and the secondary labels as related information.
fn to_lsp(d: &Diagnostic, text: &str, uri: &lsp::Uri) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if !d.primary.text.is_empty() && d.primary.text != d.message {
        message.push_str(&format!("\n{}", d.primary.text));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .map(|l| lsp::DiagnosticRelatedInformation { location: lsp::Location { uri: uri.clone(), range: range(text, l.span) }, message: l.text.clone() })
        .collect();
    lsp::Diagnostic {
        range: range(text, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.to_string())),
        source: Some("sfc".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// Where a standard-library function is defined: the module's source, written once to a
/// cache folder (the library is embedded in `sfc`, so there may be no file of it on disk).
fn library_location(module: &str, span: Span) -> Option<lsp::Location> {
    let path: Vec<&str> = module.split("::").collect();
    let source = crate::stdlib::module(&path)?;
    let mut file = std::env::temp_dir().join(format!("sfc-stdlib-{}", env!("CARGO_PKG_VERSION")));
    for part in &path[..path.len().saturating_sub(1)] {
        file.push(part);
    }
    file.push(format!("{}.sf", path.last()?));
    if std::fs::read_to_string(&file).ok().as_deref() != Some(source) {
        std::fs::create_dir_all(file.parent()?).ok()?;
        // Written beside and renamed, so that a reader never sees half a file.
        let partial = file.with_extension("sf.partial");
        std::fs::write(&partial, source).ok()?;
        std::fs::rename(&partial, &file).ok()?;
    }
    let uri: lsp::Uri = format!("file://{}", file.display()).parse().ok()?;
    Some(lsp::Location { uri, range: range(source, span) })
}

/// The local path of a `file:` URI (percent-escapes decoded).
fn file_path(uri: &lsp::Uri) -> Option<std::path::PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let mut bytes = Vec::with_capacity(rest.len());
    let mut it = rest.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    Some(String::from_utf8(bytes).ok()?.into())
}

/// The byte offset of an LSP position (line, UTF-16 column), clamped to the text.
fn offset_of(text: &str, p: lsp::Position) -> usize {
    let mut line_start = 0;
    for _ in 0..p.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[line_start..text[line_start..].find('\n').map_or(text.len(), |i| line_start + i)];
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= p.character as usize {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    line_start + line.len()
}

/// The LSP position (line, UTF-16 column) of a byte offset.
fn position(text: &str, offset: usize) -> lsp::Position {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() as u32;
    lsp::Position { line, character: before[line_start..].encode_utf16().count() as u32 }
}

fn range(text: &str, span: Span) -> lsp::Range {
    lsp::Range { start: position(text, span.start), end: position(text, span.end) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "let é = 1;\nlet 𝑥 = 2;\n";
        let x = text.find("= 2").expect("x");
        let p = position(text, x);
        assert_eq!((p.line, p.character), (1, 7), "𝑥 is two UTF-16 units");
        assert_eq!(offset_of(text, p), x);
        assert_eq!(offset_of(text, lsp::Position { line: 9, character: 0 }), text.len());
    }

    #[test]
    fn file_uris_become_paths() {
        let uri: lsp::Uri = "file:///tmp/my%20models/a.sf".parse().expect("uri");
        assert_eq!(file_path(&uri), Some(std::path::PathBuf::from("/tmp/my models/a.sf")));
    }
}
