import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { Budget } from "../../src/lsp_ext";
import { formatCap, formatExact, formatSpend, presentStatus } from "../../src/status";

function budget(overrides: Partial<Budget> = {}): Budget {
    return {
        period: { start: "2026-12-01T00:00:00Z", end: "2027-01-01T00:00:00Z" },
        capUsd: 10,
        spentUsd: 1.234567,
        reservedUsd: 0,
        remainingUsd: 8.765433,
        warnFraction: 0.8,
        state: "ok",
        pricesAsOf: "2026-11-15",
        providers: [
            {
                id: "openai", kind: "openai", name: "OpenAI", model: "gpt-4.1-mini", tags: ["code"],
                local: false, hasKey: true, keyState: "ok", spentUsd: 1.234567, requests: 12,
            },
            {
                id: "anthropic", kind: "anthropic", name: "Anthropic", model: "claude-haiku-4-5",
                tags: ["writing"], local: false, hasKey: false, keyState: "missing", spentUsd: 0, requests: 0,
            },
            {
                id: "ollama", kind: "openai-compatible", name: "My box", model: "qwen", tags: [],
                local: true, hasKey: false, keyState: "missing", spentUsd: 0, requests: 0,
            },
        ],
        last: {
            taskId: "task-7", provider: "openai", model: "gpt-4.1-mini", inputTokens: 812,
            outputTokens: 240, costUsd: 0.000709, at: "2026-12-04T15:20:11Z",
        },
        ...overrides,
    };
}

const running = { state: "running" } as const;

describe("amounts", () => {
    test("spend shows cents from a cent up, two significant digits below", () => {
        assert.equal(formatSpend(0), "$0.00");
        assert.equal(formatSpend(1.234567), "$1.23");
        assert.equal(formatSpend(12), "$12.00");
        assert.equal(formatSpend(0.01), "$0.01");
        assert.equal(formatSpend(0.0012), "$0.0012");
        assert.equal(formatSpend(0.000709), "$0.00071");
        assert.equal(formatSpend(0.0000005), "<$0.000001");
    });

    test("a cap drops decimals only when it is whole dollars", () => {
        assert.equal(formatCap(10), "$10");
        assert.equal(formatCap(7.5), "$7.50");
        assert.equal(formatCap(0), "$0");
        assert.equal(formatCap(0.0014), "$0.0014");
    });

    test("exact figures keep the ledger's six decimals and at least cents", () => {
        assert.equal(formatExact(1.234567), "$1.234567");
        assert.equal(formatExact(0.0012), "$0.0012");
        assert.equal(formatExact(10), "$10.00");
        assert.equal(formatExact(1.5), "$1.50");
    });
});

describe("status bar item", () => {
    test("ok: spend against the cap, default colours", () => {
        const status = presentStatus(running, budget());
        assert.equal(status.text, "$(cloud) $1.23 / $10");
        assert.equal(status.background, undefined);
        assert.equal(status.foreground, undefined);
    });

    test("a first cheap request changes the text", () => {
        const status = presentStatus(running, budget({ spentUsd: 0.0012 }));
        assert.equal(status.text, "$(cloud) $0.0012 / $10");
    });

    test("warning: warning background", () => {
        const status = presentStatus(running, budget({ spentUsd: 8.5, state: "warning" }));
        assert.equal(status.text, "$(warning) $8.50 / $10");
        assert.equal(status.background, "statusBarItem.warningBackground");
        assert.equal(status.foreground, "statusBarItem.warningForeground");
    });

    test("exhausted: error background", () => {
        const status = presentStatus(running, budget({ spentUsd: 10, remainingUsd: 0, state: "exhausted" }));
        assert.equal(status.text, "$(error) $10.00 / $10");
        assert.equal(status.background, "statusBarItem.errorBackground");
        assert.match(status.accessibilityLabel, /cap is reached/);
    });

    test("local only says so and still shows the spend", () => {
        const status = presentStatus(running, budget({ state: "local-only" }));
        assert.equal(status.text, "$(lock) Local only · $1.23 / $10");
        assert.equal(status.background, undefined);
        assert.match(status.tooltip, /command:aumatron\.localOnly\.off/);
    });

    test("a request in flight spins the icon", () => {
        assert.equal(presentStatus(running, budget({ reservedUsd: 0.004 })).text, "$(loading~spin) $1.23 / $10");
        assert.equal(presentStatus(running, budget(), 1).text, "$(loading~spin) $1.23 / $10");
    });

    test("tooltip: period, spend per cloud provider and the last request", () => {
        const { tooltip } = presentStatus(running, budget());
        assert.match(tooltip, /2026-12-01 to 2026-12-31/);
        assert.match(tooltip, /\$1\.234567 spent, \$0\.00 reserved, \$8\.765433 left of \$10/);
        assert.match(tooltip, /\| OpenAI \| gpt-4\.1-mini \| set \| \$1\.234567 \| 12 \|/);
        assert.match(tooltip, /\| Anthropic \| claude-haiku-4-5 \| missing \| \$0\.00 \| 0 \|/);
        assert.doesNotMatch(tooltip, /My box/, "local providers cost nothing and are left out");
        assert.match(tooltip, /Last request: openai gpt-4\.1-mini, 812 tokens in, 240 out, \$0\.000709, 2026-12-04 15:20 UTC/);
        assert.match(tooltip, /Prices as of 2026-11-15/);
    });

    test("tooltip without a request this period", () => {
        assert.match(presentStatus(running, budget({ last: null })).tooltip, /No cloud request this period/);
    });

    test("before the first budget, and when the server failed", () => {
        const waiting = presentStatus({ state: "starting" }, undefined);
        assert.equal(waiting.text, "$(cloud) Aumatron");
        assert.match(waiting.tooltip, /starting/);
        const failed = presentStatus({ state: "failed", message: "no binary" }, budget());
        assert.equal(failed.text, "$(error) Aumatron");
        assert.equal(failed.background, "statusBarItem.errorBackground");
        assert.match(failed.tooltip, /no binary/);
    });
});
