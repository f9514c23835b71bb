// Which `workspace/applyEdit` requests are drafts. The server labels each edit
// with the task it delivers (`Aumatron: Draft`), and a draft is the one edit the
// user should preview before it lands. Pure, so the unit tests can check it.

export const DRAFT_EDIT_LABEL = "Aumatron: Draft";

export function isDraftEdit(label: string | undefined): boolean {
    return label === DRAFT_EDIT_LABEL;
}
