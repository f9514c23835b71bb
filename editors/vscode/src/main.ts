// Activation: one Ctx per window, its commands, and a restart when the server
// path changes. Everything else lives in ctx.ts.

import * as vscode from "vscode";

import { registerCommands } from "./commands";
import { needsRestart } from "./config";
import { Ctx } from "./ctx";

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const current = new Ctx(context);
    ctx = current;
    context.subscriptions.push(
        current,
        ...registerCommands(current),
        vscode.workspace.onDidChangeConfiguration(async (event) => {
            if (needsRestart((key) => event.affectsConfiguration(key))) await current.restart();
        }),
    );
    await current.start();
}

export async function deactivate(): Promise<void> {
    await ctx?.stop();
    ctx = undefined;
}
