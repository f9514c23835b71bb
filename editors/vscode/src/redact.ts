// Keeps API keys out of the trace channel: with `aumatron.trace.server` at
// `verbose`, vscode-languageclient writes every message's params there, and
// `aumatron.setKey` carries a key. Pure, so the unit tests can check it.

export const MASK = "«hidden»";

/** Masks the value of every JSON `"key"` field (the only field that carries a key). */
export function redactSecrets(text: string): string {
    return text.replace(/("key"\s*:\s*)"(?:[^"\\]|\\.)*"/g, `$1"${MASK}"`);
}
