// The cnndsl extension: the .cnn language, its TextMate grammar, and a client that starts
// the language server (`cnndsl lsp`, or the command in the cnndsl.command setting).
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("cnndsl");
  const [command, ...args] = config.get("command", ["cnndsl", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "cnndsl",
    "cnndsl language server",
    { run: server, debug: server },
    {
      documentSelector: [{ language: "cnn" }],
      initializationOptions: { inlayHints: config.get("inlayHints", true) },
      synchronize: {
        configurationSection: "cnndsl",
        fileEvents: vscode.workspace.createFileSystemWatcher("**/*.cnn"),
      },
    }
  );
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("cnndsl.command")) {
        vscode.window.showInformationMessage("cnndsl: reload the window to use the new command");
      }
    })
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
