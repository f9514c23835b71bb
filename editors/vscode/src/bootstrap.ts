// Finding the server binary: the setting `aumatron.server.path`, then a binary
// bundled in the extension under server/, then `PATH`. A setting that names
// nothing runnable is an error, not a reason to run some other binary.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const SERVER_NAME = "aumatron-lsp";

export interface DiscoveryInput {
    /** `aumatron.server.path`; empty, null or undefined when unset. */
    configuredPath: string | null | undefined;
    /** Where the extension is installed. */
    extensionPath: string;
    /** The `PATH` the server would be started with. */
    searchPath: string | undefined;
    platform?: NodeJS.Platform;
    homeDir?: string;
    /** Overridable for tests; defaults to a real check of the file system. */
    isExecutableFile?: (file: string) => boolean;
}

export type ServerSource = "setting" | "bundled" | "path";

export type Discovery =
    | { found: true; path: string; source: ServerSource }
    | { found: false; message: string };

export function binaryName(platform: NodeJS.Platform = process.platform): string {
    return platform === "win32" ? `${SERVER_NAME}.exe` : SERVER_NAME;
}

export function findServer(input: DiscoveryInput): Discovery {
    const platform = input.platform ?? process.platform;
    const isExecutable = input.isExecutableFile ?? isExecutableFile;
    const name = binaryName(platform);

    const configured = input.configuredPath?.trim();
    if (configured) {
        const resolved = expandHome(configured, input.homeDir ?? os.homedir());
        if (isExecutable(resolved)) return { found: true, path: resolved, source: "setting" };
        return {
            found: false,
            message: `aumatron.server.path is set to ${configured}, but there is no ` +
                "executable file there. Fix the setting, or clear it to use the bundled " +
                `server or ${name} on PATH.`,
        };
    }

    const bundled = path.join(input.extensionPath, "server", name);
    if (isExecutable(bundled)) return { found: true, path: bundled, source: "bundled" };

    const separator = platform === "win32" ? ";" : ":";
    for (const dir of (input.searchPath ?? "").split(separator)) {
        if (!dir) continue;
        const candidate = path.join(dir, name);
        if (isExecutable(candidate)) return { found: true, path: candidate, source: "path" };
    }

    return {
        found: false,
        message: `Aumatron cannot find its language server, ${name}: it is not bundled ` +
            "with this extension and not on PATH. Build it with `cargo build --release` " +
            "in the aumatron-lsp repository and put target/release/aumatron-lsp on PATH, " +
            "or set aumatron.server.path to the binary.",
    };
}

export function expandHome(file: string, home: string): string {
    if (file === "~") return home;
    if (file.startsWith("~/") || file.startsWith("~\\")) return path.join(home, file.slice(2));
    return file;
}

export function isExecutableFile(file: string): boolean {
    try {
        if (!fs.statSync(file).isFile()) return false;
        if (process.platform !== "win32") fs.accessSync(file, fs.constants.X_OK);
        return true;
    } catch {
        return false;
    }
}
