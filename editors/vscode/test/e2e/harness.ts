// The end-to-end harness: a real VS Code (code-server) with the packed extension
// installed, the real aumatron-lsp and the real model, the loopback fake of the
// cloud providers, and headless Chromium driven by playwright-core. Everything
// lives in one temporary folder and listens on loopback only.
//
// It needs, from scripts/test.sh: AUMATRON_E2E_CODE_SERVER (the code-server
// binary), AUMATRON_E2E_NODE (the Node 24 it runs on), AUMATRON_E2E_SERVER (the
// aumatron-lsp binary), AUMATRON_E2E_VSIX, AUMATRON_MODEL and, optionally,
// AUMATRON_E2E_CHROMIUM (default /usr/bin/chromium) and AUMATRON_E2E_ARTIFACTS
// (where screenshots and logs go).

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import * as readline from "node:readline";

import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";

export const REPO = resolve(__dirname, "../../../../..");

function required(name: string): string {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: run the end-to-end tests through editors/vscode/scripts/test.sh`);
    return value;
}

export interface Sandbox {
    root: string;
    workspace: string;
    userData: string;
    extensions: string;
    xdg: { config: string; data: string; cache: string; state: string };
    artifacts: string;
    keyringService: string;
}

export function makeSandbox(name: string): Sandbox {
    const root = mkdtempSync(join(tmpdir(), `aumatron-vscode-${name}-`));
    const sub = (path: string) => {
        const full = join(root, path);
        mkdirSync(full, { recursive: true });
        return full;
    };
    const artifacts = process.env.AUMATRON_E2E_ARTIFACTS ?? sub("artifacts");
    mkdirSync(artifacts, { recursive: true });
    return {
        root,
        workspace: sub("workspace"),
        userData: sub("user-data"),
        extensions: sub("extensions"),
        xdg: { config: sub("xdg/config"), data: sub("xdg/data"), cache: sub("xdg/cache"), state: sub("xdg/state") },
        artifacts,
        keyringService: `aumatron-vscode-e2e-${process.pid}-${Date.now()}`,
    };
}

/**
 * Writes VS Code's settings. code-server's window is a remote one, where
 * `machine`-scoped settings (the server path, providers, the cap) come from the
 * remote machine's settings, not the user's; the same values go in both.
 */
export function writeUserSettings(sandbox: Sandbox, settings: Record<string, unknown>): void {
    for (const level of ["User", "Machine"]) {
        const file = join(sandbox.userData, level, "settings.json");
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, JSON.stringify(settings, null, 2));
    }
}

/** The settings every run needs: a quiet workbench and our server. */
export function baseSettings(): Record<string, unknown> {
    return {
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "workbench.enableExperiments": false,
        "workbench.colorTheme": "Default Dark Modern",
        "telemetry.telemetryLevel": "off",
        "security.workspace.trust.enabled": false,
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "update.mode": "none",
        "chat.disableAIFeatures": true,
        "chat.commandCenter.enabled": false,
        "git.enabled": false,
        "editor.minimap.enabled": false,
        "editor.lightbulb.enabled": "off",
        "window.commandCenter": false,
        "workbench.layoutControl.enabled": false,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "workbench.editor.enablePreview": false,
        "aumatron.server.path": required("AUMATRON_E2E_SERVER"),
    };
}

export function copyExample(sandbox: Sandbox, name: string): string {
    const target = join(sandbox.workspace, name);
    copyFileSync(join(REPO, "examples", name), target);
    return target;
}

export async function freePort(): Promise<number> {
    return new Promise((resolvePort, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            const port = typeof address === "object" && address ? address.port : 0;
            server.close(() => resolvePort(port));
        });
    });
}

/** Waits for `predicate` to hold, polling; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
    what: string,
    predicate: () => Promise<T | undefined | false> | T | undefined | false,
    timeoutMs = 30_000,
    intervalMs = 100,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const value = await predicate();
            if (value) return value;
        } catch (error) {
            last = error;
        }
        await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/**
 * Runs the server's command line (`aumatron-lsp key status`...) in the sandbox.
 * Its keys live under the run's own keyring service name
 * (`AUMATRON_KEYRING_SERVICE`), away from the user's.
 */
export function runServerCli(sandbox: Sandbox, args: string[]): { status: number | null; output: string } {
    const result = spawnSync(required("AUMATRON_E2E_SERVER"), args, {
        env: serverEnv(sandbox), encoding: "utf8", timeout: 60_000,
    });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Where the server writes its log (`AUMATRON_LOG_FILE`). */
export function serverLog(sandbox: Sandbox): string {
    return join(sandbox.artifacts, `${sandbox.keyringService}-server.log`);
}

/** The environment code-server, and so the server, runs in: all state in the sandbox. */
export function serverEnv(sandbox: Sandbox): NodeJS.ProcessEnv {
    const node = required("AUMATRON_E2E_NODE");
    return {
        ...process.env,
        PATH: `${dirname(node)}:${process.env.PATH ?? ""}`,
        XDG_CONFIG_HOME: sandbox.xdg.config,
        XDG_DATA_HOME: sandbox.xdg.data,
        XDG_CACHE_HOME: sandbox.xdg.cache,
        XDG_STATE_HOME: sandbox.xdg.state,
        AUMATRON_MODEL: required("AUMATRON_MODEL"),
        AUMATRON_KEYRING_SERVICE: sandbox.keyringService,
        AUMATRON_LOG: "debug,llama-cpp-2=warn",
        AUMATRON_LOG_FILE: serverLog(sandbox),
    };
}

/** code-server with our extension installed, serving `sandbox.workspace`. */
export class CodeServer {
    private constructor(
        private readonly process: ChildProcess,
        readonly port: number,
        readonly log: string[],
    ) {}

    get url(): string {
        return `http://127.0.0.1:${this.port}/`;
    }

    folderUrl(folder: string): string {
        return `${this.url}?folder=${encodeURIComponent(folder)}`;
    }

    static async start(sandbox: Sandbox): Promise<CodeServer> {
        const codeServer = required("AUMATRON_E2E_CODE_SERVER");
        const vsix = required("AUMATRON_E2E_VSIX");
        const env = serverEnv(sandbox);
        const config = join(sandbox.root, "code-server.yaml");
        writeFileSync(config, "");
        const common = [
            "--config", config,
            "--user-data-dir", sandbox.userData,
            "--extensions-dir", sandbox.extensions,
        ];
        const install = spawnSync(codeServer, [...common, "--install-extension", vsix, "--force"], {
            env, encoding: "utf8", timeout: 120_000,
        });
        if (install.status !== 0) {
            throw new Error(`installing ${vsix} failed:\n${install.stdout}\n${install.stderr}`);
        }

        const port = await freePort();
        const child = spawn(codeServer, [
            ...common,
            "--auth", "none",
            "--bind-addr", `127.0.0.1:${port}`,
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            "--ignore-last-opened",
        ], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
        const log: string[] = [];
        for (const stream of [child.stdout, child.stderr]) {
            readline.createInterface({ input: stream! }).on("line", (line) => log.push(line));
        }
        const server = new CodeServer(child, port, log);
        await waitFor("code-server to listen", () => log.some((l) => l.includes("HTTP server listening")), 60_000);
        return server;
    }

    async stop(): Promise<void> {
        if (this.process.exitCode !== null || !this.process.pid) return;
        const exited = new Promise<void>((r) => this.process.once("exit", () => r()));
        // code-server's own group: it, its extension host and our server.
        try {
            process.kill(-this.process.pid, "SIGTERM");
        } catch {
            return;
        }
        const timer = setTimeout(() => {
            try {
                process.kill(-this.process.pid!, "SIGKILL");
            } catch {
                // Already gone.
            }
        }, 5_000);
        await exited;
        clearTimeout(timer);
    }
}

/** The loopback fake of the cloud providers (tests/fake_cloud.py). */
export class FakeCloud {
    private constructor(private readonly process: ChildProcess, readonly port: number) {}

    static async start(): Promise<FakeCloud> {
        const child = spawn("python3", [join(REPO, "tests/fake_cloud.py")], {
            stdio: ["ignore", "pipe", "inherit"],
        });
        const lines = readline.createInterface({ input: child.stdout! });
        const port = await new Promise<number>((resolvePort, reject) => {
            lines.once("line", (line) => {
                const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
                if (match) resolvePort(Number(match[1]));
                else reject(new Error(`fake_cloud.py said: ${line}`));
            });
            child.once("exit", (code) => reject(new Error(`fake_cloud.py exited with ${code}`)));
        });
        return new FakeCloud(child, port);
    }

    get baseUrl(): string {
        return `http://127.0.0.1:${this.port}/v1`;
    }

    async control(path: string, body?: unknown): Promise<unknown> {
        const response = await fetch(`http://127.0.0.1:${this.port}/_control/${path}`, {
            method: body === undefined ? "GET" : "POST",
            headers: { "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!response.ok) throw new Error(`fake cloud ${path}: ${response.status}`);
        return response.json();
    }

    async stop(): Promise<void> {
        if (this.process.exitCode !== null) return;
        const exited = new Promise<void>((r) => this.process.once("exit", () => r()));
        this.process.kill("SIGTERM");
        await exited;
    }
}

/** Headless Chromium, as the machine's notes say to start it. */
export async function openBrowser(sandbox: Sandbox): Promise<BrowserContext> {
    const profile = join(sandbox.root, "chromium-profile");
    mkdirSync(profile);
    return chromium.launchPersistentContext(profile, {
        executablePath: process.env.AUMATRON_E2E_CHROMIUM ?? "/usr/bin/chromium",
        headless: true,
        viewport: { width: 1400, height: 860 },
        args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
}

/** What a person does in the workbench, by keyboard and mouse. */
export class Workbench {
    constructor(readonly page: Page) {}

    async open(url: string): Promise<void> {
        await this.page.goto(url);
        await this.page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
        await this.statusItem().waitFor({ timeout: 120_000 });
    }

    /** Our status bar item. */
    statusItem(): Locator {
        return this.page.locator('.statusbar-item[id$="aumatron.budget"]');
    }

    async statusText(): Promise<string> {
        return ((await this.statusItem().innerText()) ?? "").replace(/\s+/g, " ").trim();
    }

    /** The quick input box that is showing. */
    quickInput(): Locator {
        return this.page.locator(".quick-input-widget input:visible").first();
    }

    /** Types `text` into the showing input box and submits it. */
    async submitInput(text: string): Promise<void> {
        const box = this.quickInput();
        await box.fill(text);
        await waitFor("the typed text", async () => (await box.inputValue()) === text, 10_000);
        await this.page.keyboard.press("Enter");
        await this.page.locator(".quick-input-widget input:visible").waitFor({ state: "hidden" });
    }

    /** Runs a command from the palette by its full title. */
    async runCommand(title: string): Promise<void> {
        await this.page.keyboard.press("F1");
        await this.quickInput().fill(`>${title}`);
        const row = this.page.locator(".quick-input-list .monaco-list-row:visible", { hasText: title }).first();
        await row.waitFor();
        await this.page.keyboard.press("Enter");
    }

    /** Opens a file of the workspace with Quick Open, in the first editor group. */
    async openFile(name: string): Promise<void> {
        await this.page.keyboard.press("Control+1");
        await this.page.keyboard.press("Control+P");
        await this.quickInput().fill(name);
        await this.page.locator(".quick-input-list .monaco-list-row:visible", { hasText: name }).first().waitFor();
        await this.page.keyboard.press("Enter");
        await this.page.locator(".tab.active", { hasText: name }).first().waitFor();
    }

    /** Selects whole lines `first` to `last` (1-based) in the active editor. */
    async selectLines(first: number, last: number): Promise<void> {
        await this.page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
        await this.page.keyboard.press("Control+G");
        await this.quickInput().waitFor();
        await this.page.keyboard.type(String(first));
        await this.page.keyboard.press("Enter");
        await this.page.keyboard.press("Home");
        await this.page.keyboard.press("Home");
        for (let line = first; line <= last; line++) await this.page.keyboard.press("Shift+ArrowDown");
        const selection = this.page.locator('.statusbar-item[id="status.editor.selection"]');
        await waitFor(`lines ${first} to ${last} selected`, async () => /selected/.test(await selection.innerText()), 10_000);
    }

    /** The text of the visible lines of the editor whose tab says `tabLabel`. */
    async editorText(group: Locator): Promise<string> {
        const lines = await group.locator(".view-lines .view-line").evaluateAll((nodes) =>
            nodes
                .map((node) => ({ top: parseFloat((node as unknown as { style: { top: string } }).style.top || "0"), text: node.textContent ?? "" }))
                .sort((a, b) => a.top - b.top)
                .map((line) => line.text.replace(/\u00a0/g, " ")),
        );
        return lines.join("\n");
    }

    /** The messages in the notification center, newest first. */
    async notifications(): Promise<string[]> {
        await this.runCommand("Notifications: Show Notifications");
        const center = this.page.locator(".notifications-center");
        await center.waitFor();
        const texts = await center.locator(".notification-list-item-message").allInnerTexts();
        await this.page.keyboard.press("Escape");
        return texts.map((text) => text.replace(/\s+/g, " ").trim());
    }

    async screenshot(sandbox: Sandbox, name: string, clip?: Locator): Promise<string> {
        const file = join(sandbox.artifacts, `${name}.png`);
        if (clip) await clip.screenshot({ path: file });
        else await this.page.screenshot({ path: file });
        return file;
    }
}

/** Wraps a test body so that a failure leaves a screenshot of the page behind. */
export function withScreenshot(
    bench: () => Workbench | undefined,
    sandbox: () => Sandbox | undefined,
    name: string,
    body: () => Promise<void>,
): () => Promise<void> {
    return async () => {
        try {
            await body();
        } catch (error) {
            const page = bench();
            const box = sandbox();
            if (page && box) {
                const file = `failed-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`;
                await page.screenshot(box, file).catch(() => undefined);
                const messages = await page.notifications().catch(() => []);
                if (messages.length > 0 && error instanceof Error) {
                    error.message += `\nnotifications:\n  ${messages.join("\n  ")}`;
                }
            }
            throw error;
        }
    };
}

export function readIfExists(file: string): string {
    return existsSync(file) ? readFileSync(file, "utf8") : "";
}

export function removeSandbox(sandbox: Sandbox): void {
    if (process.env.AUMATRON_E2E_KEEP) return;
    rmSync(sandbox.root, { recursive: true, force: true });
}
