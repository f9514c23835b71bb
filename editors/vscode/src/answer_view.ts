// The answer view: a read-only Markdown document beside the editor that fills as
// the server streams a summary or an explanation. Each task has its own virtual
// document (`aumatron-answer:/task-3/Explanation (main.rs).md`); its text is
// rendered from the AnswerBook on every read.

import * as vscode from "vscode";

import { ANSWER_SCHEME, AnswerBook, answerPath, renderAnswer, taskIdOfPath, type Answer } from "./answers";

/** Redraws at most this often while text streams in. */
const REDRAW_MS = 50;

export class AnswerView implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;
    private readonly opened = new Map<string, vscode.Uri>();
    private readonly pending = new Set<string>();
    private timer: NodeJS.Timeout | undefined;
    private readonly registration: vscode.Disposable;

    constructor(private readonly book: AnswerBook) {
        this.registration = vscode.workspace.registerTextDocumentContentProvider(ANSWER_SCHEME, this);
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        const taskId = taskIdOfPath(uri.path);
        const answer = taskId ? this.book.get(taskId) : undefined;
        return answer ? renderAnswer(answer) : "# Aumatron\n\n_This answer is no longer available._\n";
    }

    /** Opens the view of `answer` beside the active editor, keeping the focus there. */
    async show(answer: Answer): Promise<void> {
        let uri = this.opened.get(answer.taskId);
        if (!uri) {
            uri = vscode.Uri.from({ scheme: ANSWER_SCHEME, path: answerPath(answer) });
            this.opened.set(answer.taskId, uri);
        }
        const document = await vscode.workspace.openTextDocument(uri);
        await vscode.window.showTextDocument(document, {
            viewColumn: vscode.ViewColumn.Beside,
            preserveFocus: true,
            preview: false,
        });
    }

    isOpen(taskId: string): boolean {
        return this.opened.has(taskId);
    }

    /** Asks VS Code to re-read the view of `taskId`, coalescing bursts of tokens. */
    refresh(taskId: string, immediately = false): void {
        if (!this.opened.has(taskId)) return;
        this.pending.add(taskId);
        if (immediately) {
            this.flush();
            return;
        }
        this.timer ??= setTimeout(() => this.flush(), REDRAW_MS);
    }

    /** The task shown by `editor`, when it is an answer view. */
    taskOf(editor: vscode.TextEditor | undefined): string | undefined {
        return editor ? this.taskOfUri(editor.document.uri) : undefined;
    }

    taskOfUri(uri: vscode.Uri): string | undefined {
        return uri.scheme === ANSWER_SCHEME ? taskIdOfPath(uri.path) : undefined;
    }

    /** The path of the view of `taskId`, once it is open. */
    pathOf(taskId: string): string | undefined {
        return this.opened.get(taskId)?.path;
    }

    private flush(): void {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        for (const taskId of this.pending) {
            const uri = this.opened.get(taskId);
            if (uri) this.changed.fire(uri);
        }
        this.pending.clear();
    }

    dispose(): void {
        if (this.timer) clearTimeout(this.timer);
        this.registration.dispose();
        this.changed.dispose();
    }
}
