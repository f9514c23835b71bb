import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import { isServerSetting, serverSettings, type SettingSchema, type SettingValues } from "../../src/config";

const manifest = JSON.parse(readFileSync(join(__dirname, "../../../package.json"), "utf8"));
const schema: Record<string, SettingSchema> = manifest.contributes.configuration.properties;

function translate(values: Record<string, SettingValues>): unknown {
    return serverSettings(schema, (key) => values[key] ?? {});
}

describe("settings sent to the server", () => {
    test("nothing set: nothing sent, not even the defaults", () => {
        assert.deepEqual(translate({}), {});
    });

    test("a value equal to the default is still the user's and is sent", () => {
        assert.deepEqual(translate({ "local.contextTokens": { globalValue: 4096 } }), {
            local: { contextTokens: 4096 },
        });
    });

    test("dotted names nest; top-level keys stay top-level", () => {
        assert.deepEqual(
            translate({
                "local.contextTokens": { globalValue: 8192 },
                "local.maxOutputTokens": { globalValue: { explain: 512 } },
                output: { globalValue: "document" },
                "budget.monthlyCapUsd": { globalValue: 5 },
                "cloud.enabled": { globalValue: false },
            }),
            {
                budget: { monthlyCapUsd: 5 },
                cloud: { enabled: false },
                local: { contextTokens: 8192, maxOutputTokens: { explain: 512 } },
                output: "document",
            },
        );
    });

    test("extension-only settings never reach the server", () => {
        assert.deepEqual(
            translate({
                "server.path": { globalValue: "/opt/aumatron-lsp" },
                "trace.server": { globalValue: "verbose" },
            }),
            {},
        );
        assert.equal(isServerSetting("server.path"), false);
        assert.equal(isServerSetting("trace.server"), false);
        assert.equal(isServerSetting("local.threads"), true);
    });

    test("null counts as unset", () => {
        assert.deepEqual(translate({ "local.modelPath": { globalValue: null } }), {});
    });

    test("the most specific level wins for plain values", () => {
        assert.deepEqual(
            translate({ "local.threads": { globalValue: 2, workspaceValue: 4, workspaceFolderValue: 6 } }),
            { local: { threads: 6 } },
        );
        assert.deepEqual(translate({ "local.threads": { globalValue: 2, workspaceValue: 4 } }), {
            local: { threads: 4 },
        });
    });

    test("objects merge key by key across levels", () => {
        assert.deepEqual(
            translate({
                "local.maxOutputTokens": { globalValue: { explain: 512, draft: 700 }, workspaceValue: { draft: 100 } },
            }),
            { local: { maxOutputTokens: { explain: 512, draft: 100 } } },
        );
    });

    test("machine-scoped settings count only from user settings", () => {
        assert.deepEqual(
            translate({
                providers: {
                    globalValue: { openai: { baseUrl: "http://127.0.0.1:9/v1" } },
                    workspaceValue: { openai: { baseUrl: "https://elsewhere.example/v1" } },
                },
                "budget.monthlyCapUsd": { workspaceValue: 1000 },
                "cloud.never": { workspaceValue: [] },
            }),
            { providers: { openai: { baseUrl: "http://127.0.0.1:9/v1" } } },
        );
    });

    test("arrays are values, not merged", () => {
        assert.deepEqual(translate({ "cloud.never": { globalValue: ["*.secret"] } }), {
            cloud: { never: ["*.secret"] },
        });
    });

    test("the values the caller passed are not aliased", () => {
        const providers = { openai: { tags: ["code"] } };
        const sent = translate({ providers: { globalValue: providers } }) as { providers: typeof providers };
        sent.providers.openai.tags.push("changed");
        assert.deepEqual(providers.openai.tags, ["code"]);
    });
});
