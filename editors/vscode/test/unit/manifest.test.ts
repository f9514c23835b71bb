import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import { isServerSetting } from "../../src/config";

const manifest = JSON.parse(readFileSync(join(__dirname, "../../../package.json"), "utf8"));
const properties: Record<string, { description?: string; markdownDescription?: string; scope?: string }> =
    manifest.contributes.configuration.properties;

// The server's config schema, as docs/protocol.md and README.md list it.
const SERVER_SCHEMA = [
    "local.modelPath", "local.contextTokens", "local.threads", "local.maxOutputTokens", "output",
    "cloud.enabled", "cloud.never", "cloud.confirmSecrets", "cloud.maxOutputTokens", "cloud.timeoutSeconds",
    "providers", "prices", "budget.monthlyCapUsd", "budget.warnFraction", "budget.resetDay",
];

describe("package.json", () => {
    test("contributes the whole server schema, and nothing else for the server", () => {
        const contributed = Object.keys(properties)
            .map((key) => key.replace(/^aumatron\./, ""))
            .filter(isServerSetting)
            .sort();
        assert.deepEqual(contributed, [...SERVER_SCHEMA].sort());
    });

    test("every setting has a description", () => {
        for (const [key, property] of Object.entries(properties)) {
            const text = property.markdownDescription ?? property.description ?? "";
            assert.ok(text.length > 20, `${key} needs a description`);
        }
    });

    test("settings that decide where text and money go are machine-scoped", () => {
        for (const key of ["providers", "prices", "cloud.enabled", "cloud.never", "budget.monthlyCapUsd"]) {
            assert.equal(properties[`aumatron.${key}`].scope, "machine", key);
        }
    });

    test("menus name only declared commands, and no id clashes with a server command", () => {
        const declared = new Set(manifest.contributes.commands.map((c: { command: string }) => c.command));
        const serverIds = [
            "aumatron.summarise", "aumatron.explain", "aumatron.draft", "aumatron.cancel",
            "aumatron.setKey", "aumatron.removeKey", "aumatron.setCap", "aumatron.exportSpend",
        ];
        for (const id of serverIds) assert.ok(!declared.has(id), `${id} is the server's`);
        for (const [menu, entries] of Object.entries(manifest.contributes.menus)) {
            for (const entry of entries as { command?: string; submenu?: string }[]) {
                if (entry.command) assert.ok(declared.has(entry.command), `${menu}: ${entry.command}`);
            }
        }
    });

    test("the context menu offers every task, locally and in the cloud, and cancel", () => {
        const ids = manifest.contributes.menus["aumatron.editor"].map((e: { command: string }) => e.command);
        for (const kind of ["summarise", "explain", "draft"]) {
            assert.ok(ids.includes(`aumatron.run.${kind}`));
            assert.ok(ids.includes(`aumatron.run.${kind}Cloud`));
        }
        assert.ok(ids.includes("aumatron.task.cancel"));
    });
});
