import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { expandHome, findServer, isExecutableFile } from "../../src/bootstrap";

// Real files in a temporary folder: an extension with and without a bundled
// server, two PATH folders, a home folder.
const root = mkdtempSync(join(tmpdir(), "aumatron-bootstrap-"));
after(() => rmSync(root, { recursive: true, force: true }));

function executable(file: string): string {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, "#!/bin/sh\n");
    chmodSync(file, 0o755);
    return file;
}

const withBundle = join(root, "ext-bundled");
const bundled = executable(join(withBundle, "server", "aumatron-lsp"));
const withoutBundle = join(root, "ext-plain");
mkdirSync(withoutBundle);
const pathA = join(root, "bin-a");
const pathB = join(root, "bin-b");
mkdirSync(pathA);
const onPath = executable(join(pathB, "aumatron-lsp"));
const configured = executable(join(root, "custom", "my-aumatron"));
const home = join(root, "home");
const inHome = executable(join(home, "bin", "aumatron-lsp"));
const notExecutable = join(root, "plain-file");
writeFileSync(notExecutable, "not a program");
chmodSync(notExecutable, 0o644);
const searchPath = [pathA, pathB].join(":");

describe("server discovery", () => {
    test("the setting comes first", () => {
        assert.deepEqual(
            findServer({ configuredPath: configured, extensionPath: withBundle, searchPath, platform: "linux" }),
            { found: true, path: configured, source: "setting" },
        );
    });

    test("then the binary bundled in the extension", () => {
        assert.deepEqual(
            findServer({ configuredPath: "", extensionPath: withBundle, searchPath, platform: "linux" }),
            { found: true, path: bundled, source: "bundled" },
        );
    });

    test("then PATH, in order, skipping folders without it", () => {
        assert.deepEqual(
            findServer({ configuredPath: null, extensionPath: withoutBundle, searchPath, platform: "linux" }),
            { found: true, path: onPath, source: "path" },
        );
    });

    test("~ in the setting is the home folder", () => {
        assert.equal(expandHome("~/bin/aumatron-lsp", home), inHome);
        const found = findServer({
            configuredPath: "~/bin/aumatron-lsp", extensionPath: withoutBundle, searchPath: "",
            platform: "linux", homeDir: home,
        });
        assert.deepEqual(found, { found: true, path: inHome, source: "setting" });
    });

    test("a setting that names nothing runnable is an error, with no fallback", () => {
        for (const bad of [join(root, "missing"), notExecutable, pathA]) {
            const found = findServer({ configuredPath: bad, extensionPath: withBundle, searchPath, platform: "linux" });
            assert.equal(found.found, false);
            if (!found.found) {
                assert.match(found.message, /aumatron\.server\.path is set to/);
                assert.ok(found.message.includes(bad));
            }
        }
    });

    test("nothing anywhere: a message that says what to do", () => {
        const found = findServer({
            configuredPath: undefined, extensionPath: withoutBundle, searchPath: pathA, platform: "linux",
        });
        assert.equal(found.found, false);
        if (!found.found) {
            assert.match(found.message, /cannot find its language server, aumatron-lsp/);
            assert.match(found.message, /cargo build --release/);
            assert.match(found.message, /aumatron\.server\.path/);
        }
    });

    test("Windows looks for the .exe, with ; between PATH folders", () => {
        const seen: string[] = [];
        const found = findServer({
            configuredPath: undefined, extensionPath: "C:\\ext", searchPath: "C:\\a;C:\\b",
            platform: "win32", isExecutableFile: (file) => {
                seen.push(file);
                return file.endsWith("aumatron-lsp.exe") && file.includes("C:\\b");
            },
        });
        assert.equal(found.found, true);
        assert.ok(seen.every((file) => file.endsWith("aumatron-lsp.exe")));
        assert.equal(seen.length, 3);
    });

    test("only executable regular files count", () => {
        assert.equal(isExecutableFile(onPath), true);
        assert.equal(isExecutableFile(notExecutable), false);
        assert.equal(isExecutableFile(pathA), false);
        assert.equal(isExecutableFile(join(root, "missing")), false);
    });
});
