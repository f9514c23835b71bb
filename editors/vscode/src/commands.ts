// The extension's commands: tasks, cancel, keys, local only, the cap, the spend
// export and the status bar's menu. Ids differ from the server's own command ids
// (`aumatron.explain`...), which vscode-languageclient registers itself.

import * as vscode from "vscode";

import { isFinished } from "./answers";
import { Ctx, message } from "./ctx";
import type * as ext from "./lsp_ext";
import { formatCap } from "./status";

type Handler = (ctx: Ctx) => (...args: unknown[]) => unknown;

const BUILT_IN_PROVIDERS: { id: string; name: string }[] = [
    { id: "openai", name: "OpenAI" },
    { id: "anthropic", name: "Anthropic" },
];

function task(kind: ext.TaskKind, target: ext.Target): Handler {
    return (ctx) => async () => {
        let instruction: string | undefined;
        if (kind === "draft") {
            instruction = await vscode.window.showInputBox({
                title: target === "local" ? "Aumatron: Draft Locally" : "Aumatron: Draft in the Cloud",
                prompt: "What should the model write? Leave empty to let it continue the selection.",
                placeHolder: "Write a unit test for this function",
                ignoreFocusOut: true,
            });
            if (instruction === undefined) return undefined;
        }
        return ctx.runTask(kind, target, instruction || undefined);
    };
}

// From an answer view's title button, VS Code passes the view's URI.
const cancel: Handler = (ctx) => async (resource?: unknown) => {
    let taskId = ctx.runningTaskOf(resource instanceof vscode.Uri ? resource : undefined);
    if (!taskId) {
        const running = ctx.book.running();
        if (running.length === 0) {
            void vscode.window.showInformationMessage("Aumatron: no task is running.");
            return;
        }
        if (running.length === 1) {
            taskId = running[0].taskId;
        } else {
            const picked = await vscode.window.showQuickPick(
                running.map((answer) => ({
                    label: `${answer.kind ?? "task"} ${answer.taskId}`,
                    description: answer.origin?.fileName,
                    taskId: answer.taskId,
                })),
                { title: "Aumatron: Cancel Task", placeHolder: "Which task?" },
            );
            taskId = picked?.taskId;
        }
    }
    if (!taskId) return;
    const cancelled = await ctx.cancelTask(taskId);
    const answer = ctx.book.get(taskId);
    if (!cancelled && answer && !isFinished(answer)) {
        void vscode.window.showInformationMessage(`Aumatron: ${taskId} had already ended.`);
    }
};

interface ProviderItem extends vscode.QuickPickItem {
    id: string;
}

function providerItems(ctx: Ctx, onlyWithKeys: boolean): ProviderItem[] {
    const providers = ctx.budget?.providers.filter((p) => !p.local);
    if (!providers || providers.length === 0) {
        return BUILT_IN_PROVIDERS.map((p) => ({ id: p.id, label: p.name, description: p.id }));
    }
    return providers
        .filter((p) => !onlyWithKeys || p.hasKey)
        .map((p) => ({
            id: p.id,
            label: p.name,
            description: `${p.id} · ${p.model}`,
            detail: p.keyState === "ok" ? "a key is stored" : p.keyState === "rejected"
                ? "its key was rejected" : "no key yet",
        }));
}

const setKey: Handler = (ctx) => async (provider?: unknown) => {
    let id = typeof provider === "string" ? provider : undefined;
    let name = id;
    if (!id) {
        const picked = await vscode.window.showQuickPick(providerItems(ctx, false), {
            title: "Aumatron: Set API Key",
            placeHolder: "Which provider's key?",
        });
        if (!picked) return;
        id = picked.id;
        name = picked.label;
    }
    const key = await vscode.window.showInputBox({
        title: `Aumatron: API key for ${name}`,
        prompt: "Stored in the system keyring by the server; never in settings or logs.",
        password: true,
        ignoreFocusOut: true,
        validateInput: (value) => (value.trim() ? undefined : "Paste the key, or press Escape."),
    });
    if (key === undefined) return;
    const result = (await ctx.executeServerCommand("aumatron.setKey", [
        { provider: id, key: key.trim() },
    ])) as ext.SetKeyResult | undefined;
    if (result) {
        void vscode.window.showInformationMessage(`Aumatron: the ${name} key is stored.`);
        await ctx.fetchBudget();
    }
};

const removeKey: Handler = (ctx) => async () => {
    const items = providerItems(ctx, true);
    if (items.length === 0) {
        void vscode.window.showInformationMessage("Aumatron: no provider has a key.");
        return;
    }
    const picked = await vscode.window.showQuickPick(items, {
        title: "Aumatron: Remove API Key",
        placeHolder: "Whose key should be deleted from the keyring?",
    });
    if (!picked) return;
    const result = (await ctx.executeServerCommand("aumatron.removeKey", [
        { provider: picked.id },
    ])) as ext.RemoveKeyResult | undefined;
    if (result) {
        void vscode.window.showInformationMessage(
            result.removed
                ? `Aumatron: the ${picked.label} key is deleted.`
                : `Aumatron: there was no ${picked.label} key.`,
        );
        await ctx.fetchBudget();
    }
};

function localOnly(on: boolean): Handler {
    return () => async () => {
        await vscode.workspace
            .getConfiguration("aumatron")
            .update("cloud.enabled", !on, vscode.ConfigurationTarget.Global);
        void vscode.window.showInformationMessage(
            on
                ? "Aumatron: local only. Cloud commands are hidden and refused; keys stay stored."
                : "Aumatron: cloud commands are available again.",
        );
    };
}

const setCap: Handler = (ctx) => async () => {
    const current = ctx.budget?.capUsd;
    const answer = await vscode.window.showInputBox({
        title: "Aumatron: Set Monthly Cap",
        prompt: "The most the cloud may cost per budget period, in US dollars. Saved in the " +
            "aumatron config file, for every editor.",
        value: current === undefined ? "" : String(current),
        ignoreFocusOut: true,
        validateInput: (value) => {
            const usd = Number(value.trim().replace(/^\$/, ""));
            return value.trim() && Number.isFinite(usd) && usd >= 0
                ? undefined
                : "A number of dollars, 0 or more.";
        },
    });
    if (answer === undefined) return;
    const usd = Number(answer.trim().replace(/^\$/, ""));
    const budget = (await ctx.executeServerCommand("aumatron.setCap", [{ usd }])) as
        | ext.Budget
        | undefined;
    if (!budget) return;
    ctx.setBudget(budget);
    const override = vscode.workspace.getConfiguration("aumatron").inspect<number>("budget.monthlyCapUsd");
    const note = override?.globalValue !== undefined
        ? ` Your VS Code setting aumatron.budget.monthlyCapUsd (${formatCap(override.globalValue)}) ` +
            "still overrides it in VS Code."
        : "";
    void vscode.window.showInformationMessage(`Aumatron: the monthly cap is ${formatCap(usd)}.${note}`);
};

const exportSpend: Handler = (ctx) => async () => {
    const result = (await ctx.executeServerCommand("aumatron.exportSpend", [])) as
        | ext.ExportSpendResult
        | undefined;
    if (!result) return;
    const month = new Date().toISOString().slice(0, 7);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
        title: "Aumatron: Export Spend",
        defaultUri: folder ? vscode.Uri.joinPath(folder, `aumatron-spend-${month}.csv`) : undefined,
        filters: { CSV: ["csv"] },
        saveLabel: "Export",
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(result.csv));
    const rows = Math.max(0, result.csv.trimEnd().split("\n").length - 1);
    const choice = await vscode.window.showInformationMessage(
        `Aumatron: ${rows} request${rows === 1 ? "" : "s"} exported to ${target.fsPath}.`,
        "Open",
    );
    if (choice === "Open") await vscode.window.showTextDocument(target);
};

const budgetMenu: Handler = (ctx) => async () => {
    const localOnlyNow = vscode.workspace.getConfiguration("aumatron").get<boolean>("cloud.enabled") === false;
    const items: (vscode.QuickPickItem & { command: string })[] = [
        { label: "$(key) Set API Key…", command: "aumatron.key.set" },
        { label: "$(trash) Remove API Key…", command: "aumatron.key.remove" },
        localOnlyNow
            ? { label: "$(cloud) Turn Local Only Off", command: "aumatron.localOnly.off" }
            : { label: "$(lock) Turn Local Only On", command: "aumatron.localOnly.on" },
        { label: "$(dashboard) Set Monthly Cap…", command: "aumatron.budget.setCap" },
        { label: "$(export) Export Spend…", command: "aumatron.budget.export" },
        { label: "$(output) Show Server Log", command: "aumatron.server.showLog" },
    ];
    const picked = await vscode.window.showQuickPick(items, {
        title: "Aumatron: Budget and Keys",
        placeHolder: ctx.budget
            ? `${ctx.budget.spentUsd.toFixed(2)} of ${formatCap(ctx.budget.capUsd)} spent this period`
            : undefined,
    });
    if (picked) await vscode.commands.executeCommand(picked.command);
};

const previewAnswer: Handler = (ctx) => async () => {
    const taskId = ctx.activeAnswerTask();
    const editor = vscode.window.activeTextEditor;
    if (!taskId || !editor) return;
    await vscode.commands.executeCommand("markdown.showPreviewToSide", editor.document.uri);
};

const HANDLERS: Record<string, Handler> = {
    "aumatron.run.summarise": task("summarise", "local"),
    "aumatron.run.explain": task("explain", "local"),
    "aumatron.run.draft": task("draft", "local"),
    "aumatron.run.summariseCloud": task("summarise", "cloud"),
    "aumatron.run.explainCloud": task("explain", "cloud"),
    "aumatron.run.draftCloud": task("draft", "cloud"),
    "aumatron.task.cancel": cancel,
    "aumatron.key.set": setKey,
    "aumatron.key.remove": removeKey,
    "aumatron.localOnly.on": localOnly(true),
    "aumatron.localOnly.off": localOnly(false),
    "aumatron.budget.setCap": setCap,
    "aumatron.budget.export": exportSpend,
    "aumatron.budget.menu": budgetMenu,
    "aumatron.answer.preview": previewAnswer,
    "aumatron.server.restart": (ctx) => () => ctx.restart(),
    "aumatron.server.showLog": (ctx) => () => ctx.output.show(true),
};

export function registerCommands(ctx: Ctx): vscode.Disposable[] {
    return Object.entries(HANDLERS).map(([id, handler]) => {
        const run = handler(ctx);
        return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
            try {
                return await run(...args);
            } catch (error) {
                void vscode.window.showErrorMessage(`Aumatron: ${message(error)}`);
                return undefined;
            }
        });
    });
}

