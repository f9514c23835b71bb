// Settings: which of the contributed `aumatron.*` settings go to the server, and
// in what shape. The server merges its own layers (defaults, the shared config
// file, then what an editor sends) key by key, so the extension sends only what
// the user set, never a default: a default sent from here would silently
// override the user's config file. Pure, so the unit tests need no VS Code.

/** Settings that configure the extension itself and are never sent. */
export const EXTENSION_ONLY_PREFIXES = ["server.", "trace."] as const;

export const SECTION = "aumatron";

/** A contributed setting, as `contributes.configuration.properties` declares it. */
export interface SettingSchema {
    scope?: string;
    default?: unknown;
}

/** The user's values for one setting at each level, as `inspect` reports them. */
export interface SettingValues {
    globalValue?: unknown;
    workspaceValue?: unknown;
    workspaceFolderValue?: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Whether a setting (without the `aumatron.` prefix) belongs to the server. */
export function isServerSetting(key: string): boolean {
    return !EXTENSION_ONLY_PREFIXES.some((prefix) => key.startsWith(prefix));
}

/**
 * The server's settings: every contributed setting the user set, nested by its
 * dotted name (`local.contextTokens` becomes `{ local: { contextTokens } }`).
 *
 * - Defaults are never sent; `null` counts as unset.
 * - A `machine`-scoped setting counts only from user settings, as VS Code itself
 *   reads it, so a workspace cannot move providers, prices, the cap or the cloud
 *   rules.
 * - Otherwise the most specific level wins; object values merge key by key, user
 *   first, then workspace, then folder.
 */
export function serverSettings(
    schema: Record<string, SettingSchema>,
    inspect: (key: string) => SettingValues | undefined,
): Record<string, Json> {
    const settings: Record<string, Json> = {};
    for (const fullKey of Object.keys(schema).sort()) {
        if (!fullKey.startsWith(`${SECTION}.`)) continue;
        const key = fullKey.slice(SECTION.length + 1);
        if (!isServerSetting(key)) continue;
        const values = inspect(key);
        if (!values) continue;
        const value = userValue(values, schema[fullKey].scope === "machine");
        if (value === undefined) continue;
        setPath(settings, key.split("."), value);
    }
    return settings;
}

function userValue(values: SettingValues, machineScoped: boolean): Json | undefined {
    const levels = machineScoped
        ? [values.globalValue]
        : [values.globalValue, values.workspaceValue, values.workspaceFolderValue];
    let result: Json | undefined;
    for (const level of levels) {
        if (level === undefined || level === null) continue;
        const value = level as Json;
        result = isObject(result) && isObject(value) ? mergeObjects(result, value) : clone(value);
    }
    return result;
}

function isObject(value: unknown): value is { [key: string]: Json } {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mergeObjects(
    base: { [key: string]: Json },
    over: { [key: string]: Json },
): { [key: string]: Json } {
    const merged: { [key: string]: Json } = { ...base };
    for (const [key, value] of Object.entries(over)) {
        const previous = merged[key];
        merged[key] = isObject(previous) && isObject(value)
            ? mergeObjects(previous, value)
            : clone(value);
    }
    return merged;
}

function clone(value: Json): Json {
    return value === null || typeof value !== "object" ? value : JSON.parse(JSON.stringify(value));
}

function setPath(target: Record<string, Json>, path: string[], value: Json): void {
    let node: { [key: string]: Json } = target;
    for (const part of path.slice(0, -1)) {
        const next = node[part];
        if (!isObject(next)) node[part] = {};
        node = node[part] as { [key: string]: Json };
    }
    const last = path[path.length - 1];
    const previous = node[last];
    node[last] = isObject(previous) && isObject(value) ? mergeObjects(previous, value) : value;
}

/** Settings whose change needs the server restarted rather than re-read. */
export function needsRestart(changedKey: (key: string) => boolean): boolean {
    return changedKey(`${SECTION}.server.path`);
}
