// The extension's state for one window: the client and its server, the budget
// and the status bar item, and the answers being streamed.

import * as path from "node:path";

import * as vscode from "vscode";
import * as lc from "vscode-languageclient/node";

import { AnswerView } from "./answer_view";
import { AnswerBook, isFinished, type TaskOrigin } from "./answers";
import { findServer } from "./bootstrap";
import { createClient } from "./client";
import { SECTION, type SettingSchema } from "./config";
import * as ext from "./lsp_ext";
import { presentStatus, TOOLTIP_COMMANDS, type ServerHealth } from "./status";

const TASK_COMMANDS = new Set<string>([
    ext.serverCommands.summarise,
    ext.serverCommands.explain,
    ext.serverCommands.draft,
]);

export class Ctx implements vscode.Disposable {
    readonly output: vscode.LogOutputChannel;
    private readonly trace: vscode.LogOutputChannel;
    private readonly statusItem: vscode.StatusBarItem;
    readonly book = new AnswerBook();
    private readonly view: AnswerView;
    private client: lc.LanguageClient | undefined;
    private clientSubscriptions: vscode.Disposable[] = [];
    private health: ServerHealth = { state: "starting" };
    private _budget: ext.Budget | undefined;
    private readonly subscriptions: vscode.Disposable[] = [];

    constructor(private readonly extension: vscode.ExtensionContext) {
        this.output = vscode.window.createOutputChannel("Aumatron", { log: true });
        this.trace = vscode.window.createOutputChannel("Aumatron Trace", { log: true });
        this.statusItem = vscode.window.createStatusBarItem(
            "aumatron.budget",
            vscode.StatusBarAlignment.Right,
            100,
        );
        this.statusItem.name = "Aumatron Budget";
        this.statusItem.command = "aumatron.budget.menu";
        this.view = new AnswerView(this.book);
        this.subscriptions.push(
            this.output,
            this.trace,
            this.statusItem,
            this.view,
        );
        this.updateStatus();
        this.statusItem.show();
    }

    get budget(): ext.Budget | undefined {
        return this._budget;
    }

    /** The running client, or an error the user can read. */
    requireClient(): lc.LanguageClient {
        if (this.client?.isRunning()) return this.client;
        const reason = this.health.state === "failed"
            ? this.health.message
            : "the Aumatron server is not running yet";
        throw new Error(reason);
    }

    async start(): Promise<void> {
        this.health = { state: "starting" };
        this.updateStatus();
        const settings = vscode.workspace.getConfiguration(SECTION);
        const discovery = findServer({
            configuredPath: settings.get<string | null>("server.path"),
            extensionPath: this.extension.extensionPath,
            searchPath: process.env.PATH,
        });
        if (!discovery.found) {
            this.fail(discovery.message);
            const choice = await vscode.window.showErrorMessage(discovery.message, "Open Settings");
            if (choice === "Open Settings") {
                await vscode.commands.executeCommand("workbench.action.openSettings", "aumatron.server.path");
            }
            return;
        }
        this.output.info(`starting ${discovery.path} (found through ${discovery.source})`);

        const client = createClient(discovery.path, this.output, this.trace, {
            schema: this.schema(),
            executeCommand: (command, args) => this.executeServerCommand(command, args),
        });
        this.client = client;
        this.clientSubscriptions.push(
            client.onNotification(ext.taskDidChange, (params) => this.onTaskDidChange(params)),
            client.onNotification(ext.budgetDidChange, (budget) => this.setBudget(budget)),
            client.onDidChangeState((event) => {
                if (event.newState === lc.State.Stopped && this.client === client) {
                    this.fail("the server stopped; run Aumatron: Restart Server");
                }
            }),
        );
        try {
            await client.start();
        } catch (error) {
            this.fail(`the server did not start: ${message(error)}`);
            return;
        }
        this.health = { state: "running" };
        this.updateStatus();
        await this.fetchBudget();
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        this.clientSubscriptions.forEach((d) => d.dispose());
        this.clientSubscriptions = [];
        if (client) await client.dispose().catch(() => undefined);
    }

    async restart(): Promise<void> {
        await this.stop();
        await this.start();
    }

    /** Sends a server command and shows a failure as the server phrased it. */
    async executeServerCommand(command: string, args: unknown[]): Promise<unknown> {
        const client = this.requireClient();
        let result: unknown;
        try {
            result = await client.sendRequest(lc.ExecuteCommandRequest.type, { command, arguments: args });
        } catch (error) {
            const text = message(error);
            this.output.warn(`${command} failed: ${text}`);
            void vscode.window.showErrorMessage(`Aumatron: ${text}`);
            return undefined;
        }
        if (TASK_COMMANDS.has(command)) await this.onTaskStarted(command, args[0], result);
        return result;
    }

    /** Runs `aumatron.summarise|explain|draft` on the active editor's selection. */
    async runTask(kind: ext.TaskKind, target: ext.Target, instruction?: string): Promise<string | undefined> {
        const editor = vscode.window.activeTextEditor;
        if (!editor || (editor.document.uri.scheme !== "file" && editor.document.uri.scheme !== "untitled")) {
            void vscode.window.showWarningMessage("Aumatron: open a file and select some text first.");
            return undefined;
        }
        const client = this.requireClient();
        const selection = editor.selection;
        const args: ext.TaskArguments = {
            uri: client.code2ProtocolConverter.asUri(editor.document.uri),
            target,
        };
        if (!selection.isEmpty) args.range = client.code2ProtocolConverter.asRange(selection);
        if (instruction) args.instruction = instruction;
        const result = await this.executeServerCommand(ext.serverCommands[kind], [args]);
        return (result as ext.TaskStarted | undefined)?.taskId;
    }

    async cancelTask(taskId: string): Promise<boolean> {
        const result = await this.executeServerCommand(ext.serverCommands.cancel, [{ taskId }]);
        return (result as ext.CancelResult | undefined)?.cancelled ?? false;
    }

    /** The running task shown in `uri`'s answer view, else in the active editor's. */
    runningTaskOf(uri?: vscode.Uri): string | undefined {
        const taskId = uri ? this.view.taskOfUri(uri) : this.view.taskOf(vscode.window.activeTextEditor);
        const answer = taskId ? this.book.get(taskId) : undefined;
        return answer && !isFinished(answer) ? answer.taskId : undefined;
    }

    async showAnswer(taskId: string): Promise<void> {
        const answer = this.book.get(taskId);
        if (answer) await this.view.show(answer);
    }

    activeAnswerTask(): string | undefined {
        return this.view.taskOf(vscode.window.activeTextEditor);
    }

    async fetchBudget(): Promise<void> {
        const client = this.client;
        if (!client?.isRunning()) return;
        try {
            this.setBudget(await client.sendRequest(ext.budget));
        } catch (error) {
            this.output.warn(`aumatron/budget failed: ${message(error)}`);
        }
    }

    setBudget(budget: ext.Budget): void {
        this._budget = budget;
        this.updateStatus();
    }

    private async onTaskStarted(command: string, argument: unknown, result: unknown): Promise<void> {
        const taskId = (result as ext.TaskStarted | undefined)?.taskId;
        if (!taskId) return;
        const args = (argument ?? {}) as ext.TaskArguments;
        const kind = command.slice("aumatron.".length) as ext.TaskKind;
        const origin: TaskOrigin = {
            kind,
            target: args.target ?? "local",
            fileName: fileNameOf(args.uri),
            range: args.range && !isEmptyRange(args.range) ? args.range : undefined,
        };
        const answer = this.book.register(taskId, origin);
        // Drafts land as an edit the user previews; the others stream into a view.
        if (kind !== "draft") await this.view.show(answer);
        this.updateContextKeys();
        this.updateStatus();
    }

    private onTaskDidChange(params: ext.TaskDidChangeParams): void {
        const answer = this.book.apply(params);
        const finished = isFinished(answer);
        this.view.refresh(params.taskId, finished);
        if (finished) {
            this.updateContextKeys();
            this.updateStatus();
        }
    }

    private fail(reason: string): void {
        this.health = { state: "failed", message: reason };
        this.output.error(reason);
        this.updateStatus();
    }

    private updateStatus(): void {
        const presentation = presentStatus(this.health, this._budget, this.book.running().length);
        this.statusItem.text = presentation.text;
        const tooltip = new vscode.MarkdownString(presentation.tooltip);
        tooltip.isTrusted = { enabledCommands: [...TOOLTIP_COMMANDS] };
        this.statusItem.tooltip = tooltip;
        this.statusItem.backgroundColor = presentation.background
            ? new vscode.ThemeColor(presentation.background)
            : undefined;
        this.statusItem.color = presentation.foreground
            ? new vscode.ThemeColor(presentation.foreground)
            : undefined;
        this.statusItem.accessibilityInformation = { label: presentation.accessibilityLabel };
    }

    /** `aumatron.taskRunning` for the context menu; `aumatron.runningAnswers`, the
     *  paths of answer views whose task runs, for each view's cancel button. */
    private updateContextKeys(): void {
        const running = this.book.running();
        void vscode.commands.executeCommand("setContext", "aumatron.taskRunning", running.length > 0);
        const paths = running.flatMap((answer) => this.view.pathOf(answer.taskId) ?? []);
        void vscode.commands.executeCommand("setContext", "aumatron.runningAnswers", paths);
    }

    private schema(): Record<string, SettingSchema> {
        const manifest = this.extension.extension.packageJSON as {
            contributes?: { configuration?: { properties?: Record<string, SettingSchema> } };
        };
        return manifest.contributes?.configuration?.properties ?? {};
    }

    dispose(): void {
        void this.stop();
        this.subscriptions.forEach((d) => d.dispose());
    }
}

function fileNameOf(uri: string | undefined): string {
    if (!uri) return "the file";
    try {
        return path.posix.basename(vscode.Uri.parse(uri).path) || uri;
    } catch {
        return uri;
    }
}

function isEmptyRange(range: lc.Range): boolean {
    return range.start.line === range.end.line && range.start.character === range.end.character;
}

export function message(error: unknown): string {
    if (error instanceof Error) return error.message;
    return String(error);
}
