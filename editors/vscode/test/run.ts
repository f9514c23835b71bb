// Runs the tests with node's test runner and ends with one line, `N passed, N
// failed`. `--unit` runs the unit tests only, `--e2e` the end-to-end tests only;
// without either, the unit tests, then the end-to-end tests. Another argument is
// a pattern: only tests whose names match it run. Exits non-zero when a test
// failed or none ran.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";

const args = process.argv.slice(2);
const only = args.find((arg) => arg === "--unit" || arg === "--e2e");
const filter = args.find((arg) => !arg.startsWith("--"));

function files(dir: string): string[] {
    const folder = join(__dirname, dir);
    return readdirSync(folder)
        .filter((name) => name.endsWith(".test.js"))
        .sort()
        .map((name) => join(folder, name));
}

async function runFiles(list: string[], timeout: number): Promise<{ passed: number; failed: number }> {
    let passed = 0;
    let failed = 0;
    if (list.length === 0) return { passed, failed };
    const stream = run({
        files: list,
        concurrency: 1,
        timeout,
        testNamePatterns: filter ? [new RegExp(filter, "i")] : undefined,
    });
    stream.on("test:pass", (event) => {
        if (event.details.type !== "suite" && !event.skip && !event.todo) passed += 1;
    });
    stream.on("test:fail", (event) => {
        if (event.details.type !== "suite") failed += 1;
    });
    const done = new Promise<void>((resolve) => stream.on("end", resolve));
    stream.compose(spec).pipe(process.stdout);
    await done;
    return { passed, failed };
}

async function main(): Promise<void> {
    const totals = { passed: 0, failed: 0 };
    const add = (result: { passed: number; failed: number }) => {
        totals.passed += result.passed;
        totals.failed += result.failed;
    };
    if (only !== "--e2e") add(await runFiles(files("unit"), 60_000));
    if (only !== "--unit") add(await runFiles(files("e2e"), 15 * 60_000));
    console.log(`${totals.passed} passed, ${totals.failed} failed`);
    process.exitCode = totals.failed > 0 || totals.passed === 0 ? 1 : 0;
}

void main();
