import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { AnswerBook, answerPath, renderAnswer, selectionWords, taskIdOfPath } from "../../src/answers";
import type { TaskDidChangeParams } from "../../src/lsp_ext";

function note(overrides: Partial<TaskDidChangeParams>): TaskDidChangeParams {
    return {
        taskId: "task-3", kind: "explain", status: "running", provider: "local",
        model: "SmolLM2-135M-Instruct.Q4_1", inputTokens: 112, outputTokens: 0, ...overrides,
    };
}

const origin = {
    kind: "explain" as const, target: "local", fileName: "word_count.rs",
    range: { start: { line: 2, character: 0 }, end: { line: 12, character: 0 } },
};

describe("answer book", () => {
    test("deltas accumulate in order; the final text replaces them", () => {
        let clock = 1000;
        const book = new AnswerBook(() => clock);
        book.register("task-3", origin);
        book.apply(note({}));
        book.apply(note({ delta: "This function", outputTokens: 2 }));
        book.apply(note({ delta: " counts words", outputTokens: 4 }));
        let answer = book.get("task-3")!;
        assert.equal(answer.text, "This function counts words");
        assert.equal(answer.status, "running");
        assert.equal(book.running().length, 1);
        clock = 3500;
        book.apply(note({ status: "done", text: "This function counts words.", outputTokens: 5 }));
        answer = book.get("task-3")!;
        assert.equal(answer.text, "This function counts words.");
        assert.equal(answer.status, "done");
        assert.equal(book.running().length, 0);
        assert.match(renderAnswer(answer), /done in 2\.5 s · 112 tokens in, 5 out/);
    });

    test("notifications that come before the command's answer are kept", () => {
        const book = new AnswerBook();
        book.apply(note({}));
        book.apply(note({ delta: "Early", outputTokens: 1 }));
        const answer = book.register("task-3", origin);
        assert.equal(answer.text, "Early");
        assert.equal(answer.origin?.fileName, "word_count.rs");
    });

    test("nothing changes a finished answer", () => {
        const book = new AnswerBook();
        book.apply(note({ status: "cancelled", text: "Half" }));
        book.apply(note({ delta: " more", outputTokens: 9 }));
        assert.equal(book.get("task-3")!.text, "Half");
        assert.equal(book.get("task-3")!.status, "cancelled");
    });

    test("a failure shows the server's sentence", () => {
        const book = new AnswerBook();
        book.register("task-3", origin);
        book.apply(note({ status: "failed", text: "", error: "the model file is missing" }));
        const markdown = renderAnswer(book.get("task-3")!);
        assert.match(markdown, /\*\*Failed:\*\* the model file is missing/);
        assert.match(markdown, /_No answer\._/);
    });

    test("a cloud answer names the provider and its cost", () => {
        const book = new AnswerBook();
        book.register("task-9", { ...origin, target: "cloud" });
        book.apply(note({ taskId: "task-9", provider: "openai", model: "gpt-4.1-mini" }));
        book.apply(note({
            taskId: "task-9", provider: "openai", model: "gpt-4.1-mini", status: "done",
            text: "Counted.", inputTokens: 1000, outputTokens: 500, costUsd: 0.0012,
        }));
        assert.match(renderAnswer(book.get("task-9")!), /openai gpt-4\.1-mini \(cloud\) · done in .* · 1000 tokens in, 500 out · cost \$0\.001200/);
    });
});

describe("answer view text", () => {
    test("while running: heading, status line, text so far and how to cancel", () => {
        const book = new AnswerBook();
        book.register("task-3", origin);
        book.apply(note({}));
        let markdown = renderAnswer(book.get("task-3")!);
        assert.equal(markdown.split("\n")[0], "# Explanation of word_count.rs, lines 3–12");
        assert.match(markdown, /local model SmolLM2-135M-Instruct\.Q4_1 · reading the selection…/);
        assert.match(markdown, /_Waiting for the first words…_/);
        assert.match(markdown, /Cancel with the ■ button above/);
        book.apply(note({ delta: "It reads", outputTokens: 2 }));
        markdown = renderAnswer(book.get("task-3")!);
        assert.match(markdown, /writing… · 112 tokens in, 2 out\*\n\nIt reads\n/);
    });

    test("finished answers drop the cancel hint", () => {
        const book = new AnswerBook();
        book.register("task-3", origin);
        book.apply(note({ status: "done", text: "Done." }));
        assert.doesNotMatch(renderAnswer(book.get("task-3")!), /Cancel/);
    });

    test("selection words count lines as people do", () => {
        assert.equal(selectionWords(undefined), "the whole file");
        assert.equal(selectionWords({ start: { line: 4, character: 2 }, end: { line: 4, character: 9 } }), "line 5");
        assert.equal(selectionWords({ start: { line: 2, character: 0 }, end: { line: 5, character: 0 } }), "lines 3–5");
        assert.equal(selectionWords({ start: { line: 2, character: 0 }, end: { line: 5, character: 3 } }), "lines 3–6");
    });

    test("the view's path carries the task id and a readable tab label", () => {
        const book = new AnswerBook();
        const answer = book.register("task-3", origin);
        assert.equal(answerPath(answer), "/task-3/Explanation (word_count.rs).md");
        assert.equal(taskIdOfPath(answerPath(answer)), "task-3");
    });
});
