// End to end in a real VS Code (code-server) with the real server, its real
// ledger and the real kernel keyring, against the loopback fake of the cloud
// providers: the key goes in through the password box and nowhere else, a cloud
// task changes the status bar, and the budget commands work from the palette.

import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { BrowserContext } from "playwright-core";

import {
    baseSettings,
    CodeServer,
    copyExample,
    FakeCloud,
    makeSandbox,
    openBrowser,
    removeSandbox,
    runServerCli,
    waitFor,
    withScreenshot,
    Workbench,
    writeUserSettings,
    type Sandbox,
} from "./harness";

// Looks like a key, and is unique to this run so that a search for it is exact.
const KEY = `sk-aumatron-e2e-${process.pid}-${Date.now().toString(36)}`;

/** Every file under `dir` whose text holds `needle`. */
function filesHolding(dir: string, needle: string): string[] {
    const found: string[] = [];
    if (!existsSync(dir)) return found;
    for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        const stat = lstatSync(path);
        if (stat.isDirectory()) found.push(...filesHolding(path, needle));
        else if (stat.isFile() && stat.size < 50_000_000 && readFileSync(path).includes(needle)) found.push(path);
    }
    return found;
}

describe("cloud tasks and the budget in VS Code", () => {
    let sandbox: Sandbox;
    let cloud: FakeCloud;
    let server: CodeServer;
    let browser: BrowserContext;
    let bench: Workbench;

    const check = (name: string, body: () => Promise<void>) =>
        test(name, withScreenshot(() => bench, () => sandbox, name, body));

    before(async () => {
        sandbox = makeSandbox("cloud");
        copyExample(sandbox, "word_count.rs");
        cloud = await FakeCloud.start();
        // Only this run's key is accepted, so a request that arrives carried it.
        await cloud.control("keys", { keys: [KEY] });
        await cloud.control("script", {
            path: "/v1/chat/completions",
            steps: [{ text: "This function ranks the words of a text by how often they appear.", usage: { input: 1000, output: 500 } }],
        });
        writeUserSettings(sandbox, {
            ...baseSettings(),
            "aumatron.providers": { openai: { baseUrl: cloud.baseUrl } },
            // The trace would print every message; the key must still not show.
            "aumatron.trace.server": "verbose",
        });
        server = await CodeServer.start(sandbox);
        browser = await openBrowser(sandbox);
        bench = new Workbench(await browser.newPage());
        await bench.open(server.folderUrl(sandbox.workspace));
    });

    after(async () => {
        await browser?.close();
        await server?.stop();
        await cloud?.stop();
        if (sandbox) {
            // This run's keyring entries go, whatever the tests did.
            for (const provider of ["openai", "anthropic"]) {
                runServerCli(sandbox, ["key", "remove", provider]);
            }
            removeSandbox(sandbox);
        }
    });

    check("at start the status bar shows the spend against the cap", async () => {
        const text = await waitFor("the budget", async () => {
            const value = await bench.statusText();
            return value.includes("/") ? value : undefined;
        }, 60_000);
        assert.equal(text, "$0.00 / $10");
    });

    check("the key goes in through a password box and is stored by the server", async () => {
        await bench.runCommand("Aumatron: Set API Key…");
        const picker = bench.page.locator(".quick-input-list .monaco-list-row:visible", { hasText: "OpenAI" }).first();
        await picker.waitFor();
        await picker.click();
        const box = bench.quickInput();
        await waitFor("the password box", async () => (await box.getAttribute("type")) === "password");
        await bench.submitInput(KEY);
        await bench.page.locator(".notifications-toasts", { hasText: "the OpenAI key is stored" }).waitFor();

        const listed = runServerCli(sandbox, ["key", "status"]);
        assert.match(listed.output, /openai/i);
        assert.ok(!listed.output.includes(KEY), "the CLI never prints a key");
    });

    check("a cloud task streams into the view and the status bar shows its cost", async () => {
        await bench.openFile("word_count.rs");
        await bench.selectLines(5, 21);
        await bench.runCommand("Aumatron: Explain in the Cloud");
        const group = bench.page.locator(".editor-group-container", {
            has: bench.page.locator(".tab.active", { hasText: "Explanation (word_count.rs).md" }),
        });
        const view = await waitFor("the cloud answer", async () => {
            const text = (await bench.editorText(group)).replace(/\s+/g, " ");
            return /· done in/.test(text) ? text : undefined;
        }, 120_000);
        assert.match(view, /^# Explanation of word_count\.rs, lines 5–21 /);
        assert.match(view, /openai gpt-4\.1-mini \(cloud\) · done in [\d.]+ s · 1000 tokens in, 500 out · cost \$0\.001200/);
        assert.match(view, /This function ranks the words of a text by how often they appear\./);

        // 1000 input and 500 output tokens of gpt-4.1-mini at $0.40 and $1.60 per million.
        const status = await waitFor("the new spend", async () => {
            const value = await bench.statusText();
            return value === "$0.0012 / $10" ? value : undefined;
        }, 30_000);
        assert.equal(status, "$0.0012 / $10");

        const requests = (await cloud.control("requests")) as { path: string; headers: Record<string, string> }[];
        assert.equal(requests.length, 1);
        assert.equal(requests[0].headers.authorization, `Bearer ${KEY}`);

        await bench.statusItem().hover();
        const hover = bench.page.locator(".monaco-hover, .workbench-hover").filter({ hasText: "Aumatron cloud spend" }).first();
        await hover.waitFor();
        const tooltip = (await hover.innerText()).replace(/\s+/g, " ");
        assert.match(tooltip, /\$0\.0012 spent/);
        assert.match(tooltip, /OpenAI gpt-4\.1-mini set \$0\.0012 1/);
        assert.match(tooltip, /Last request: openai gpt-4\.1-mini, 1000 tokens in, 500 out, \$0\.0012/);
        await bench.screenshot(sandbox, "vscode-cloud");
        await bench.screenshot(sandbox, "vscode-status-tooltip", bench.page.locator(".monaco-workbench"));
        await bench.page.mouse.move(600, 300);
    });

    check("the cap, the warning and the exhausted colours", async () => {
        const setCap = async (usd: string) => {
            await bench.runCommand("Aumatron: Set Monthly Cap…");
            await bench.submitInput(usd);
        };
        const item = bench.statusItem();
        const kind = async () => (await item.getAttribute("class")) ?? "";

        await setCap("0.0014");
        await waitFor("the warning state", async () => (await bench.statusText()) === "$0.0012 / $0.0014" && /warning-kind/.test(await kind()));
        await bench.screenshot(sandbox, "vscode-status-warning", bench.page.locator(".part.statusbar"));

        await setCap("0.001");
        await waitFor("the exhausted state", async () => (await bench.statusText()) === "$0.0012 / $0.001" && /error-kind/.test(await kind()));
        await bench.screenshot(sandbox, "vscode-status-exhausted", bench.page.locator(".part.statusbar"));

        await setCap("10");
        await waitFor("the ok state", async () => (await bench.statusText()) === "$0.0012 / $10" && !/(warning|error)-kind/.test(await kind()));
        await bench.screenshot(sandbox, "vscode-status-ok", bench.page.locator(".part.statusbar"));

        const configFile = join(sandbox.xdg.config, "aumatron", "config.toml");
        assert.match(readFileSync(configFile, "utf8"), /monthlyCapUsd\s*=\s*10\b/);
    });

    check("local only hides the cloud commands and says so in the status bar", async () => {
        await bench.runCommand("Aumatron: Turn Local Only On");
        await waitFor("local only", async () => (await bench.statusText()) === "Local only · $0.0012 / $10");
        await bench.page.keyboard.press("F1");
        await bench.quickInput().fill(">Aumatron: Explain");
        await bench.page.locator(".quick-input-list .monaco-list-row:visible", { hasText: "Explain Locally" }).first().waitFor();
        const rows = await bench.page.locator(".quick-input-list .monaco-list-row:visible").allInnerTexts();
        assert.ok(!rows.some((row) => row.includes("Explain in the Cloud")), rows.join(" | "));
        await bench.page.keyboard.press("Escape");

        await bench.runCommand("Aumatron: Turn Local Only Off");
        await waitFor("cloud allowed again", async () => (await bench.statusText()) === "$0.0012 / $10");
    });

    check("the spend exports to a CSV file where the user says", async () => {
        await bench.runCommand("Aumatron: Export Spend…");
        // code-server's save dialog is a path in a quick input: accept the suggestion.
        const ok = bench.page.locator(".quick-input-widget .monaco-button:visible", { hasText: /^OK$/ });
        await ok.waitFor();
        await waitFor("the suggested file name", async () => /aumatron-spend-\d{4}-\d{2}\.csv$/.test(await bench.quickInput().inputValue()));
        await ok.click();
        await bench.page.locator(".notifications-toasts", { hasText: "exported to" }).waitFor();
        const exported = readdirSync(sandbox.workspace).filter((name) => /^aumatron-spend-\d{4}-\d{2}\.csv$/.test(name));
        assert.equal(exported.length, 1);
        const rows = readFileSync(join(sandbox.workspace, exported[0]), "utf8").trim().split("\n");
        assert.equal(rows.length, 2, rows.join("\n"));
        assert.match(rows[1], /openai/);
        assert.match(rows[1], /gpt-4\.1-mini/);
    });

    check("removing the key, and the key is in no file VS Code or the server wrote", async () => {
        await bench.runCommand("Aumatron: Remove API Key…");
        const row = bench.page.locator(".quick-input-list .monaco-list-row:visible", { hasText: "OpenAI" }).first();
        await row.click();
        await bench.page.locator(".notifications-toasts", { hasText: "the OpenAI key is deleted" }).waitFor();
        // The trace is on (verbose), so every message was written out.
        assert.deepEqual(filesHolding(sandbox.userData, KEY), []);
        assert.deepEqual(filesHolding(sandbox.root, KEY), []);
        assert.deepEqual(filesHolding(sandbox.artifacts, KEY), []);
    });
});
