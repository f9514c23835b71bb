// End to end in a real VS Code (code-server) with the real server and the real
// model: the commands are where a person looks for them, and Explain streams the
// model's answer into the Markdown view beside the editor.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { BrowserContext } from "playwright-core";

import {
    baseSettings,
    CodeServer,
    copyExample,
    makeSandbox,
    openBrowser,
    removeSandbox,
    serverLog,
    waitFor,
    withScreenshot,
    Workbench,
    writeUserSettings,
    type Sandbox,
} from "./harness";

/** The answer view's text, whitespace folded (the view wraps long lines). */
interface View {
    heading: string;
    status: string;
    answer: string;
}

function parseView(text: string): View {
    const flat = text.replace(/\s+/g, " ").trim();
    const match = /^# (.*?) \*(.*?)\* ?(.*)$/.exec(flat);
    if (!match) return { heading: "", status: "", answer: flat };
    const answer = match[3].replace(/ ?--- _Cancel with the ■ button above.*$/, "").trim();
    return { heading: match[1], status: match[2], answer };
}

describe("local tasks in VS Code", () => {
    let sandbox: Sandbox;
    let server: CodeServer;
    let browser: BrowserContext;
    let bench: Workbench;

    before(async () => {
        sandbox = makeSandbox("local");
        copyExample(sandbox, "word_count.rs");
        // Short drafts keep the test quick on two cores.
        writeUserSettings(sandbox, { ...baseSettings(), "aumatron.local.maxOutputTokens": { draft: 96 } });
        server = await CodeServer.start(sandbox);
        browser = await openBrowser(sandbox);
        bench = new Workbench(await browser.newPage());
        await bench.open(server.folderUrl(sandbox.workspace));
    });

    // A test that leaves a screenshot behind when it fails.
    const check = (name: string, body: () => Promise<void>) =>
        test(name, withScreenshot(() => bench, () => sandbox, name, body));

    after(async () => {
        await browser?.close();
        await server?.stop();
        if (sandbox) removeSandbox(sandbox);
    });

    check("the status bar item is there once the server runs", async () => {
        const text = await waitFor("the status bar item", async () => {
            const value = await bench.statusText();
            return value.length > 0 ? value : undefined;
        });
        assert.match(text, /Aumatron|\$\d/);
        assert.doesNotMatch(await bench.statusItem().getAttribute("aria-label") ?? "", /not running/);
    });

    check("the editor's context menu offers every task and cancel", async () => {
        await bench.openFile("word_count.rs");
        await bench.selectLines(5, 21);
        const editor = bench.page.locator(".editor-instance .monaco-editor .view-lines").first();
        await editor.click({ button: "right", position: { x: 200, y: 120 } });
        const menu = bench.page.locator(".monaco-menu-container, .context-view .monaco-menu").first();
        await menu.waitFor();
        await menu.locator(".action-label", { hasText: /^Aumatron$/ }).hover();
        const items = bench.page.locator(".monaco-menu .action-label");
        const labels = await waitFor("the Aumatron submenu", async () => {
            const all = (await items.allInnerTexts()).map((t) => t.trim());
            return all.includes("Explain Locally") ? all : undefined;
        }, 10_000);
        for (const label of [
            "Summarise Locally", "Explain Locally", "Draft Locally…",
            "Summarise in the Cloud", "Explain in the Cloud", "Draft in the Cloud…",
        ]) {
            assert.ok(labels.includes(label), `${label} in ${labels.join(", ")}`);
        }
        await bench.page.keyboard.press("Escape");
        await bench.page.keyboard.press("Escape");
    });

    check("Explain streams the real model's answer into a Markdown view beside the editor", async () => {
        await bench.openFile("word_count.rs");
        await bench.selectLines(5, 21);
        await bench.runCommand("Aumatron: Explain Locally");

        const tab = bench.page.locator(".tab", { hasText: "Explanation (word_count.rs).md" });
        await tab.waitFor({ timeout: 60_000 });
        const group = bench.page.locator(".editor-group-container", { has: tab });

        // Sample the view as it fills: the answer must grow while the task runs.
        const samples: View[] = [];
        let streamingShot: string | undefined;
        const final = await waitFor("the explanation to finish", async () => {
            const view = parseView(await bench.editorText(group));
            if (samples[samples.length - 1]?.answer !== view.answer) samples.push(view);
            if (!streamingShot && /writing…/.test(view.status) && view.answer.length > 60) {
                streamingShot = await bench.screenshot(sandbox, "vscode-explain-streaming");
            }
            return /done in \d/.test(view.status) ? view : undefined;
        }, 300_000, 50);

        assert.equal(final.heading, "Explanation of word_count.rs, lines 5–21");
        assert.match(final.status, /^local model SmolLM2-135M-Instruct\.Q4_1 · done in [\d.]+ s · \d+ tokens in, \d+ out$/);
        assert.ok(final.answer.length > 40, `the answer is too short: ${JSON.stringify(final.answer)}`);
        assert.doesNotMatch(final.answer, /Waiting for the first words/);

        const partial = samples.filter((view) => /· writing… ·/.test(view.status));
        const lengths = new Set(partial.map((view) => view.answer.length));
        assert.ok(lengths.size >= 2, `expected to see the answer grow, saw ${partial.length} partial views`);

        await bench.screenshot(sandbox, "vscode-explain");

        // The view is read-only: typing into it changes nothing.
        await group.locator(".view-lines").click();
        await bench.page.keyboard.type("typed");
        assert.doesNotMatch(await bench.editorText(group), /typed/);

    });

    check("the same answer as the command line gives for the same lines", async () => {
        // Greedy sampling makes the model deterministic: the CLI, through the same
        // engine, must give the text the view shows.
        const cli = spawnSync(process.env.AUMATRON_E2E_SERVER!, [
            "run", "explain", join(sandbox.workspace, "word_count.rs"), "--lines", "5:21",
        ], { encoding: "utf8", env: { ...process.env, XDG_CONFIG_HOME: sandbox.xdg.config }, timeout: 300_000 });
        assert.equal(cli.status, 0, cli.stderr);
        const tab = bench.page.locator(".tab", { hasText: "Explanation (word_count.rs).md" });
        const group = bench.page.locator(".editor-group-container", { has: tab });
        const shown = parseView(await bench.editorText(group)).answer;
        const words = (text: string) => text.replace(/[*_`#>]/g, " ").split(/\s+/).filter(Boolean);
        const firstWords = words(cli.stdout).slice(0, 12).join(" ");
        assert.ok(firstWords.length > 0);
        assert.ok(words(shown).join(" ").startsWith(firstWords), `view: ${shown}\ncli: ${cli.stdout}`);
    });

    check("the answer view's ■ button cancels the task", async () => {
        await bench.openFile("word_count.rs");
        await bench.page.keyboard.press("Control+A");
        await bench.runCommand("Aumatron: Explain Locally");
        const group = bench.page.locator(".editor-group-container", {
            has: bench.page.locator(".tab.active", { hasText: "Explanation (word_count.rs).md" }),
        });
        await waitFor("the answer to start", async () =>
            /· (writing…|reading the selection…)/.test(parseView(await bench.editorText(group)).status), 120_000, 20);
        await group.locator(".tab.active").click();
        await group.locator('.editor-actions .action-label[aria-label*="Cancel Task"]').click();
        const view = await waitFor("the task to end", async () => {
            const current = parseView(await bench.editorText(group));
            return /· (cancelled|done in)/.test(current.status) ? current : undefined;
        }, 60_000);
        assert.match(view.status, /· cancelled/);
        assert.equal(view.heading, "Explanation of word_count.rs, lines 1–21");
        await group.locator('.editor-actions .action-label[aria-label*="Cancel Task"]').waitFor({ state: "detached" });
    });

    check("a draft opens in the refactor preview and lands only when applied", async () => {
        const file = join(sandbox.workspace, "word_count.rs");
        const before = readFileSync(file, "utf8");
        await bench.openFile("word_count.rs");
        await bench.selectLines(5, 21);
        await bench.runCommand("Aumatron: Draft Locally…");
        await bench.submitInput("Write a unit test for top_words.");
        const apply = bench.page.locator(".monaco-button", { hasText: /^Apply$/ }).first();
        await apply.waitFor({ timeout: 180_000 });
        assert.equal(readFileSync(file, "utf8"), before, "nothing changes before Apply");
        await bench.screenshot(sandbox, "vscode-draft-preview");
        // VS Code leaves an edit that needs confirmation unticked: the user ticks it.
        const panel = bench.page.locator(".part.panel");
        const tick = panel.locator(".bulk-edit-panel .monaco-checkbox.edit-checkbox").first();
        await tick.click();
        assert.equal(await tick.getAttribute("aria-checked"), "true");
        await apply.click();
        // VS Code saves the files a refactoring touched (files.refactoring.autoSave).
        const after = await waitFor("the draft on disk", () => {
            const text = readFileSync(file, "utf8");
            return text !== before ? text : undefined;
        });
        const beforeLines = before.split("\n");
        const afterLines = after.split("\n");
        assert.ok(afterLines.length > beforeLines.length, "the draft adds lines");
        assert.deepEqual(afterLines.slice(0, 21), beforeLines.slice(0, 21), "the selection is kept above the draft");

        // The setting aumatron.local.maxOutputTokens reached the server: the draft
        // stopped at 96 tokens, not the default 512.
        const log = readFileSync(serverLog(sandbox), "utf8");
        const drafted = /kind="draft".*task ended.*output_tokens=(\d+)/.exec(log);
        assert.ok(drafted, "the server logged the draft");
        assert.ok(Number(drafted[1]) <= 96, `the draft had ${drafted[1]} tokens`);
    });
});
