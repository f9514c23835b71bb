// The aumatron additions to LSP, typed: the server's commands and their
// arguments, `aumatron/taskDidChange`, `aumatron/budgetDidChange` and
// `aumatron/budget`. docs/protocol.md is the contract; the names here must match
// it exactly.

import * as lc from "vscode-languageclient/node";

/** The three tasks the server runs. */
export type TaskKind = "summarise" | "explain" | "draft";

export const TASK_KINDS: readonly TaskKind[] = ["summarise", "explain", "draft"];

/** Where a task runs: the local model, the provider routing picks, or a provider id. */
export type Target = "local" | "cloud" | string;

/** Server command ids. vscode-languageclient registers a VS Code command for
 *  each, so the extension's own commands use other ids (`aumatron.run.*`). */
export const serverCommands = {
    summarise: "aumatron.summarise",
    explain: "aumatron.explain",
    draft: "aumatron.draft",
    cancel: "aumatron.cancel",
    setKey: "aumatron.setKey",
    removeKey: "aumatron.removeKey",
    setCap: "aumatron.setCap",
    exportSpend: "aumatron.exportSpend",
} as const;

export interface TaskArguments {
    uri: string;
    range?: lc.Range;
    instruction?: string;
    target?: Target;
}

export interface TaskStarted {
    taskId: string;
}

export interface CancelResult {
    cancelled: boolean;
}

export interface SetKeyResult {
    provider: string;
    keyState: KeyState;
}

export interface RemoveKeyResult {
    provider: string;
    removed: boolean;
}

export interface ExportSpendResult {
    csv: string;
}

export type TaskStatus = "running" | "done" | "failed" | "cancelled";

export interface TaskDidChangeParams {
    taskId: string;
    kind: TaskKind;
    status: TaskStatus;
    /** New text since the previous notification (running only). */
    delta?: string;
    /** The whole answer, cleaned (final notification only). */
    text?: string;
    provider: string;
    model: string;
    inputTokens: number;
    outputTokens: number;
    /** Cloud tasks, final notification only. */
    costUsd?: number;
    /** Failed only. */
    error?: string;
}

export type BudgetState = "ok" | "warning" | "exhausted" | "local-only";

export type KeyState = "ok" | "missing" | "rejected";

export interface ProviderBudget {
    id: string;
    kind: string;
    name: string;
    model: string;
    tags: string[];
    local: boolean;
    hasKey: boolean;
    keyState: KeyState;
    spentUsd: number;
    requests: number;
}

export interface LastRequest {
    taskId: string;
    provider: string;
    model: string;
    inputTokens: number;
    outputTokens: number;
    costUsd: number;
    at: string;
}

export interface Budget {
    period: { start: string; end: string };
    capUsd: number;
    spentUsd: number;
    reservedUsd: number;
    remainingUsd: number;
    warnFraction: number;
    state: BudgetState;
    pricesAsOf?: string;
    providers: ProviderBudget[];
    last: LastRequest | null;
}

export const taskDidChange = new lc.NotificationType<TaskDidChangeParams>(
    "aumatron/taskDidChange",
);
export const budgetDidChange = new lc.NotificationType<Budget>("aumatron/budgetDidChange");
export const budget = new lc.RequestType0<Budget, void>("aumatron/budget");
