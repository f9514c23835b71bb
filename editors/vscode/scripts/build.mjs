// Builds the extension with esbuild: the bundle VS Code loads (out/main.js) and
// the tests (out/test/). With --package, also packs out/aumatron.vsix with vsce.
// With --server PATH, the vsix carries that aumatron-lsp binary under server/.

import { execFileSync } from "node:child_process";
import { copyFileSync, chmodSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const wantPackage = args.includes("--package");
const serverIndex = args.indexOf("--server");
const serverBinary = serverIndex >= 0 ? args[serverIndex + 1] : undefined;

rmSync(join(root, "out"), { recursive: true, force: true });

const common = {
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "warning",
};

await esbuild.build({
    ...common,
    entryPoints: [join(root, "src/main.ts")],
    outfile: join(root, "out/main.js"),
    external: ["vscode"],
    sourcemap: false,
});

const tests = (dir) =>
    readdirSync(join(root, dir))
        .filter((name) => name.endsWith(".ts"))
        .map((name) => join(root, dir, name));
await esbuild.build({
    ...common,
    entryPoints: [...tests("test/unit"), ...tests("test/e2e"), join(root, "test/run.ts")],
    outdir: join(root, "out/test"),
    outbase: join(root, "test"),
    // The e2e tests drive a browser; playwright-core stays a plain require.
    external: ["vscode", "playwright-core"],
    sourcemap: "inline",
});

if (wantPackage) {
    const serverDir = join(root, "server");
    rmSync(serverDir, { recursive: true, force: true });
    if (serverBinary) {
        mkdirSync(serverDir);
        const target = join(serverDir, serverBinary.endsWith(".exe") ? "aumatron-lsp.exe" : "aumatron-lsp");
        copyFileSync(serverBinary, target);
        chmodSync(target, 0o755);
    }
    const vsce = join(root, "node_modules/@vscode/vsce/vsce");
    execFileSync(
        process.execPath,
        [vsce, "package", "--no-dependencies", "--skip-license", "--allow-missing-repository", "--out", join(root, "out/aumatron.vsix")],
        { cwd: root, stdio: "inherit" },
    );
    rmSync(serverDir, { recursive: true, force: true });
}
