// The answers streamed by `aumatron/taskDidChange`: what each task has written so
// far, and the Markdown the answer view shows for it. Pure, so the unit tests can
// replay notification sequences; answer_view.ts serves the Markdown to VS Code.

import type { TaskDidChangeParams, TaskKind, TaskStatus, Target } from "./lsp_ext";

export const ANSWER_SCHEME = "aumatron-answer";

/** Where a task came from, known once the server has answered the command. */
export interface TaskOrigin {
    kind: TaskKind;
    target: Target;
    /** The document's file name, for titles. */
    fileName: string;
    /** Zero-based LSP lines of the selection; undefined for the whole document. */
    range?: { start: { line: number; character: number }; end: { line: number; character: number } };
}

export interface Answer {
    taskId: string;
    origin?: TaskOrigin;
    kind?: TaskKind;
    /** `waiting` until the server's first notification. */
    status: TaskStatus | "waiting";
    text: string;
    provider?: string;
    model?: string;
    inputTokens: number;
    outputTokens: number;
    costUsd?: number;
    error?: string;
    startedAt: number;
    endedAt?: number;
}

export function isFinished(answer: Answer): boolean {
    return answer.status === "done" || answer.status === "failed" || answer.status === "cancelled";
}

/** Every task this window knows about, by id. */
export class AnswerBook {
    private readonly answers = new Map<string, Answer>();

    constructor(private readonly now: () => number = Date.now) {}

    /** Records where a task came from; notifications may have come first. */
    register(taskId: string, origin: TaskOrigin): Answer {
        const answer = this.entry(taskId);
        answer.origin = origin;
        answer.kind ??= origin.kind;
        return answer;
    }

    /** Applies one notification. Deltas after the end are stale and ignored. */
    apply(params: TaskDidChangeParams): Answer {
        const answer = this.entry(params.taskId);
        if (isFinished(answer)) return answer;
        answer.kind = params.kind;
        answer.provider = params.provider;
        answer.model = params.model;
        answer.inputTokens = params.inputTokens;
        answer.outputTokens = params.outputTokens;
        if (params.status === "running") {
            answer.status = "running";
            if (params.delta) answer.text += params.delta;
        } else {
            answer.status = params.status;
            if (params.text !== undefined) answer.text = params.text;
            answer.costUsd = params.costUsd;
            answer.error = params.error;
            answer.endedAt = this.now();
        }
        return answer;
    }

    get(taskId: string): Answer | undefined {
        return this.answers.get(taskId);
    }

    /** Tasks not finished yet, oldest first. */
    running(): Answer[] {
        return [...this.answers.values()].filter((answer) => !isFinished(answer));
    }

    forget(taskId: string): void {
        this.answers.delete(taskId);
    }

    private entry(taskId: string): Answer {
        let answer = this.answers.get(taskId);
        if (!answer) {
            answer = {
                taskId,
                status: "waiting",
                text: "",
                inputTokens: 0,
                outputTokens: 0,
                startedAt: this.now(),
            };
            this.answers.set(taskId, answer);
        }
        return answer;
    }
}

const NOUNS: Record<TaskKind, string> = {
    summarise: "Summary",
    explain: "Explanation",
    draft: "Draft",
};

/** The view's title: `Explanation (word_count.rs)`. */
export function answerTitle(answer: Answer): string {
    const noun = answer.kind ? NOUNS[answer.kind] : "Answer";
    return answer.origin ? `${noun} (${answer.origin.fileName})` : noun;
}

/** The path of the view's virtual document; its last segment is the tab's label. */
export function answerPath(answer: Answer): string {
    const title = answerTitle(answer).replace(/[/\\]/g, "_");
    return `/${encodeURIComponent(answer.taskId)}/${title}.md`;
}

/** The task id in an answer view's path. */
export function taskIdOfPath(path: string): string | undefined {
    const first = path.split("/").filter(Boolean)[0];
    return first ? decodeURIComponent(first) : undefined;
}

/** 1-based, inclusive line numbers of a selection, as people count them. */
export function selectionWords(range: TaskOrigin["range"]): string {
    if (!range) return "the whole file";
    const first = range.start.line + 1;
    let last = range.end.line + 1;
    // A selection that ends at the start of a line does not include that line.
    if (range.end.character === 0 && range.end.line > range.start.line) last -= 1;
    return first === last ? `line ${first}` : `lines ${first}–${last}`;
}

/** The Markdown the answer view shows. */
export function renderAnswer(answer: Answer): string {
    const heading = answer.origin
        ? `# ${NOUNS[answer.kind ?? answer.origin.kind]} of ${answer.origin.fileName}, ` +
            selectionWords(answer.origin.range)
        : `# ${answerTitle(answer)}`;
    const body = answer.text.trim().length > 0
        ? answer.text.trim()
        : answer.status === "waiting" || answer.status === "running"
            ? "_Waiting for the first words…_"
            : "_No answer._";
    const parts = [heading, "", `*${statusLine(answer)}*`, "", body];
    if (answer.status === "failed" && answer.error) {
        parts.push("", `**Failed:** ${answer.error}`);
    }
    if (!isFinished(answer)) {
        parts.push("", "---", "", "_Cancel with the ■ button above, or **Aumatron: Cancel Task**._");
    }
    return parts.join("\n") + "\n";
}

function statusLine(answer: Answer): string {
    const where = answer.provider === undefined
        ? "starting"
        : answer.provider === "local"
            ? `local model ${answer.model ?? ""}`.trim()
            : `${answer.provider} ${answer.model ?? ""} (cloud)`.trim();
    const words: string[] = [where];
    switch (answer.status) {
        case "waiting":
            words.push("waiting for the server");
            break;
        case "running":
            words.push(answer.outputTokens > 0 ? "writing…" : "reading the selection…");
            break;
        case "done":
            words.push(`done in ${seconds(answer)}`);
            break;
        case "failed":
            words.push("failed");
            break;
        case "cancelled":
            words.push("cancelled");
            break;
    }
    if (answer.inputTokens > 0 || answer.outputTokens > 0) {
        words.push(`${answer.inputTokens} tokens in, ${answer.outputTokens} out`);
    }
    if (answer.costUsd !== undefined) words.push(`cost $${answer.costUsd.toFixed(6)}`);
    return words.join(" · ");
}

function seconds(answer: Answer): string {
    const ms = (answer.endedAt ?? answer.startedAt) - answer.startedAt;
    return `${(ms / 1000).toFixed(1)} s`;
}
