// What the status bar item shows for a budget state: its text, colours and
// tooltip. Pure, so the unit tests can check every state without VS Code; ctx.ts
// turns the result into a StatusBarItem.

import type { Budget, ProviderBudget } from "./lsp_ext";

/** The theme colours VS Code allows as a status bar item's background. */
export type StatusBackground = "statusBarItem.warningBackground" | "statusBarItem.errorBackground";

export interface StatusPresentation {
    text: string;
    /** Undefined: the default background. */
    background?: StatusBackground;
    /** A foreground that reads on `background`. */
    foreground?: string;
    /** Markdown. */
    tooltip: string;
    /** The accessible name screen readers announce. */
    accessibilityLabel: string;
}

/** The server's side of the story, before and besides its budget. */
export type ServerHealth =
    | { state: "starting" }
    | { state: "running" }
    | { state: "failed"; message: string };

/** Commands the tooltip links to; the tooltip's MarkdownString trusts only these. */
export const TOOLTIP_COMMANDS = [
    "aumatron.key.set",
    "aumatron.budget.setCap",
    "aumatron.budget.export",
    "aumatron.localOnly.on",
    "aumatron.localOnly.off",
    "aumatron.server.showLog",
] as const;

/**
 * A spend in US dollars: cents from a cent up (`$1.23`), two significant digits
 * below (`$0.0012`), so a first cheap request still shows.
 */
export function formatSpend(usd: number): string {
    if (!Number.isFinite(usd) || usd <= 0) return "$0.00";
    if (usd >= 0.01) return `$${usd.toFixed(2)}`;
    if (usd < 0.000001) return "<$0.000001";
    const decimals = Math.min(6, 1 - Math.floor(Math.log10(usd)));
    return `$${trimZeros(usd.toFixed(decimals))}`;
}

/** A cap: whole dollars without decimals (`$10`), else as a spend (`$7.50`). */
export function formatCap(usd: number): string {
    if (!Number.isFinite(usd) || usd < 0) return "$?";
    return Number.isInteger(usd) ? `$${usd}` : formatSpend(usd);
}

/** An exact figure for the tooltip: up to six decimals, as the ledger keeps them. */
export function formatExact(usd: number): string {
    if (!Number.isFinite(usd)) return "$?";
    const [whole, decimals = ""] = trimZeros(usd.toFixed(6)).split(".");
    return `$${whole}.${decimals.padEnd(2, "0")}`;
}

function trimZeros(fixed: string): string {
    return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
}

/** The status bar item for `budget` (undefined: none received yet). */
export function presentStatus(
    health: ServerHealth,
    budget: Budget | undefined,
    runningTasks = 0,
): StatusPresentation {
    if (health.state === "failed") {
        return {
            text: "$(error) Aumatron",
            background: "statusBarItem.errorBackground",
            foreground: "statusBarItem.errorForeground",
            tooltip: `**Aumatron** is not running: ${escapeMarkdown(health.message)}\n\n` +
                "[Show server log](command:aumatron.server.showLog)",
            accessibilityLabel: `Aumatron is not running: ${health.message}`,
        };
    }
    if (!budget) {
        const waiting = health.state === "starting" ? "starting the server…" : "no budget reported yet";
        return {
            text: runningTasks > 0 ? "$(loading~spin) Aumatron" : "$(cloud) Aumatron",
            tooltip: `**Aumatron**: ${waiting}`,
            accessibilityLabel: `Aumatron: ${waiting}`,
        };
    }

    const figures = `${formatSpend(budget.spentUsd)} / ${formatCap(budget.capUsd)}`;
    const busy = runningTasks > 0 || budget.reservedUsd > 0;
    let text: string;
    let background: StatusBackground | undefined;
    let foreground: string | undefined;
    let stateWords: string;
    switch (budget.state) {
        case "local-only":
            text = `$(lock) Local only · ${figures}`;
            stateWords = "local only: cloud use is off";
            break;
        case "exhausted":
            text = `$(error) ${figures}`;
            background = "statusBarItem.errorBackground";
            foreground = "statusBarItem.errorForeground";
            stateWords = "the monthly cap is reached: cloud tasks are refused";
            break;
        case "warning":
            text = `$(warning) ${figures}`;
            background = "statusBarItem.warningBackground";
            foreground = "statusBarItem.warningForeground";
            stateWords = `over ${Math.round(budget.warnFraction * 100)}% of the monthly cap`;
            break;
        default:
            text = `${busy ? "$(loading~spin)" : "$(cloud)"} ${figures}`;
            stateWords = "within the monthly cap";
    }
    return {
        text,
        background,
        foreground,
        tooltip: budgetTooltip(budget, stateWords),
        accessibilityLabel: `Aumatron cloud spend ${formatExact(budget.spentUsd)} of ` +
            `${formatCap(budget.capUsd)} this month, ${stateWords}`,
    };
}

function budgetTooltip(budget: Budget, stateWords: string): string {
    const lines: string[] = [];
    lines.push(`**Aumatron cloud spend**, ${periodWords(budget.period)}: ${stateWords}`);
    lines.push("");
    lines.push(
        `${formatExact(budget.spentUsd)} spent, ${formatExact(budget.reservedUsd)} reserved, ` +
            `${formatExact(budget.remainingUsd)} left of ${formatCap(budget.capUsd)} ` +
            `(warning at ${Math.round(budget.warnFraction * 100)}%)`,
    );
    const cloudProviders = budget.providers.filter((p) => !p.local);
    if (cloudProviders.length > 0) {
        lines.push("");
        lines.push("| provider | model | key | spent | requests |");
        lines.push("|---|---|---|--:|--:|");
        for (const provider of cloudProviders) lines.push(providerRow(provider));
    }
    lines.push("");
    if (budget.last) {
        const last = budget.last;
        lines.push(
            `Last request: ${escapeMarkdown(last.provider)} ${escapeMarkdown(last.model)}, ` +
                `${last.inputTokens} tokens in, ${last.outputTokens} out, ` +
                `${formatExact(last.costUsd)}, ${timeWords(last.at)}`,
        );
    } else {
        lines.push("No cloud request this period.");
    }
    if (budget.pricesAsOf) {
        lines.push("");
        lines.push(`Prices as of ${escapeMarkdown(budget.pricesAsOf)}.`);
    }
    lines.push("");
    const toggle = budget.state === "local-only"
        ? "[Allow the cloud](command:aumatron.localOnly.off)"
        : "[Local only](command:aumatron.localOnly.on)";
    lines.push(
        "[Set API key](command:aumatron.key.set) · [Set cap](command:aumatron.budget.setCap) · " +
            `[Export spend](command:aumatron.budget.export) · ${toggle}`,
    );
    return lines.join("\n");
}

function providerRow(provider: ProviderBudget): string {
    const key = provider.keyState === "ok" ? "set" : provider.keyState;
    return `| ${escapeMarkdown(provider.name)} | ${escapeMarkdown(provider.model)} | ${key} | ` +
        `${formatExact(provider.spentUsd)} | ${provider.requests} |`;
}

/** `[start, end)` as the first and last day, in UTC. */
function periodWords(period: { start: string; end: string }): string {
    const start = new Date(period.start);
    const end = new Date(period.end);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return "this period";
    const lastDay = new Date(end.getTime() - 24 * 3600 * 1000);
    return `${isoDay(start)} to ${isoDay(lastDay)}`;
}

function isoDay(date: Date): string {
    return date.toISOString().slice(0, 10);
}

function timeWords(at: string): string {
    const date = new Date(at);
    if (Number.isNaN(date.getTime())) return escapeMarkdown(at);
    return `${isoDay(date)} ${date.toISOString().slice(11, 16)} UTC`;
}

/** Escapes the characters that would change a Markdown table or inline text. */
export function escapeMarkdown(text: string): string {
    return text.replace(/[\\`*_[\]|<>]/g, (c) => `\\${c}`);
}
