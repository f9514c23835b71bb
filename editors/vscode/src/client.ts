// The LanguageClient: how the server is started, what the client declares, and
// the middleware that filters settings, previews drafts and learns task ids.

import * as vscode from "vscode";
import * as lc from "vscode-languageclient/node";

import { serverSettings, SECTION, type SettingSchema } from "./config";
import { isDraftEdit } from "./edits";
import { redactSecrets } from "./redact";

export interface ClientHooks {
    /** The contributed settings, from package.json. */
    schema: Record<string, SettingSchema>;
    /** Runs a server command; the middleware hands every one to it. */
    executeCommand(command: string, args: unknown[]): Promise<unknown>;
}

export function createClient(
    serverPath: string,
    outputChannel: vscode.LogOutputChannel,
    traceChannel: vscode.LogOutputChannel,
    hooks: ClientHooks,
): lc.LanguageClient {
    const serverOptions: lc.ServerOptions = {
        command: serverPath,
        transport: lc.TransportKind.stdio,
    };
    const clientOptions: lc.LanguageClientOptions = {
        documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
        outputChannel,
        traceOutputChannel: new RedactingChannel(traceChannel),
        revealOutputChannelOn: lc.RevealOutputChannelOn.Never,
        initializationOptions: () => currentServerSettings(hooks.schema),
        middleware: {
            workspace: {
                configuration: (params, token, next) => answerConfiguration(hooks, params, token, next),
                handleApplyEdit: (params, next) => applyEdit(params, next),
            },
            executeCommand: (command, args) => hooks.executeCommand(command, args),
        },
    };
    const client = new lc.LanguageClient("aumatron", "Aumatron", serverOptions, clientOptions);
    client.registerFeature(new AumatronCapabilities());
    return client;
}

/** The server's settings as they stand: only what the user set. */
export function currentServerSettings(schema: Record<string, SettingSchema>): object {
    const config = vscode.workspace.getConfiguration(SECTION);
    return serverSettings(schema, (key) => config.inspect(key));
}

/** Answers `workspace/configuration` for the `aumatron` section with only the
 *  user's values; other sections go to VS Code as usual. */
async function answerConfiguration(
    hooks: ClientHooks,
    params: lc.ConfigurationParams,
    token: vscode.CancellationToken,
    next: lc.ConfigurationRequest.HandlerSignature,
): Promise<unknown[] | lc.ResponseError<void>> {
    const answers = await next(params, token);
    if (answers instanceof lc.ResponseError) return answers;
    return params.items.map((item, index) =>
        item.section === SECTION ? currentServerSettings(hooks.schema) : answers[index],
    );
}

/** A draft is inserted only after the user has seen it: its edit opens VS Code's
 *  refactor preview, where it can be applied or discarded. Other edits pass. */
async function applyEdit(
    params: lc.ApplyWorkspaceEditParams,
    next: lc.ApplyWorkspaceEditRequest.HandlerSignature,
): Promise<lc.ApplyWorkspaceEditResult> {
    if (!isDraftEdit(params.label)) {
        const result = await next(params, new vscode.CancellationTokenSource().token);
        if (result instanceof lc.ResponseError) throw result;
        return result;
    }
    const edit = new vscode.WorkspaceEdit();
    const metadata: vscode.WorkspaceEditEntryMetadata = {
        needsConfirmation: true,
        label: "Aumatron draft",
        description: "written by the model: review it before applying",
    };
    for (const [uri, edits] of textEdits(params.edit)) {
        const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.uri);
        if (document && uri.version !== undefined && uri.version !== document.version) {
            return { applied: false, failureReason: "the document changed while the draft was written" };
        }
        const target = vscode.Uri.parse(uri.uri);
        for (const textEdit of edits) {
            edit.replace(target, asRange(textEdit.range), textEdit.newText, metadata);
        }
    }
    void vscode.window.showInformationMessage(
        "Aumatron: the draft is in Refactor Preview. Tick it and choose Apply to insert it, or Discard.",
    );
    const applied = await vscode.workspace.applyEdit(edit);
    return applied
        ? { applied: true }
        : { applied: false, failureReason: "the draft was discarded in the preview" };
}

function textEdits(edit: lc.WorkspaceEdit): [{ uri: string; version?: number }, lc.TextEdit[]][] {
    const result: [{ uri: string; version?: number }, lc.TextEdit[]][] = [];
    for (const change of edit.documentChanges ?? []) {
        if (lc.TextDocumentEdit.is(change)) {
            result.push([
                { uri: change.textDocument.uri, version: change.textDocument.version ?? undefined },
                change.edits.filter((e): e is lc.TextEdit => "newText" in e),
            ]);
        }
    }
    for (const [uri, edits] of Object.entries(edit.changes ?? {})) result.push([{ uri }, edits]);
    return result;
}

function asRange(range: lc.Range): vscode.Range {
    return new vscode.Range(
        range.start.line,
        range.start.character,
        range.end.line,
        range.end.character,
    );
}

/** Declares `experimental.aumatron`: streamed answers and budget notifications. */
class AumatronCapabilities implements lc.StaticFeature {
    getState(): lc.FeatureState {
        return { kind: "static" };
    }
    fillClientCapabilities(capabilities: lc.ClientCapabilities): void {
        capabilities.experimental = {
            ...(capabilities.experimental ?? {}),
            aumatron: { taskOutput: true, budget: true },
        };
    }
    initialize(): void {}
    clear(): void {}
}

/** A trace channel that masks API keys before anything is written. */
class RedactingChannel implements vscode.LogOutputChannel {
    constructor(private readonly inner: vscode.LogOutputChannel) {}
    get name(): string {
        return this.inner.name;
    }
    get logLevel(): vscode.LogLevel {
        return this.inner.logLevel;
    }
    get onDidChangeLogLevel(): vscode.Event<vscode.LogLevel> {
        return this.inner.onDidChangeLogLevel;
    }
    trace(message: string, ...args: unknown[]): void {
        this.inner.trace(redactSecrets(message), ...args.map(redactArgument));
    }
    debug(message: string, ...args: unknown[]): void {
        this.inner.debug(redactSecrets(message), ...args.map(redactArgument));
    }
    info(message: string, ...args: unknown[]): void {
        this.inner.info(redactSecrets(message), ...args.map(redactArgument));
    }
    warn(message: string, ...args: unknown[]): void {
        this.inner.warn(redactSecrets(message), ...args.map(redactArgument));
    }
    error(error: string | Error, ...args: unknown[]): void {
        const message = typeof error === "string" ? error : error.message;
        this.inner.error(redactSecrets(message), ...args.map(redactArgument));
    }
    append(value: string): void {
        this.inner.append(redactSecrets(value));
    }
    appendLine(value: string): void {
        this.inner.appendLine(redactSecrets(value));
    }
    replace(value: string): void {
        this.inner.replace(redactSecrets(value));
    }
    clear(): void {
        this.inner.clear();
    }
    show(columnOrPreserve?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
        if (typeof columnOrPreserve === "boolean") this.inner.show(columnOrPreserve);
        else this.inner.show(columnOrPreserve, preserveFocus);
    }
    hide(): void {
        this.inner.hide();
    }
    dispose(): void {
        // The channel belongs to the extension and outlives each client.
    }
}

function redactArgument(argument: unknown): unknown {
    if (typeof argument === "string") return redactSecrets(argument);
    if (typeof argument === "object" && argument !== null) {
        try {
            return redactSecrets(JSON.stringify(argument));
        } catch {
            return "[unprintable]";
        }
    }
    return argument;
}
