// Starts `sfc lsp` for .sf files. The server does the work; this only connects it.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("sf").get("server.path", "sfc");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient("sf", "sf language server", { run: server, debug: server }, {
    documentSelector: [{ scheme: "file", language: "sf" }],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
