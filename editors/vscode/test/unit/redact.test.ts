import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DRAFT_EDIT_LABEL, isDraftEdit } from "../../src/edits";
import { MASK, redactSecrets } from "../../src/redact";

describe("trace redaction", () => {
    test("the key in aumatron.setKey never reaches the trace", () => {
        const params = { command: "aumatron.setKey", arguments: [{ provider: "openai", key: "sk-proj-abc\"def" }] };
        for (const text of [JSON.stringify(params), JSON.stringify(params, null, 4)]) {
            const redacted = redactSecrets(text);
            assert.ok(!redacted.includes("sk-proj"), redacted);
            assert.ok(redacted.includes(MASK));
            assert.ok(redacted.includes('"provider": "openai"') || redacted.includes('"provider":"openai"'));
        }
    });

    test("other text is untouched", () => {
        const text = '{"keyState": "ok", "provider": "openai", "monkey": 1}';
        assert.equal(redactSecrets(text), text);
    });
});

describe("draft edits", () => {
    test("only the server's draft label asks for a preview", () => {
        assert.equal(isDraftEdit(DRAFT_EDIT_LABEL), true);
        assert.equal(isDraftEdit("Aumatron: Explain"), false);
        assert.equal(isDraftEdit(undefined), false);
    });
});
